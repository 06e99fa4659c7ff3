"""One plain result per call (voice.models.CallRecord.result), in the admin and the API."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from orders.api import keys
from voice.models import CallRecord

Result = CallRecord.Result

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("outcome", "dial_status", "duration", "ended", "result", "label"),
    [
        ("connected", "completed", 55, True, Result.TALKED, "talked 0:55"),
        ("connected", "completed", 3723, True, Result.TALKED, "talked 1:02:03"),
        ("connected", "completed", None, False, Result.TALKED, "talked"),
        ("connected", "no-answer", 31, True, Result.NO_ANSWER, "no answer"),
        ("connected", "timeout", 31, True, Result.NO_ANSWER, "no answer"),
        ("connected", "busy", 3, True, Result.BUSY, "busy"),
        ("connected", "failed", 1, True, Result.FAILED, "failed"),
        ("connected", "cancel", 9, True, Result.ENDED_EARLY, "ended before connecting"),
        ("connected", "", None, False, Result.IN_PROGRESS, "in progress"),
        ("pin_prompted", "", 12, True, Result.ENDED_EARLY, "ended before connecting"),
        ("rejected", "", 20, True, Result.PIN_REFUSED, "PIN refused"),
        ("unknown", "", 4, True, Result.UNKNOWN_CALLER, "unknown caller"),
    ],
)
def test_a_call_has_one_plain_result(outcome, dial_status, duration, ended, result, label):
    call = CallRecord(
        call_uuid="c",
        outcome=outcome,
        dial_status=dial_status,
        duration=duration,
        ended_at=timezone.now() if ended else None,
    )

    assert (call.result, call.result_label) == (result, label)


def test_a_dialled_call_nobody_answered_is_no_answer_on_the_order_page_and_call_records(admin_client, live_order):
    call = CallRecord.objects.create(
        call_uuid="call-1", order=live_order, outcome="connected", dial_status="no-answer", duration=31
    )

    order_page = admin_client.get(f"/admin/orders/order/{live_order.pk}/change/").content.decode()
    call_list = admin_client.get("/admin/voice/callrecord/").content.decode()
    call_page = admin_client.get(f"/admin/voice/callrecord/{call.pk}/change/").content.decode()

    for page in (order_page, call_list):
        assert "no answer" in page
        assert "Connected" not in page
    # Plivo's codes stay on the call's own page, folded away.
    assert "no answer" in call_page
    assert "no-answer" in call_page
    assert "Plivo&#x27;s codes" in call_page


def test_the_api_keeps_its_fields_and_gains_the_result(live_order):
    CallRecord.objects.create(call_uuid="call-1", order=live_order, outcome="connected", dial_status="busy", duration=3)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {keys.create_api_key('tests')[1]}")

    (call,) = api.get(f"/api/v1/orders/{live_order.reference}/calls/").json()["results"]

    assert (call["outcome"], call["dial_status"]) == ("connected", "busy")
    assert (call["result"], call["result_label"]) == ("busy", "busy")
