"""A call event's ``proxy_number`` is the order's, whatever a callback's From and To say.

A fuzzed callback once put the customer's own number there: the call record
keeps the numbers a request carried, but what the platform hears about its
order comes from the order.
"""

import pytest

from tests.support.events import assert_no_phone_number, events_of
from tests.support.webhooks import call_params, xml_of
from tests.support.world import AGENT_PHONE, CUSTOMER, PROXY
from voice.models import CallRecord

pytestmark = pytest.mark.django_db

RECORD_URL = "https://media.plivo.com/v1/Account/MAXXXXXXXXXXXXXXXXXX/Recording/rec-1.mp3"


def swapped(call_uuid: str, **extra: str) -> dict:
    """A click-to-call's callback with From and To the wrong way round: the party as From, our number as To."""
    return call_params(CUSTOMER.lstrip("+"), AGENT_PHONE.lstrip("+"), call_uuid=call_uuid, **extra)


def test_a_bridged_call_with_swapped_numbers_completes_with_the_order_s_proxy_number(settings, plivo, live_order):
    settings.MASKING_RECORD_CALLS = True
    query = f"?order={live_order.pk}&first=customer"
    xml_of(plivo.signed_post(f"/voice/bridge/{query}", swapped("c2c-1", CallStatus="in-progress")))
    assert CallRecord.objects.get().proxy_number != PROXY  # the record keeps what the request said

    xml_of(plivo.signed_post("/voice/dial-status/", swapped("c2c-1", DialStatus="completed")))
    xml_of(plivo.signed_post(f"/voice/hangup/{query}", swapped("c2c-1", CallStatus="completed", Duration="30")))
    recording = {"RecordUrl": RECORD_URL, "RecordingID": "rec-1", "RecordingDuration": "28"}
    xml_of(plivo.signed_post("/voice/recording/?call=c2c-1", {**swapped("c2c-1"), **recording}))

    (completed,) = events_of("call.completed")
    (ready,) = events_of("recording.ready")
    for event in (completed, ready):
        assert event.data["proxy_number"] == PROXY
        assert_no_phone_number(event)


@pytest.mark.parametrize(("sender", "to"), [("not-a-number", "sip:x@example.com"), (CUSTOMER, CUSTOMER)])
def test_a_click_to_call_hangup_with_garbage_numbers_is_missed_on_the_order_s_proxy_number(
    plivo, live_order, sender, to
):
    fields = call_params(sender.lstrip("+"), to.lstrip("+"), call_uuid="c2c-2", CallStatus="no-answer")

    xml_of(plivo.signed_post(f"/voice/hangup/?order={live_order.pk}&first=agent", fields))

    (missed,) = events_of("call.missed")
    assert (missed.data["reason"], missed.data["proxy_number"]) == ("first_party_no-answer", PROXY)
    assert_no_phone_number(missed)
