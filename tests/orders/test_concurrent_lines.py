"""Concurrent assignments of orders with stores on Postgres: no line lost, nobody misrouted, no needless PIN.

Threads, each with its own database connection, are released at once: the
same agent, the same store and the same customers get many lines at the same
moment, over a pool that has room for every party's lines (2N − 1).
"""

import pytest
from django.db import connection

from orders import services
from orders.models import Agent, Line, Order, ProxyNumber
from orders.pool import numbers_needed
from orders.routing import Action, resolve
from tests.support.concurrency import run_concurrently

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row and advisory locks under real concurrency need PostgreSQL (SQLite serialises writers); "
        "set DATABASE_URL=postgres://…",
    ),
    pytest.mark.django_db(transaction=True),
]

STORE = "+14156667790"
CUSTOMERS = ["+14156660001", "+14156660002"]
AGENTS = ["+14156669001", "+14156669002"]
ORDERS = 6


def test_concurrent_assignments_lose_no_line_misroute_no_one_and_share_no_number_while_there_is_room():
    # Each agent gets 3 store orders: 6 live lines, the most any party holds; 2N - 1 = 11 numbers.
    pool = [ProxyNumber.objects.create(number=f"+141555501{n:02d}") for n in range(numbers_needed(ORDERS))]
    agents = [Agent.objects.create(name=f"Agent {n}", phone=phone) for n, phone in enumerate(AGENTS)]
    orders = [
        services.create_order(
            customer_name=f"Customer {n}",
            customer_phone=CUSTOMERS[n % 2],
            store_name="Grocer",
            store_phone=STORE,
        )[0]
        for n in range(ORDERS)
    ]

    results = run_concurrently(
        *[lambda order=order, n=n: services.assign_agent(order, agents[n % 2]) for n, order in enumerate(orders)]
    )

    assert not [result for result in results if isinstance(result, Exception)], results
    lines = list(Line.objects.live().select_related("proxy_number", "agent"))
    assert len(lines) == 2 * ORDERS  # every order has both its lines, live
    assert {(line.order_id, line.kind) for line in lines} == {
        (order.pk, kind) for order in orders for kind in (Line.Kind.CUSTOMER_AGENT, Line.Kind.STORE_AGENT)
    }
    for party in ("customer_phone", "store_phone", "agent_id"):
        held = [(str(getattr(line, party)), line.proxy_number_id) for line in lines if getattr(line, party)]
        assert len(held) == len(set(held)), f"a {party} has two live lines on one number though the pool has room"
    assert len(pool) == 11
    # Every party reaches the other party of each of its lines, straight through.
    for line in lines:
        for role in line.parties:
            route = resolve(line.phone_of(role), str(line.proxy_number.number))
            callee = Line.Kind(line.kind).other(role)
            assert (route.action, route.line_id, route.connect_to) == (Action.CONNECT, line.pk, line.phone_of(callee))
    assert set(Order.objects.values_list("status", flat=True)) == {"assigned"}
