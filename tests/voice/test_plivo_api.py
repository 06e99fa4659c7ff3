"""voice/plivo_client.py, as both Plivo commands use it: errors in one line, the configured API URL."""

import socket
import time

import pytest
import requests
import responses
from django.core.management.base import CommandError
from django.test import override_settings

from tests.support.commands import run_command
from tests.support.fake_plivo import AUTH_ID, FakePlivoAccount
from tests.support.plivo_api_server import PlivoAPIServer
from tests.support.world import PROXY, pool
from voice.plivo import client as plivo_client

pytestmark = pytest.mark.django_db

BASE = "http://masking.example.com"  # PUBLIC_BASE_URL in tests/settings.py


@pytest.mark.parametrize("command", [["plivo_sync_numbers"], ["plivo_setup", "--base-url", BASE]])
@pytest.mark.parametrize("missing", ["PLIVO_AUTH_ID", "PLIVO_AUTH_TOKEN"])
def test_a_missing_credential_is_a_one_line_error_before_any_request(mocked, proxy_number, command, missing):
    with override_settings(**{missing: ""}), pytest.raises(CommandError) as error:
        run_command(*command)

    assert str(error.value) == "PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN must be set (Plivo console: Account > Overview)."
    assert not mocked.calls
    assert pool() == {PROXY: True}


@override_settings(PLIVO_AUTH_ID="not-an-auth-id")
def test_a_malformed_auth_id_is_a_clear_error(mocked):
    with pytest.raises(CommandError, match="PLIVO_AUTH_ID does not look like a Plivo auth ID"):
        run_command("plivo_sync_numbers")

    assert not mocked.calls


