"""What a webhook reads: Plivo's form encoding only, small, refused before it is read."""

from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from tests.support.webhooks import WEBHOOKS, call_params, xml_of
from tests.support.world import CUSTOMER
from voice.plivo.webhook import MAX_BODY_BYTES

pytestmark = pytest.mark.django_db

JUNK_SIGNATURE = {"X-Plivo-Signature-V3": "AAAA", "X-Plivo-Signature-V3-Nonce": "1"}


def test_a_large_multipart_upload_is_refused_before_anything_is_written_to_disk():
    # Bigger than FILE_UPLOAD_MAX_MEMORY_SIZE, so Django would spool it to a temporary file.
    upload = SimpleUploadedFile("upload.bin", b"x" * (3 * 1024 * 1024))
    body = encode_multipart(BOUNDARY, {"From": CUSTOMER, "file": upload})

    with mock.patch.object(TemporaryFileUploadHandler, "new_file") as spooled:
        response = Client().generic("POST", "/voice/answer/", body, MULTIPART_CONTENT, headers=JUNK_SIGNATURE)

    assert response.status_code == 415
    spooled.assert_not_called()


@pytest.mark.parametrize("path", WEBHOOKS)
@pytest.mark.parametrize("content_type", ["multipart/form-data; boundary=x", "application/json", "text/plain"])
def test_webhooks_refuse_other_content_types_even_when_validly_signed(plivo, live_order, path, content_type):
    response = plivo.signed_post(path, call_params(CUSTOMER), CONTENT_TYPE=content_type)

    assert response.status_code == 415


@pytest.mark.parametrize("path", WEBHOOKS)
def test_webhooks_refuse_a_body_over_the_limit_before_reading_it(plivo, path):
    body = "Text=" + "x" * MAX_BODY_BYTES
    with mock.patch("django.http.request.HttpRequest._load_post_and_files") as parsed:
        response = Client().post(path, body, content_type="application/x-www-form-urlencoded", headers=JUNK_SIGNATURE)

    assert response.status_code == 413
    parsed.assert_not_called()


def test_plivo_s_form_encoding_with_a_charset_is_accepted(plivo, live_order):
    response = plivo.signed_post(
        "/voice/answer/", call_params(CUSTOMER), CONTENT_TYPE="application/x-www-form-urlencoded; charset=UTF-8"
    )

    assert xml_of(response).find("Dial") is not None


def test_a_get_answer_is_read_from_its_query_string_and_its_body_ignored(plivo, live_order):
    response = plivo.signed_get("/voice/answer/", call_params(CUSTOMER.lstrip("+")))

    assert xml_of(response).find("Dial") is not None
