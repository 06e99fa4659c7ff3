"""Plivo's webhooks: each parses what Plivo sent once (params.py) and hands it to voice's call and text code.

Every view goes through the one decorator (webhook.py): signature, methods,
body limits, and an XML answer whatever happens.
"""

from django.http import HttpRequest

from .. import calls, messages
from . import params, xml
from .webhook import OnDatabaseError, plivo_webhook


@plivo_webhook(methods=("GET", "POST"))
def answer(request: HttpRequest) -> str:
    # The seed tutorial's answer URL was fetched with GET.
    return calls.answer(params.Call.read(request.POST if request.method == "POST" else request.GET))


# A PIN request connects the caller: replayed, it would reveal the order's
# other party (whoever that is by then), so each nonce works once.
@plivo_webhook(single_use_nonce=True)
def pin(request: HttpRequest) -> str:
    return calls.pin(params.Pin.read(request.POST), params.attempt(request.GET))


# Dial status and hangup write the same values again when replayed and answer
# no number, so Plivo's retries (which may reuse the nonce) must keep working.
# They, the voicemail and the recording only record what happened: what the
# database failed to record is queued for the worker (voice.tasks).
@plivo_webhook(on_database_error=OnDatabaseError.QUEUE)
def dial_status(request: HttpRequest) -> str:
    return calls.dial_status(params.DialStatus.read(request.POST))


@plivo_webhook(on_error=xml.whisper_without_order)
def whisper(request: HttpRequest) -> str:
    # Plivo plays only Play, Wait and Speak here: on error, the accept prompt alone.
    return calls.whisper(params.Whisper.read(request.GET))


@plivo_webhook(on_error=xml.voicemail_thanks, on_database_error=OnDatabaseError.QUEUE)
def voicemail(request: HttpRequest) -> str:
    # The message is at Plivo whatever happens here: on error, thank the caller all the same.
    return calls.voicemail(params.RecordingReady.read(request.GET, request.POST))


@plivo_webhook(on_error=xml.empty, on_database_error=OnDatabaseError.QUEUE)
def recording(request: HttpRequest) -> str:
    # A background callback: Plivo does not play its reply.
    return calls.recording(params.RecordingReady.read(request.GET, request.POST))


@plivo_webhook(on_database_error=OnDatabaseError.QUEUE)
def hangup(request: HttpRequest) -> str:
    return calls.hangup(params.Hangup.read(request.POST), params.PlatformCall.read(request.GET))


# A click-to-call's answer URL: like the answer's, a replayed CallUUID dials no
# one (calls.bridge), so Plivo's own retries need no nonce bookkeeping.
@plivo_webhook()
def bridge(request: HttpRequest) -> str:
    return calls.bridge(params.PlatformCall.read(request.GET), params.Call.read(request.POST))


@plivo_webhook(methods=("GET", "POST"))
def fallback(request: HttpRequest) -> str:
    # Plivo fetches this when the answer URL failed: touch nothing that can fail.
    return xml.apology()


# Plivo retries an SMS callback that gets no 200: a database error answers 503.
@plivo_webhook(allow_v2=True, on_error=xml.empty, on_database_error=OnDatabaseError.RETRY)
def message(request: HttpRequest) -> str:
    # A reply to an incoming SMS may only hold <Message>: on any other error, say nothing.
    return messages.relay(params.Message.read(request.POST))
