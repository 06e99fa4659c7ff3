"""The one decorator every webhook goes through (voice/webhook.py): Plivo's signature, methods, CSRF."""

import base64
import hashlib
import hmac
import secrets
from unittest import mock
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from hypothesis import given
from hypothesis import strategies as st
from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3

from tests.support.webhooks import GET_WEBHOOKS, WEBHOOKS, PlivoClient, call_params, plivo_signature, sms_params, xml_of
from tests.support.world import CUSTOMER, PROXY
from voice.models import CallRecord, MessageRecord, Recording
from voice.plivo.webhook import expected_signature, has_valid_signature, signature_base

# Real vectors produced by Plivo's servers (docs/plivo.md, "Real V3 vectors").
VECTOR_TOKEN = "Y2Q2ZDgxZmY5YWRiOTI5YmQ1Njg0MTAxZWIyOTc4"
VECTOR_NONCE = "31627761595286130198"
VECTOR_HOST = "https://plivobin.non-prod.plivops.com"
VECTOR_PATH = "/api/v1/validate_signature03.xml"
VECTOR_PARAMS = {
    "Direction": "outbound",
    "From": "19792014278",
    "ALegUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "SessionStart": "2020-04-08 11:34:33.238707",
    "BillRate": "0.002",
    "ParentAuthID": "MANWVLYTK4ZWU1YTY4QA",
    "To": "sip:PlivoSignature382029104058171078704104@phone-qa.voice.plivodev.com",
    "RequestUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "ALegRequestUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "CallUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "SIP-H-To": "<sip:PlivoSignature382029104058171078704104@52.9.11.55;transport=udp>;tag=1",
    "CallStatus": "in-progress",
    "Event": "StartApp",
}
VECTORS = [
    ("POST", VECTOR_PATH + "/?a=b&c=d", "k7Pusd4OxCIjR5IfA9iedDNu/h/gbdYqdzG/MiYtd1c="),
    ("POST", VECTOR_PATH, "iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0="),
    ("GET", VECTOR_PATH, "i/MQsaQSAd6fiKhOh2qeeeLHZ9faldADSb3/7+Akfbc="),
    ("GET", VECTOR_PATH + "/?a=b&c=d", "UBq8jAtd32wR8EK9VgxbBn4n5rpI/l1H9iN4WfSEHFQ="),
]


def signed_headers(signature: str, nonce: str) -> dict[str, str]:
    return {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce}


@pytest.mark.parametrize(("method", "path", "signature"), VECTORS)
def test_expected_signature_matches_plivos_real_vectors(method, path, signature):
    params = {key: [value] for key, value in VECTOR_PARAMS.items()}

    computed = expected_signature(method, VECTOR_HOST + path, params, VECTOR_NONCE, VECTOR_TOKEN)

    assert computed == signature.encode()


@pytest.mark.parametrize(("method", "path", "signature"), VECTORS)
def test_the_test_signer_matches_plivos_real_vectors(method, path, signature):
    computed = plivo_signature(
        VECTOR_HOST + path, VECTOR_NONCE, method=method, params=VECTOR_PARAMS, token=VECTOR_TOKEN
    )

    assert computed == signature


def vector_request(method: str, path: str, signature: str) -> HttpRequest:
    """A Django request carrying one of Plivo's real vectors, its params in the query or the form body."""
    factory = RequestFactory(headers=signed_headers(signature, VECTOR_NONCE))
    if method == "GET":
        separator = "&" if "?" in path else "?"
        return factory.get(path + separator + urlencode(VECTOR_PARAMS))
    return factory.post(path, urlencode(VECTOR_PARAMS), content_type="application/x-www-form-urlencoded")


@pytest.mark.parametrize(("method", "path", "signature"), VECTORS)
def test_it_accepts_plivos_real_vectors_as_django_requests(settings, method, path, signature):
    settings.PUBLIC_BASE_URL = VECTOR_HOST
    settings.PLIVO_AUTH_TOKEN = VECTOR_TOKEN
    request = vector_request(method, path, signature)

    assert has_valid_signature(request)


