"""The seed tutorial's "open the answer URL in a browser" step: refused, but told where to look."""

import pytest

from voice.models import CallRecord

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/numbermasking/handle_incoming/", "/voice/answer/"])
def test_an_unsigned_request_is_refused_with_a_pointer_to_the_simulator(client, live_order, path):
    response = client.get(path, {"From": "14156667777", "To": "14155550100"})

    assert response.status_code == 403
    body = response.content.decode()
    assert "only answers requests signed by Plivo" in body
    assert "http://masking.example.com/admin/call-simulator/" in body
    assert "manage.py simulate_call" in body
    assert "manage.py play_call" in body
    assert "<Dial" not in body and "14156667778" not in body
    assert not CallRecord.objects.exists()


def test_a_wrong_signature_still_reads_invalid_signature(client, live_order):
    response = client.post(
        "/voice/answer/",
        "From=14156667777&To=14155550100&CallUUID=x",
        content_type="application/x-www-form-urlencoded",
        headers={"X-Plivo-Signature-V3": "d3Jvbmc=", "X-Plivo-Signature-V3-Nonce": "12345"},
    )

    assert response.status_code == 403
    assert response.content == b"Invalid Plivo signature."
    assert not CallRecord.objects.exists()
