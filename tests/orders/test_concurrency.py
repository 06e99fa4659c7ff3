"""Concurrent requests on Postgres: nothing lost, nobody misrouted, one record per call.

Threads, each with its own database connection, are released at once by a
barrier: agent assignments over a pool smaller than the parties need, and
Plivo's retried and overlapping callbacks for one call.
"""

import threading
import xml.etree.ElementTree as ET
from collections import defaultdict
from functools import partial

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from orders import services
from orders.models import Agent, Order, ProxyNumber, live_orders
from orders.routing import Action, resolve, resolve_pin
from tests.support.concurrency import run_concurrently
from tests.support.webhooks import PlivoClient, answer, dial_status, hangup, spoken
from tests.support.world import CUSTOMER
from voice import click_to_call
from voice.models import CallRecord, ClickToCall

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

    live = list(live_orders().select_related("agent").prefetch_related("lines__proxy_number"))
    assert len(live) == ORDERS
    for proxy_number in POOL:
        pins = [o.masking.pin for o in live if o.masking.proxy_number.number == proxy_number]
        assert len(pins) == len(set(pins)), f"duplicate PINs on {proxy_number}: {pins}"

    for caller in CUSTOMERS + AGENTS:
        for proxy_number in POOL:
            theirs = [
                o
                for o in live
                if o.masking.proxy_number.number == proxy_number and caller in (o.customer_phone, o.agent.phone)
            ]
            route = resolve(caller, proxy_number)
            if not theirs:
                assert route.action == Action.UNKNOWN
            elif len(theirs) == 1:
                assert (route.action, route.order_id) == (Action.CONNECT, theirs[0].pk)
            else:
                assert route.action == Action.ASK_PIN
                for order in theirs:
                    by_pin = resolve_pin(caller, proxy_number, order.masking.pin)
                    assert (by_pin.action, by_pin.order_id) == (Action.CONNECT, order.pk)


def test_concurrent_assignments_on_one_number_draw_distinct_pins(settings, proxy_number):
    settings.MASKING_PIN_LENGTH = 1  # ten PINs for ten orders: any race shows as a duplicate
    orders = [Order.objects.create(customer_name=f"Order {i}", customer_phone=CUSTOMER) for i in range(10)]
    agents = [Agent.objects.create(name=f"Agent {i}", phone=f"+1415666010{i}") for i in range(10)]

    results = run_concurrently(*[partial(services.assign_agent, o, a) for o, a in zip(orders, agents, strict=True)])

    assert [r for r in results if isinstance(r, Exception)] == []
    assigned = list(Order.objects.select_related("agent").order_by("pk"))
    assert [order.agent for order in assigned] == agents
    assert all(order.masking.proxy_number == proxy_number and order.is_line_live for order in assigned)
    assert sorted(order.masking.pin for order in assigned) == [str(digit) for digit in range(10)]
    for order in assigned:
        route = resolve_pin(CUSTOMER, str(proxy_number.number), order.masking.pin)
        assert route.connect_to == str(order.agent.phone)


def test_concurrent_assignments_of_one_order_leave_one_consistent_line(proxy_number):
    order = Order.objects.create(customer_name="Alice", customer_phone=CUSTOMER)
    agents = [Agent.objects.create(name=f"Agent {i}", phone=f"+1415666010{i}") for i in range(5)]

    results = run_concurrently(*[partial(services.assign_agent, order, agent) for agent in agents])

    assert [r for r in results if isinstance(r, Exception)] == []
    order.refresh_from_db()
    assert order.agent in agents
    assert order.masking.proxy_number == proxy_number
    assert order.is_line_live
    assert resolve(CUSTOMER, str(proxy_number.number)).connect_to == str(order.agent.phone)


def test_concurrent_retries_of_one_answer_make_one_record(live_order):
    results = run_concurrently(*[lambda: answer(PlivoClient()) for _ in range(6)])

    # The insert decides: exactly one of them created the record and dials.
    dialled = [root.find("Dial/Number") for root in results]
    assert [number.text for number in dialled if number is not None] == ["14156667778"]
    record = CallRecord.objects.get()
    assert (record.order, record.outcome) == (live_order, "connected")


def test_concurrent_dial_status_and_hangup_of_an_unknown_call_make_one_complete_record(db):
    results = run_concurrently(
        lambda: dial_status(PlivoClient(), "completed"),
        lambda: hangup(PlivoClient()),
        lambda: dial_status(PlivoClient(), "completed"),
        lambda: hangup(PlivoClient()),
    )

    assert all(isinstance(root, ET.Element) for root in results), results
    assert not any(spoken(root) for root in results)
    record = CallRecord.objects.get()
    assert (record.dial_status, record.hangup_cause, record.duration) == ("completed", "Normal Hangup", 42)


def test_hangups_of_several_calls_at_once_each_count_and_a_retried_one_counts_once(live_order):
    for n in range(THREADS):
        answer(PlivoClient(), call_uuid=f"count-{n}")
    # Each call's hangup twice (Plivo retries), all at once.
    calls = [partial(hangup, PlivoClient(), call_uuid=f"count-{n % THREADS}") for n in range(2 * THREADS)]

    results = run_concurrently(*calls)

    assert [result for result in results if isinstance(result, Exception)] == []
    live_order.refresh_from_db()
    assert live_order.masking.customer_calls == THREADS


def test_concurrent_click_to_calls_stay_within_the_services_hourly_budget(settings, proxy_number, agent):
    settings.MASKING_CLICK_TO_CALL_PER_HOUR = 3
    orders = [
        services.assign_agent(Order.objects.create(customer_name="C", customer_phone=phone), agent)
        for phone in CUSTOMERS + AGENTS
    ]

    results = run_concurrently(*[partial(click_to_call.request_call, order, "agent") for order in orders])

    reserved = [result for result in results if isinstance(result, ClickToCall)]
    refused = [result for result in results if isinstance(result, ValidationError)]
    assert (len(reserved), len(refused)) == (3, 3), results
    assert {error.code for error in refused} == {"call_budget"}
    assert ClickToCall.objects.count() == 3


def test_concurrent_click_to_calls_of_one_order_stay_within_its_limit(settings, live_order):
    settings.MASKING_CLICK_TO_CALL_PER_MINUTE = 2

    results = run_concurrently(*[partial(click_to_call.request_call, live_order, "customer") for _ in range(6)])

    assert sum(isinstance(result, ClickToCall) for result in results) == 2, results
    assert {result.code for result in results if not isinstance(result, ClickToCall)} == {"call_limit"}
    assert ClickToCall.objects.count() == 2