@pytest.mark.parametrize("command", [["plivo_sync_numbers"], ["plivo_setup", "--base-url", BASE]])
@pytest.mark.parametrize("body", ['{"api_id": "x", "error": "authentication failed"}', "Unauthorized"])
def test_a_rejected_token_is_a_one_line_error_and_changes_nothing(mocked, proxy_number, command, body):
    mocked.get(f"https://api.plivo.com/v1/Account/{AUTH_ID}/Number/", status=401, body=body)

    with pytest.raises(CommandError) as error:
        run_command(*command)

    assert str(error.value) == "Plivo rejected the credentials (HTTP 401): check PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN."
    assert pool() == {PROXY: True}
    assert [call.request.method for call in mocked.calls] == ["GET"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("command", [["plivo_sync_numbers"], ["plivo_setup", "--base-url", BASE]])
def test_an_unreachable_api_is_a_one_line_error(proxy_number, command):
    # No mock: a real connection to a port nobody listens on.
    api_url = f"http://127.0.0.1:{closed_port()}"
    with override_settings(PLIVO_API_URL=api_url), pytest.raises(CommandError) as error:
        run_command(*command)

    assert str(error.value) == (
        f"Could not reach the Plivo API at {api_url} while listing the account's numbers; "
        "check the network and PLIVO_API_URL."
    )
    assert "\n" not in str(error.value)
    assert pool() == {PROXY: True}


def test_a_timeout_is_a_one_line_error(mocked):
    mocked.get(f"https://api.plivo.com/v1/Account/{AUTH_ID}/Number/", body=requests.ReadTimeout("slow"))

    with pytest.raises(CommandError, match="did not answer in time while listing the account's numbers"):
        run_command("plivo_sync_numbers")


def test_another_api_error_is_reported_in_one_line(mocked):
    mocked.get(
        f"https://api.plivo.com/v1/Account/{AUTH_ID}/Number/",
        status=400,
        json={"api_id": "x", "error": "invalid\nservices filter"},
    )

    with pytest.raises(CommandError) as error:
        run_command("plivo_sync_numbers")

    assert (
        str(error.value) == "Plivo answered with an error while listing the account's numbers: invalid services filter"
    )


@override_settings(PLIVO_API_URL="api.plivo.com")
def test_a_plivo_api_url_without_a_scheme_is_a_clear_error(mocked):
    with pytest.raises(CommandError, match="PLIVO_API_URL='api.plivo.com' must be an http"):
        run_command("plivo_sync_numbers")


# PLIVO_API_URL


@pytest.mark.parametrize("api_url", ["https://plivo-fake.internal:8443", "https://plivo-fake.internal:8443/"])
def test_requests_go_to_the_configured_api_url(mocked, api_url):
    fake = FakePlivoAccount(mocked, api_url="https://plivo-fake.internal:8443")
    fake.rent("+14155550201")

    with override_settings(PLIVO_API_URL=api_url):
        run_command("plivo_sync_numbers")
        run_command("plivo_setup", "--base-url", BASE)

    urls = [call.request.url.split("?")[0] for call in mocked.calls]
    assert urls and all(url.startswith(f"https://plivo-fake.internal:8443/v1/Account/{AUTH_ID}/") for url in urls)
    assert {url.removeprefix(fake.base) for url in urls} == {"Number/", "Application/", "Number/14155550201/"}
    assert fake.linked_app("+14155550201") == "1000"


def test_a_server_error_is_one_request_to_the_configured_host(mocked):
    fake = FakePlivoAccount(mocked, api_url="https://plivo-fake.internal")
    # The SDK would send an application call (a "voice request") twice more
    # after a 5xx, to its own hosts; ours sends it once, to the configured one.
    mocked.replace(responses.GET, fake.base + "Application/", status=503, json={"error": "busy"})

    with override_settings(PLIVO_API_URL="https://plivo-fake.internal"), pytest.raises(CommandError) as error:
        run_command("plivo_setup", "--base-url", BASE)

    assert str(error.value) == (
        "Plivo answered with a server error while listing the account's applications: HTTP 503 busy"
    )
    application_calls = [call.request.url for call in mocked.calls if "/Application/" in call.request.url]
    assert len(application_calls) == 1
    assert application_calls[0].startswith("https://plivo-fake.internal/v1/Account/")
    assert not fake.applications


# The Call API, against a real HTTP server


def place(**overrides: object) -> str:
    fields = {
        "from_": PROXY,
        "to": "+14156667777",
        "answer_url": f"{BASE}/voice/bridge/?order=1&first=customer",
        "hangup_url": f"{BASE}/voice/hangup/?order=1&first=customer",
        "time_limit": 60,
        "ring_timeout": 20,
        **overrides,
    }
    return plivo_client.start_call(plivo_client.connect(), **fields)


@pytest.fixture
def stand_in():
    with PlivoAPIServer() as server, override_settings(PLIVO_API_URL=server.url):
        yield server


def test_the_call_api_places_a_call_with_one_request(stand_in):
    request_uuid = place()

    [request] = stand_in.calls
    assert request_uuid
    assert (request.fields["from"], request.fields["to"], request.fields["answer_method"]) == (
        "14155550100",
        "14156667777",
        "POST",
    )


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_every_server_error_of_the_call_api_is_plivo_unavailable_after_one_request(stand_in, status):
    # A 502 used to come out as a refusal, after the SDK's two retries of its own.
    stand_in.status = status

    with pytest.raises(plivo_client.PlivoUnavailable, match="server error while placing the call: HTTP|internal error"):
        place()

    assert len(stand_in.calls) == 1


@pytest.mark.parametrize(("status", "message"), [(400, "geo permissions"), (404, "HTTP 404"), (422, "Unprocessable")])
def test_a_client_error_of_the_call_api_is_a_refusal(stand_in, status, message):
    stand_in.status = status

    with pytest.raises(plivo_client.PlivoAPIError, match=message) as error:
        place()

    assert not isinstance(error.value, plivo_client.PlivoUnavailable)
    assert len(stand_in.calls) == 1


def test_the_timeouts_are_settings_for_connecting_and_for_the_answer(stand_in):
    assert plivo_client.connect().timeout == (3.0, 10.0)
    stand_in.delay = 3

    started = time.monotonic()
    with override_settings(PLIVO_CONNECT_TIMEOUT=1, PLIVO_READ_TIMEOUT=0.3):
        assert plivo_client.connect().timeout == (1, 0.3)
        with pytest.raises(plivo_client.PlivoUnavailable, match="did not answer in time while placing the call"):
            place()

    assert time.monotonic() - started < 2
    assert len(stand_in.calls) == 1


def test_the_client_is_built_from_settings_when_called_not_at_import(mocked):
    with override_settings(PLIVO_API_URL="https://elsewhere.example"):
        client = plivo_client.connect()

    assert client.base_uri == "https://elsewhere.example/v1/Account"
    client.base_uri = "https://api.plivo.com/v1/Account"  # what the SDK does before each request
    assert client.base_uri == "https://elsewhere.example/v1/Account"
