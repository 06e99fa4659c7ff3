"""Where events may go: public http(s) addresses only, checked when an endpoint is saved and again before
every connection (orders/events/transport.py), so the worker cannot be turned into a port scanner."""

import ipaddress
from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from orders.events import emit, transport
from orders.models import Delivery, EventType, WebhookEndpoint
from tests.support.api import assert_error
from tests.support.events import run_worker
from tests.support.receivers import KeepAliveReceiver

pytestmark = pytest.mark.django_db

REFUSED_URLS = {
    "http://127.0.0.1:5432/": "loopback",
    "http://[::1]:8000/": "loopback",
    "http://0.0.0.0:8000/": "unspecified",
    "http://169.254.169.254/latest/meta-data/": "link-local",
    "http://[fe80::1]/": "link-local",
    "http://10.1.2.3/hooks": "private",
    "http://172.16.0.1/hooks": "private",
    "http://192.168.1.10/hooks": "private",
    "http://[fc00::1]/hooks": "private",
    "http://100.64.0.1/hooks": "shared (carrier-grade NAT)",
    "http://224.0.0.1/hooks": "multicast",
    "http://240.0.0.1/hooks": "reserved",
    "http://[::ffff:127.0.0.1]/hooks": "loopback",
}


@pytest.fixture(autouse=True)
def public_only(settings):
    """The suite allows loopback (its receivers run there); these tests start from the default: nothing."""
    settings.EVENTS_ALLOWED_NETWORKS = []


def dns(answers: dict[str, list[str]]):
    """Play DNS: each name resolves to its list of addresses; a list of lists answers each lookup in turn."""
    asked: dict[str, int] = {}

    def resolve(host: str, port: int) -> list:
        value = answers[host]
        if value and isinstance(value[0], list):
            turn = asked.get(host, 0)
            asked[host] = turn + 1
            value = value[min(turn, len(value) - 1)]
        return [ipaddress.ip_address(address) for address in value]

    return mock.patch.object(transport, "resolve", side_effect=resolve)


# When an endpoint is saved


@pytest.mark.parametrize(("url", "kind"), REFUSED_URLS.items())
def test_a_literal_address_in_a_refused_range_is_a_400_naming_the_range(api, url, kind):
    body = assert_error(api.post("/api/v1/webhook-endpoints/", {"url": url}, format="json"), 400, "invalid", ("url",))

    assert f"a {kind} address" in body["detail"]
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.5", "169.254.169.254", "::1", "100.64.1.1", "0.0.0.0"],  # noqa: S104
)
def test_a_name_that_resolves_into_a_refused_range_is_a_400(api, address):
    with dns({"hooks.example.test": [address]}):
        response = api.post("/api/v1/webhook-endpoints/", {"url": "https://hooks.example.test/in"}, format="json")

    body = assert_error(response, 400, "invalid", ("url",))
    assert f"hooks.example.test resolves to {address}" in body["detail"]


def test_a_name_with_one_refused_address_among_public_ones_is_refused(api):
    with dns({"hooks.example.test": ["93.184.216.34", "10.0.0.5"]}):
        response = api.post("/api/v1/webhook-endpoints/", {"url": "https://hooks.example.test/in"}, format="json")

    assert_error(response, 400, "invalid", ("url",))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://user:pass@127.0.0.1:8000/", "Put no user name or password in the URL"),
        ("https://user:pass@hooks.example.test/", "Put no user name or password in the URL"),
        ("ftp://hooks.example.test/in", "Use an http:// or https:// URL."),
        ("gopher://hooks.example.test/in", "Use an http:// or https:// URL."),
    ],
)
def test_only_plain_http_and_https_urls_are_taken(api, url, message):
    with dns({"hooks.example.test": ["93.184.216.34"]}):
        body = assert_error(
            api.post("/api/v1/webhook-endpoints/", {"url": url}, format="json"), 400, "invalid", ("url",)
        )

    assert message in body["detail"]


def test_a_public_name_is_taken_and_one_that_does_not_resolve_yet_too(api):
    with dns({"hooks.example.test": ["93.184.216.34"]}):
        public = api.post("/api/v1/webhook-endpoints/", {"url": "https://hooks.example.test/in"}, format="json")
    with mock.patch.object(transport, "resolve", side_effect=OSError("no such name")):
        unknown = api.post("/api/v1/webhook-endpoints/", {"url": "https://later.example.test/in"}, format="json")

    assert (public.status_code, unknown.status_code) == (201, 201)


