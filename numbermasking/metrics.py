"""Prometheus metrics: what the processes count, what ``/metrics`` reads from the database, and the view.

Both apps count here, so ``orders`` (event deliveries) and ``voice`` (webhooks,
calls, texts) import this module and neither imports the other.

Counters and the histogram live in each process. Under several gunicorn
workers (and a ``manage.py worker`` on the same host) prometheus-client's
multiprocess mode keeps them in memory-mapped files in
``PROMETHEUS_MULTIPROC_DIR`` and a scrape sums every process's file, so the
totals do not depend on which worker answers the scrape. prometheus-client
reads that variable itself when it is imported; gunicorn.conf.py removes the
files of processes that are gone when the server starts and marks exited
workers dead.

What is a state rather than a count (queue depth, live lines, pool advice) is
read from the database when ``/metrics`` is scraped, so it is the same from
every process and costs nothing between scrapes.
"""

import logging
import os
import time
from collections.abc import Callable, Iterable
from functools import wraps

import prometheus_client
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric

logger = logging.getLogger(__name__)

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if MULTIPROCESS_DIR:
    # Each counter opens its file there as it is created (at import, below):
    # a process started outside gunicorn (the worker, a command) must not fail
    # on a directory nobody made yet.
    os.makedirs(MULTIPROCESS_DIR, exist_ok=True)

# Every counter would carry a ``_created`` timestamp per label set in
# single-process mode (multiprocess mode has none): noise for a scrape.
prometheus_client.disable_created_metrics()

WEBHOOK_REQUESTS = Counter(
    "numbermasking_webhook_requests",
    "Plivo webhook requests answered, by view and HTTP status (refusals included).",
    ["view", "status"],
)
# An answer takes milliseconds (bench/RESULTS.md); Plivo gives up after about 15 s.
WEBHOOK_DURATION = Histogram(
    "numbermasking_webhook_duration_seconds",
    "Time to answer a Plivo webhook, by view.",
    ["view"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0),
)
CALLS = Counter("numbermasking_calls", "Calls that ended, by result (at their first hangup).", ["result"])
TEXTS_RELAYED = Counter("numbermasking_texts_relayed", "Texts relayed to the other party.")
EVENTS_DELIVERED = Counter("numbermasking_events_delivered", "Event deliveries a webhook endpoint accepted (2xx).")
EVENTS_FAILED = Counter("numbermasking_events_failed", "Event deliveries given up after the last retry.")
ENDPOINTS_DISABLED = Counter(
    "numbermasking_webhook_endpoints_disabled",
    "Webhook endpoints the service turned off, by reason: gone (410) or failing (for EVENTS_DISABLE_AFTER).",
    ["reason"],
)
CLICK_TO_CALL_REFUSED = Counter(
    "numbermasking_click_to_call_refused",
    "Click-to-call requests refused before anything was reserved, by error code "
    "(call_budget, call_limit, blocked, line_not_live, no_agent, plivo_unavailable, invalid).",
    ["reason"],
)
CLICK_TO_CALLS = Counter(
    "numbermasking_click_to_calls",
    "Click-to-call reservations that ended, by state: placed, refused, failed, cancelled.",
    ["state"],
)
DELIVERY_ATTEMPTS = Counter(
    "numbermasking_event_delivery_attempts",
    "Attempts to send an event, by outcome: delivered, retry (another attempt is scheduled) or failed.",
    ["outcome"],
)


def webhook_recorder(view: str) -> Callable[[int, float], None]:
    """A function that counts one request to ``view`` with its status and duration.

    Made once per view when it is decorated, so a request costs two dict
    lookups and the increments, not a label lookup under the metric's lock.
    """
    duration = WEBHOOK_DURATION.labels(view=view)
    by_status: dict[int, Counter] = {}

    def record(status: int, seconds: float) -> None:
        requests = by_status.get(status)
        if requests is None:
            requests = by_status[status] = WEBHOOK_REQUESTS.labels(view=view, status=str(status))
        requests.inc()
        duration.observe(seconds)

    return record


