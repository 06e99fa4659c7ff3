"""Shared fixtures: signed Plivo requests and a small world of orders.

Requests are signed the way Plivo's servers sign them, so every webhook test
runs the real signature check.
"""

import base64
import hashlib
import hmac
import secrets
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from io import StringIO
from typing import NamedTuple
from urllib.parse import parse_qsl, urlencode

import pytest
import responses
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.http import HttpResponse
from django.test import Client

from orders import services
from orders.models import Agent, Order, ProxyNumber

from .fake_plivo import FakePlivoAccount


def plivo_signature(
    url: str, nonce: str, *, method: str = "POST", params: dict | None = None, token: str | None = None
) -> str:
    """Sign like Plivo (docs/plivo.md, "Signatures (V3)"), written out independently of the SDK."""
    params = params or {}
    base, _, query = url.partition("?")
    # Plivo signs the decoded values ("+1415…", not "%2B1415…").
    pairs = parse_qsl(query, keep_blank_values=True)
    if method == "GET":
        merged = dict(pairs)
        merged.update(params)
        signed = base + ("?" + "&".join(f"{k}={merged[k]}" for k in sorted(merged)) if merged else "")
    else:
        query_part = "&".join(f"{k}={v}" for k, v in sorted(pairs))
        glued = "".join(f"{k}{v}" for k in sorted(params) for v in sorted(_as_list(params[k])))
        if query_part:
            signed = f"{base}?{query_part}.{glued}" if params else f"{base}?{query_part}"
        else:
            signed = f"{base}?{glued}" if params else base
    message = f"{signed}.{nonce}".encode()
    key = (settings.PLIVO_AUTH_TOKEN if token is None else token).encode()
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]


