"""Shared fixtures: signed Plivo requests and a small world of orders.

Requests are signed the way Plivo's servers sign them, so every webhook test
runs the real signature check.
"""

import base64
import hashlib
import hmac
import secrets
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client

from orders import services
from orders.models import Agent, Order, ProxyNumber


def plivo_signature(url: str, nonce: str, *, method: str = "POST", params: dict | None = None, token=None) -> str:
    """Sign like Plivo (see shared/PLIVO.md), written out independently of the SDK."""
    params = params or {}
    base, _, query = url.partition("?")
    if method == "GET":
        merged = dict(pair.split("=", 1) for pair in query.split("&") if pair)
        merged.update(params)
        signed = base + ("?" + "&".join(f"{k}={merged[k]}" for k in sorted(merged)) if merged else "")
    else:
        query_part = "&".join(sorted(query.split("&"))) if query else ""
        glued = "".join(f"{k}{v}" for k in sorted(params) for v in sorted(_as_list(params[k])))
        if query_part:
            signed = f"{base}?{query_part}.{glued}" if params else f"{base}?{query_part}"
        else:
            signed = f"{base}?{glued}" if params else base
    message = f"{signed}.{nonce}".encode()
    key = (token or settings.PLIVO_AUTH_TOKEN).encode()
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


class PlivoClient(Client):
    """A test client whose POST and GET carry a valid Plivo V3 signature."""

    def signed_post(self, path: str, data: dict | None = None, **extra):
        data = data or {}
        nonce = secrets.token_hex(10)
        url = settings.PUBLIC_BASE_URL + path
        signature = plivo_signature(url, nonce, params=data)
        return self.post(
            path,
            data=urlencode(data, doseq=True),
            content_type="application/x-www-form-urlencoded",
            headers={"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce},
            **extra,
        )

    def signed_get(self, path: str, data: dict | None = None, **extra):
        full = path + ("?" + urlencode(data) if data else "")
        nonce = secrets.token_hex(10)
        signature = plivo_signature(settings.PUBLIC_BASE_URL + full, nonce, method="GET")
        return self.get(full, headers={"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce}, **extra)


@pytest.fixture
def plivo() -> PlivoClient:
    return PlivoClient()


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
