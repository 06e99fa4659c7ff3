"""The one decorator every Plivo webhook goes through.

It exempts the view from CSRF (Plivo cannot send a token), limits methods,
checks Plivo's V3 signature and turns the XML the view returns into an
``application/xml`` response. A webhook never answers 500: Plivo would fail
the call, so any error answers the fallback apology and is logged.
"""

import hmac
import logging
from collections.abc import Callable, Iterable
from functools import wraps

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3

from . import xml

logger = logging.getLogger(__name__)

SIGNATURE_HEADERS = ("X-Plivo-Signature-V3", "X-Plivo-Signature-Ma-V3")
NONCE_HEADER = "X-Plivo-Signature-V3-Nonce"


def expected_signature(method: str, url: str, params: dict[str, list[str]], nonce: str, auth_token: str) -> bytes:
    """Plivo's V3 signature for a request, as its servers compute it.

    For POST, ``params`` is the form body (lists for repeated keys); for GET
    the parameters are already in ``url``'s query string.
    """
    base = construct_get_url(url, dict(params)) if method == "GET" else construct_post_url(url, dict(params))
    return get_signature_v3(auth_token, base.decode("utf-8"), nonce)


def has_valid_signature(request: HttpRequest) -> bool:
    """True when the request carries a valid Plivo V3 signature; never raises.

    Anything that stops us from computing the signature (the SDK raises on a
    non-ASCII query string; Django raises on a body it refuses to parse, such
    as too many fields) means the request cannot be shown to come from Plivo.
    """
    try:
        return _has_valid_signature(request)
    except Exception as error:
        # Only the exception's type: its text may quote the URL, and the URL
        # may hold phone numbers.
        logger.warning("could not check the Plivo signature of %s (%s)", request.path, type(error).__name__)
        return False


def _has_valid_signature(request: HttpRequest) -> bool:
    nonce = request.headers.get(NONCE_HEADER)
    offered = [request.headers[name] for name in SIGNATURE_HEADERS if request.headers.get(name)]
    token = settings.PLIVO_AUTH_TOKEN
    if not nonce or not offered or not token:
        return False
    # Plivo signs the URL it called; behind a proxy Django's idea of the host
    # and scheme can differ, so the public base is the source of truth.
    url = settings.PUBLIC_BASE_URL + request.get_full_path()
    params = dict(request.POST.lists()) if request.method == "POST" else {}
    expected = expected_signature(request.method, url, params, nonce, token)
    # Headers are latin-1 in WSGI; a character outside ASCII cannot be in a
    # base64 signature, and compare_digest refuses non-ASCII str.
    candidates = (sig.strip().encode("utf-8") for header in offered for sig in header.split(","))
    # compare every candidate so timing does not reveal which one matched
    return any([hmac.compare_digest(expected, candidate) for candidate in candidates])


def plivo_webhook(methods: Iterable[str] = ("POST",)) -> Callable:
    """Decorate a view that returns Plivo XML as a string."""

    def decorator(view: Callable[..., str]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @require_http_methods(list(methods))
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if settings.PLIVO_VALIDATE_SIGNATURES and not has_valid_signature(request):
                logger.warning("rejected a request to %s without a valid Plivo signature", request.path)
                return HttpResponseForbidden("Invalid Plivo signature.", content_type="text/plain")
            try:
                body = view(request, *args, **kwargs)
            except DatabaseError:
                logger.exception("database error in %s; answered with the apology", request.path)
                body = xml.apology()
            except Exception:
                logger.exception("error in %s; answered with the apology", request.path)
                body = xml.apology()
            return HttpResponse(body, content_type="application/xml")

        return wrapped

    return decorator
