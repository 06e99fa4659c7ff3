"""The service's own proxy numbers are never a party's phone, so it never tells Plivo to dial itself."""

import pytest
from django.core.exceptions import ValidationError

from orders import services
from orders.models import Agent, Order, ProxyNumber
from tests.support.world import AGENT_PHONE, CUSTOMER, PROXY

pytestmark = pytest.mark.django_db

OTHER_POOL_NUMBER = "+14155550101"


@pytest.fixture
def pool(proxy_number) -> list[ProxyNumber]:
    """The pool: an inactive number is still ours, it may be activated again."""
    return [proxy_number, ProxyNumber.objects.create(number=OTHER_POOL_NUMBER, is_active=False)]


def test_the_admin_refuses_a_pool_number_as_an_agent_or_customer_phone(admin_client, pool):
    agent = admin_client.post("/admin/orders/agent/add/", {"name": "Eve", "phone": PROXY, "is_active": "on"})
    order = admin_client.post(
        "/admin/orders/order/add/", {"reference": "", "customer_name": "Eve", "customer_phone": OTHER_POOL_NUMBER}
    )

    assert "proxy numbers" in agent.context["adminform"].form.errors["phone"][0]
    assert "proxy numbers" in order.context["adminform"].form.errors["customer_phone"][0]
    assert not Agent.objects.exists() and not Order.objects.exists()


@pytest.mark.parametrize("number", [AGENT_PHONE, CUSTOMER])
def test_the_admin_refuses_a_party_s_phone_as_a_pool_number(admin_client, live_order, number):
    response = admin_client.post("/admin/orders/proxynumber/add/", {"number": number, "is_active": "on"})

    assert "agent's or a customer's phone" in response.context["adminform"].form.errors["number"][0]
    assert ProxyNumber.objects.count() == 1


def test_syncing_the_pool_refuses_a_rented_number_that_is_a_party_s_phone(live_order):
    with pytest.raises(ValidationError) as refused:
        services.sync_pool({PROXY: "main", AGENT_PHONE: "oops"})

    assert refused.value.code == "party_phone"
    assert ProxyNumber.objects.count() == 1


def test_create_order_refuses_a_pool_number(pool):
    with pytest.raises(ValidationError) as refused:
        services.create_order(customer_name="Eve", customer_phone=PROXY)

    assert refused.value.code == "pool_number"
