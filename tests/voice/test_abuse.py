"""Abuse controls through signed webhooks: the block list and the hourly limit (docs/security.md, "Abuse controls")."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from orders import services
from orders.models import Agent, BlockedNumber, Line, Order, ProxyNumber
from tests.support.events import assert_no_phone_number, events_of
from tests.support.webhooks import answer, dial_status, hangup, sms_params, spoken, type_pin, xml_of
from tests.support.world import AGENT_PHONE, CUSTOMER, PROXY, open_line
from voice.models import CallRecord, MessageRecord

pytestmark = pytest.mark.django_db

STRANGER = "+14155559999"
OTHER_PROXY = "+14155550101"


def block(number: str, *, until=None, reason: str = "abusive calls") -> BlockedNumber:
    return BlockedNumber.objects.create(number=number, reason=reason, until=until)


def assert_hears_unknown_caller_message(root) -> None:
    assert root.find("Dial") is None
    assert spoken(root) == [django_settings.MASKING_UNKNOWN_CALLER_MESSAGE]
    assert root[-1].tag == "Hangup"


def talk(plivo, caller: str, call_uuid: str) -> None:
    """A whole call that is put through: answer, the callee takes it, hang up."""
    assert answer(plivo, caller, call_uuid=call_uuid).find("Dial") is not None
    dial_status(plivo, "completed", call_uuid=call_uuid, caller=caller)
    hangup(plivo, call_uuid=call_uuid, caller=caller)


# The block list


def test_a_blocked_customer_hears_the_unknown_caller_message_and_reaches_no_one(
    plivo, live_order, django_assert_num_queries
):
    block(CUSTOMER)

    with django_assert_num_queries(2):
        root = answer(plivo, CUSTOMER.lstrip("+"), call_uuid="blocked-1")

    assert_hears_unknown_caller_message(root)
    record = CallRecord.objects.get(call_uuid="blocked-1")
    assert (record.outcome, record.result, record.result_label) == ("blocked", "blocked", "blocked")
    assert record.order is None and record.dialled_number == ""


def test_a_blocked_caller_is_not_put_through_to_support_either(settings, plivo, live_order):
    settings.MASKING_SUPPORT_NUMBER = "+14155550199"
    block(AGENT_PHONE)

    root = answer(plivo, AGENT_PHONE.lstrip("+"), call_uuid="blocked-agent")

    assert_hears_unknown_caller_message(root)
    # A stranger still reaches support: only the block list is refused it.
    assert answer(plivo, STRANGER, call_uuid="stranger").find("Dial/Number").text == "14155550199"


def test_a_blocked_number_with_no_order_is_recorded_as_blocked(plivo, proxy_number, django_assert_num_queries):
    block(STRANGER)

    with django_assert_num_queries(2):
        root = answer(plivo, STRANGER.lstrip("+"), call_uuid="blocked-stranger")

    assert_hears_unknown_caller_message(root)
    assert CallRecord.objects.get(call_uuid="blocked-stranger").result == "blocked"


def test_an_expired_block_no_longer_applies(plivo, live_order):
    block(CUSTOMER, until=timezone.now() - timedelta(seconds=1))

    root = answer(plivo, CUSTOMER, call_uuid="after-block")

    assert root.find("Dial/Number").text == AGENT_PHONE.lstrip("+")
    assert CallRecord.objects.get(call_uuid="after-block").outcome == "connected"


def test_a_block_until_later_applies_now(plivo, live_order):
    block(CUSTOMER, until=timezone.now() + timedelta(hours=1))

    assert_hears_unknown_caller_message(answer(plivo, CUSTOMER, call_uuid="until-later"))


def test_removing_a_block_puts_the_caller_through_again(plivo, live_order):
    block(CUSTOMER).delete()

    assert answer(plivo, CUSTOMER, call_uuid="unblocked").find("Dial") is not None


def test_a_blocked_caller_with_several_orders_is_not_asked_for_a_pin(plivo, live_order):
    open_line(CUSTOMER, Agent.objects.create(name="Dave", phone="+14156667780"))
    block(CUSTOMER)

    root = answer(plivo, CUSTOMER, call_uuid="blocked-pin")

    assert root.find("GetDigits") is None
    assert_hears_unknown_caller_message(root)


def test_a_number_blocked_during_the_pin_prompt_is_refused_at_the_pin(plivo, live_order):
    second = open_line(CUSTOMER, Agent.objects.create(name="Dave", phone="+14156667780"))
    assert answer(plivo, CUSTOMER, call_uuid="pin-then-block").find("GetDigits") is not None
    block(CUSTOMER)

    root = type_pin(plivo, second.masking.pin, call_uuid="pin-then-block")

    assert_hears_unknown_caller_message(root)
    assert CallRecord.objects.get(call_uuid="pin-then-block").result == "blocked"


def test_the_hangup_of_a_blocked_call_raises_no_call_event(plivo, live_order):
    block(CUSTOMER)
    answer(plivo, CUSTOMER, call_uuid="blocked-hangup")

    hangup(plivo, call_uuid="blocked-hangup", caller=CUSTOMER)

    assert CallRecord.objects.get(call_uuid="blocked-hangup").result == "blocked"
    assert [event.type for event in events_of("call.completed") + events_of("call.missed")] == []


def test_a_text_from_a_blocked_number_is_not_relayed(plivo, live_order):
    block(CUSTOMER)

    root = xml_of(plivo.signed_post("/voice/message/", sms_params(CUSTOMER, "hello", message_uuid="sms-blocked")))

    assert len(root) == 0
    record = MessageRecord.objects.get(message_uuid="sms-blocked")
    assert record.outcome == "blocked" and record.relayed_to == "" and record.order is None
    assert events_of("message.relayed") == []


# The hourly limit


@pytest.fixture
def limit_of_two(settings):
    settings.MASKING_MAX_CALLS_PER_HOUR = 2


def test_a_party_over_the_hourly_limit_hears_it_and_reaches_no_one(
    plivo, live_order, limit_of_two, django_assert_num_queries
):
    talk(plivo, CUSTOMER, "call-1")
    talk(plivo, CUSTOMER, "call-2")

    with django_assert_num_queries(2):
        root = answer(plivo, CUSTOMER, call_uuid="call-3")

    assert root.find("Dial") is None
    assert spoken(root) == [django_settings.MASKING_CALL_LIMIT_MESSAGE]
    assert root[-1].tag == "Hangup"
    record = CallRecord.objects.get(call_uuid="call-3")
    assert (record.outcome, record.result_label) == ("limit_reached", "limit reached")
    assert record.order == live_order and record.caller_role == "customer" and record.dialled_number == ""


def test_the_limit_is_per_party_the_other_party_still_calls(plivo, live_order, limit_of_two):
    talk(plivo, CUSTOMER, "call-1")
    talk(plivo, CUSTOMER, "call-2")

    assert answer(plivo, AGENT_PHONE, call_uuid="agent-call").find("Dial/Number").text == CUSTOMER.lstrip("+")


def test_the_limit_is_per_order_the_same_customer_still_calls_about_another_order(plivo, live_order, limit_of_two):
    talk(plivo, CUSTOMER, "call-1")
    talk(plivo, CUSTOMER, "call-2")
    ProxyNumber.objects.create(number=OTHER_PROXY)
    other = open_line(CUSTOMER, Agent.objects.create(name="Dave", phone="+14156667780"))
    assert str(other.masking.proxy_number.number) == OTHER_PROXY

    assert answer(plivo, CUSTOMER, OTHER_PROXY, call_uuid="other-order").find("Dial/Number").text == "14156667780"
    assert answer(plivo, CUSTOMER, call_uuid="first-order").find("Dial") is None


def test_the_limit_reached_event_is_raised_once_per_window(plivo, live_order, limit_of_two):
    talk(plivo, CUSTOMER, "call-1")
    talk(plivo, CUSTOMER, "call-2")
    answer(plivo, CUSTOMER, call_uuid="call-3")

    hangup(plivo, call_uuid="call-3", caller=CUSTOMER)
    hangup(plivo, call_uuid="call-3", caller=CUSTOMER)  # Plivo retries
    answer(plivo, CUSTOMER, call_uuid="call-4")
    hangup(plivo, call_uuid="call-4", caller=CUSTOMER)

    (event,) = events_of("call.limit_reached")
    assert event.data == {
        "reference": live_order.reference,
        "proxy_number": PROXY,
        "parties": ["customer", "agent"],
        "call_uuid": "call-3",
        "caller_role": "customer",
        "callee_role": "agent",
        "initiated_by": "caller",
        "limit": 2,
    }
    assert_no_phone_number(event)
    # The answer itself raised nothing: the event came from the hangup.
    assert CallRecord.objects.get(call_uuid="call-4").result == "limit_reached"


def test_the_answer_of_a_limited_call_raises_no_event(plivo, live_order, limit_of_two):
    talk(plivo, CUSTOMER, "call-1")
    talk(plivo, CUSTOMER, "call-2")

    answer(plivo, CUSTOMER, call_uuid="call-3")

    assert events_of("call.limit_reached") == []


def test_a_retried_hangup_counts_the_call_once(plivo, live_order, limit_of_two):
    answer(plivo, CUSTOMER, call_uuid="call-1")
    hangup(plivo, call_uuid="call-1", caller=CUSTOMER)
    hangup(plivo, call_uuid="call-1", caller=CUSTOMER)
    hangup(plivo, call_uuid="call-1", caller=CUSTOMER)

    live_order.refresh_from_db()
    assert live_order.masking.customer_calls == 1
    assert answer(plivo, CUSTOMER, call_uuid="call-2").find("Dial") is not None


def test_calls_that_reach_no_one_are_not_counted(plivo, live_order, limit_of_two):
    for n in range(3):
        answer(plivo, STRANGER, call_uuid=f"stranger-{n}")
        hangup(plivo, call_uuid=f"stranger-{n}", caller=STRANGER)
    talk(plivo, CUSTOMER, "call-1")
    talk(plivo, CUSTOMER, "call-2")
    for n in range(3):
        answer(plivo, CUSTOMER, call_uuid=f"limited-{n}")
        hangup(plivo, call_uuid=f"limited-{n}", caller=CUSTOMER)

    live_order.refresh_from_db()
    # Only the two calls put through count; the limited ones do not stretch the window.
    assert live_order.masking.customer_calls == 2


def test_the_limit_lifts_when_the_window_has_passed(plivo, live_order, limit_of_two):
    talk(plivo, CUSTOMER, "call-1")
    talk(plivo, CUSTOMER, "call-2")
    assert answer(plivo, CUSTOMER, call_uuid="call-3").find("Dial") is None
    hangup(plivo, call_uuid="call-3", caller=CUSTOMER)
    an_hour_ago = timezone.now() - timedelta(hours=1, seconds=1)
    Line.objects.filter(order_id=live_order.pk).update(customer_calls_since=an_hour_ago)

    talk(plivo, CUSTOMER, "call-4")

    live_order.refresh_from_db()
    # A new window, starting with the call that lifted the limit.
    assert live_order.masking.customer_calls == 1 and live_order.masking.customer_calls_since > an_hour_ago
    assert answer(plivo, CUSTOMER, call_uuid="call-5").find("Dial") is not None
    # And in the new window, the limit is reported again once it is reached.
    hangup(plivo, call_uuid="call-5", caller=CUSTOMER)
    answer(plivo, CUSTOMER, call_uuid="call-6")
    hangup(plivo, call_uuid="call-6", caller=CUSTOMER)
    assert [event.data["call_uuid"] for event in events_of("call.limit_reached")] == ["call-3", "call-6"]


def test_a_limit_of_zero_is_no_limit(settings, plivo, live_order):
    settings.MASKING_MAX_CALLS_PER_HOUR = 0
    Line.objects.filter(order_id=live_order.pk).update(customer_calls=1000, customer_calls_since=timezone.now())

    assert answer(plivo, CUSTOMER, call_uuid="call-1001").find("Dial") is not None


def test_the_default_limit_is_twenty_calls(plivo, live_order):
    assert django_settings.MASKING_MAX_CALLS_PER_HOUR == 20
    Line.objects.filter(order_id=live_order.pk).update(customer_calls=19, customer_calls_since=timezone.now())
    talk(plivo, CUSTOMER, "call-20")

    assert answer(plivo, CUSTOMER, call_uuid="call-21").find("Dial") is None


def test_a_party_over_the_limit_is_limited_after_typing_the_pin(plivo, live_order, limit_of_two):
    second = open_line(CUSTOMER, Agent.objects.create(name="Dave", phone="+14156667780"))
    Line.objects.filter(order_id=second.pk).update(customer_calls=2, customer_calls_since=timezone.now())
    assert answer(plivo, CUSTOMER, call_uuid="pin-call").find("GetDigits") is not None

    root = type_pin(plivo, second.masking.pin, call_uuid="pin-call")

    assert root.find("Dial") is None
    assert spoken(root) == [django_settings.MASKING_CALL_LIMIT_MESSAGE]
    record = CallRecord.objects.get(call_uuid="pin-call")
    assert (record.result, record.order, record.caller_role) == ("limit_reached", second, "customer")
    # The other order's line is not over the limit.
    assert type_pin(plivo, live_order.masking.pin, call_uuid="pin-call-2").find("Dial") is not None
    hangup(plivo, call_uuid="pin-call", caller=CUSTOMER)
    assert [event.data["reference"] for event in events_of("call.limit_reached")] == [second.reference]


def test_a_call_put_through_after_the_pin_is_counted(plivo, live_order, limit_of_two):
    second = open_line(CUSTOMER, Agent.objects.create(name="Dave", phone="+14156667780"))
    answer(plivo, CUSTOMER, call_uuid="pin-call")
    type_pin(plivo, second.masking.pin, call_uuid="pin-call")

    hangup(plivo, call_uuid="pin-call", caller=CUSTOMER)

    second.refresh_from_db()
    live_order.refresh_from_db()
    assert (second.masking.customer_calls, live_order.masking.customer_calls) == (1, 0)


def test_texts_are_not_limited(plivo, live_order, limit_of_two):
    Line.objects.filter(order_id=live_order.pk).update(customer_calls=5, customer_calls_since=timezone.now())

    root = xml_of(plivo.signed_post("/voice/message/", sms_params(CUSTOMER, "at the door")))

    assert root.find("Message").get("dst") == AGENT_PHONE.lstrip("+")


def test_saving_an_order_keeps_the_calls_counted_meanwhile(plivo, live_order, limit_of_two):
    stale = Order.objects.get(pk=live_order.pk)
    talk(plivo, CUSTOMER, "call-1")
    talk(plivo, CUSTOMER, "call-2")

    stale.customer_name = "Alice B."
    stale.save()

    live_order.refresh_from_db()
    assert (live_order.customer_name, live_order.masking.customer_calls) == ("Alice B.", 2)
    assert answer(plivo, CUSTOMER, call_uuid="call-3").find("Dial") is None


def test_a_new_agent_starts_with_no_calls_counted(plivo, live_order, limit_of_two):
    talk(plivo, AGENT_PHONE, "agent-1")
    talk(plivo, AGENT_PHONE, "agent-2")
    talk(plivo, CUSTOMER, "customer-1")
    dave = Agent.objects.create(name="Dave", phone="+14156667780")

    services.assign_agent(live_order, dave)

    live_order.refresh_from_db()
    assert (
        live_order.masking.agent_calls,
        live_order.masking.agent_calls_since,
        live_order.masking.customer_calls,
    ) == (0, None, 1)
    assert answer(plivo, "+14156667780", call_uuid="dave-1").find("Dial") is not None
