"""The one decorator every Plivo webhook goes through.

It exempts the view from CSRF (Plivo cannot send a token), limits methods,
checks Plivo's V3 signature and turns the XML the view returns into an
``application/xml`` response. A webhook never answers 500: Plivo would fail
the call, so any error answers the fallback apology and is logged.

Plivo documents its SMS callbacks with the older V2 signature, so a view may
opt in to V2 for requests that carry no V3 headers (``allow_v2=True``), unless
``PLIVO_ACCEPT_V2`` is off.

Before anything reads the body, a POST must be Plivo's form encoding and
small: Plivo sends nothing else, and Django would otherwise parse (and spool
to disk) whatever a stranger uploads before the signature is even checked.

Replays: a V2 nonce is good once wherever V2 is accepted (it does not cover
the body, so a captured pair would sign any text), and a view may make its V3
nonces single-use too (``single_use_nonce=True``). A replay is answered with
the view's ``on_error`` XML: it reveals nothing, and Plivo, should its own
retry ever reuse a nonce, stops retrying (docs/plivo.md, question (c)).

A database error (a lock or statement timeout, a lost connection) must not
lose what Plivo told us: each view says what happens then
(``on_database_error``, docs/plivo.md, "Timeouts and retries").
"""

import base64
import enum
import hashlib
import hmac
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from functools import lru_cache, wraps
from urllib.parse import parse_qs, urlparse, urlunparse

from django.conf import settings
from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from numbermasking import metrics

from .. import tasks
from . import replays, xml

logger = logging.getLogger(__name__)

SIGNATURE_HEADERS = ("X-Plivo-Signature-V3", "X-Plivo-Signature-Ma-V3")
NONCE_HEADER = "X-Plivo-Signature-V3-Nonce"
V2_SIGNATURE_HEADERS = ("X-Plivo-Signature-V2", "X-Plivo-Signature-Ma-V2")
V2_NONCE_HEADER = "X-Plivo-Signature-V2-Nonce"

FORM_ENCODING = "application/x-www-form-urlencoded"
# Plivo's largest request is an SMS (1,600 characters of text, percent-encoded)
# or an answer with SIP headers: a few kilobytes. Anything far above is not Plivo.
MAX_BODY_BYTES = 64 * 1024


def _joined(params: Mapping[str, Sequence[str]], pair: str, separator: str) -> str:
    """Keys in code-point order, each key's values sorted, as the SDK's get_sorted_*_string do."""
    return separator.join(
        separator.join(pair.format(key, value) for value in sorted(params[key])) for key in sorted(params)
    )


