import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from orders.models import Order

from . import calls, messages, xml
from .webhook import OnDatabaseError, plivo_webhook

logger = logging.getLogger(__name__)


def _params(request: HttpRequest):
    return request.POST if request.method == "POST" else request.GET


@plivo_webhook(methods=("GET", "POST"))
def answer(request: HttpRequest) -> str:
    return calls.answer(_params(request))


# A PIN request connects the caller: replayed, it would reveal the order's
# other party (whoever that is by then), so each nonce works once.
@plivo_webhook(single_use_nonce=True)
def pin(request: HttpRequest) -> str:
    try:
        attempt = max(1, int(request.GET.get("attempt", "1")))
    except ValueError:
        attempt = 1
    return calls.pin(request.POST, attempt)


# Dial status and hangup write the same values again when replayed and answer
# no number, so Plivo's retries (which may reuse the nonce) must keep working.
# They, the voicemail and the recording only record what happened: what the
# database failed to record is queued for the worker (voice.tasks).
@plivo_webhook(on_database_error=OnDatabaseError.QUEUE)
def dial_status(request: HttpRequest) -> str:
    return calls.dial_status(request.POST)


@plivo_webhook(on_error=xml.whisper_without_order)
def whisper(request: HttpRequest) -> str:
    # Plivo plays only Play, Wait and Speak here: on error, the accept prompt alone.
    return calls.whisper(request.GET)


@plivo_webhook(on_error=xml.voicemail_thanks, on_database_error=OnDatabaseError.QUEUE)
def voicemail(request: HttpRequest) -> str:
    # The message is at Plivo whatever happens here: on error, thank the caller all the same.
    return calls.voicemail(request.GET, request.POST)


@plivo_webhook(on_error=xml.empty, on_database_error=OnDatabaseError.QUEUE)
def recording(request: HttpRequest) -> str:
    # A background callback: Plivo does not play its reply.
    return calls.recording(request.GET, request.POST)


@plivo_webhook(on_database_error=OnDatabaseError.QUEUE)
def hangup(request: HttpRequest) -> str:
    return calls.hangup(request.POST, request.GET)


# A click-to-call's answer URL: like the answer's, a replayed CallUUID dials no
# one (calls.bridge), so Plivo's own retries need no nonce bookkeeping.
@plivo_webhook()
def bridge(request: HttpRequest) -> str:
    return calls.bridge(request.GET, request.POST)


@plivo_webhook(methods=("GET", "POST"))
def fallback(request: HttpRequest) -> str:
    # Plivo fetches this when the answer URL failed: touch nothing that can fail.
    return xml.apology()


# Plivo retries an SMS callback that gets no 200: a database error answers 503.
@plivo_webhook(allow_v2=True, on_error=xml.empty, on_database_error=OnDatabaseError.RETRY)
def message(request: HttpRequest) -> str:
    # A reply to an incoming SMS may only hold <Message>: on any other error, say nothing.
    return messages.relay(request.POST)


@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """200 when the database answers what routing reads; 503 within the database timeouts otherwise."""
    try:
        with connection.cursor() as cursor:
            # The table the answer reads, not a bare SELECT 1: with the orders
            # table locked every call hears the apology, and the load balancer
            # should know (the wait is bounded by DATABASE_LOCK_TIMEOUT).
            cursor.execute(f"SELECT 1 FROM {Order._meta.db_table} LIMIT 1")  # noqa: S608 - the model's table
    except DatabaseError:
        logger.warning("health check: database unavailable", exc_info=True)
        return HttpResponse("database unavailable\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")
