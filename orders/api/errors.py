"""One JSON shape for every API error.

Every error body is ``{"code": ..., "detail": ..., "fields": {...}}``: ``code``
is stable and machine-readable, ``detail`` is a sentence for the developer,
``fields`` maps each invalid input field to its reasons (empty when the error
is not about a field).

A service's refusal is a ``ServiceError`` that carries its own HTTP status and
field (orders/errors.py); any other ValidationError is a 400. So the views
need no try/except, and no table here lists another module's codes.
"""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

NON_FIELD = "non_field_errors"

logger = logging.getLogger(__name__)


class ErrorSerializer(serializers.Serializer):
    """The body of every error response (documents the shape in the schema)."""

    code = serializers.CharField(help_text="Stable, machine-readable error code, e.g. `invalid_transition`.")
    detail = serializers.CharField(help_text="What went wrong, for the developer.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Invalid request fields and why; empty when the error is not about a field.",
    )


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """Schema entries for the given error statuses plus those every endpoint can answer."""
    descriptions = {
        400: "Invalid input; `fields` names each field and the reason.",
        401: "No API key, or a key that is unknown, revoked or expired.",
        404: "No such object.",
        409: "Conflicts with the object's current state (click-to-call: no live line, no agent, a blocked number).",
        415: "The body is not application/json.",
        429: "Too many requests for this API key, or click-to-call's per-order limit or hourly budget reached; "
        "see the Retry-After header.",
        503: "The proxy-number pool cannot open a line right now, Plivo is not configured, "
        "or the database is not answering.",
    }
    return {code: OpenApiResponse(ErrorSerializer, descriptions[code]) for code in sorted({401, 429, *statuses})}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DatabaseError):
        # A stalled or lost database (bounded by the request timeouts, see
        # settings): the client may retry; the detail stays in our log only,
        # where the log formatter hides any number in it.
        logger.error("database error in %s", context["request"].path, exc_info=exc)
        exc = exceptions.APIException("The database is not answering; try again shortly.", "database_unavailable")
        exc.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    elif isinstance(exc, RequestDataTooBig):
        exc = exceptions.APIException(
            f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.", "request_too_large"
        )
        exc.status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    elif isinstance(exc, DjangoValidationError):
        exc = _from_service_error(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API error: let Django answer 500 and log it
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        first_field, reasons = next(iter(fields.items()), (NON_FIELD, ["Invalid input."]))
        detail = reasons[0] if first_field == NON_FIELD else f"{first_field}: {reasons[0]}"
        code = "invalid"
    else:
        detail = str(exc.detail)
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "error"
        field = getattr(exc, "field", None)
        fields = {field: [detail]} if field else {}
    response.data = {"code": code, "detail": detail, "fields": fields}
    return response


def _from_service_error(error: DjangoValidationError) -> exceptions.APIException:
    code = getattr(error, "code", None) or "invalid"
    http_status, field = getattr(error, "status", status.HTTP_400_BAD_REQUEST), getattr(error, "field", None)
    message = " ".join(error.messages)
    if http_status == status.HTTP_400_BAD_REQUEST:
        return exceptions.ValidationError({field or NON_FIELD: [message]}, code=code)
    if http_status == status.HTTP_429_TOO_MANY_REQUESTS:
        # DRF's Throttled sets Retry-After from ``wait``.
        return exceptions.Throttled(getattr(error, "retry_after", None), detail=message, code=code)
    exc = exceptions.APIException(message, code)
    exc.status_code = http_status
    exc.field = field
    return exc


def _flatten(detail: object, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as ``{"field" or "parent.child": [reasons]}``."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            flat.update(_flatten(value, name))
        return flat
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return {prefix or NON_FIELD: [str(item) for item in detail]}
        flat = {}
        for index, item in enumerate(detail):
            flat.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix or NON_FIELD: [str(detail)]}


# Codes for errors that Django (not DRF) answers under /api/: a CSRF refusal,
# a request Django refuses before any view, an unexpected exception.
_STATUS_CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    500: "server_error",
}


class JsonErrorsMiddleware:
    """Every error answered under /api/ has the API's JSON shape, whoever answered it.

    The API's own errors already do (``exception_handler``); this catches the
    rest, after Django has logged them. Outermost in MIDDLEWARE, so it sees
    every response; other paths pass through untouched.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            code = _STATUS_CODES.get(response.status_code, "error")
            detail = getattr(response, "reason_phrase", "") or code
            json = JsonResponse({"code": code, "detail": f"{detail}.", "fields": {}}, status=response.status_code)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    json[header] = response[header]
            return json
        return response


# Exempt like every DRF view: a POST to a path that names no endpoint (a
# missing trailing slash) is a JSON 404, not a CSRF refusal.
@csrf_exempt
def unknown_endpoint(request: HttpRequest, path: str = "") -> JsonResponse:
    """JSON, not Django's HTML page, for a path under /api/v1/ that names no endpoint."""
    hint = "" if request.path.endswith("/") else " API paths end with a slash."
    body = {"code": "not_found", "detail": f"No API endpoint at {request.path}.{hint}", "fields": {}}
    return JsonResponse(body, status=404)
