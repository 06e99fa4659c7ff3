"""What operations tools ask of the service: ``/healthz`` for load balancers, ``/metrics`` for Prometheus."""

import hmac
import logging

import prometheus_client
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from .metrics import registry

logger = logging.getLogger(__name__)


@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """200 when the database answers what routing reads; 503 within the database timeouts otherwise."""
    from orders.models import Order  # when asked, not at import: this package imports no app

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


def _authorized(request: HttpRequest, token: str) -> bool:
    scheme, _, offered = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    # Bytes on both sides: compare_digest refuses a str with characters outside ASCII.
    return scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), token.encode())


def metrics_view(request: HttpRequest) -> HttpResponse:
    """``/metrics``: Prometheus' text format for a bearer of ``METRICS_TOKEN``; without the setting, no such page."""
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    if not _authorized(request, token):
        response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(prometheus_client.generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
