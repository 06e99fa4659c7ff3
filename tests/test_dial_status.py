"""The dial-status webhook (/voice/dial-status/): what the caller hears when the dialled party's leg ends."""

import pytest

from voice.models import CallRecord
from voice.xml import NOT_AVAILABLE

from .conftest import answer, dial_status, spoken

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("status", ["busy", "failed", "timeout", "no-answer", "cancel"])
def test_a_dial_that_did_not_complete_tells_the_caller_and_hangs_up(plivo, live_order, status):
    answer(plivo)

    root = dial_status(plivo, status)

    assert spoken(root) == [NOT_AVAILABLE]
    assert root[-1].tag == "Hangup"
    record = CallRecord.objects.get()
    assert (record.order, record.outcome, record.dial_status) == (live_order, "connected", status)


def test_a_completed_dial_just_hangs_up(plivo, live_order):
    answer(plivo)

    root = dial_status(plivo, "completed")

    assert [child.tag for child in root] == ["Hangup"]
    assert CallRecord.objects.get().dial_status == "completed"


def test_a_dial_status_for_an_unknown_call_makes_one_record(plivo, db):
    root = dial_status(plivo, "busy", call_uuid="never-answered")

    assert spoken(root) == [NOT_AVAILABLE]
    record = CallRecord.objects.get()
    assert (record.call_uuid, record.dial_status, record.order) == ("never-answered", "busy", None)
