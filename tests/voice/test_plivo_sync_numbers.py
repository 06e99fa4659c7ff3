"""plivo_sync_numbers: the pool follows the voice numbers the Plivo account rents."""

import json

import pytest
import requests
import responses
from django.core.management.base import CommandError

from orders.models import ProxyNumber
from tests.support.commands import run_command
from tests.support.world import PROXY, pool

pytestmark = pytest.mark.django_db

BASE = "http://masking.example.com"  # PUBLIC_BASE_URL in tests/settings.py


def rented_numbers(count: int) -> list[str]:
    return [f"+1415555{n:04d}" for n in range(200, 200 + count)]


def test_sync_imports_every_voice_number_across_pages(account):
    numbers = rented_numbers(45)
    for number in numbers:
        account.rent(number)

    out, _ = run_command("plivo_sync_numbers")

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

    run_command("plivo_sync_numbers")

    assert list(ProxyNumber.objects.values_list("number", "label", "country")) == [("+14155550201", "Downtown", "US")]


def test_sync_deactivates_pool_numbers_the_account_no_longer_has(account, live_order):
    account.rent("+14155550201")

    out, err = run_command("plivo_sync_numbers")

    assert pool() == {PROXY: False, "+14155550201": True}
    assert f"Deactivated {PROXY}: the Plivo account no longer has it." in out
    assert "1 live order(s) still use a deactivated number" in err
    live_order.refresh_from_db()
    assert live_order.masking.proxy_number.number == PROXY  # the order keeps its number; only the pool changes


def test_sync_is_rerunnable_and_reports_nothing_changed_the_second_time(account):
    for number in rented_numbers(3):
        account.rent(number)
    run_command("plivo_sync_numbers")

    out, _ = run_command("plivo_sync_numbers")

    assert "Added" not in out
    assert "3 voice number(s) in the account; 0 added, 0 deactivated, 3 unchanged." in out
    assert ProxyNumber.objects.count() == 3


def test_sync_leaves_a_number_staff_deactivated_inactive(account, proxy_number):
    proxy_number.is_active = False
    proxy_number.save()
    account.rent(PROXY)

    out, _ = run_command("plivo_sync_numbers")

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
        run_command("plivo_sync_numbers")

    assert len(account.requests("GET", "/Number/")) == 2
    assert pool() == {PROXY: True}
