"""Concurrent agent assignments on Postgres: nothing lost, nobody misrouted.

Threads, each with its own database connection, assign agents to orders of
overlapping customers and agents over a pool smaller than the parties need,
all released at once by a barrier.
"""

import threading
from collections import defaultdict

import pytest
from django.db import connection

from orders import services
from orders.models import Agent, Order, ProxyNumber, live_orders
from orders.routing import Action, resolve, resolve_pin

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row locks under real concurrency need PostgreSQL (SQLite serialises writers); "
        "set DATABASE_URL=postgres://…",
    ),
    pytest.mark.django_db(transaction=True),
]

THREADS = 8
ASSIGNMENTS_PER_THREAD = 6
CUSTOMERS = ["+14156660001", "+14156660002", "+14156660003"]
AGENTS = ["+14156669001", "+14156669002", "+14156669003"]
POOL = ["+14155550100", "+14155550101"]
ORDERS = 12


def plan(orders: list[Order], agents: list[Agent]) -> list[list[tuple[int, int]]]:
    """Each thread's (order, agent) assignments; every order is assigned by several threads."""
    return [
        [
            (orders[(thread * 3 + step) % len(orders)].pk, agents[(thread + step) % len(agents)].pk)
            for step in range(ASSIGNMENTS_PER_THREAD)
        ]
        for thread in range(THREADS)
    ]


def test_concurrent_assignments_give_every_order_a_live_unambiguous_line():
    for number in POOL:
        ProxyNumber.objects.create(number=number)
    agents = [Agent.objects.create(name=f"Agent {n}", phone=phone) for n, phone in enumerate(AGENTS)]
    orders = [
        Order.objects.create(customer_name=f"Customer {n}", customer_phone=CUSTOMERS[n % len(CUSTOMERS)])
        for n in range(ORDERS)
    ]
    work = plan(orders, agents)
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []
    done: list[tuple[int, int]] = []

    def assign(assignments: list[tuple[int, int]]) -> None:
        try:
            barrier.wait(timeout=30)
            for order_pk, agent_pk in assignments:
                services.assign_agent(Order.objects.get(pk=order_pk), Agent.objects.get(pk=agent_pk))
                done.append((order_pk, agent_pk))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=assign, args=(assignments,)) for assignments in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        # Generous: a deadlock would be broken by Postgres and surface as an error.
        thread.join(timeout=120)

    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert len(done) == THREADS * ASSIGNMENTS_PER_THREAD

    assigned_agents = defaultdict(set)
    for order_pk, agent_pk in done:
        assigned_agents[order_pk].add(agent_pk)
    for order in orders:
        order.refresh_from_db()
        assert order.is_line_live, order
        assert order.status == Order.Status.ASSIGNED
        assert order.agent_id in assigned_agents[order.pk]

    live = list(live_orders().select_related("agent", "proxy_number"))
    assert len(live) == ORDERS
    for proxy_number in POOL:
        pins = [o.pin for o in live if o.proxy_number.number == proxy_number]
        assert len(pins) == len(set(pins)), f"duplicate PINs on {proxy_number}: {pins}"

    for caller in CUSTOMERS + AGENTS:
        for proxy_number in POOL:
            theirs = [
                o for o in live if o.proxy_number.number == proxy_number and caller in (o.customer_phone, o.agent.phone)
            ]
            route = resolve(caller.lstrip("+"), proxy_number.lstrip("+"))
            if not theirs:
                assert route.action == Action.UNKNOWN
            elif len(theirs) == 1:
                assert (route.action, route.order_id) == (Action.CONNECT, theirs[0].pk)
            else:
                assert route.action == Action.ASK_PIN
                for order in theirs:
                    by_pin = resolve_pin(caller, proxy_number, order.pin)
                    assert (by_pin.action, by_pin.order_id) == (Action.CONNECT, order.pk)
