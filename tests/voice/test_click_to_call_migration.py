"""voice 0009: click-to-call rows written before reservations existed read as placed calls, each with its own id."""

import re

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from orders.models import Order

BEFORE = [("voice", "0008_dashboard_indexes")]
AFTER = [("voice", "0009_click_to_call_reservation")]


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor


@pytest.fixture
def latest_schema_after():
    """The next tests find the whole schema, whatever later migrations there are."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_requests_made_before_the_change_read_as_placed_calls(latest_schema_after):
    order = Order.objects.create(customer_name="Alice", customer_phone="+14156667777")
    old_apps = migrate(BEFORE).loader.project_state(BEFORE).apps
    OldClickToCall = old_apps.get_model("voice", "ClickToCall")
    requested_at = timezone.now() - timezone.timedelta(days=1)
    for n in range(2):
        OldClickToCall.objects.create(
            order_id=order.pk, first_role="agent", request_uuid=f"req-{n}", requested_at=requested_at
        )

    new_apps = migrate(AFTER).loader.project_state(AFTER).apps

    rows = list(new_apps.get_model("voice", "ClickToCall").objects.order_by("request_uuid"))
    assert [(row.request_uuid, row.state, row.attempts, row.placed_at) for row in rows] == [
        ("req-0", "placed", 1, requested_at),
        ("req-1", "placed", 1, requested_at),
    ]
    assert all(re.fullmatch(r"ctc_[0-9a-f]{24}", row.public_id) for row in rows)
    assert rows[0].public_id != rows[1].public_id
