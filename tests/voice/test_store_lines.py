"""Calls and texts over an order's lines: each party reaches each other party where a line joins them, only there."""

from datetime import timedelta
from itertools import permutations
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from orders import services
from orders.models import PARTIES, Agent, Line, Order, ProxyNumber, Role
from tests.support.events import events_of
from tests.support.webhooks import answer, call_params, sms_params, spoken, xml_of
from tests.support.world import AGENT_PHONE, CUSTOMER, PROXY
from voice.models import CallRecord, MessageRecord

pytestmark = pytest.mark.django_db

STORE = "+14156667790"
OTHER_AGENT = "+14156667791"
PHONES = {Role.CUSTOMER: CUSTOMER, Role.AGENT: AGENT_PHONE, Role.STORE: STORE}
UNKNOWN_MESSAGE = "Sorry, we could not find an active delivery for this number. Goodbye."


def digits(number: object) -> str:
    return str(number).lstrip("+")


@pytest.fixture
def pool(db) -> list[ProxyNumber]:
    """Room for every line of an order on a number of its own."""
    return [ProxyNumber.objects.create(number=f"+1415555010{i}") for i in range(3)]


def store_order(agent: Agent, reference: str = "K7X4") -> Order:
    order, _ = services.create_order(
        reference=reference,
        customer_name="Alice",
        customer_phone=CUSTOMER,
        store_name="Green Grocer",
        store_phone=STORE,
    )
    return services.assign_agent(order, agent)


def call(plivo, caller: Role | str, line: Line, call_uuid: str = "call-1"):
    phone = PHONES[caller] if isinstance(caller, Role) else caller
    return answer(plivo, digits(phone), digits(line.proxy_number.number), call_uuid=call_uuid)


def dialled(root) -> list[str]:
    return [number.text for number in root.iter("Number")]


@pytest.mark.parametrize("customer_store_line", [False, True])
@pytest.mark.parametrize(("caller", "callee"), list(permutations(PARTIES, 2)))
def test_each_party_reaches_each_other_party_where_a_line_joins_them(
    plivo, settings, pool, agent, customer_store_line, caller, callee
):
    settings.MASKING_CUSTOMER_STORE_LINE = customer_store_line
    order = store_order(agent)
    line = order.line(Line.Kind.joining(caller, callee))

    if line is None:
        # No customer–store line: none of the order's numbers puts them through to each other.
        assert (caller, callee, customer_store_line) in [
            (Role.CUSTOMER, Role.STORE, False),
            (Role.STORE, Role.CUSTOMER, False),
        ]
        for n, other in enumerate(order.lines.all()):
            assert digits(PHONES[callee]) not in dialled(call(plivo, caller, other, call_uuid=f"try-{n}"))
        return
    root = call(plivo, caller, line)

    assert dialled(root) == [digits(PHONES[callee])]
    dial = root.find("Dial")
    assert dial.get("callerId") == digits(line.proxy_number.number)
    # The whisper names both: who hears it and who is calling.
    query = parse_qs(urlsplit(dial.get("confirmSound")).query)
    assert (query["callee"], query["caller"]) == ([callee.value], [caller.value])
    record = CallRecord.objects.get(call_uuid="call-1")
    assert (record.order_id, record.line_id, record.caller_role) == (order.pk, line.pk, caller.value)


def test_every_line_of_an_order_has_a_number_of_its_own_while_the_pool_has_room(settings, pool, agent):
    settings.MASKING_CUSTOMER_STORE_LINE = True

    order = store_order(agent)

    numbers = [line.proxy_number_id for line in order.lines.all()]
    assert sorted(line.kind for line in order.lines.all()) == sorted(Line.Kind)
    assert len(set(numbers)) == 3


def test_a_party_calling_the_number_of_a_line_it_is_not_on_is_a_stranger(plivo, pool, agent):
    order = store_order(agent)
    store_line = order.line(Line.Kind.STORE_AGENT)

    root = call(plivo, Role.CUSTOMER, store_line)

    assert root.find("Dial") is None
    assert spoken(root) == [UNKNOWN_MESSAGE]


