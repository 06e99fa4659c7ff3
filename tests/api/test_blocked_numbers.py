"""/api/v1/blocked-numbers/: the block list for the platform, the same rows routing reads."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from orders.models import BlockedNumber
from orders.routing import Action, resolve
from tests.support.api import assert_error
from tests.support.world import CUSTOMER, PROXY

pytestmark = pytest.mark.django_db

URL = "/api/v1/blocked-numbers/"


def test_blocking_a_number_stops_its_calls(api, live_order):
    response = api.post(URL, {"number": "+1 415-666-7777", "reason": "abusive calls"}, format="json")

    assert response.status_code == 201
    body = response.json()
    blocked = BlockedNumber.objects.get()
    assert body == {
        "id": blocked.pk,
        "number": CUSTOMER,
        "reason": "abusive calls",
        "until": None,
        "in_force": True,
        "added_by": None,
        "created_at": body["created_at"],
    }
    assert resolve(CUSTOMER, PROXY).action == Action.BLOCKED


def test_blocks_are_listed_newest_first_and_found_by_number(api):
    BlockedNumber.objects.create(number="+14156660001", reason="first")
    BlockedNumber.objects.create(number="+14156660002", reason="second")

    listed = api.get(URL).json()
    found = api.get(URL, {"number": "14156660001"}).json()

    assert listed["count"] == 2
    assert [row["reason"] for row in listed["results"]] == ["second", "first"]
    assert [row["number"] for row in found["results"]] == ["+14156660001"]


def test_a_block_can_be_given_an_end_and_removed(api, live_order):
    blocked = api.post(URL, {"number": CUSTOMER, "reason": "spam"}, format="json").json()
    ended = (timezone.now() - timedelta(seconds=1)).isoformat()

    patched = api.patch(f"{URL}{blocked['id']}/", {"until": ended, "reason": "spam, settled"}, format="json")

    assert patched.status_code == 200
    assert (patched.json()["in_force"], patched.json()["reason"]) == (False, "spam, settled")
    assert resolve(CUSTOMER, PROXY).action == Action.CONNECT
    assert api.get(f"{URL}{blocked['id']}/").json()["until"] is not None
    assert api.delete(f"{URL}{blocked['id']}/").status_code == 204
    assert not BlockedNumber.objects.exists()
    assert_error(api.get(f"{URL}{blocked['id']}/"), 404, "not_found")


def test_the_admin_user_who_added_a_block_is_named(api, admin_user):
    blocked = BlockedNumber.objects.create(number=CUSTOMER, reason="spam", added_by=admin_user)

    assert api.get(f"{URL}{blocked.pk}/").json()["added_by"] == admin_user.get_username()


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"number": "12", "reason": "spam"}, "number", "Not a valid phone number: it is too short."),
        ({"number": "not a number", "reason": "spam"}, "number", "Not a valid phone number: it is not a phone number."),
        ({"number": CUSTOMER}, "reason", "This field is required."),
        ({"number": CUSTOMER, "reason": ""}, "reason", "This field may not be blank."),
        ({"number": CUSTOMER, "reason": 42}, "reason", "Expected a string."),
        ({"number": CUSTOMER, "reason": "spam", "until": "tomorrow"}, "until", None),
    ],
)
def test_a_bad_block_is_refused_with_the_field_at_fault(api, body, field, reason):
    body = assert_error(api.post(URL, body, format="json"), 400, "invalid", (field,))

    if reason:
        assert body["fields"][field] == [reason]
    assert not BlockedNumber.objects.exists()


def test_a_number_is_blocked_once(api):
    BlockedNumber.objects.create(number=CUSTOMER, reason="spam")

    body = assert_error(
        api.post(URL, {"number": "14156667777", "reason": "again"}, format="json"), 400, "invalid", ("number",)
    )

    assert body["fields"]["number"] == ["This number is already blocked; change or remove its block instead."]


def test_a_bad_number_filter_is_refused(api):
    assert_error(api.get(URL, {"number": "nope"}), 400, "invalid", ("number",))


@pytest.mark.parametrize("pk", ["999", "abc", "9" * 30])
def test_an_unknown_block_is_a_json_404(api, pk):
    assert_error(api.get(f"{URL}{pk}/"), 404, "not_found")


def test_the_block_list_needs_an_api_key(db):
    assert_error(APIClient().get(URL), 401, "not_authenticated")
    assert_error(APIClient().post(URL, {"number": CUSTOMER, "reason": "x"}, format="json"), 401, "not_authenticated")
