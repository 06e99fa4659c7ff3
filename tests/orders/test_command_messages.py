"""Command output a new user reads: one-line refusals and counts in plain English."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework_api_key.models import APIKey

from orders import services
from orders.management.commands.purge_personal_data import counted
from orders.models import Line

pytestmark = pytest.mark.django_db


def test_create_api_key_refuses_a_name_already_used():
    existing, _ = APIKey.objects.create_key(name="dispatch")

    with pytest.raises(CommandError) as refused:
        call_command("create_api_key", "dispatch", stdout=io.StringIO(), stderr=io.StringIO())

    assert str(refused.value) == (
        f"An API key named 'dispatch' already exists (prefix {existing.prefix}): choose another name, or delete "
        "that key in the admin under API keys first."
    )
    assert APIKey.objects.count() == 1


def test_create_api_key_accepts_another_name():
    call_command("create_api_key", "dispatch", stdout=io.StringIO(), stderr=io.StringIO())
    call_command("create_api_key", "billing", stdout=io.StringIO(), stderr=io.StringIO())

    assert sorted(APIKey.objects.values_list("name", flat=True)) == ["billing", "dispatch"]


@pytest.mark.parametrize(
    ("count", "kind", "text"),
    [(1, "orders", "1 order"), (2, "orders", "2 orders"), (0, "call records", "0 call records"), (1, "days", "1 day")],
)
def test_counts_read_in_the_singular_for_one(count, kind, text):
    assert counted(count, kind) == text


def test_purge_personal_data_says_1_order(live_order, capsys):
    services.cancel_order(live_order)
    Line.objects.filter(order_id=live_order.pk).update(expires_at=timezone.now() - timedelta(days=40))

    call_command("purge_personal_data")

    assert capsys.readouterr().out.strip().splitlines() == [
        "Deleted 0 events, 0 finished tasks older than 30 days.",
        "Purged personal data closed more than 30 days ago: "
        "1 order, 0 call records, 0 message records, 0 webhook nonces.",
    ]