# Every answer is signed for the same few URLs, and splitting one costs about
# as much as the HMAC (bench/PROFILE.md). Query strings come from the request:
# the cache is bounded, and what it hands out is immutable, so no caller can
# change what the next request is checked against.
@lru_cache(maxsize=256)
def _split_url(url: str) -> tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]:
    """The URL without query, params or fragment, and its decoded query, as plivo.utils.signature_v3 reads them."""
    # The SDK parses the URL as ASCII bytes and its decoded query back into
    # ASCII: anything else raises there (UnicodeError, as here), and cannot be
    # a request Plivo signed.
    if not url.isascii():
        raise UnicodeError("non-ASCII URL")
    parts = urlparse(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    if not all(key.isascii() and all(value.isascii() for value in values) for key, values in query.items()):
        raise UnicodeError("non-ASCII query string")
    frozen = tuple((key, tuple(values)) for key, values in query.items())
    return urlunparse((parts.scheme, parts.netloc, parts.path, "", "", "")), frozen


def signature_base(method: str, url: str, params: dict[str, list[str]]) -> str:
    """The string Plivo's V3 signature covers, as the SDK's construct_get_url/construct_post_url build it.

    How Plivo builds it is in docs/plivo.md, "Signatures (V3)". Written out
    because the SDK's version cost more than the rest of the signature check
    on every webhook (bench/PROFILE.md); tests/voice/test_signature.py compares the
    two on random input. Raises UnicodeError where the SDK raises
    (UnicodeDecodeError or UnicodeEncodeError there).
    """
    base, frozen_query = _split_url(url)
    query = dict(frozen_query)
    if method == "GET":
        signed = _joined({**params, **query}, "{}={}", "&")
        return f"{base}?{signed}" if signed else base
    signed_query = _joined(query, "{}={}", "&")
    if not params:
        return f"{base}?{signed_query}" if signed_query else base
    body = _joined(params, "{}{}", "")
    return f"{base}?{signed_query}.{body}" if signed_query else f"{base}?{body}"


def expected_signature(method: str, url: str, params: dict[str, list[str]], nonce: str, auth_token: str) -> bytes:
    """Plivo's V3 signature for a request, as its servers compute it.

    For POST, ``params`` is the form body (lists for repeated keys); for GET
    the parameters are already in ``url``'s query string.
    """
    message = f"{signature_base(method, url, params)}.{nonce}".encode()
    return base64.b64encode(hmac.new(auth_token.encode(), message, hashlib.sha256).digest())


def expected_signature_v2(url: str, nonce: str, auth_token: str) -> bytes:
    """Plivo's V2 signature: the URL without its query, then the nonce; the body is not covered."""
    base = url.partition("?")[0].partition("#")[0]
    digest = hmac.new(auth_token.encode(), (base + nonce).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest)


def _header(request: HttpRequest, name: str) -> str | None:
    # From META, as WSGI names it: request.headers would build a dict of every
    # header on each webhook to read two or three of them (bench/PROFILE.md).
    return request.META.get("HTTP_" + name.upper().replace("-", "_"))


def has_v3_headers(request: HttpRequest) -> bool:
    return any(_header(request, name) for name in (*SIGNATURE_HEADERS, NONCE_HEADER))


def _offered_nonce(
    request: HttpRequest, headers: Iterable[str], nonce_header: str, expected: Callable[[str, str], bytes]
) -> str | None:
    """The nonce, when one of the signatures in ``headers`` is ``expected(nonce, token)``; else None."""
    nonce = _header(request, nonce_header)
    offered = [value for value in (_header(request, name) for name in headers) if value]
    token = settings.PLIVO_AUTH_TOKEN
    if not nonce or not offered or not token:
        return None
    signature = expected(nonce, token)
    # Headers are latin-1 in WSGI; a character outside ASCII cannot be in a
    # base64 signature, and compare_digest refuses non-ASCII str.
    candidates = [sig.strip().encode("utf-8") for header in offered for sig in header.split(",")]
    # compare every candidate so timing does not reveal which one matched
    return nonce if any([hmac.compare_digest(signature, candidate) for candidate in candidates]) else None


def signed_url(request: HttpRequest) -> str:
    """The URL a request's signature is checked against: what Plivo must have called to sign it."""
    # Plivo signs the URL it called; behind a proxy Django's idea of the host
    # and scheme can differ, so the public base is the source of truth.
    return settings.PUBLIC_BASE_URL + request.get_full_path()


def rejection(request: HttpRequest, *, allow_v2: bool = False) -> str:
    """Why a request's signature was refused, for the log: never the signature, nor the query (it may hold numbers).

    The likeliest setup mistake is a PUBLIC_BASE_URL that is not the URL
    Plivo calls (127.0.0.1 against localhost, http against https, another
    port), so the line names the URL checked against.
    """
    signature_headers = (*SIGNATURE_HEADERS, NONCE_HEADER, *(V2_SIGNATURE_HEADERS if allow_v2 else ()))
    checked = settings.PUBLIC_BASE_URL + request.path + ("?…" if request.META.get("QUERY_STRING") else "")
    if not settings.PLIVO_AUTH_TOKEN:
        return f"PLIVO_AUTH_TOKEN is not set, so no signature can be checked (for {checked})"
    if not any(_header(request, name) for name in signature_headers):
        return f"no Plivo signature headers (the URL would be checked against {checked})"
    return f"the signature does not match {checked} with PLIVO_AUTH_TOKEN; is that the URL Plivo called?"


def verified_signature(request: HttpRequest, *, allow_v2: bool = False) -> tuple[str, str] | None:
    """``("v3" or "v2", nonce)`` when the request carries a valid Plivo signature, else None; never raises.

    V3 always; with ``allow_v2``, a request without V3 headers may carry V2.
    Anything that stops us from computing the signature (a non-ASCII URL or
    query string, which the SDK refuses too; Django raises on a body it
    refuses to parse, such as too many fields) means the request cannot be
    shown to come from Plivo.
    """
    url = signed_url(request)
    try:
        if allow_v2 and not has_v3_headers(request):
            nonce = _offered_nonce(
                request,
                V2_SIGNATURE_HEADERS,
                V2_NONCE_HEADER,
                lambda nonce, token: expected_signature_v2(url, nonce, token),
            )
            return None if nonce is None else ("v2", nonce)
        nonce = _offered_nonce(
            request,
            SIGNATURE_HEADERS,
            NONCE_HEADER,
            lambda nonce, token: expected_signature(
                request.method, url, dict(request.POST.lists()) if request.method == "POST" else {}, nonce, token
            ),
        )
        return None if nonce is None else ("v3", nonce)
    except Exception as error:
        # Only the exception's type: its text may quote the URL, and the URL
        # may hold phone numbers.
        logger.warning("could not check the Plivo signature of %s (%s)", request.path, type(error).__name__)
        return None


def has_valid_signature(request: HttpRequest, *, allow_v2: bool = False) -> bool:
    """True when the request carries a valid Plivo signature; never raises (see ``verified_signature``)."""
    return verified_signature(request, allow_v2=allow_v2) is not None


def refused_body(request: HttpRequest) -> HttpResponse | None:
    """413 or 415 for a POST body Plivo would never send, decided from the headers alone.

    A GET is read from its query string only, so its body (if any) is never read.
    """
    if request.method != "POST":
        return None
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = MAX_BODY_BYTES + 1
    content_type = request.META.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    # An empty body has nothing to parse, whatever it claims to be.
    if length and content_type != FORM_ENCODING:
        return HttpResponse(f"Send {FORM_ENCODING}.", status=415, content_type="text/plain")
    if length > MAX_BODY_BYTES:
        return HttpResponse("Request body too large.", status=413, content_type="text/plain")
    return None


# What a person who opens a webhook URL in a browser (the seed tutorial's
# "check the XML" step) reads instead of a bare refusal. The check itself is
# unchanged: the request is refused all the same.
UNSIGNED_REFUSAL = (
    "403 Forbidden: this URL only answers requests signed by Plivo (the X-Plivo-Signature-V3 header), "
    "so a browser or a plain curl gets this page.\n\n"
    "To see the XML Plivo would get for a call, without placing one:\n"
    "  - the call simulator in the admin: {simulator}\n"
    "  - or the command: .venv/bin/python manage.py simulate_call --from 14156667777 --to 14155550100\n\n"
    "To send this server requests signed as Plivo signs them (with PLIVO_AUTH_TOKEN):\n"
    "  - a whole call: .venv/bin/python manage.py play_call --from 14156667777 --to 14155550100\n"
    "  - one request: .venv/bin/python manage.py send_webhook /voice/answer/ CallUUID=try-1 From=14156667777 "
    "To=14155550100\n"
)


def _refusal(request: HttpRequest, *, allow_v2: bool) -> HttpResponseForbidden:
    signature_headers = (*SIGNATURE_HEADERS, NONCE_HEADER, *(V2_SIGNATURE_HEADERS if allow_v2 else ()))
    if any(_header(request, name) for name in signature_headers):
        body = "Invalid Plivo signature."
    else:
        body = UNSIGNED_REFUSAL.format(simulator=settings.PUBLIC_BASE_URL + reverse("call_simulator"))
    return HttpResponseForbidden(body, content_type="text/plain; charset=utf-8")


class OnDatabaseError(enum.Enum):
    """What a webhook does when its view meets a database error."""

    # Answer on_error(), 200: a call's next step (the answer, the PIN) is only
    # worth anything now, and the caller hears the apology.
    ANSWER = "answer"
    # Queue the request for the worker (voice.tasks.replay_callback), then
    # answer on_error(), 200: callbacks that only record what happened.
    QUEUE = "queue"
    # Answer 503 so that Plivo sends it again: it retries SMS callbacks that
    # get no 200 (60 s, 120 s, 240 s later).
    RETRY = "retry"


RETRY_LATER = "The service could not record this request; send it again later.\n"


def plivo_webhook(
    methods: Iterable[str] = ("POST",),
    *,
    allow_v2: bool = False,
    single_use_nonce: bool = False,
    on_error: Callable[[], str] = xml.apology,
    on_database_error: OnDatabaseError = OnDatabaseError.ANSWER,
) -> Callable:
    """Decorate a view that returns Plivo XML as a string.

    ``allow_v2`` accepts a V2 signature when the request has no V3 headers
    (and ``PLIVO_ACCEPT_V2`` is on); a request with V3 headers is judged on V3
    alone. ``single_use_nonce`` refuses a V3 nonce seen before (V2 nonces are
    always single-use). ``on_error`` gives the XML answered when the view
    fails or the request is a replay: the spoken apology for calls, an empty
    response where only ``<Message>`` is allowed. ``on_database_error`` says
    whether a database error is only answered, queued for the worker (the
    view's name must be in ``voice.tasks.REPLAYED_CALLBACKS``) or left to
    Plivo to retry.
    """

    def decorator(view: Callable[..., str]) -> Callable[..., HttpResponse]:
        if on_database_error is OnDatabaseError.QUEUE and view.__name__ not in tasks.REPLAYED_CALLBACKS:
            raise ValueError(f"{view.__name__} has no replay in voice.tasks.REPLAYED_CALLBACKS")
        # Retried by Plivo: the nonce is spent in the transaction of the work it
        # signed, so a request the database failed leaves it unspent and
        # Plivo's retry is accepted even if it sends the same nonce again.
        spend_with_work = transaction.atomic if on_database_error is OnDatabaseError.RETRY else nullcontext

        # Outermost, so a refused method (405), body (413, 415) or signature
        # (403) is counted like an answer.
        @csrf_exempt
        @metrics.count_webhook
        @require_http_methods(list(methods))
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            refused = refused_body(request)
            if refused is not None:
                logger.warning("refused the body of a request to %s (%d)", request.path, refused.status_code)
                return refused
            signature = None
            if settings.PLIVO_VALIDATE_SIGNATURES:
                signature = verified_signature(request, allow_v2=allow_v2 and settings.PLIVO_ACCEPT_V2)
                if signature is None:
                    logger.warning(
                        "rejected a request to %s without a valid Plivo signature: %s",
                        request.path,
                        rejection(request, allow_v2=allow_v2),
                    )
                    return _refusal(request, allow_v2=allow_v2)
            try:
                version, nonce = signature or ("", "")
                with spend_with_work():
                    if (version == "v2" or (version == "v3" and single_use_nonce)) and not replays.first_use(nonce):
                        logger.warning("refused a replayed %s nonce on %s", version.upper(), request.path)
                        body = on_error()
                    else:
                        body = view(request, *args, **kwargs)
            except DatabaseError:
                if on_database_error is OnDatabaseError.RETRY:
                    logger.exception("database error in %s; answered 503 for Plivo to try again", request.path)
                    return HttpResponse(RETRY_LATER, status=503, content_type="text/plain")
                logger.exception("database error in %s; answered with the fallback XML", request.path)
                if on_database_error is OnDatabaseError.QUEUE:
                    _queue(view.__name__, request)
                body = on_error()
            except Exception:
                logger.exception("error in %s; answered with the fallback XML", request.path)
                body = on_error()
            return HttpResponse(body, content_type="application/xml")

        return wrapped

    return decorator


def _queue(view_name: str, request: HttpRequest) -> None:
    """Queue a callback the database failed, for the worker to record; say so if even that fails."""
    try:
        tasks.queue_callback(view_name, request)
    except DatabaseError as error:
        # The form holds phone numbers: neither it nor the error's text (which may quote it) is logged.
        logger.error(
            "could not queue the %s callback either (%s): what it reported is lost", view_name, type(error).__name__
        )
    else:
        logger.warning("queued the %s callback for the worker to record", view_name)