def test_with_one_number_the_agent_is_asked_which_line_and_the_pin_decides(plivo, proxy_number, agent):
    order = store_order(agent)
    masking, store_line = order.line(Line.Kind.CUSTOMER_AGENT), order.line(Line.Kind.STORE_AGENT)
    assert masking.proxy_number_id == store_line.proxy_number_id == proxy_number.pk  # the pool is too small
    assert masking.pin != store_line.pin

    assert answer(plivo, digits(AGENT_PHONE)).find("GetDigits") is not None
    for n, (line, callee) in enumerate([(masking, CUSTOMER), (store_line, STORE)]):
        data = call_params(digits(AGENT_PHONE), call_uuid=f"pin-{n}", Digits=line.pin)
        root = xml_of(plivo.signed_post("/voice/pin/?attempt=1", data))
        assert dialled(root) == [digits(callee)]
        record = CallRecord.objects.get(call_uuid=f"pin-{n}")
        assert (record.line_id, record.caller_role, record.asked_pin) == (line.pk, "agent", True)
    wrong = next(f"{n:04d}" for n in range(10000) if f"{n:04d}" not in {masking.pin, store_line.pin})
    data = call_params(digits(AGENT_PHONE), call_uuid="pin-wrong", Digits=wrong)
    assert xml_of(plivo.signed_post("/voice/pin/?attempt=1", data)).find("Dial") is None
    # The customer and the store have one line each on the number: straight through.
    assert dialled(answer(plivo, digits(CUSTOMER), call_uuid="c")) == [digits(AGENT_PHONE)]
    assert dialled(answer(plivo, digits(STORE), call_uuid="s")) == [digits(AGENT_PHONE)]


def test_a_new_agent_keeps_every_line_number_and_the_old_agent_reaches_no_one(plivo, pool, agent):
    order = store_order(agent)
    numbers = {line.kind: line.proxy_number_id for line in order.lines.all()}
    new_agent = Agent.objects.create(name="Dave", phone=OTHER_AGENT)

    order = services.assign_agent(order, new_agent)

    assert {line.kind: line.proxy_number_id for line in order.lines.all()} == numbers
    store_line = order.line(Line.Kind.STORE_AGENT)
    assert dialled(call(plivo, Role.STORE, store_line)) == [digits(OTHER_AGENT)]
    assert dialled(call(plivo, OTHER_AGENT, store_line, call_uuid="new")) == [digits(STORE)]
    assert call(plivo, Role.AGENT, store_line, call_uuid="old").find("Dial") is None


def test_delivery_keeps_every_line_for_the_grace_period_only(plivo, settings, pool, agent):
    order = services.mark_delivered(store_order(agent))
    store_line = order.line(Line.Kind.STORE_AGENT)
    grace_end = timezone.now() + timedelta(seconds=settings.MASKING_GRACE_PERIOD)

    assert all(line.is_live and line.expires_at <= grace_end for line in order.lines.all())
    assert dialled(call(plivo, Role.STORE, store_line)) == [digits(AGENT_PHONE)]
    Line.objects.filter(order=order).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert call(plivo, Role.STORE, store_line, call_uuid="after").find("Dial") is None
    closed = events_of("line.closed")
    assert sorted(tuple(event.data["parties"]) for event in closed) == [("customer", "agent"), ("store", "agent")]


def test_cancelling_closes_every_line_at_once(plivo, pool, agent):
    order = services.cancel_order(store_order(agent))

    assert not any(line.is_live for line in order.lines.all())
    for n, line in enumerate(order.lines.all()):
        for role in line.parties:
            assert call(plivo, role, line, call_uuid=f"c-{n}-{role.value}").find("Dial") is None


def test_closing_the_store_line_leaves_the_customer_and_agent_talking(plivo, pool, agent):
    order = store_order(agent)

    order = services.close_store_line(order)

    store_line, masking = order.line(Line.Kind.STORE_AGENT), order.line(Line.Kind.CUSTOMER_AGENT)
    assert (store_line.is_live, masking.is_live) == (False, True)
    assert call(plivo, Role.STORE, store_line).find("Dial") is None
    assert dialled(call(plivo, Role.CUSTOMER, masking, call_uuid="c")) == [digits(AGENT_PHONE)]
    [closed] = events_of("line.closed")
    assert (closed.data["parties"], closed.data["reason"]) == (["store", "agent"], "store_line_closed")
    # Again: nothing more happens.
    services.close_store_line(order)
    assert len(events_of("line.closed")) == 1


