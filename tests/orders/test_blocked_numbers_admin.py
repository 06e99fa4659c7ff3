"""The block list in the admin (/admin/orders/blockednumber/): who blocked which number, and which blocks apply now."""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.utils import timezone

from orders.models import BlockedNumber
from tests.support.world import CUSTOMER

pytestmark = pytest.mark.django_db

URL = "/admin/orders/blockednumber/"


def listed(response) -> list[str]:
    assert response.status_code == 200
    return [str(blocked.number) for blocked in response.context["cl"].result_list]


def test_adding_a_block_records_who_added_it(admin_client, admin_user):
    response = admin_client.post(f"{URL}add/", {"number": "415 666 7777", "reason": "abusive calls", "until": ""})

    assert response.status_code == 302
    blocked = BlockedNumber.objects.get()
    assert (str(blocked.number), blocked.reason, blocked.until) == (CUSTOMER, "abusive calls", None)
    assert blocked.added_by == admin_user
    # The admin's history names the block, not the number.
    assert CUSTOMER not in LogEntry.objects.get().object_repr


def test_who_added_a_block_is_shown_and_cannot_be_changed(admin_client, admin_user, django_user_model):
    other = django_user_model.objects.create_user("priya")
    blocked = BlockedNumber.objects.create(number=CUSTOMER, reason="spam", added_by=other)

    page = admin_client.get(f"{URL}{blocked.pk}/change/")
    assert "added_by" not in page.context["adminform"].form.fields
    assert b"priya" in page.content
    response = admin_client.post(
        f"{URL}{blocked.pk}/change/", {"number": CUSTOMER, "reason": "spam, twice", "until": "", "added_by": "1"}
    )

    assert response.status_code == 302
    blocked.refresh_from_db()
    assert (blocked.reason, blocked.added_by) == ("spam, twice", other)


def test_a_number_is_blocked_once(admin_client):
    BlockedNumber.objects.create(number=CUSTOMER, reason="spam")

    response = admin_client.post(f"{URL}add/", {"number": "+1 415 666 7777", "reason": "again", "until": ""})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["number"] == [
        "This number is already blocked; change its block instead."
    ]


def test_a_block_needs_a_number_and_a_reason(admin_client):
    response = admin_client.post(f"{URL}add/", {"number": "not a number", "reason": "", "until": ""})

    errors = response.context["adminform"].form.errors
    assert set(errors) == {"number", "reason"}
    assert not BlockedNumber.objects.exists()


def test_the_list_filters_blocks_in_force(admin_client):
    now = timezone.now()
    BlockedNumber.objects.create(number="+14156660001", reason="forever")
    BlockedNumber.objects.create(number="+14156660002", reason="this week", until=now + timedelta(days=7))
    BlockedNumber.objects.create(number="+14156660003", reason="ended", until=now - timedelta(minutes=1))

    assert sorted(listed(admin_client.get(URL, {"in_force": "yes"}))) == ["+14156660001", "+14156660002"]
    assert listed(admin_client.get(URL, {"in_force": "no"})) == ["+14156660003"]
    assert len(listed(admin_client.get(URL))) == 3


@pytest.mark.parametrize("term", ["4156660002", "(415) 666-0002", "+14156660002", "14156660002"])
def test_the_list_finds_a_number_however_it_is_typed(admin_client, term):
    BlockedNumber.objects.create(number="+14156660001", reason="one")
    BlockedNumber.objects.create(number="+14156660002", reason="two")

    assert listed(admin_client.get(URL, {"q": term})) == ["+14156660002"]


def test_the_list_finds_a_block_by_its_reason(admin_client):
    BlockedNumber.objects.create(number="+14156660001", reason="threatened the courier")
    BlockedNumber.objects.create(number="+14156660002", reason="spam")

    assert listed(admin_client.get(URL, {"q": "courier"})) == ["+14156660001"]
