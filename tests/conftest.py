"""Shared fixtures, built from the helpers in tests/support (signed Plivo requests, a small world of orders)."""

import pytest
import responses
from pytest_httpserver import HTTPServer

from orders import services
from orders.models import Agent, Order, ProxyNumber, WebhookEndpoint
from tests.support.fake_plivo import FakePlivoAccount
from tests.support.webhooks import PlivoClient
from tests.support.world import AGENT_PHONE, CUSTOMER, PROXY


@pytest.fixture
def plivo() -> PlivoClient:
    return PlivoClient()


@pytest.fixture
def client() -> PlivoClient:
    """pytest-django's ``client``, posting forms the way Plivo does (see PlivoClient)."""
    return PlivoClient()


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


@pytest.fixture
def mocked():
    """Plivo's REST API, answered by ``responses``; an unregistered URL is refused."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked


@pytest.fixture
def account(mocked) -> FakePlivoAccount:
    return FakePlivoAccount(mocked)


@pytest.fixture
def endpoint(db, httpserver: HTTPServer) -> WebhookEndpoint:
    """A webhook endpoint whose receiver is pytest-httpserver's (tests.support.events.received reads it)."""
    return WebhookEndpoint.objects.create(url=httpserver.url_for("/events"), description="platform")
