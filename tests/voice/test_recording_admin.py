"""Recordings in the admin: staff see that one exists; only "Can listen to recordings" gives the player."""

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from voice.models import CallRecord, Recording

pytestmark = pytest.mark.django_db

MEDIA = "https://media.plivo.com/v1/Account/MAXXXXXXXXXXXXXXXXXX/Recording/rec-1.mp3"


@pytest.fixture
def recording(live_order) -> Recording:
    call = CallRecord.objects.create(call_uuid="call-1", order=live_order, outcome="connected")
    return Recording.objects.create(
        recording_id="rec-1", kind="call", call=call, order=live_order, url=MEDIA, duration=42
    )


def staff(*codenames: str) -> Client:
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_callrecord", "view_order", *codenames]))
    client = Client()
    client.force_login(user)
    return client


def pages(client: Client, recording: Recording) -> list[bytes]:
    responses = [
        client.get(f"/admin/voice/callrecord/{recording.call.pk}/change/"),
        client.get(f"/admin/orders/order/{recording.order.pk}/change/"),
    ]
    assert [response.status_code for response in responses] == [200, 200]
    return [response.content for response in responses]


def test_staff_with_the_permission_get_a_player_on_the_call_and_order_pages(recording):
    for content in pages(staff("listen_recording"), recording):
        assert f'<audio controls preload="none" src="{MEDIA}">'.encode() in content


def test_staff_without_it_see_that_a_recording_exists_but_not_where(recording):
    for content in pages(staff(), recording):
        assert b"needs the \xe2\x80\x9cCan listen to recordings\xe2\x80\x9d permission" in content
        assert b"<audio" not in content and MEDIA.encode() not in content


def test_a_deleted_recording_has_no_player(recording, admin_client):
    Recording.objects.filter(pk=recording.pk).update(url="", deleted_at=timezone.now())

    for content in pages(admin_client, recording):
        assert b"deleted at Plivo" in content and b"<audio" not in content


def test_the_permission_is_named_for_people():
    permission = Permission.objects.get(codename="listen_recording")

    assert (permission.content_type.app_label, permission.name) == ("voice", "Can listen to recordings")