@pytest.mark.parametrize(("method", "path", "signature"), VECTORS)
def test_it_rejects_plivos_real_vectors_with_another_token(settings, method, path, signature):
    settings.PUBLIC_BASE_URL = VECTOR_HOST
    settings.PLIVO_AUTH_TOKEN = "some-other-auth-token"
    request = vector_request(method, path, signature)

    assert not has_valid_signature(request)


def post_with(client: Client, path: str, data: dict, headers: dict[str, str]) -> HttpResponse:
    return client.post(path, data=urlencode(data), content_type="application/x-www-form-urlencoded", headers=headers)


def sign(path: str, data: dict, nonce: str, **kwargs) -> str:
    return plivo_signature("http://masking.example.com" + path, nonce, params=data, **kwargs)


POST_ONLY_WEBHOOKS = [path for path in WEBHOOKS if path not in GET_WEBHOOKS]
# What a voicemail or recording callback adds to a call's fields.
RECORDING_PARAMS = {"RecordingID": "rec-1", "RecordUrl": "https://media.plivo.com/rec-1.mp3", "RecordingDuration": "9"}


def any_webhook_params() -> dict[str, str]:
    return {**call_params("14156667777"), **sms_params(CUSTOMER, "hello"), **RECORDING_PARAMS}


def assert_nothing_stored() -> None:
    assert not CallRecord.objects.exists()
    assert not MessageRecord.objects.exists()
    assert not Recording.objects.exists()


@pytest.mark.parametrize("path", WEBHOOKS)
def test_every_webhook_rejects_an_unsigned_post(client, live_order, path):
    response = client.post(path, any_webhook_params())

    assert response.status_code == 403
    assert_nothing_stored()


@pytest.mark.parametrize("path", GET_WEBHOOKS)
def test_every_webhook_that_takes_get_rejects_an_unsigned_get(client, live_order, path):
    response = client.get(path, call_params("14156667777"))

    assert response.status_code == 403
    assert not CallRecord.objects.exists()


@pytest.mark.parametrize("path", POST_ONLY_WEBHOOKS)
def test_post_only_webhooks_refuse_a_signed_get(plivo, live_order, path):
    response = plivo.signed_get(path, any_webhook_params())

    assert response.status_code == 405
    assert_nothing_stored()


@pytest.mark.parametrize("path", WEBHOOKS)
@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
def test_webhooks_refuse_methods_other_than_get_and_post(plivo, path, method):
    response = plivo.generic(method, path)

    assert response.status_code == 405


def test_webhooks_need_no_csrf_token(live_order):
    plivo = PlivoClient(enforce_csrf_checks=True)

    root = xml_of(plivo.signed_post("/voice/answer/", call_params("14156667777", call_uuid="no-csrf")))

    assert root.find("Dial") is not None
    assert CallRecord.objects.filter(call_uuid="no-csrf").exists()


def test_it_rejects_a_tampered_body(client, live_order):
    data = call_params("14156667777")
    nonce = secrets.token_hex(10)
    signature = sign("/voice/answer/", data, nonce)
    data["From"] = "14156667778"

    response = post_with(client, "/voice/answer/", data, signed_headers(signature, nonce))

    assert response.status_code == 403
    assert not CallRecord.objects.exists()


def test_it_rejects_a_tampered_get_query(client, live_order):
    data = call_params("14156667777")
    query = urlencode(data)
    nonce = secrets.token_hex(10)
    signature = plivo_signature("http://masking.example.com/voice/answer/?" + query, nonce, method="GET")
    tampered = query.replace("14156667777", "14156667778")

    response = client.get("/voice/answer/?" + tampered, headers=signed_headers(signature, nonce))

    assert response.status_code == 403
    assert not CallRecord.objects.exists()