@pytest.mark.parametrize("close_on_pickup", [False, True])
def test_pickup_closes_the_store_line_only_when_set_to(plivo, settings, pool, agent, close_on_pickup):
    settings.MASKING_CLOSE_STORE_LINE_ON_PICKUP = close_on_pickup

    order = services.mark_picked_up(store_order(agent))

    assert order.line(Line.Kind.STORE_AGENT).is_live is not close_on_pickup
    assert order.line(Line.Kind.CUSTOMER_AGENT).is_live
    reached = dialled(call(plivo, Role.STORE, order.line(Line.Kind.STORE_AGENT)))
    assert reached == ([] if close_on_pickup else [digits(AGENT_PHONE)])


def test_texts_relay_over_the_store_line_and_name_it(plivo, pool, agent):
    store_line = store_order(agent).line(Line.Kind.STORE_AGENT)
    proxy = str(store_line.proxy_number.number)

    root = xml_of(plivo.signed_post("/voice/message/", sms_params(STORE, "Order is ready", proxy, "m-1")))
    back = xml_of(plivo.signed_post("/voice/message/", sms_params(AGENT_PHONE, "On my way", proxy, "m-2")))

    assert [(m.get("dst"), m.text) for m in root.iter("Message")] == [(digits(AGENT_PHONE), "Order is ready")]
    assert [(m.get("dst"), m.text) for m in back.iter("Message")] == [(digits(STORE), "On my way")]
    records = {r.message_uuid: (r.line_id, r.sender_role) for r in MessageRecord.objects.all()}
    assert records == {"m-1": (store_line.pk, "store"), "m-2": (store_line.pk, "agent")}
    relayed = [
        (e.data["parties"], e.data["sender_role"], e.data["recipient_role"]) for e in events_of("message.relayed")
    ]
    assert relayed == [(["store", "agent"], "store", "agent"), (["store", "agent"], "agent", "store")]


def test_the_whisper_names_the_store_calling(plivo, pool, agent):
    store_line = store_order(agent).line(Line.Kind.STORE_AGENT)
    dial = call(plivo, Role.STORE, store_line).find("Dial")
    parts = urlsplit(dial.get("confirmSound"))

    root = xml_of(plivo.signed_post(f"{parts.path}?{parts.query}", call_params(digits(AGENT_PHONE), call_uuid="b")))

    assert spoken(root)[0] == "Call from the store about order K 7 X 4."


def test_a_store_call_counts_against_the_stores_own_hourly_limit(plivo, settings, pool, agent):
    settings.MASKING_MAX_CALLS_PER_HOUR = 1
    store_line = store_order(agent).line(Line.Kind.STORE_AGENT)
    assert dialled(call(plivo, Role.STORE, store_line)) == [digits(AGENT_PHONE)]
    hangup = call_params(digits(STORE), proxy=digits(store_line.proxy_number.number), call_uuid="call-1")
    plivo.signed_post("/voice/hangup/", {**hangup, "CallStatus": "completed", "Duration": "5"})

    store_line.refresh_from_db()
    assert (store_line.store_calls, store_line.agent_calls) == (1, 0)
    assert call(plivo, Role.STORE, store_line, call_uuid="call-2").find("Dial") is None
    # The agent's own calls on the line are theirs, and the customer's line is another line.
    assert dialled(call(plivo, Role.AGENT, store_line, call_uuid="call-3")) == [digits(STORE)]


def test_a_caller_with_no_line_on_the_number_learns_nothing(plivo, pool, agent):
    store_order(agent)

    root = answer(plivo, "14156660000", digits(PROXY))

    assert root.find("Dial") is None


def test_a_new_agent_after_the_store_line_closed_does_not_reopen_it(plivo, pool, agent):
    order = services.close_store_line(store_order(agent))
    new_agent = Agent.objects.create(name="Dave", phone=OTHER_AGENT)

    order = services.assign_agent(order, new_agent)

    assert (order.line(Line.Kind.CUSTOMER_AGENT).is_live, order.line(Line.Kind.STORE_AGENT).is_live) == (True, False)
    assert call(plivo, Role.STORE, order.line(Line.Kind.STORE_AGENT)).find("Dial") is None