class PlivoClient(Client):
    """A test client that posts forms as Plivo does; ``signed_*`` add a valid Plivo V3 signature.

    Plivo posts ``application/x-www-form-urlencoded`` and the webhooks refuse
    anything else (Django's client would post multipart), so a dict posted
    without a content type is form-encoded.
    """

    def post(self, path: str, data: object = None, content_type: str | None = None, **extra) -> HttpResponse:
        if content_type is None:
            content_type = "application/x-www-form-urlencoded"
            data = urlencode(data or {}, doseq=True) if isinstance(data, dict) else data
        return super().post(path, data=data, content_type=content_type, **extra)

    def signed_post(self, path: str, data: dict | None = None, **extra) -> HttpResponse:
        data = data or {}
        nonce = secrets.token_hex(10)
        url = settings.PUBLIC_BASE_URL + path
        signature = plivo_signature(url, nonce, params=data)
        return self.post(
            path,
            data=data,
            headers={"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce},
            **extra,
        )

    def signed_get(self, path: str, data: dict | None = None, **extra) -> HttpResponse:
        full = path + (("&" if "?" in path else "?") + urlencode(data) if data else "")
        nonce = secrets.token_hex(10)
        signature = plivo_signature(settings.PUBLIC_BASE_URL + full, nonce, method="GET")
        return self.get(full, headers={"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce}, **extra)


@pytest.fixture
def plivo() -> PlivoClient:
    return PlivoClient()


@pytest.fixture
def client() -> PlivoClient:
    """pytest-django's ``client``, posting forms the way Plivo does (see PlivoClient)."""
    return PlivoClient()


# Every webhook, for the tests that try each of them (fuzzing, signatures,
# methods, bodies); those whose URL carries a query have it as Plivo is told
# to call them (voice/xml.py): the whisper names an order and the callee, a
# recording's action and callback the call, click-to-call's bridge the order and the first party.
WEBHOOKS = [
    "/voice/answer/",
    "/numbermasking/handle_incoming/",
    "/voice/pin/",
    "/voice/dial-status/",
    "/voice/whisper/?order=1&callee=agent",
    "/voice/voicemail/?call=call-a",
    "/voice/recording/?call=call-a",
    "/voice/hangup/",
    "/voice/bridge/?order=1&first=agent",
    "/voice/fallback/",
    "/voice/message/",
]
GET_WEBHOOKS = ["/voice/answer/", "/numbermasking/handle_incoming/", "/voice/fallback/"]

PROXY = "+14155550100"
CUSTOMER = "+14156667777"
AGENT_PHONE = "+14156667778"


@pytest.fixture
def proxy_number(db) -> ProxyNumber:
    return ProxyNumber.objects.create(number=PROXY, label="main")


@pytest.fixture
def agent(db) -> Agent:
    return Agent.objects.create(name="Bob", phone=AGENT_PHONE)


@pytest.fixture
def live_order(proxy_number, agent) -> Order:
    """A customer with one live line to their agent through PROXY."""
    order = Order.objects.create(customer_name="Alice", customer_phone=CUSTOMER)
    return services.assign_agent(order, agent)


def pool() -> dict[str, bool]:
    """Every proxy number in the pool, and whether it is active."""
    return {str(proxy.number): proxy.is_active for proxy in ProxyNumber.objects.all()}


@pytest.fixture
def mocked():
    """Plivo's REST API, answered by ``responses``; an unregistered URL is refused."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked


@pytest.fixture
def account(mocked) -> FakePlivoAccount:
    return FakePlivoAccount(mocked)


def open_line(customer_phone: str, agent: Agent, *, name: str = "Customer") -> Order:
    """A new order for ``customer_phone`` with ``agent`` assigned, so its line is live."""
    order = Order.objects.create(customer_name=name, customer_phone=customer_phone)
    return services.assign_agent(order, agent)


def xml_of(response: HttpResponse) -> ET.Element:
    """The parsed Plivo XML of a webhook response, after checking it is one."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/xml"
    root = ET.fromstring(response.content)
    assert root.tag == "Response"
    return root


def spoken(root: ET.Element) -> list[str]:
    return [speak.text or "" for speak in root.iter("Speak")]


def call_params(caller: str, proxy: str = PROXY, call_uuid: str | None = None, **extra) -> dict:
    """The form Plivo posts to the answer URL."""
    return {
        "CallUUID": call_uuid or secrets.token_hex(16),
        "From": caller,
        "To": proxy,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "Event": "StartApp",
        **extra,
    }


def sms_params(sender: str, text: str, proxy: str = PROXY, message_uuid: str | None = None) -> dict:
    """The form Plivo posts to the message URL."""
    return {
        "From": sender.lstrip("+"),
        "To": proxy.lstrip("+"),
        "Type": "sms",
        "Text": text,
        "MessageUUID": message_uuid or secrets.token_hex(16),
    }


def answer(
    plivo: PlivoClient, caller: str = "14156667777", proxy: str = PROXY, *, call_uuid: str = "call-1", **extra: str
) -> ET.Element:
    """The XML the answer URL gives a call from ``caller`` to ``proxy``."""
    return xml_of(plivo.signed_post("/voice/answer/", call_params(caller, proxy, call_uuid=call_uuid, **extra)))


def type_pin(
    plivo: PlivoClient, digits: str, *, attempt: int = 1, caller: str = "14156667777", call_uuid: str = "call-1"
) -> ET.Element:
    """The XML the PIN URL gives a caller who typed ``digits`` at prompt number ``attempt``."""
    data = call_params(caller, call_uuid=call_uuid, Digits=digits)
    return xml_of(plivo.signed_post(f"/voice/pin/?attempt={attempt}", data))


def dial_status(
    plivo: PlivoClient,
    status: str = "completed",
    *,
    call_uuid: str = "call-1",
    caller: str = "14156667777",
    **extra: str,
) -> ET.Element:
    """The XML the dial-status URL gives when the dialled leg ends with ``status``; ``extra`` replaces fields."""
    fields = {
        "DialStatus": status,
        "DialHangupCause": "NORMAL_CLEARING",
        "DialALegUUID": call_uuid,
        "DialBLegUUID": "b-leg-1",
        **extra,
    }
    data = call_params(caller, call_uuid=call_uuid, **fields)
    return xml_of(plivo.signed_post("/voice/dial-status/", data))


def hangup(plivo: PlivoClient, *, call_uuid: str = "call-1", caller: str = "14156667777", **extra: str) -> ET.Element:
    """The XML the hangup URL gives; ``extra`` replaces the fields of a normal 42-second call."""
    fields = {
        "CallStatus": "completed",
        "Duration": "42",
        "BillDuration": "60",
        "HangupCause": "NORMAL_CLEARING",
        "HangupCauseName": "Normal Hangup",
        "HangupCauseCode": "4000",
        "HangupSource": "Caller",
        **extra,
    }
    return xml_of(plivo.signed_post("/voice/hangup/", call_params(caller, call_uuid=call_uuid, **fields)))


def assert_apology(root: ET.Element) -> None:
    """The caller hears the apology and is hung up, connected to no one."""
    assert spoken(root) == [settings.MASKING_APOLOGY_MESSAGE]
    assert root[-1].tag == "Hangup"
    assert root.find("Dial") is None


def wrong_pin(*orders: Order) -> str:
    """A PIN of none of ``orders``."""
    taken = {order.masking.pin for order in orders}
    return next(pin for pin in (f"{n:04d}" for n in range(10000)) if pin not in taken)


class CommandOutput(NamedTuple):
    out: str
    err: str


def run_command(name: str, *args: str) -> CommandOutput:
    """Run a management command as a user would; what it printed."""
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return CommandOutput(out.getvalue(), err.getvalue())


def run_concurrently(*calls: Callable[[], object]) -> list[object]:
    """Run each call in its own thread (and database connection), all released together.

    Returns each call's result, or the exception it raised.
    """
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = calls[index]()
        except Exception as error:  # handed back to the test to assert on
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent row locks need PostgreSQL")