def test_it_rejects_a_signature_made_with_another_token(client, live_order):
    data = call_params("14156667777")
    nonce = secrets.token_hex(10)
    signature = sign("/voice/answer/", data, nonce, token="not-our-token")

    response = post_with(client, "/voice/answer/", data, signed_headers(signature, nonce))

    assert response.status_code == 403


def test_it_rejects_a_signature_for_another_nonce(client, live_order):
    data = call_params("14156667777")
    signature = sign("/voice/answer/", data, "nonce-one")

    response = post_with(client, "/voice/answer/", data, signed_headers(signature, "nonce-two"))

    assert response.status_code == 403


def test_it_rejects_a_request_without_a_nonce(client, live_order):
    data = call_params("14156667777")
    signature = sign("/voice/answer/", data, "a-nonce")

    response = post_with(client, "/voice/answer/", data, {"X-Plivo-Signature-V3": signature})

    assert response.status_code == 403
    assert not CallRecord.objects.exists()


def test_it_rejects_a_signature_for_the_https_url_when_plivo_calls_http(client, live_order):
    data = call_params("14156667777")
    nonce = secrets.token_hex(10)
    signature = plivo_signature("https://masking.example.com/voice/answer/", nonce, params=data)

    response = post_with(client, "/voice/answer/", data, signed_headers(signature, nonce))

    assert response.status_code == 403


def test_a_refused_signature_logs_the_url_it_was_checked_against_never_the_signature(client, live_order, caplog):
    # The likeliest setup mistake: Plivo (or play_call) calls 127.0.0.1 while PUBLIC_BASE_URL says another host.
    data = call_params("14156667777")
    nonce = secrets.token_hex(10)
    signature = plivo_signature("http://127.0.0.1:8000/voice/pin/?attempt=2", nonce, params=data)

    response = post_with(client, "/voice/pin/?attempt=2", data, signed_headers(signature, nonce))

    assert response.status_code == 403
    (line,) = [record.getMessage() for record in caplog.records if "rejected a request" in record.getMessage()]
    assert "does not match http://masking.example.com/voice/pin/?… with PLIVO_AUTH_TOKEN" in line
    assert signature not in caplog.text
    assert "attempt=2" not in line


def test_a_request_refused_for_want_of_a_token_says_so_in_the_log(settings, client, live_order, caplog):
    settings.PLIVO_AUTH_TOKEN = ""

    response = client.post("/voice/answer/", call_params("14156667777"))

    assert response.status_code == 403
    assert "PLIVO_AUTH_TOKEN is not set" in caplog.text
    assert "http://masking.example.com/voice/answer/" in caplog.text


def test_an_unsigned_request_logs_that_it_had_no_signature(client, live_order, caplog):
    response = client.post("/voice/answer/", call_params("14156667777"))

    assert response.status_code == 403
    assert "no Plivo signature headers (the URL would be checked against http://masking.example.com/voice/answer/)" in (
        caplog.text
    )


@pytest.mark.parametrize("separator", [",", ", ", " , "])
def test_it_accepts_one_good_signature_among_several(client, live_order, separator):
    data = call_params("14156667777", call_uuid="several")
    nonce = secrets.token_hex(10)
    good = sign("/voice/answer/", data, nonce)
    old = sign("/voice/answer/", data, nonce, token="rotated-out-token")

    response = post_with(client, "/voice/answer/", data, signed_headers(old + separator + good, nonce))

    assert xml_of(response).find("Dial") is not None
    assert CallRecord.objects.filter(call_uuid="several").exists()


def test_it_rejects_several_signatures_when_none_matches(client, live_order):
    data = call_params("14156667777")
    nonce = secrets.token_hex(10)
    first = sign("/voice/answer/", data, nonce, token="token-a")
    second = sign("/voice/answer/", data, nonce, token="token-b")

    response = post_with(client, "/voice/answer/", data, signed_headers(f"{first}, {second}", nonce))

    assert response.status_code == 403


