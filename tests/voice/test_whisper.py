"""The whisper (/voice/whisper/, Dial's confirmSound) and the accept key: what the callee hears first."""

from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import OperationalError

from orders.models import Order
from tests.support.webhooks import answer, call_params, plivo_signature, xml_of

pytestmark = pytest.mark.django_db

WHISPER_TO_AGENT = "Call from your customer about order K 7 X 4."
WHISPER_TO_CUSTOMER = "Call from your delivery agent about order K 7 X 4."
PRESS_1 = "Press 1 to accept."


@pytest.fixture
def order(live_order) -> Order:
    Order.objects.filter(pk=live_order.pk).update(reference="K7X4")
    live_order.refresh_from_db()
    return live_order


def whisper_url(dial) -> str:
    """The path and query of the Dial's confirmSound, as Plivo will request it."""
    parts = urlsplit(dial.get("confirmSound"))
    return f"{parts.path}?{parts.query}"


def whisper(plivo, path: str, **extra: str):
    return xml_of(plivo.signed_post(path, call_params("14156667778", call_uuid="b-leg", **extra)))


def test_a_customer_call_whispers_the_order_to_the_agent_who_must_press_1(plivo, order):
    dial = answer(plivo, "14156667777").find("Dial")

    sound = urlsplit(dial.get("confirmSound"))
    assert f"{sound.scheme}://{sound.netloc}{sound.path}" == "http://masking.example.com/voice/whisper/"
    assert parse_qs(sound.query) == {"order": [str(order.pk)], "callee": ["agent"], "caller": ["customer"]}
    assert (dial.get("confirmKey"), dial.get("confirmTimeout")) == ("1", "20")

    root = whisper(plivo, whisper_url(dial))

    assert [(child.tag, child.text) for child in root] == [("Speak", WHISPER_TO_AGENT), ("Speak", PRESS_1)]
    assert {(child.get("voice"), child.get("language")) for child in root} == {("WOMAN", "en-US")}


def test_an_agent_call_whispers_to_the_customer(plivo, order):
    dial = answer(plivo, "14156667778").find("Dial")

    assert parse_qs(urlsplit(dial.get("confirmSound")).query)["callee"] == ["customer"]
    assert [s.text for s in whisper(plivo, whisper_url(dial))] == [WHISPER_TO_CUSTOMER, PRESS_1]


def test_the_whisper_is_one_lookup_and_a_retry_hears_the_same(plivo, order, django_assert_num_queries):
    path = whisper_url(answer(plivo).find("Dial"))

    with django_assert_num_queries(1):
        first = plivo.signed_post(path, call_params("14156667778"))
    retried = plivo.signed_post(path, call_params("14156667778"))

    assert first.content == retried.content


def test_a_whisper_url_with_another_order_in_its_query_is_refused(plivo, order, settings):
    path = f"/voice/whisper/?order={order.pk}&callee=agent"
    nonce = "n0nce"
    params = call_params("14156667778")
    signature = plivo_signature(settings.PUBLIC_BASE_URL + path, nonce, params=params)

    forged = plivo.post(
        f"/voice/whisper/?order={order.pk + 1}&callee=agent",
        params,
        headers={"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce},
    )

    assert forged.status_code == 403


def test_an_unsigned_whisper_is_refused(client, order):
    response = client.post(f"/voice/whisper/?order={order.pk}&callee=agent", call_params("14156667778"))

    assert response.status_code == 403


@pytest.mark.parametrize("query", ["order=999999&callee=agent", "order=abc&callee=agent", "", "order=1&callee=x"])
def test_an_unknown_order_or_role_still_tells_the_callee_which_key_connects(plivo, order, query):
    assert [s.text for s in whisper(plivo, f"/voice/whisper/?{query}")] == [PRESS_1]


def test_a_database_error_still_tells_the_callee_which_key_connects(plivo, order):
    with mock.patch("voice.calls.Order.objects.filter", side_effect=OperationalError("gone")):
        root = whisper(plivo, f"/voice/whisper/?order={order.pk}&callee=agent")

    assert [(child.tag, child.text) for child in root] == [("Speak", PRESS_1)]


def test_without_the_whisper_the_callee_still_must_press_the_key(settings, plivo, order):
    settings.MASKING_WHISPER = False

    dial = answer(plivo).find("Dial")

    assert dial.get("confirmKey") == "1"
    assert [s.text for s in whisper(plivo, whisper_url(dial))] == [PRESS_1]


def test_without_an_accept_key_the_whisper_is_played_and_the_call_connects(settings, plivo, order):
    settings.MASKING_ACCEPT_KEY = ""

    dial = answer(plivo).find("Dial")

    assert "confirmKey" not in dial.attrib and "confirmTimeout" not in dial.attrib
    assert [s.text for s in whisper(plivo, whisper_url(dial))] == [WHISPER_TO_AGENT]


def test_without_whisper_or_key_the_dial_is_a_bare_bridge(settings, plivo, order):
    settings.MASKING_WHISPER = False
    settings.MASKING_ACCEPT_KEY = ""

    dial = answer(plivo).find("Dial")

    assert not {"confirmSound", "confirmKey", "confirmTimeout"} & set(dial.attrib)


def test_a_hash_key_is_named_in_words(settings, plivo, order):
    settings.MASKING_ACCEPT_KEY = "#"

    dial = answer(plivo).find("Dial")

    assert dial.get("confirmKey") == "#"
    assert [s.text for s in whisper(plivo, whisper_url(dial))][-1] == "Press the hash key to accept."


def test_support_calls_get_no_whisper(settings, plivo, order):
    settings.MASKING_SUPPORT_NUMBER = "+14155550199"

    dial = answer(plivo, "14150000000").find("Dial")

    assert not {"confirmSound", "confirmKey"} & set(dial.attrib)


def test_the_whisper_and_the_key_keep_the_known_caller_answer_at_two_queries(plivo, order, django_assert_num_queries):
    with django_assert_num_queries(2):
        dial = answer(plivo, "14156667777", call_uuid="fast").find("Dial")

    assert dial.get("confirmSound") and dial.get("confirmKey") == "1"
