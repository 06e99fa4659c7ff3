"""The live-line predicate has one ORM home (OrderQuerySet.live); routing's raw SQL must agree with it.

Hypothesis builds random small worlds of orders (expired, expiring exactly
now, open, never assigned, purged) and checks, for every caller and proxy
number in them, that the webhook's hand-written query and resolve() pick
exactly the orders live_orders() picks.
"""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import transaction
from django.db.models import Q
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from orders.models import Agent, BlockedNumber, Order, ProxyNumber, live_orders
from orders.routing import Action, _live_orders_of, resolve, resolve_pin

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# Parties' phones; some are an agent's phone and a customer's at once.
PHONES = ["+14156667777", "+14156667778", "+14156667779"]
PROXIES = ["+14155550100", "+14155550101"]
# Expiry relative to NOW: None is a line never opened; 0 expires exactly now (closed).
EXPIRY_OFFSETS = [None, -86400, -1, 0, 1, 86400]

orders_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "customer": st.sampled_from([*PHONES, ""]),  # "" is a purged order
            "agent": st.sampled_from([None, 0, 1]),
            "proxy": st.sampled_from([None, 0, 1]),
            "expiry": st.sampled_from(EXPIRY_OFFSETS),
            "pin": st.sampled_from(["1111", "2222"]),
        }
    ),
    max_size=12,
)


def build_world(specs: list[dict]) -> list[Order]:
    agents = [Agent.objects.create(name=f"Agent {i}", phone=PHONES[i]) for i in range(2)]
    proxies = [ProxyNumber.objects.create(number=number) for number in PROXIES]
    orders = []
    for i, spec in enumerate(specs):
        # An expiry needs a proxy number (the check constraint), as in real data.
        proxy = None if spec["proxy"] is None else proxies[spec["proxy"]]
        offset = spec["expiry"] if proxy is not None else None
        orders.append(
            Order(
                reference=f"P{i}",
                customer_name="" if not spec["customer"] else "Customer",
                customer_phone=spec["customer"],
                agent=None if spec["agent"] is None else agents[spec["agent"]],
                proxy_number=proxy,
                pin=spec["pin"] if proxy is not None else "",
                masking_expires_at=None if offset is None else NOW + timedelta(seconds=offset),
            )
        )
    return Order.objects.bulk_create(orders)


def live_ids_of(caller: str, proxy: str) -> set[int]:
    """What the ORM predicate says a caller reaches through a proxy number."""
    party = Q(customer_phone=caller) | Q(agent__phone=caller)
    return set(live_orders(NOW).filter(party, proxy_number__number=proxy).values_list("pk", flat=True))


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=orders_strategy)
def test_routing_sql_and_live_orders_pick_the_same_orders(specs):
    with transaction.atomic(), mock.patch("django.utils.timezone.now", return_value=NOW):
        orders = build_world(specs)
        live = set(live_orders(NOW).values_list("pk", flat=True))

        assert live == set(live_orders().values_list("pk", flat=True))  # now defaults to the clock
        assert {order.pk for order in orders if order.is_line_live} == live
        assert set(Order.objects.closed(NOW).values_list("pk", flat=True)) == {order.pk for order in orders} - live
        for caller in PHONES:
            for proxy in PROXIES:
                expected = live_ids_of(caller, proxy)
                picked = {row[0] for row in _live_orders_of(caller, proxy, limit=len(orders) + 1)}
                assert picked == expected

                route = resolve(caller, proxy)
                # Only an order with an (active) agent puts a caller through; the others are unavailable.
                reachable = {order.pk for order in orders if order.pk in expected and order.agent_id is not None}
                if not expected:
                    assert route.action == Action.UNKNOWN
                elif len(reachable) > 1:
                    assert route.action == Action.ASK_PIN
                elif reachable:
                    (order,) = [order for order in orders if order.pk in reachable]
                    other = order.agent.phone if order.customer_phone == caller else order.customer_phone
                    # A purged order's customer has no number left to dial: nobody is reached.
                    action = Action.CONNECT if other else Action.UNAVAILABLE
                    assert (route.action, route.order_id) == (action, order.pk)
                else:
                    assert route.action == Action.UNAVAILABLE
                    assert route.order_id in expected
                for pin in ("1111", "2222"):
                    with_pin = expected & set(Order.objects.filter(pin=pin).values_list("pk", flat=True))
                    if with_pin:
                        assert resolve_pin(caller, proxy, pin).order_id in with_pin
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
            Order.objects.create(
                customer_name="Customer",
                customer_phone=PHONES[0],
                agent=agent,
                proxy_number=proxy,
                pin="1111",
                masking_expires_at=NOW + timedelta(hours=1),
            )
        until = None if offset is None else NOW + timedelta(seconds=offset)
        blocked = BlockedNumber.objects.create(number=PHONES[0], reason="test", until=until)
        in_force = BlockedNumber.objects.in_force(NOW).filter(pk=blocked.pk).exists()

        assert in_force == blocked.is_in_force == (offset is None or offset > 0)
        assert (resolve(PHONES[0], PROXIES[0]).action == Action.BLOCKED) == in_force
        assert (resolve_pin(PHONES[0], PROXIES[0], "1111").action == Action.BLOCKED) == in_force
        # The block is on the number, not on the other party of its orders.
        assert resolve(PHONES[1], PROXIES[0]).action == (Action.CONNECT if with_order else Action.UNKNOWN)
