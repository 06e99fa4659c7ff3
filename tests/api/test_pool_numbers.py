"""The API refuses the service's own proxy numbers as a party's phone."""

import pytest

from orders.models import Agent, Order, ProxyNumber
from tests.support.api import assert_error
from tests.support.world import AGENT_PHONE, PROXY

pytestmark = pytest.mark.django_db

OTHER_POOL_NUMBER = "+14155550101"


@pytest.fixture
def pool(proxy_number) -> list[ProxyNumber]:
    """The pool: an inactive number is still ours, it may be activated again."""
    return [proxy_number, ProxyNumber.objects.create(number=OTHER_POOL_NUMBER, is_active=False)]


@pytest.mark.parametrize("number", [PROXY, OTHER_POOL_NUMBER])
def test_the_api_refuses_a_pool_number_as_an_agent_phone(api, pool, number):
    response = api.post("/api/v1/agents/", {"name": "Eve", "phone": number}, format="json")

    assert_error(response, 400, "invalid", ("phone",))
    assert not Agent.objects.exists()


def test_the_api_refuses_a_pool_number_as_a_new_agent_phone_in_a_patch(api, pool, agent):
    response = api.patch(f"/api/v1/agents/{agent.pk}/", {"phone": PROXY}, format="json")

    assert_error(response, 400, "invalid", ("phone",))
    agent.refresh_from_db()
    assert agent.phone == AGENT_PHONE


def test_the_api_refuses_a_pool_number_as_a_customer_phone(api, pool):
    response = api.post("/api/v1/orders/", {"customer_name": "Eve", "customer_phone": PROXY}, format="json")

    assert_error(response, 400, "invalid", ("customer_phone",))
    assert not Order.objects.exists()
