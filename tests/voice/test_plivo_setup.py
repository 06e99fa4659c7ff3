"""plivo_setup: one Plivo application whose URLs are this service, linked to every pool number."""

import json

import pytest
import responses
from django.core.management.base import CommandError

from orders.models import ProxyNumber
from tests.support.commands import run_command
from tests.support.fake_plivo import FakePlivoAccount
from tests.support.world import PROXY

pytestmark = pytest.mark.django_db

BASE = "http://masking.example.com"  # PUBLIC_BASE_URL in tests/settings.py


def application_request(account: FakePlivoAccount, method: str = "POST", path: str = "/Application/") -> dict:
    (request,) = account.requests(method, path)
    return json.loads(request.body)


def test_setup_creates_the_application_and_links_every_active_pool_number(account, proxy_number):
    ProxyNumber.objects.create(number="+14155550201")
    ProxyNumber.objects.create(number="+14155550202", is_active=False)
    for number in (PROXY, "+14155550201", "+14155550202"):
        account.rent(number)

    out, err = run_command("plivo_setup", "--base-url", BASE)

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

    out, _ = run_command("plivo_setup", "--base-url", BASE)

    assert not account.requests("POST", "/Application/")
    sent = application_request(account, path=f"/Application/{app_id}/")
    assert sent["answer_url"] == f"{BASE}/voice/answer/"
    assert sent["message_url"] == f"{BASE}/voice/message/"
    assert len(account.applications) == 2
    assert account.linked_app(PROXY) == app_id
    assert f"Updated Plivo application 'Number Masking' ({app_id}):" in out


def test_setup_is_rerunnable_and_skips_numbers_already_linked(account, proxy_number):
    account.rent(PROXY)
    run_command("plivo_setup", "--base-url", BASE)

    out, _ = run_command("plivo_setup", "--base-url", BASE)

    assert len(account.applications) == 1
    assert len(account.requests("POST", "/Number/14155550100/")) == 1
    assert f"{PROXY} is already linked." in out
    assert "0 number(s) linked, 1 already linked." in out


def test_setup_uses_the_given_application_name(account, proxy_number):
    account.rent(PROXY)
    account.add_application("Number Masking")

    out, _ = run_command("plivo_setup", "--base-url", BASE, "--app-name", "Masking staging")

    assert application_request(account)["app_name"] == "Masking staging"
    assert account.linked_app(PROXY) == "1001"
    assert "Created Plivo application 'Masking staging' (1001):" in out


def test_setup_refuses_a_pool_number_that_is_not_in_the_account_before_changing_anything(account, proxy_number):
    ProxyNumber.objects.create(number="+14155550201")
    account.rent("+14155550201")

    with pytest.raises(CommandError) as error:
        run_command("plivo_setup", "--base-url", BASE)

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
        run_command("plivo_setup", "--base-url", BASE)

    assert str(error.value) == (
        f"{PROXY} is not a number in your Plivo account; run plivo_sync_numbers or deactivate it."
    )


def test_setup_refuses_to_guess_between_two_applications_with_the_same_name(account, proxy_number):
    account.rent(PROXY)
    account.add_application("Number Masking")
    account.add_application("Number Masking")

    with pytest.raises(CommandError, match="The account has 2 applications named 'Number Masking'"):
        run_command("plivo_setup", "--base-url", BASE)

    assert not account.requests("POST")


@pytest.mark.parametrize("base_url", ["masking.example.com", "https://masking.example.com/hooks", "ftp://x.example"])
def test_setup_rejects_a_base_url_that_is_not_a_scheme_and_host(mocked, base_url):
    with pytest.raises(CommandError, match="must be a scheme and host only"):
        run_command("plivo_setup", "--base-url", base_url)

    assert not mocked.calls


def test_setup_warns_when_the_base_url_is_not_the_one_signatures_are_checked_against(account, proxy_number):
    account.rent(PROXY)

    out, err = run_command("plivo_setup", "--base-url", "https://other.example.com/")

    assert application_request(account)["answer_url"] == "https://other.example.com/voice/answer/"
    assert "differs from PUBLIC_BASE_URL" in err


def test_setup_with_an_empty_pool_still_sets_up_the_application_and_says_what_to_do(account):
    out, err = run_command("plivo_setup", "--base-url", BASE)

    assert len(account.applications) == 1
    assert "run plivo_sync_numbers first" in err
    assert "0 number(s) linked, 0 already linked." in out
