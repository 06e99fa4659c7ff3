"""Every refusal of the services has one HTTP status, the same through every front end."""

import re
from pathlib import Path

import pytest
from django.utils import timezone

from orders import services
from orders.api import keys
from orders.events import delivery
from orders.models import Order
from tests.support.api import assert_error
from tests.support.world import CUSTOMER
from voice import click_to_call

pytestmark = pytest.mark.django_db


REFUSING_MODULES = [
    *sorted(Path(services.__file__).parent.glob("*.py")),
    Path(click_to_call.__file__),
    Path(delivery.__file__),
    Path(keys.__file__),
]


@pytest.mark.parametrize("path", REFUSING_MODULES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_refusal_of_a_write_rule_carries_its_own_status(path):
    source = path.read_text()

    # A refusal is a ServiceError (or a subclass of it), which says how the API answers it; no table elsewhere does.
    assert not re.search(r"(raise|return) ValidationError\(", source), path
    for call in re.findall(r"ServiceError\((.*?)\n\s*\)", source, flags=re.S):
        assert "code=" in call


def test_a_service_error_answers_with_the_status_and_field_it_carries(api, proxy_number, agent):
    order = Order.objects.create(reference="R-1", customer_name="Alice", customer_phone=CUSTOMER)
    services.cancel_order(order)

    assert_error(api.post("/api/v1/orders/R-1/assign/", {"agent": agent.pk}, format="json"), 409, "invalid_transition")
    duplicate = api.post(
        "/api/v1/orders/", {"reference": "R-1", "customer_name": "Bob", "customer_phone": CUSTOMER}, format="json"
    )
    assert_error(duplicate, 409, "reference_exists", ("reference",))


def test_assigning_a_purged_order_is_a_conflict_like_other_refused_transitions(api, proxy_number, agent):
    order = Order.objects.create(reference="P-1", customer_name="Alice", customer_phone=CUSTOMER)
    services.cancel_order(order)
    services.purge_personal_data(older_than=timezone.timedelta(0), now=timezone.now() + timezone.timedelta(days=1))

    response = api.post("/api/v1/orders/P-1/assign/", {"agent": agent.pk}, format="json")

    assert_error(response, 409, "purged")
    order.refresh_from_db()
    assert order.masking is None
