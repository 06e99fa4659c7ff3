"""The call log in the admin (voice/admin.py): call and message records, read-only."""

import pytest

from tests.support.webhooks import sms_params
from tests.support.world import CUSTOMER
from voice.models import CallRecord, MessageRecord

pytestmark = pytest.mark.django_db


def test_call_records_cannot_be_added_or_changed(admin_client, live_order):
    record = CallRecord.objects.create(call_uuid="call-1", order=live_order, outcome="connected")

    add = admin_client.get("/admin/voice/callrecord/add/")
    change = admin_client.post(f"/admin/voice/callrecord/{record.pk}/change/", {"outcome": "rejected"})
    delete = admin_client.post(f"/admin/voice/callrecord/{record.pk}/delete/", {"post": "yes"})
    view = admin_client.get(f"/admin/voice/callrecord/{record.pk}/change/")
    listing = admin_client.get("/admin/voice/callrecord/?outcome__exact=connected")

    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert view.status_code == 200
    assert b'name="_save"' not in view.content
    assert list(listing.context["cl"].result_list) == [record]
    record.refresh_from_db()
    assert record.outcome == "connected"


def test_message_records_are_read_only_in_the_admin_and_listed_on_the_order(admin_client, plivo, live_order):
    plivo.signed_post("/voice/message/", sms_params(CUSTOMER, "hello", message_uuid="sms-admin"))
    record = MessageRecord.objects.get(message_uuid="sms-admin")

    listing = admin_client.get("/admin/voice/messagerecord/")
    detail = admin_client.get(f"/admin/voice/messagerecord/{record.pk}/change/")
    edit = admin_client.post(f"/admin/voice/messagerecord/{record.pk}/change/", {"outcome": "unknown"})
    order_page = admin_client.get(f"/admin/orders/order/{live_order.pk}/change/")

    assert listing.status_code == 200 and b"sms-admin" in listing.content
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert edit.status_code == 403
    assert b"text messages" in order_page.content.lower()
    record.refresh_from_db()
    assert record.outcome == "relayed"