def test_it_accepts_the_main_account_signature_header(client, live_order):
    data = call_params("14156667777")
    nonce = secrets.token_hex(10)
    headers = {"X-Plivo-Signature-Ma-V3": sign("/voice/answer/", data, nonce), "X-Plivo-Signature-V3-Nonce": nonce}

    response = post_with(client, "/voice/answer/", data, headers)

    assert xml_of(response).find("Dial") is not None


def test_it_checks_the_query_string_of_a_post(plivo, live_order):
    # The PIN prompt's action URL carries ?attempt=N, which Plivo signs too.
    response = plivo.signed_post("/voice/pin/?attempt=2", call_params("14156667777", Digits=live_order.masking.pin))

    assert xml_of(response).find("Dial") is not None


def test_it_rejects_a_post_whose_query_string_was_changed(client, live_order):
    data = call_params("14156667777", Digits="0000")
    nonce = secrets.token_hex(10)
    signature = sign("/voice/pin/?attempt=1", data, nonce)

    response = post_with(client, "/voice/pin/?attempt=3", data, signed_headers(signature, nonce))

    assert response.status_code == 403


def test_it_rejects_a_non_ascii_query_string_without_crashing(client, live_order):
    nonce = secrets.token_hex(10)
    headers = signed_headers("bm90IGEgc2lnbmF0dXJl", nonce)

    response = client.get("/voice/answer/?From=%E2%98%8E&To=" + PROXY.lstrip("+"), headers=headers)

    assert response.status_code == 403
    assert not CallRecord.objects.exists()


def test_a_request_the_sdk_cannot_sign_is_rejected_not_a_500(plivo, live_order, caplog):
    with mock.patch(
        "voice.plivo.webhook.expected_signature", side_effect=UnicodeEncodeError("ascii", "☎", 0, 1, "bad")
    ):
        response = plivo.signed_post("/voice/answer/", call_params("14156667777"))

    assert response.status_code == 403
    assert "could not check the Plivo signature" in caplog.text
    assert not CallRecord.objects.exists()


def test_it_rejects_everything_when_no_auth_token_is_configured(settings, client, live_order):
    settings.PLIVO_AUTH_TOKEN = ""
    data = call_params("14156667777")
    nonce = secrets.token_hex(10)
    signature = sign("/voice/answer/", data, nonce, token="")

    response = post_with(client, "/voice/answer/", data, signed_headers(signature, nonce))

    assert response.status_code == 403


def test_it_checks_signatures_even_in_debug(settings, client, live_order):
    settings.DEBUG = True

    response = client.post("/voice/answer/", call_params("14156667777"))

    assert response.status_code == 403


def test_it_skips_the_check_when_validation_is_switched_off(settings, client, live_order):
    settings.PLIVO_VALIDATE_SIGNATURES = False

    response = client.post("/voice/answer/", call_params("14156667777", call_uuid="unsigned-ok"))

    dial = xml_of(response).find("Dial")
    assert dial.find("Number").text == "14156667778"
    assert CallRecord.objects.get(call_uuid="unsigned-ok").outcome == "connected"


# The message URL also takes Plivo's older V2 signature (docs/plivo.md).

MESSAGE_URL = "/voice/message/"


def v2_headers(path: str, token: str | None = None) -> dict:
    """Sign like Plivo's V2 scheme: HMAC-SHA256 over the URL without query, then the nonce."""
    nonce = secrets.token_hex(10)
    url = settings.PUBLIC_BASE_URL + path.partition("?")[0]
    digest = hmac.new((token or settings.PLIVO_AUTH_TOKEN).encode(), (url + nonce).encode(), hashlib.sha256).digest()
    return {"X-Plivo-Signature-V2": base64.b64encode(digest).decode(), "X-Plivo-Signature-V2-Nonce": nonce}


