"""The events admin shows a recording's URL only to staff who may listen to recordings."""

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from orders.events import emit
from orders.models import Event, EventType

pytestmark = pytest.mark.django_db

ACCOUNT = "MAXXXXXXXXXXXXXXXXXX"
RECORDING_ID = "5f3c1b2a-9d8e-4c7b-a6f5-0e1d2c3b4a59"
RECORD_URL = f"https://media.plivo.com/v1/Account/{ACCOUNT}/Recording/{RECORDING_ID}.mp3"
# No part of the URL may show: its host, the account id, the file.
URL_PARTS = [RECORD_URL, "media.plivo.com", ACCOUNT, f"{RECORDING_ID}.mp3", "/Recording/"]


@pytest.fixture
def event() -> Event:
    data = {"reference": "K7X4", "proxy_number": "+14155550100", "recording_id": "rec-1", "recording_url": RECORD_URL}
    return emit(EventType.RECORDING_READY, {**data, "duration": 42})


def staff(*codenames: str) -> User:
    user = User.objects.create_user(f"staff-{len(codenames)}", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def event_page(user: User, event: Event) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(f"/admin/orders/event/{event.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_staff_who_may_view_events_but_not_listen_see_neither_the_url_nor_any_part_of_it(event):
    page = event_page(staff("view_event"), event)

    assert "K7X4" in page and "rec-1" in page  # the rest of the event shows
    assert "Can listen to recordings" in page  # and why the URL does not
    for part in URL_PARTS:
        assert part not in page


def test_staff_who_may_listen_see_the_url(event):
    page = event_page(staff("view_event", "listen_recording"), event)

    assert RECORD_URL in page


def test_a_superuser_sees_the_url(event):
    page = event_page(User.objects.create_superuser("root", password="x"), event)

    assert RECORD_URL in page


def test_hiding_the_url_for_one_request_does_not_hide_it_for_the_next(event):
    event_page(staff("view_event"), event)

    assert RECORD_URL in event_page(User.objects.create_superuser("root", password="x"), event)
    assert RECORD_URL not in event_page(staff("view_event", "view_delivery"), event)


def test_an_endpoints_event_types_are_ticked_from_the_catalogue(admin_client):
    from orders.events.models import WebhookEndpoint

    url = "/admin/orders/webhookendpoint/add/"
    form = {"url": "https://93.184.216.34/hooks", "description": "", "is_active": "on"}

    typo = admin_client.post(url, {**form, "receives": "some", "event_types": ["call.misssed"]})
    nothing = admin_client.post(url, {**form, "receives": "some"})
    every = admin_client.post(url, {**form, "receives": "all", "event_types": ["call.missed"]})
    some = admin_client.post(url, {**form, "receives": "some", "event_types": ["call.missed", "line.opened"]})

    assert "call.misssed is not one of the available choices" in typo.content.decode()
    assert "Tick at least one event type" in nothing.content.decode()
    assert every.status_code == some.status_code == 302
    assert [endpoint.event_types for endpoint in WebhookEndpoint.objects.order_by("pk")] == [
        [],
        ["line.opened", "call.missed"],
    ]
    assert 'value="line.opened"' in admin_client.get(url).content.decode()
