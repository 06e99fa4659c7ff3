import json
import socket
from io import StringIO

import pytest
import requests
import responses
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from orders.models import ProxyNumber
from voice import plivo_api

from .conftest import PROXY
from .fake_plivo import AUTH_ID, FakePlivoAccount

pytestmark = pytest.mark.django_db

BASE = "http://masking.example.com"  # PUBLIC_BASE_URL in tests/settings.py


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked


@pytest.fixture
def account(mocked) -> FakePlivoAccount:
    return FakePlivoAccount(mocked)


def run(name: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def pool() -> dict[str, bool]:
    return {str(proxy.number): proxy.is_active for proxy in ProxyNumber.objects.all()}


def rented_numbers(count: int) -> list[str]:
    return [f"+1415555{n:04d}" for n in range(200, 200 + count)]


# plivo_sync_numbers


def test_sync_imports_every_voice_number_across_pages(account):
    numbers = rented_numbers(45)
    for number in numbers:
        account.rent(number)

    out, _ = run("plivo_sync_numbers")

    assert pool() == dict.fromkeys(numbers, True)
    offsets = [json.dumps(dict(sorted(r.params.items()))) for r in account.requests("GET", "/Number/")]
    assert offsets == [
        json.dumps({"limit": "20", "offset": str(offset), "services": "voice"}) for offset in (0, 20, 40)
    ]
    assert f"Added {numbers[0]} to the pool." in out
    assert "45 voice number(s) in the account; 45 added, 0 deactivated, 0 unchanged." in out


def test_sync_skips_numbers_without_voice_and_labels_new_ones_with_their_alias(account):
    account.rent("+14155550201", alias="Downtown")
    account.rent("+14155550202", voice=False)

    run("plivo_sync_numbers")

    assert list(ProxyNumber.objects.values_list("number", "label", "country")) == [("+14155550201", "Downtown", "US")]


def test_sync_deactivates_pool_numbers_the_account_no_longer_has(account, live_order):
    account.rent("+14155550201")

    out, err = run("plivo_sync_numbers")

    assert pool() == {PROXY: False, "+14155550201": True}
    assert f"Deactivated {PROXY}: the Plivo account no longer has it." in out
    assert "1 live order(s) still use a deactivated number" in err
    live_order.refresh_from_db()
    assert live_order.proxy_number.number == PROXY  # the order keeps its number; only the pool changes


def test_sync_is_rerunnable_and_reports_nothing_changed_the_second_time(account):
    for number in rented_numbers(3):
        account.rent(number)
    run("plivo_sync_numbers")

    out, _ = run("plivo_sync_numbers")

    assert "Added" not in out
    assert "3 voice number(s) in the account; 0 added, 0 deactivated, 3 unchanged." in out
    assert ProxyNumber.objects.count() == 3


def test_sync_leaves_a_number_staff_deactivated_inactive(account, proxy_number):
    proxy_number.is_active = False
    proxy_number.save()
    account.rent(PROXY)

    out, _ = run("plivo_sync_numbers")

    assert pool() == {PROXY: False}
    assert f"Left {PROXY} inactive" in out


def test_sync_writes_nothing_when_a_later_page_fails(account, mocked, proxy_number):
    for number in rented_numbers(25):
        account.rent(number)
    mocked.replace(
        responses.GET,
        account.base + "Number/",
        body=requests.ConnectionError("connection reset"),
        match=[responses.matchers.query_param_matcher({"limit": "20", "offset": "20", "services": "voice"})],
    )
    mocked.add_callback(
        responses.GET,
        account.base + "Number/",
        callback=account._list_numbers,
        match=[responses.matchers.query_param_matcher({"limit": "20", "offset": "0", "services": "voice"})],
    )

    with pytest.raises(CommandError, match="Could not reach the Plivo API at https://api.plivo.com"):
        run("plivo_sync_numbers")

    assert len(account.requests("GET", "/Number/")) == 2
    assert pool() == {PROXY: True}


# errors shared by both commands


@pytest.mark.parametrize("command", [["plivo_sync_numbers"], ["plivo_setup", "--base-url", BASE]])
@pytest.mark.parametrize("missing", ["PLIVO_AUTH_ID", "PLIVO_AUTH_TOKEN"])
def test_a_missing_credential_is_a_one_line_error_before_any_request(mocked, proxy_number, command, missing):
    with override_settings(**{missing: ""}), pytest.raises(CommandError) as error:
        run(*command)

    assert str(error.value) == "PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN must be set (Plivo console: Account > Overview)."
    assert not mocked.calls
    assert pool() == {PROXY: True}


@override_settings(PLIVO_AUTH_ID="not-an-auth-id")
def test_a_malformed_auth_id_is_a_clear_error(mocked):
    with pytest.raises(CommandError, match="PLIVO_AUTH_ID does not look like a Plivo auth ID"):
        run("plivo_sync_numbers")

    assert not mocked.calls


@pytest.mark.parametrize("command", [["plivo_sync_numbers"], ["plivo_setup", "--base-url", BASE]])
@pytest.mark.parametrize("body", ['{"api_id": "x", "error": "authentication failed"}', "Unauthorized"])
def test_a_rejected_token_is_a_one_line_error_and_changes_nothing(mocked, proxy_number, command, body):
    mocked.get(f"https://api.plivo.com/v1/Account/{AUTH_ID}/Number/", status=401, body=body)

    with pytest.raises(CommandError) as error:
        run(*command)

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
        run(*command)

    assert str(error.value) == (
        f"Could not reach the Plivo API at {api_url} while listing the account's numbers; "
        "check the network and PLIVO_API_URL."
    )
    assert "\n" not in str(error.value)
    assert pool() == {PROXY: True}


def test_a_timeout_is_a_one_line_error(mocked):
    mocked.get(f"https://api.plivo.com/v1/Account/{AUTH_ID}/Number/", body=requests.ReadTimeout("slow"))

    with pytest.raises(CommandError, match="did not answer in time while listing the account's numbers"):
        run("plivo_sync_numbers")


def test_another_api_error_is_reported_in_one_line(mocked):
    mocked.get(
        f"https://api.plivo.com/v1/Account/{AUTH_ID}/Number/",
        status=400,
        json={"api_id": "x", "error": "invalid\nservices filter"},
    )

    with pytest.raises(CommandError) as error:
        run("plivo_sync_numbers")

    assert (
        str(error.value) == "Plivo answered with an error while listing the account's numbers: invalid services filter"
    )


@override_settings(PLIVO_API_URL="api.plivo.com")
def test_a_plivo_api_url_without_a_scheme_is_a_clear_error(mocked):
    with pytest.raises(CommandError, match="PLIVO_API_URL='api.plivo.com' must be an http"):
        run("plivo_sync_numbers")


# PLIVO_API_URL


@pytest.mark.parametrize("api_url", ["https://plivo-fake.internal:8443", "https://plivo-fake.internal:8443/"])
def test_requests_go_to_the_configured_api_url(mocked, api_url):
    fake = FakePlivoAccount(mocked, api_url="https://plivo-fake.internal:8443")
    fake.rent("+14155550201")

    with override_settings(PLIVO_API_URL=api_url):
        run("plivo_sync_numbers")
        run("plivo_setup", "--base-url", BASE)

    urls = [call.request.url.split("?")[0] for call in mocked.calls]
    assert urls and all(url.startswith(f"https://plivo-fake.internal:8443/v1/Account/{AUTH_ID}/") for url in urls)
    assert {url.removeprefix(fake.base) for url in urls} == {"Number/", "Application/", "Number/14155550201/"}
    assert fake.linked_app("+14155550201") == "1000"


def test_the_configured_api_url_survives_the_sdks_retry_after_a_server_error(mocked):
    fake = FakePlivoAccount(mocked, api_url="https://plivo-fake.internal")
    # The SDK retries application calls after a 5xx and resets its host for
    # the retry; the retry must still go to the configured host.
    mocked.replace(responses.GET, fake.base + "Application/", status=503, json={"error": "busy"})
    mocked.add_callback(responses.GET, fake.base + "Application/", callback=fake._list_applications)

    with override_settings(PLIVO_API_URL="https://plivo-fake.internal"):
        run("plivo_setup", "--base-url", BASE)

    application_calls = [call.request.url for call in mocked.calls if "/Application/" in call.request.url]
    assert len(application_calls) == 3  # failed list, retried list, create
    assert all(url.startswith("https://plivo-fake.internal/v1/Account/") for url in application_calls)
    assert [app["app_name"] for app in fake.applications.values()] == ["Number Masking"]


def test_the_client_is_built_from_settings_when_called_not_at_import(mocked):
    with override_settings(PLIVO_API_URL="https://elsewhere.example"):
        client = plivo_api.connect()

    assert client.base_uri == "https://elsewhere.example/v1/Account"
    client.base_uri = "https://api.plivo.com/v1/Account"  # what the SDK does before each request
    assert client.base_uri == "https://elsewhere.example/v1/Account"


# plivo_setup


def application_request(account: FakePlivoAccount, method: str = "POST", path: str = "/Application/") -> dict:
    (request,) = account.requests(method, path)
    return json.loads(request.body)


def test_setup_creates_the_application_and_links_every_active_pool_number(account, proxy_number):
    ProxyNumber.objects.create(number="+14155550201")
    ProxyNumber.objects.create(number="+14155550202", is_active=False)
    for number in (PROXY, "+14155550201", "+14155550202"):
        account.rent(number)

    out, err = run("plivo_setup", "--base-url", BASE)

    sent = application_request(account)
    assert sent == {
        "app_name": "Number Masking",
        "answer_url": f"{BASE}/voice/answer/",
        "answer_method": "POST",
        "hangup_url": f"{BASE}/voice/hangup/",
        "hangup_method": "POST",
        "fallback_answer_url": f"{BASE}/voice/fallback/",
        "fallback_method": "POST",
        "message_url": f"{BASE}/voice/message/",
        "message_method": "POST",
        "log_incoming_messages": False,
        "default_number_app": False,
        "default_endpoint_app": False,
    }
    assert [r.url.split("/Number/")[1] for r in account.requests("POST", "/")[1:]] == ["14155550100/", "14155550201/"]
    assert account.linked_app(PROXY) == account.linked_app("+14155550201") == "1000"
    assert account.linked_app("+14155550202") == ""
    assert "Created Plivo application 'Number Masking' (1000):" in out
    assert f"POST {BASE}/voice/message/" in out
    assert f"Linked {PROXY}." in out
    assert "2 number(s) linked, 0 already linked." in out
    assert err == ""


def test_setup_updates_the_application_with_that_name_instead_of_creating_one(account, proxy_number):
    account.add_application("Number Masking (old)", answer_url="https://old.example.com/")
    app_id = account.add_application("Number Masking", answer_url="https://old.example.com/answer")
    account.rent(PROXY)

    out, _ = run("plivo_setup", "--base-url", BASE)

    assert not account.requests("POST", "/Application/")
    sent = application_request(account, path=f"/Application/{app_id}/")
    assert sent["answer_url"] == f"{BASE}/voice/answer/"
    assert sent["message_url"] == f"{BASE}/voice/message/"
    assert len(account.applications) == 2
    assert account.linked_app(PROXY) == app_id
    assert f"Updated Plivo application 'Number Masking' ({app_id}):" in out


def test_setup_is_rerunnable_and_skips_numbers_already_linked(account, proxy_number):
    account.rent(PROXY)
    run("plivo_setup", "--base-url", BASE)

    out, _ = run("plivo_setup", "--base-url", BASE)

    assert len(account.applications) == 1
    assert len(account.requests("POST", "/Number/14155550100/")) == 1
    assert f"{PROXY} is already linked." in out
    assert "0 number(s) linked, 1 already linked." in out


def test_setup_uses_the_given_application_name(account, proxy_number):
    account.rent(PROXY)
    account.add_application("Number Masking")

    out, _ = run("plivo_setup", "--base-url", BASE, "--app-name", "Masking staging")

    assert application_request(account)["app_name"] == "Masking staging"
    assert account.linked_app(PROXY) == "1001"
    assert "Created Plivo application 'Masking staging' (1001):" in out


def test_setup_refuses_a_pool_number_that_is_not_in_the_account_before_changing_anything(account, proxy_number):
    ProxyNumber.objects.create(number="+14155550201")
    account.rent("+14155550201")

    with pytest.raises(CommandError) as error:
        run("plivo_setup", "--base-url", BASE)

    assert str(error.value) == (
        f"Not a voice number in your Plivo account: {PROXY}. "
        "Run plivo_sync_numbers (it deactivates them) or deactivate them in the admin."
    )
    assert not account.requests("POST")
    assert not account.applications
    assert account.linked_app("+14155550201") == ""


def test_setup_reports_a_number_that_left_the_account_while_linking(account, mocked, proxy_number):
    account.rent(PROXY)

    def list_then_release(request):
        answer = account._list_numbers(request)
        account.numbers.clear()  # released in the console between listing and linking
        return answer

    mocked.replace(responses.CallbackResponse(responses.GET, account.base + "Number/", callback=list_then_release))

    with pytest.raises(CommandError) as error:
        run("plivo_setup", "--base-url", BASE)

    assert str(error.value) == (
        f"{PROXY} is not a number in your Plivo account; run plivo_sync_numbers or deactivate it."
    )


def test_setup_refuses_to_guess_between_two_applications_with_the_same_name(account, proxy_number):
    account.rent(PROXY)
    account.add_application("Number Masking")
    account.add_application("Number Masking")

    with pytest.raises(CommandError, match="The account has 2 applications named 'Number Masking'"):
        run("plivo_setup", "--base-url", BASE)

    assert not account.requests("POST")


@pytest.mark.parametrize("base_url", ["masking.example.com", "https://masking.example.com/hooks", "ftp://x.example"])
def test_setup_rejects_a_base_url_that_is_not_a_scheme_and_host(mocked, base_url):
    with pytest.raises(CommandError, match="must be a scheme and host only"):
        run("plivo_setup", "--base-url", base_url)

    assert not mocked.calls


def test_setup_warns_when_the_base_url_is_not_the_one_signatures_are_checked_against(account, proxy_number):
    account.rent(PROXY)

    out, err = run("plivo_setup", "--base-url", "https://other.example.com/")

    assert application_request(account)["answer_url"] == "https://other.example.com/voice/answer/"
    assert "differs from PUBLIC_BASE_URL" in err


def test_setup_with_an_empty_pool_still_sets_up_the_application_and_says_what_to_do(account):
    out, err = run("plivo_setup", "--base-url", BASE)

    assert len(account.applications) == 1
    assert "run plivo_sync_numbers first" in err
    assert "0 number(s) linked, 0 already linked." in out
