"""The store on an order: its fields, its lines' allocation and events, the pool advice and the metrics."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from orders import services
from orders.models import Agent, Line, Order, ProxyNumber
from orders.pool import live_lines_by_kind, pool_advice
from tests.support.events import assert_no_phone_number, events_of
from tests.support.world import CUSTOMER

pytestmark = pytest.mark.django_db

STORE = "+14156667790"


@pytest.fixture
def pool(db) -> list[ProxyNumber]:
    return [ProxyNumber.objects.create(number=f"+1415555010{i}") for i in range(3)]


def new_order(reference: str = "", customer: str = CUSTOMER, store: str = STORE) -> Order:
    order, _ = services.create_order(
        reference=reference, customer_name="Alice", customer_phone=customer, store_name="Grocer", store_phone=store
    )
    return order


def test_an_order_without_a_store_opens_only_the_customer_agent_line(pool, agent):
    order = services.assign_agent(new_order(store=""), agent)

    assert [line.kind for line in order.lines.all()] == [Line.Kind.CUSTOMER_AGENT]


def test_each_line_opens_with_its_event_naming_its_parties_and_no_phone(pool, agent):
    order = services.assign_agent(new_order(), agent)

    opened = events_of("line.opened")
    assert sorted(tuple(event.data["parties"]) for event in opened) == [("customer", "agent"), ("store", "agent")]
    by_parties = {tuple(event.data["parties"]): event.data for event in opened}
    assert by_parties[("store", "agent")]["proxy_number"] == str(order.line(Line.Kind.STORE_AGENT).proxy_number.number)
    for event in opened:
        assert_no_phone_number(event)


def test_the_store_phone_follows_the_rule_of_every_party_phone(pool):
    with pytest.raises(ValidationError) as same:
        new_order(store=CUSTOMER)
    with pytest.raises(ValidationError) as premium:
        new_order(store="+19002345678")
    with pytest.raises(ValidationError) as ours:
        new_order(store=str(pool[0].number))

    assert (same.value.code, premium.value.code, ours.value.code) == ("same_phone", "uncallable_number", "pool_number")


def test_the_agents_lines_on_one_order_get_different_numbers_and_n_counts_every_kind(pool, agent):
    services.assign_agent(new_order(), agent)

    masking, store_line = Line.objects.order_by("kind")
    assert masking.proxy_number_id != store_line.proxy_number_id
    (us,) = pool_advice()
    # The agent holds two live lines: N = 2, so 2N - 1 = 3 numbers.
    assert (us.busiest_party_orders, us.numbers_needed, us.pool_size) == (2, 3, 3)
    assert live_lines_by_kind() == {"customer_agent": 1, "store_agent": 1, "customer_store": 0}


def test_a_party_never_has_two_live_lines_on_one_number_while_the_pool_has_room(pool, agent):
    # Three numbers are 2N - 1 for N = 2: two store orders of the same customer and store, one agent each time.
    first = services.assign_agent(new_order("A-1"), agent)
    second = services.assign_agent(new_order("A-2"), Agent.objects.create(name="Dave", phone="+14156667791"))

    lines = list(Line.objects.live())
    for party in ("customer_phone", "store_phone", "agent_id"):
        held = [(getattr(line, party), line.proxy_number_id) for line in lines if getattr(line, party)]
        assert len(held) == len(set(held)), party
    assert first.shared_number is None and second.shared_number is None


def test_setting_a_store_on_an_order_with_open_lines_opens_its_line_and_removing_it_closes_it(pool, agent):
    order = services.assign_agent(new_order(store=""), agent)

    order = services.set_store(order, name="Grocer", phone=STORE)

    store_line = order.line(Line.Kind.STORE_AGENT)
    assert store_line.is_live and str(store_line.store_phone) == STORE and store_line.agent_id == agent.pk
    order = services.set_store(order, phone="")
    assert not order.line(Line.Kind.STORE_AGENT).is_live
    assert [event.data["reason"] for event in events_of("line.closed")] == ["store_removed"]


def test_a_changed_store_phone_follows_onto_its_line(pool, agent):
    order = services.assign_agent(new_order(), agent)

    services.set_store(order, phone="+14156667792")

    assert str(Line.objects.get(kind=Line.Kind.STORE_AGENT).store_phone) == "+14156667792"


def test_closing_the_store_line_of_an_order_without_one_is_refused(pool, agent):
    order = services.assign_agent(new_order(store=""), agent)

    with pytest.raises(ValidationError) as refused:
        services.close_store_line(order)

    assert refused.value.code == "no_store"


def test_the_purge_blanks_the_store_and_the_lines_phones(pool, agent):
    order = services.cancel_order(services.assign_agent(new_order(), agent))
    Line.objects.filter(order=order).update(expires_at=timezone.now() - timedelta(days=60))

    services.purge_personal_data(older_than=timedelta(days=30))

    order.refresh_from_db()
    assert (order.store_name, str(order.store_phone or "")) == ("", "")
    assert set(Line.objects.values_list("customer_phone", "store_phone")) == {("", "")}


def test_each_line_expires_with_its_own_event_and_the_old_task_still_names_the_customer_agent_line(pool, agent):
    from orders import tasks

    order = services.assign_agent(new_order(), agent)
    expired_at = timezone.now() - timedelta(seconds=1)
    Line.objects.filter(order=order).update(expires_at=expired_at)
    store_line = Line.objects.get(kind=Line.Kind.STORE_AGENT)

    assert tasks.check_expiry_of_line.call(store_line.pk, expired_at.isoformat()) is True
    # A check queued before lines had kinds: by order, about the customer–agent line.
    assert tasks.check_line_expiry.call(order.pk, expired_at.isoformat()) is True
    assert tasks.check_line_expiry.call(order.pk, expired_at.isoformat()) is False  # once

    assert [event.data["parties"] for event in events_of("line.expired")] == [["store", "agent"], ["customer", "agent"]]


def test_each_party_is_told_how_to_reach_each_of_its_live_lines(pool, agent):
    order = services.assign_agent(new_order(), agent)
    masking, store_line = order.line(Line.Kind.CUSTOMER_AGENT), order.line(Line.Kind.STORE_AGENT)

    shown = Order.objects.get(pk=order.pk).party_instructions

    assert shown == {
        "customer": [f"the agent: call +1 415 555 0100, code {masking.pin}"],
        "agent": [
            f"the customer: call +1 415 555 0100, code {masking.pin}",
            f"the store: call +1 415 555 0101, code {store_line.pin}",
        ],
        "store": [f"the agent: call +1 415 555 0101, code {store_line.pin}"],
    }
    assert order.dial_instructions == f"call +1 415 555 0100, code {masking.pin}"


def test_renaming_the_store_does_not_reopen_its_closed_line_but_a_new_phone_does(pool, agent):
    order = services.close_store_line(services.assign_agent(new_order(), agent))

    order = services.set_store(order, name="Green Grocer")
    assert (order.store_name, order.line(Line.Kind.STORE_AGENT).is_live) == ("Green Grocer", False)

    order = services.set_store(order, phone="+14156667792")
    assert order.line(Line.Kind.STORE_AGENT).is_live