def test_changing_an_endpoint_to_a_refused_address_is_a_400(api):
    with dns({"hooks.example.test": ["93.184.216.34"]}):
        created = api.post("/api/v1/webhook-endpoints/", {"url": "https://hooks.example.test/in"}, format="json")
    pk = created.json()["id"]

    response = api.patch(f"/api/v1/webhook-endpoints/{pk}/", {"url": "http://169.254.169.254/"}, format="json")

    assert_error(response, 400, "invalid", ("url",))
    assert WebhookEndpoint.objects.get().url == "https://hooks.example.test/in"


@pytest.mark.parametrize("url", ["http://127.0.0.1:5432/", "ftp://hooks.example.test/", "http://u:p@10.0.0.1/"])
def test_the_admin_form_refuses_the_same_urls_beside_the_field(admin_client, url):
    response = admin_client.post(
        "/admin/orders/webhookendpoint/add/", {"url": url, "description": "", "event_types": "[]", "is_active": "on"}
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["url"]
    assert not WebhookEndpoint.objects.exists()


def test_the_command_refuses_them_with_a_sentence(db):
    with pytest.raises(CommandError, match="is a loopback address"):
        call_command("add_webhook_endpoint", "http://127.0.0.1:5432/")

    assert not WebhookEndpoint.objects.exists()


def test_allowed_networks_let_a_deployment_use_its_own(api, settings):
    settings.EVENTS_ALLOWED_NETWORKS = ["10.0.0.0/8", "127.0.0.1/32"]

    for url in ("http://10.1.2.3/hooks", "http://127.0.0.1:9000/in"):
        assert api.post("/api/v1/webhook-endpoints/", {"url": url}, format="json").status_code == 201
    assert_error(
        api.post("/api/v1/webhook-endpoints/", {"url": "http://192.168.1.1/"}, format="json"), 400, "invalid", ("url",)
    )


# When an event is sent


def raise_one():
    return emit(EventType.CALL_MISSED, {"reference": "K7X4", "reason": "busy"})


def test_a_name_that_resolves_to_a_public_address_when_saved_and_to_loopback_when_sent_is_not_connected_to(
    settings,
):
    with KeepAliveReceiver() as receiver:
        port = receiver.server.server_address[1]
        url = f"http://rebind.example.test:{port}/events"
        with dns({"rebind.example.test": [["93.184.216.34"], ["127.0.0.1"]]}):
            WebhookEndpoint.objects.create(url=url).full_clean()
            raise_one()
            run_worker()

    assert receiver.requests == []
    attempt = Delivery.objects.get().attempt_log.get()
    assert attempt.status_code is None and attempt.latency_ms is None
    assert attempt.error.startswith("refused: rebind.example.test resolves to 127.0.0.1, which is a loopback address")


def test_an_address_literal_saved_before_the_rule_is_refused_when_sent(db):
    WebhookEndpoint.objects.bulk_create([WebhookEndpoint(url="http://127.0.0.1:5432/")])  # no validation
    raise_one()

    run_worker()

    attempt = Delivery.objects.get().attempt_log.get()
    assert attempt.error.startswith("refused: 127.0.0.1 is a loopback address")


def test_the_connection_goes_to_the_address_that_was_checked_with_the_name_in_the_host_header(settings):
    settings.EVENTS_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with KeepAliveReceiver() as receiver:
        port = receiver.server.server_address[1]
        with dns({"hooks.example.test": ["127.0.0.1"]}) as resolve:
            WebhookEndpoint.objects.create(url=f"http://hooks.example.test:{port}/events")
            raise_one()
            raise_one()
            run_worker()

    assert [headers["Host"] for _port, headers, _body in receiver.requests] == [f"hooks.example.test:{port}"] * 2
    # One lookup for the connection both events went over.
    assert resolve.call_count == 1
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_the_refused_ranges_are_public_knowledge_in_one_function():
    for url, kind in REFUSED_URLS.items():
        host = transport.parse(url).host
        assert transport.refused_reason(ipaddress.ip_address(host)) == kind, url
    assert transport.refused_reason(ipaddress.ip_address("93.184.216.34")) is None
    assert transport.refused_reason(ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946")) is None
