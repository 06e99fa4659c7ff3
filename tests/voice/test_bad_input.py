"""Hostile and malformed input: every webhook keeps answering Plivo XML.

Requests are signed correctly, so they get past the signature check and into
the views; the property is that each answer is a 200 with XML that parses
and holds only Plivo elements, never a 500 and never an internal error
swallowed into the apology. The one refusal is a 403 for a request nobody can
sign: one Django cannot parse, or a GET whose query is not ASCII.
"""

import logging
import secrets
import xml.etree.ElementTree as ET
from collections import Counter
from urllib.parse import unquote, urlencode

import pytest
from django.conf import settings
from django.db import transaction
from django.test import RequestFactory
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from orders import services
from orders.models import Agent, Order, ProxyNumber
from tests.support.admin_forms import admin_post_data
from tests.support.webhooks import GET_WEBHOOKS, WEBHOOKS
from tests.support.world import AGENT_PHONE, CUSTOMER, PROXY
from voice.plivo.webhook import FORM_ENCODING, MAX_BODY_BYTES, NONCE_HEADER, expected_signature

pytestmark = pytest.mark.django_db

# Examples per webhook for the form-body property; the whole module stays
# well under a minute on the CI machine.
EXAMPLES_PER_WEBHOOK = 500
EXAMPLES_OTHER = 150


# Every element Plivo's XML knows (plivo.plivoxml); anything else fails the call.
PLIVO_ELEMENTS = {
    "Response",
    "Conference",
    "DTMF",
    "Dial",
    "Number",
    "User",
    "GetDigits",
    "GetInput",
    "Hangup",
    "Message",
    "Play",
    "PreAnswer",
    "Record",
    "Redirect",
    "Speak",
    "Wait",
    "Stream",
    "MultiPartyCall",
}

PLIVO_KEYS = [
    "CallUUID",
    "From",
    "To",
    "Digits",
    "DialStatus",
    "DialHangupCause",
    "Duration",
    "BillDuration",
    "HangupCause",
    "HangupCauseName",
    "CallStatus",
    "Direction",
    "Event",
    "CallerName",
    "attempt",
    "Text",
    "MessageUUID",
    "Type",
    "RecordingID",
    "RecordUrl",
    "RecordingDuration",
]


phone_like = st.sampled_from(
    [
        CUSTOMER,
        CUSTOMER.lstrip("+"),
        AGENT_PHONE.lstrip("+"),
        PROXY,
        PROXY.lstrip("+"),
        "+1 (415) 666-7777",
        "sip:alice@phone.plivo.com",
        "",
        "+",
        "0",
        "١٤١٥٦٦٦٧٧٧٧",  # Arabic-Indic digits
        "1415666777７",  # a full-width digit
    ]
) | st.from_regex(r"\+?[0-9 ()-]{0,40}", fullmatch=True)
very_long = st.text(min_size=1, max_size=3).map(lambda chunk: chunk * 4000)
values = st.one_of(
    st.text(max_size=40),
    phone_like,
    very_long,
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["completed", "busy", "no-answer", "NORMAL_CLEARING", "1234", "0000", "12345678"]),
)
keys = st.sampled_from(PLIVO_KEYS) | st.text(max_size=20)

# A realistic call with any field missing or replaced, plus arbitrary extra
# pairs (which may repeat a key).
realistic_call = st.fixed_dictionaries(
    {},
    optional={
        "CallUUID": st.sampled_from(["call-a", "call-b"]) | st.text(max_size=80),
        "From": phone_like | values,
        "To": phone_like | values,
        "Digits": st.from_regex(r"[0-9]{0,8}", fullmatch=True) | values,
        "DialStatus": values,
        "Duration": values,
        "HangupCauseName": values,
        "Text": st.from_regex(r"[0-9]{4} .{0,20}", fullmatch=True) | values,
        "MessageUUID": st.sampled_from(["sms-a", "sms-b"]) | st.text(max_size=80),
        "RecordingID": st.sampled_from(["rec-a", "rec-b"]) | st.text(max_size=80),
        "RecordUrl": st.just("https://media.plivo.com/v1/Account/MA/Recording/rec-a.mp3") | values,
        "RecordingDuration": st.sampled_from(["-1", "0", "42"]) | values,
    },
)
form_pairs = st.builds(lambda base, extra: [*base.items(), *extra], realistic_call, st.lists(st.tuples(keys, values)))