def count_webhook(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Count every request to ``view`` (a finished Django view) by status, and time it."""
    record = webhook_recorder(view.__name__)

    @wraps(view)
    def counted(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        started = time.perf_counter()
        try:
            response = view(request, *args, **kwargs)
        except Exception:
            # Django answers 500 for what escapes the view; count it as such.
            record(500, time.perf_counter() - started)
            raise
        record(response.status_code, time.perf_counter() - started)
        return response

    return counted


class DatabaseCollector:
    """What ``/metrics`` reads from the database at scrape time: queue depth, live lines, pool advice."""

    def collect(self) -> Iterable[Metric]:
        # Imported here: the models need the app registry, and this module is
        # imported by the apps while it is being filled.
        from orders.pool import live_lines_by_kind, live_lines_per_number, pool_advice

        up = GaugeMetricFamily("numbermasking_metrics_database_up", "1 when the scrape could read the database.")
        try:
            families = [
                *self._queue_depth(),
                *self._deliveries_waiting(),
                *self._live_lines(live_lines_per_number()),
                *self._lines_by_kind(live_lines_by_kind()),
                *self._pool(pool_advice()),
            ]
        except DatabaseError:
            logger.warning("metrics: could not read the database", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _queue_depth(self) -> list[Metric]:
        if settings.TASKS["default"]["BACKEND"] != "django_tasks_db.DatabaseBackend":
            return []  # another queue has its own exporter
        from django_tasks import TaskResultStatus
        from django_tasks_db.models import DBTaskResult

        # The queue's own query for what a worker would take now; the rest of
        # its waiting rows are "later" (retries, line expiries not yet due).
        # Waiting rows only, which the queue's partial index covers: finished
        # rows are kept for EVENTS_RETENTION_DAYS and would make a scan slow.
        due = DBTaskResult.objects.ready().count()
        counts = {"due": due, "later": DBTaskResult.objects.filter(status=TaskResultStatus.READY).count() - due}
        depth = GaugeMetricFamily(
            "numbermasking_task_queue_depth",
            "Tasks waiting in the database queue: due (for a worker now) or later (scheduled).",
            labels=["state"],
        )
        for state in ("due", "later"):
            depth.add_metric([state], counts[state])
        return [depth]

    def _deliveries_waiting(self) -> list[Metric]:
        from django.db.models import Count, Q
        from django.utils import timezone

        from orders.models import Delivery

        now = timezone.now()
        # Pending rows only, from the (status, next_attempt_at) index.
        counts = Delivery.objects.filter(status=Delivery.Status.PENDING).aggregate(
            due=Count("pk", filter=Q(next_attempt_at__lte=now)), later=Count("pk", filter=Q(next_attempt_at__gt=now))
        )
        waiting = GaugeMetricFamily(
            "numbermasking_event_deliveries_waiting",
            "Event deliveries not yet delivered: due (for a worker now, or held back while their endpoint is "
            "backed off) or later (retries not yet due).",
            labels=["state"],
        )
        for state in ("due", "later"):
            waiting.add_metric([state], counts[state])
        return [waiting]

    def _live_lines(self, loads: Iterable) -> list[Metric]:
        lines = GaugeMetricFamily(
            "numbermasking_live_lines",
            "Live masked lines on each of our proxy numbers.",
            labels=["proxy_number", "country"],
        )
        for load in loads:
            lines.add_metric([load.number, load.country], load.live_lines)
        return [lines]

    def _lines_by_kind(self, counts: dict[str, int]) -> list[Metric]:
        by_kind = GaugeMetricFamily(
            "numbermasking_live_lines_by_kind",
            "Live masked lines of each kind: customer_agent, store_agent, customer_store.",
            labels=["kind"],
        )
        for kind, lines in counts.items():
            by_kind.add_metric([kind], lines)
        return [by_kind]

    def _pool(self, advice: Iterable) -> list[Metric]:
        families = {
            "busiest_party_orders": GaugeMetricFamily(
                "numbermasking_pool_busiest_party_orders",
                "N: the most live lines one party (customer, store or agent) holds on the country's numbers.",
                labels=["country"],
            ),
            "pool_size": GaugeMetricFamily(
                "numbermasking_pool_size", "Active proxy numbers in the country.", labels=["country"]
            ),
            "numbers_needed": GaugeMetricFamily(
                "numbermasking_pool_numbers_needed",
                "Proxy numbers the country needs so nobody is asked for a PIN: 2N - 1.",
                labels=["country"],
            ),
            "numbers_to_add": GaugeMetricFamily(
                "numbermasking_pool_numbers_to_add", "Proxy numbers to rent in the country.", labels=["country"]
            ),
        }
        for country in advice:
            for name, family in families.items():
                family.add_metric([country.country], getattr(country, name))
        return list(families.values())


def registry() -> CollectorRegistry:
    """What a scrape reads: every process's counters (or this process's alone), and the database's state."""
    scraped = CollectorRegistry()
    if MULTIPROCESS_DIR:
        multiprocess.MultiProcessCollector(scraped, path=MULTIPROCESS_DIR)
    else:
        # The default registry: this process's counters, and its CPU, memory and GC.
        scraped.register(REGISTRY)
    scraped.register(DatabaseCollector())
    return scraped
