"""Recording URLs from callbacks: only an https URL on Plivo's media host is kept, rendered or announced."""

import logging

import pytest
from django.contrib.auth.models import Permission, User

from tests.support.events import events_of
from tests.support.webhooks import answer, xml_of
from voice.models import CallRecord, Recording
from voice.plivo.media import is_plivo_media

pytestmark = pytest.mark.django_db

KEPT = [
    "https://media.plivo.com/v1/Account/MAXXXXXXXXXXXXXXXXXX/Recording/x.mp3",
    "https://aps1.media.plivo.com/v1/Account/MAXXXXXXXXXXXXXXXXXX/Recording/x.mp3",
]
DROPPED = [
    "javascript:alert(document.cookie)",
    "data:audio/mp3;base64,SUQzBAAAAAAA",
    "http://media.plivo.com/v1/Account/MAXXXXXXXXXXXXXXXXXX/Recording/x.mp3",
    "https://evil.example/x.mp3",
    "https://media.plivo.com.evil.example/x.mp3",
    "https://user@media.plivo.com/x.mp3",
    "https://user:secret@media.plivo.com/x.mp3",
    "https://media.plivo.com:8443/x.mp3",
    "https://evil.example\\@media.plivo.com/x.mp3",
    "https://media.plivo.com\\@evil.example/x.mp3",
    "https://a.b.media.plivo.com/x.mp3",
    "https://media.plivo.com./x.mp3",
    "https://xmedia.plivo.com/x.mp3",
    "//media.plivo.com/x.mp3",
    " https://media.plivo.com/x.mp3",
    "https://media.plivo.com/x.mp3\njavascript:alert(1)",
    "https://[::1/x.mp3",
    "https://media.plivo.com/" + "x" * 500,
]


@pytest.fixture
def call(settings, plivo, live_order) -> CallRecord:
    settings.MASKING_RECORD_CALLS = True
    answer(plivo)
    return CallRecord.objects.get()


def post_recording(plivo, url: str, *, recording_id: str = "rec-1", duration: str = "42") -> None:
    data = {"RecordUrl": url, "RecordingID": recording_id, "RecordingDuration": duration}
    xml_of(plivo.signed_post("/voice/recording/?call=call-1", data))


@pytest.mark.parametrize("url", KEPT)
def test_a_url_on_plivo_s_media_host_is_kept_and_announced(plivo, call, url):
    post_recording(plivo, url)

    assert Recording.objects.get().url == url
    (ready,) = events_of("recording.ready")
    assert ready.data["recording_url"] == url


@pytest.mark.parametrize("url", DROPPED)
def test_any_other_url_is_stored_as_absent_logged_without_its_value_and_never_announced(plivo, call, url, caplog):
    caplog.set_level(logging.WARNING)

    post_recording(plivo, url)

    recording = Recording.objects.get()
    assert (recording.recording_id, recording.url, recording.duration) == ("rec-1", "", 42)
    assert events_of("recording.ready") == []
    (dropped,) = [r for r in caplog.records if "not Plivo's media host was dropped" in r.getMessage()]
    assert url.strip()[:20] not in dropped.getMessage()


def test_a_dropped_url_is_not_replaced_by_the_retry_s_bad_one_but_by_plivo_s(plivo, call):
    post_recording(plivo, "javascript:alert(1)")
    post_recording(plivo, "https://evil.example/x.mp3")
    assert events_of("recording.ready") == []

    post_recording(plivo, KEPT[0])

    assert Recording.objects.get().url == KEPT[0]
    assert [event.data["recording_url"] for event in events_of("recording.ready")] == [KEPT[0]]


def test_the_voicemail_drops_a_foreign_url_too(plivo, live_order):
    answer(plivo)
    data = {"RecordUrl": "data:text/html,<script>alert(1)</script>", "RecordingID": "vm-1", "RecordingDuration": "9"}
    xml_of(plivo.signed_post("/voice/voicemail/?call=call-1", data))

    assert Recording.objects.get().url == ""
    assert events_of("voicemail.received") == []


def test_the_admin_does_not_play_a_foreign_url_stored_before_the_check(client, call):
    Recording.objects.create(recording_id="old", kind="call", call=call, url="javascript:alert(1)", duration=5)
    staff = User.objects.create_user("listener", password="x", is_staff=True)
    staff.user_permissions.add(
        Permission.objects.get(codename="view_callrecord"), Permission.objects.get(codename="listen_recording")
    )
    client.force_login(staff)

    page = client.get(f"/admin/voice/callrecord/{call.pk}/change/")

    assert page.status_code == 200
    assert b"javascript:alert" not in page.content
    assert "its URL is not Plivo" in page.content.decode()


@pytest.mark.parametrize("url", KEPT)
def test_the_check_accepts_plivo_s_hosts(url):
    assert is_plivo_media(url)


@pytest.mark.parametrize("url", DROPPED)
def test_the_check_refuses_everything_else(url):
    assert not is_plivo_media(url)