def as_form(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    form: dict[str, list[str]] = {}
    for key, value in pairs:
        form.setdefault(key, []).append(value)
    return form


def assert_plivo_answer(response) -> None:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/xml"
    root = ET.fromstring(response.content)
    assert root.tag == "Response"
    assert {element.tag for element in root.iter()} <= PLIVO_ELEMENTS


@pytest.fixture
def busy_proxy(live_order) -> Order:
    """The customer has a second live order on the same number, so calls may ask for a PIN."""
    other_agent = Agent.objects.create(name="Carl", phone="+14156667790")
    second = services.assign_agent(Order.objects.create(customer_name="Alice", customer_phone=CUSTOMER), other_agent)
    assert ProxyNumber.objects.count() == 1 and second.masking.proxy_number == live_order.masking.proxy_number
    return second


@pytest.fixture
def internal_errors(caplog):
    """Errors the webhook decorator swallowed into the apology: bad input must not cause any."""
    caplog.set_level(logging.INFO)
    return lambda: [r for r in caplog.records if r.name == "voice.plivo.webhook" and r.levelno >= logging.ERROR]


def parsed_form(path: str, body: bytes, content_type: str) -> dict[str, list[str]] | None:
    """The form Django reads from ``body``, or None when it refuses to parse it."""
    request = RequestFactory().generic("POST", path, body, content_type=content_type)
    try:
        return dict(request.POST.lists())
    except Exception:  # whatever Django raises on a body it cannot parse
        return None


def sdk_signature_headers(method: str, path: str, form: dict[str, list[str]] | None = None) -> dict[str, str]:
    """Sign the URL exactly as Django will rebuild it (for raw query strings)."""
    full_path = RequestFactory().generic(method, path).get_full_path()
    nonce = secrets.token_hex(10)
    try:
        signature = expected_signature(
            method, settings.PUBLIC_BASE_URL + full_path, form or {}, nonce, "test-auth-token"
        )
    except UnicodeError:
        # Nobody can sign this URL (the SDK cannot decode it); send a well-formed guess.
        signature = b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    return {"X-Plivo-Signature-V3": signature.decode(), NONCE_HEADER: nonce}


@pytest.mark.parametrize("path", WEBHOOKS)
def test_every_webhook_answers_plivo_xml_to_any_signed_form(plivo, busy_proxy, internal_errors, path):
    statuses: Counter[int] = Counter()

    @hypothesis_settings(max_examples=EXAMPLES_PER_WEBHOOK, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(pairs=form_pairs, as_get=st.booleans())
    def check(pairs, as_get):
        as_get = as_get and path in GET_WEBHOOKS
        # Each example starts from the same orders and leaves no rows behind.
        with transaction.atomic():
            if as_get:
                url = f"{path}?{urlencode(pairs)}"
                response = plivo.get(url, headers=sdk_signature_headers("GET", url))
            else:
                response = plivo.signed_post(path, as_form(pairs))
            transaction.set_rollback(True)
        # A correctly signed request always reaches the view, except a GET
        # whose decoded query is not ASCII: the SDK cannot compute Plivo's
        # signature for it, so it is refused (docs/plivo.md, "Signatures (V3)").
        unsignable = as_get and not all(f"{k}{v}".isascii() for k, v in pairs)
        too_large = not as_get and len(urlencode(pairs, doseq=True).encode()) > MAX_BODY_BYTES
        if unsignable or too_large:
            assert response.status_code == (403 if unsignable else 413)
        else:
            assert_plivo_answer(response)
        statuses[response.status_code] += 1

    check()

    assert internal_errors() == []
    print(f"{path}: {sum(statuses.values())} examples, statuses {dict(statuses)}")


@pytest.mark.parametrize("path", WEBHOOKS)
def test_every_webhook_survives_a_body_of_the_wrong_content_type(plivo, busy_proxy, internal_errors, path):
    content_types = st.sampled_from(
        [
            "application/json",
            "text/plain",
            "application/xml",
            "",
            "multipart/form-data",
            "multipart/form-data; boundary=plivo",
            "application/x-www-form-urlencoded; charset=no-such-charset",
            "application/x-www-form-urlencoded; charset=utf-16",
        ]
    )

    @hypothesis_settings(max_examples=EXAMPLES_OTHER // 3, deadline=None)
    @given(content_type=content_types, body=st.binary(max_size=2000) | st.text().map(str.encode))
    def check(content_type, body):
        # Signed over the form as Django reads it, as Plivo would sign what it sent.
        form = parsed_form(path, body, content_type)
        headers = sdk_signature_headers("POST", path, form or {})
        with transaction.atomic():
            response = plivo.generic("POST", path, body, content_type=content_type, headers=headers)
            transaction.set_rollback(True)
        if body and content_type.partition(";")[0].strip() != FORM_ENCODING:
            # Not Plivo's encoding: refused from the headers, before the body is read.
            assert response.status_code == 415
        elif form is None:
            # A body Django refuses to parse cannot be shown to come from Plivo.
            assert response.status_code == 403
        else:
            assert_plivo_answer(response)

    check()

    assert internal_errors() == []


@pytest.mark.parametrize("path", GET_WEBHOOKS)
def test_a_raw_query_string_is_answered_when_ascii_and_refused_when_not(plivo, busy_proxy, internal_errors, path):
    @hypothesis_settings(max_examples=EXAMPLES_OTHER // 3, deadline=None)
    @given(query=st.text(min_size=1, max_size=200))
    def check(query):
        # Sent as the raw characters, not percent-encoded, as a sloppy client would.
        with transaction.atomic():
            response = plivo.get(f"{path}?{query}", headers=sdk_signature_headers("GET", f"{path}?{query}"))
            transaction.set_rollback(True)
        # The client drops a fragment; what is left is signed as Plivo signs it, decoded.
        if unquote(query.partition("#")[0], errors="replace").isascii():
            assert_plivo_answer(response)
        else:
            assert response.status_code == 403

    check()

    assert internal_errors() == []


def test_a_form_with_too_many_fields_is_refused_not_crashed(plivo, live_order, internal_errors):
    form = {f"X-PH-{n}": "x" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}

    response = plivo.signed_post("/voice/answer/", form)

    assert response.status_code == 403
    assert internal_errors() == []


def test_a_signature_header_with_non_ascii_characters_is_rejected(plivo, live_order):
    headers = {"X-Plivo-Signature-V3": "é,ünïcode", NONCE_HEADER: "nönce"}

    response = plivo.post("/voice/answer/", {"From": CUSTOMER, "To": PROXY}, headers=headers)

    assert response.status_code == 403


# The admin's forms: a number staff mistype is refused with a sentence, not stored.

ADMIN_FORMS = {
    "order": ("/admin/orders/order/add/", "customer_phone", {"customer_name": "Alice", "reference": "BAD1"}, Order),
    "agent": ("/admin/orders/agent/add/", "phone", {"name": "Bob", "is_active": "on"}, Agent),
    "proxy number": ("/admin/orders/proxynumber/add/", "number", {"is_active": "on"}, ProxyNumber),
}


@pytest.mark.parametrize("form_name", ADMIN_FORMS)
@pytest.mark.parametrize(
    "typed",
    [
        "12345",
        "not a number",
        "+1 415 666 77777 7",
        "020 7946 0958",  # a London number written nationally: no region says it is British
        "+999 1234 5678",
        "1" * 40,
    ],
)
def test_admin_forms_refuse_an_invalid_or_unplaceable_phone_number(admin_client, form_name, typed):
    url, field, other_fields, model = ADMIN_FORMS[form_name]

    response = admin_client.post(url, admin_post_data(admin_client.get(url), **other_fields, **{field: typed}))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors[field]
    assert errors == ["Enter a valid phone number (e.g. (201) 555-0123) or a number with an international call prefix."]
    assert not model.objects.exists()


@pytest.mark.parametrize("form_name", ADMIN_FORMS)
def test_admin_forms_read_a_national_number_in_the_default_region(admin_client, form_name):
    url, field, other_fields, model = ADMIN_FORMS[form_name]

    response = admin_client.post(
        url, admin_post_data(admin_client.get(url), **other_fields, **{field: "(415) 666-7777"})
    )

    assert response.status_code == 302
    assert str(getattr(model.objects.get(), field)) == "+14156667777"
