"""The live-line predicate has one ORM home (LineQuerySet.live); routing's raw SQL must agree with it.

Hypothesis builds random small worlds of lines of every kind (expired,
expiring exactly now, open, never assigned, purged) and checks, for every
caller and proxy number in them, that the webhook's hand-written query and
resolve() pick exactly the lines live_lines() picks, and that
OrderQuerySet.live() picks the orders with such a line.
"""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import transaction
from django.db.models import Q
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from orders.models import Agent, BlockedNumber, Line, Order, ProxyNumber, Role, live_lines
from orders.routing import Action, _live_lines_of, resolve, resolve_pin

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# Parties' phones; some are an agent's phone and a customer's at once.
PHONES = ["+14156667777", "+14156667778", "+14156667779"]
PROXIES = ["+14155550100", "+14155550101"]
# Expiry relative to NOW: None is a line never opened; 0 expires exactly now (closed).
EXPIRY_OFFSETS = [None, -86400, -1, 0, 1, 86400]

lines_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(list(Line.Kind)),
            "customer": st.sampled_from([*PHONES, ""]),  # "" is a purged order
            "store": st.sampled_from([*PHONES, ""]),
            "agent": st.sampled_from([None, 0, 1]),
            "proxy": st.sampled_from([None, 0, 1]),
            "expiry": st.sampled_from(EXPIRY_OFFSETS),
            "pin": st.sampled_from(["1111", "2222"]),
        }
    ),
    max_size=12,
)


def build_world(specs: list[dict]) -> list[Line]:
    agents = [Agent.objects.create(name=f"Agent {i}", phone=PHONES[i]) for i in range(2)]
    proxies = [ProxyNumber.objects.create(number=number) for number in PROXIES]
    orders = Order.objects.bulk_create(
        [
            Order(
                reference=f"P{i}",
                customer_name="" if not spec["customer"] else "Customer",
                customer_phone=spec["customer"],
                store_phone=spec["store"],
                agent=None if spec["agent"] is None else agents[spec["agent"]],
            )
            for i, spec in enumerate(specs)
        ]
    )
    lines = []
    for order, spec in zip(orders, specs, strict=True):
        kind = Line.Kind(spec["kind"])
        agent = order.agent
        if spec["proxy"] is None:
            continue  # never opened: no line
        offset = spec["expiry"]
        lines.append(
            Line(
                order=order,
                kind=kind,
                proxy_number=proxies[spec["proxy"]],
                pin=spec["pin"],
                expires_at=None if offset is None else NOW + timedelta(seconds=offset),
                customer_phone=spec["customer"] if Role.CUSTOMER in kind.parties else "",
                store_phone=spec["store"] if Role.STORE in kind.parties else "",
                agent=agent if Role.AGENT in kind.parties else None,
            )
        )
    return Line.objects.bulk_create(lines)


def live_ids_of(caller: str, proxy: str) -> set[int]:
    """What the ORM predicate says a caller reaches through a proxy number."""
    party = Q(customer_phone=caller) | Q(store_phone=caller) | Q(agent__phone=caller, agent__is_active=True)
    return set(live_lines(NOW).filter(party, proxy_number__number=proxy).values_list("pk", flat=True))


def role_on(line: Line, caller: str) -> Role:
    if str(line.customer_phone) == caller:
        return Role.CUSTOMER
    if str(line.store_phone) == caller:
        return Role.STORE
    return Role.AGENT


@hypothesis_settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=lines_strategy)
def test_routing_sql_and_live_lines_pick_the_same_lines(specs):
    with transaction.atomic(), mock.patch("django.utils.timezone.now", return_value=NOW):
        lines = build_world(specs)
        live = set(live_lines(NOW).values_list("pk", flat=True))

        assert live == set(live_lines().values_list("pk", flat=True))  # now defaults to the clock
        assert {line.pk for line in lines if line.is_live} == live
        assert set(Line.objects.closed(NOW).values_list("pk", flat=True)) == {line.pk for line in lines} - live
        live_orders = {line.order_id for line in lines if line.is_live}
        assert set(Order.objects.live(NOW).values_list("pk", flat=True)) == live_orders
        assert set(Order.objects.closed(NOW).values_list("pk", flat=True)) == (
            set(Order.objects.values_list("pk", flat=True)) - live_orders
        )
        for caller in PHONES:
            for proxy in PROXIES:
                expected = live_ids_of(caller, proxy)
                picked = {row[0] for row in _live_lines_of(caller, proxy, limit=len(lines) + 1)}
                assert picked == expected

                route = resolve(caller, proxy)
                # A line whose agent party is missing cannot put a caller through; the others can.
                by_pk = {line.pk: line for line in lines}
                reachable = {
                    pk for pk in expected if Role.AGENT not in by_pk[pk].parties or by_pk[pk].agent_id is not None
                }
                if not expected:
                    assert route.action == Action.UNKNOWN
                elif len(reachable) > 1:
                    assert route.action == Action.ASK_PIN
                elif reachable:
                    (line,) = [by_pk[pk] for pk in reachable]
                    callee = Line.Kind(line.kind).other(role_on(line, caller))
                    other = line.phone_of(callee)
                    # A purged party has no number left to dial: nobody is reached.
                    action = Action.CONNECT if other else Action.UNAVAILABLE
                    assert (route.action, route.line_id, route.order_id) == (action, line.pk, line.order_id)
                    assert route.callee_role == callee
                else:
                    assert route.action == Action.UNAVAILABLE
                for pin in ("1111", "2222"):
                    with_pin = expected & set(Line.objects.filter(pin=pin).values_list("pk", flat=True))
                    if with_pin:
                        assert resolve_pin(caller, proxy, pin).line_id in with_pin
                    else:
                        assert resolve_pin(caller, proxy, pin).action == Action.UNKNOWN
        transaction.set_rollback(True)


# The block list's predicate has one ORM home too (BlockedNumberQuerySet.in_force); routing's copy must agree.
BLOCK_OFFSETS = [None, -86400, -1, 0, 1, 86400]  # until, relative to NOW; None is a block with no end


@pytest.mark.parametrize("offset", BLOCK_OFFSETS)
@pytest.mark.parametrize("with_order", [True, False])
def test_routing_sql_and_in_force_agree_on_which_blocks_apply(offset, with_order):
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        proxy = ProxyNumber.objects.create(number=PROXIES[0])
        if with_order:
            agent = Agent.objects.create(name="Agent", phone=PHONES[1])
            order = Order.objects.create(customer_name="Customer", customer_phone=PHONES[0], agent=agent)
            Line.objects.create(
                order=order,
                kind=Line.Kind.CUSTOMER_AGENT,
                customer_phone=PHONES[0],
                agent=agent,
                proxy_number=proxy,
                pin="1111",
                expires_at=NOW + timedelta(hours=1),
            )
        until = None if offset is None else NOW + timedelta(seconds=offset)
        blocked = BlockedNumber.objects.create(number=PHONES[0], reason="test", until=until)
        in_force = BlockedNumber.objects.in_force(NOW).filter(pk=blocked.pk).exists()

        assert in_force == blocked.is_in_force == (offset is None or offset > 0)
        assert (resolve(PHONES[0], PROXIES[0]).action == Action.BLOCKED) == in_force
        assert (resolve_pin(PHONES[0], PROXIES[0], "1111").action == Action.BLOCKED) == in_force
        # The block is on the number, not on the other party of its orders.
        assert resolve(PHONES[1], PROXIES[0]).action == (Action.CONNECT if with_order else Action.UNKNOWN)