def test_the_message_url_accepts_a_v2_signature(client, live_order):
    data = sms_params(CUSTOMER, "hello", message_uuid="sms-v2")

    response = client.post(MESSAGE_URL, data, headers=v2_headers(MESSAGE_URL))

    assert xml_of(response).find("Message").get("dst") == "14156667778"
    assert MessageRecord.objects.get(message_uuid="sms-v2").outcome == "relayed"


def test_the_message_url_rejects_a_v2_signature_made_with_another_token(client, live_order):
    headers = v2_headers(MESSAGE_URL, token="not-the-token")

    response = client.post(MESSAGE_URL, sms_params(CUSTOMER, "hello"), headers=headers)

    assert response.status_code == 403
    assert not MessageRecord.objects.exists()


def test_the_message_url_rejects_a_v3_signature_over_a_different_text(client, live_order):
    params = sms_params(CUSTOMER, "hello")
    nonce = "12345"
    signature = plivo_signature(settings.PUBLIC_BASE_URL + MESSAGE_URL, nonce, params=params)

    response = client.post(MESSAGE_URL, {**params, "Text": "tampered"}, headers=signed_headers(signature, nonce))

    assert response.status_code == 403
    assert not MessageRecord.objects.exists()


def test_the_message_url_judges_a_request_with_v3_headers_on_v3_alone(client, live_order):
    headers = {**v2_headers(MESSAGE_URL), "X-Plivo-Signature-V3": "bogus", "X-Plivo-Signature-V3-Nonce": "1"}

    response = client.post(MESSAGE_URL, sms_params(CUSTOMER, "hello"), headers=headers)

    assert response.status_code == 403
    assert not MessageRecord.objects.exists()


def test_the_answer_url_refuses_a_v2_signature(client, live_order):
    response = client.post("/voice/answer/", call_params("14156667777"), headers=v2_headers("/voice/answer/"))

    assert response.status_code == 403
    assert not CallRecord.objects.exists()


# Our base string against the SDK's (plivo.utils.signature_v3) on random
# requests: keys and values with the characters that matter in a query string
# or form body, repeated keys, and query strings on POSTs.
_text = st.text(alphabet=st.sampled_from("abcXYZ019 &=+%-_.~/?#;:"), max_size=8)
_params = st.dictionaries(_text, st.lists(_text, min_size=1, max_size=3), max_size=5)


@given(
    method=st.sampled_from(["GET", "POST"]),
    path=st.text(alphabet=st.sampled_from("abc/;.-_%"), max_size=10),
    query=st.lists(st.tuples(_text, _text), max_size=4),
    params=_params,
    nonce=st.text(alphabet=st.sampled_from("0123456789abc"), min_size=1, max_size=20),
)
def test_our_signature_matches_the_sdks_on_random_requests(method, path, query, params, nonce):
    url = "https://masking.example.com/" + path
    if query:
        url += "?" + "&".join(f"{key}={value}" for key, value in query)
    try:
        if method == "GET":
            sdk_base = construct_get_url(url, {key: list(values) for key, values in params.items()})
        else:
            sdk_base = construct_post_url(url, {key: list(values) for key, values in params.items()})
    except Exception:
        # A request the SDK cannot sign must not pass our check either.
        with pytest.raises(ValueError):
            signature_base(method, url, params)
        return
    sdk_signature = get_signature_v3(VECTOR_TOKEN, sdk_base.decode(), nonce)

    assert signature_base(method, url, params) == sdk_base.decode()
    assert expected_signature(method, url, params, nonce, VECTOR_TOKEN) == sdk_signature


@pytest.mark.parametrize("query", ["From=%E2%98%8E", "From=\u260e", "%FF=1", "a=%C3"])
def test_a_query_the_sdk_cannot_sign_raises_a_value_error(query):
    url = "https://masking.example.com/voice/answer/?" + query
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the SDK raises
        construct_post_url(url, {"From": ["1"]})

    with pytest.raises(ValueError):
        signature_base("POST", url, {"From": ["1"]})
