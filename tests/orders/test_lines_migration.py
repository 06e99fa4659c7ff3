"""orders 0013–0015: every order with a proxy number gets its customer–agent line, and back again."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("orders", "0013_admin_wording"), ("voice", "0010_no_bench_db_defaults")]
AFTER = [("orders", "0016_lines_indexes"), ("voice", "0011_lines")]


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor


@pytest.fixture
def latest_schema_after():
    """Whatever the test leaves, the next tests find the whole schema."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_orders_with_a_number_get_their_line_and_going_back_restores_them(latest_schema_after):
    old = migrate(BEFORE).loader.project_state(BEFORE).apps
    Agent, Order, ProxyNumber = (old.get_model("orders", name) for name in ("Agent", "Order", "ProxyNumber"))
    proxy = ProxyNumber.objects.create(number="+14155550100", country="US")
    agent = Agent.objects.create(name="Bob", phone="+14156667778")
    now = timezone.now().replace(microsecond=0)
    live = Order.objects.create(
        reference="LIVE",
        customer_name="Alice",
        customer_phone="+14156667777",
        agent=agent,
        status="assigned",
        proxy_number=proxy,
        pin="4385",
        masking_expires_at=now + timedelta(hours=3),
        customer_calls=4,
        customer_calls_since=now - timedelta(minutes=5),
        agent_calls=2,
        agent_calls_since=now - timedelta(minutes=9),
    )
    closed = Order.objects.create(
        reference="DONE",
        customer_name="Carol",
        customer_phone="+14156667779",
        agent=agent,
        status="delivered",
        proxy_number=proxy,
        pin="0001",
        masking_expires_at=now - timedelta(days=1),
    )
    Order.objects.create(reference="NEW", customer_name="Erin", customer_phone="+14156667781")

    new = migrate(AFTER).loader.project_state(AFTER).apps

    Line = new.get_model("orders", "Line")
    lines = {line.order_id: line for line in Line.objects.all()}
    assert set(lines) == {live.pk, closed.pk}  # the order without a number has no line
    line = lines[live.pk]
    assert (line.kind, line.proxy_number_id, line.pin, line.expires_at) == (
        "customer_agent",
        proxy.pk,
        "4385",
        now + timedelta(hours=3),
    )
    assert (str(line.customer_phone), str(line.store_phone), line.agent_id) == ("+14156667777", "", agent.pk)
    assert (line.customer_calls, line.customer_calls_since, line.agent_calls, line.agent_calls_since) == (
        4,
        now - timedelta(minutes=5),
        2,
        now - timedelta(minutes=9),
    )
    assert (line.store_calls, line.store_calls_since) == (0, None)
    assert (lines[closed.pk].pin, lines[closed.pk].expires_at) == ("0001", now - timedelta(days=1))

    back = migrate(BEFORE).loader.project_state(BEFORE).apps

    restored = {order.reference: order for order in back.get_model("orders", "Order").objects.all()}
    assert (
        restored["LIVE"].proxy_number_id,
        restored["LIVE"].pin,
        restored["LIVE"].masking_expires_at,
        restored["LIVE"].customer_calls,
        restored["LIVE"].customer_calls_since,
        restored["LIVE"].agent_calls,
        restored["LIVE"].agent_calls_since,
    ) == (proxy.pk, "4385", now + timedelta(hours=3), 4, now - timedelta(minutes=5), 2, now - timedelta(minutes=9))
    assert (restored["DONE"].pin, restored["DONE"].masking_expires_at) == ("0001", now - timedelta(days=1))
    assert (restored["NEW"].proxy_number_id, restored["NEW"].pin, restored["NEW"].masking_expires_at) == (
        None,
        "",
        None,
    )
