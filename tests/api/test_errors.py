"""Every refusal of the services has one HTTP status, the same through every front end."""

import re
from pathlib import Path

import pytest
from django.utils import timezone

from orders import services
from orders.api_errors import SERVICE_ERRORS
from orders.models import Order
from voice import click_to_call

from ..conftest import CUSTOMER
from .conftest import assert_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("module", [services, click_to_call])
def test_every_code_the_services_raise_has_its_status(module):
    source = Path(module.__file__).read_text()
    # "invalid" is a 400 without a line of its own.
    codes = set(re.findall(r'code="(\w+)"', source)) - {"invalid"}

    assert codes
    assert codes <= set(SERVICE_ERRORS), codes - set(SERVICE_ERRORS)


def test_assigning_a_purged_order_is_a_conflict_like_other_refused_transitions(api, proxy_number, agent):
    order = Order.objects.create(reference="P-1", customer_name="Alice", customer_phone=CUSTOMER)
    services.cancel_order(order)
    services.purge_personal_data(older_than=timezone.timedelta(0), now=timezone.now() + timezone.timedelta(days=1))

    response = api.post("/api/v1/orders/P-1/assign/", {"agent": agent.pk}, format="json")

    assert_error(response, 409, "purged")
    order.refresh_from_db()
    assert order.proxy_number is None
