"""The worker's delivery loop: claims due deliveries and hands each endpoint's share to a thread.

It sleeps until there is work: on Postgres a NOTIFY from ``emit`` (sent as
the raising transaction commits) wakes it at once; retries that come due and
other databases are looked for every POLL_SECONDS. A finished batch wakes it
too, so the next batch to that endpoint is claimed at once.
"""

import contextlib
import logging
import os
import select
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection

from . import delivery
from .emit import CHANNEL

logger = logging.getLogger(__name__)

# How long the loop sleeps with nothing to do: retries come due, SQLite has no NOTIFY.
POLL_SECONDS = {"postgresql": 1.0}
DEFAULT_POLL_SECONDS = 0.1
HOUSEKEEPING_SECONDS = 5.0


class DeliveryLoop:
    def __init__(self, *, threads: int | None = None) -> None:
        self.threads = threads or settings.EVENTS_DELIVERY_CONCURRENCY
        self.stopping = threading.Event()
        self.senders = delivery.Senders()
        self._in_flight: dict[int, Future] = {}
        self._wake_read, self._wake_write = os.pipe()
        # A wake-up already pending is enough: a full pipe must not block a sender's thread.
        os.set_blocking(self._wake_write, False)
        self._listening_on: object = None
        self._housekept_at = 0.0

    def stop(self) -> None:
        self.stopping.set()
        self._wake()

    def run(self) -> None:
        """Deliver until ``stop()``; database errors are logged and waited out, never fatal."""
        with ThreadPoolExecutor(self.threads, thread_name_prefix="deliver") as pool:
            while not self.stopping.is_set():
                try:
                    claimed = self._step(pool)
                except DatabaseError as error:
                    logger.warning("deliveries paused: the database is unavailable (%s)", type(error).__name__)
                    connection.close()
                    self._listening_on = None
                    self.stopping.wait(2.0)
                    continue
                if not claimed:
                    self._sleep()
            for future in list(self._in_flight.values()):
                future.result()
        self.senders.close_all()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _step(self, pool: ThreadPoolExecutor) -> bool:
        """Claim and hand out one batch; True when the batch was full (more may be due right now)."""
        self._listen()
        now = time.monotonic()
        if now - self._housekept_at >= HOUSEKEEPING_SECONDS:
            delivery.fail_deactivated()
            self.senders.close_idle()
            self._housekept_at = now
        self._in_flight = {pk: future for pk, future in self._in_flight.items() if not future.done()}
        if len(self._in_flight) >= self.threads:
            return False
        claims = delivery.claim(busy_endpoints=self._in_flight)
        for claim in claims:
            future = pool.submit(self._work, claim)
            future.add_done_callback(lambda _future: self._wake())
            self._in_flight[claim.endpoint.pk] = future
        return sum(len(claim.deliveries) for claim in claims) >= delivery.BATCH

    def _work(self, claim: delivery.Claim) -> None:
        # As Django does per request: this thread's connection may have died
        # since its last batch (the database restarted), and it would fail
        # only when recording attempts already sent, so they would go twice.
        # This makes the batch's first query check it and connect afresh.
        close_old_connections()
        try:
            delivery.work(claim, self.senders)
        except DatabaseError as error:
            # The database went away mid-batch: one line, as the loop says it; the leases run out and
            # these deliveries are claimed (and sent) again.
            logger.warning(
                "delivery batch to endpoint %s not recorded: the database is unavailable (%s)",
                claim.endpoint.pk,
                type(error).__name__,
            )
            connection.close()
        except Exception:
            # Its deliveries' leases run out and they are claimed again.
            logger.exception("delivery batch to endpoint %s failed", claim.endpoint.pk)
            connection.close()

    def _listen(self) -> None:
        if connection.vendor != "postgresql":
            return
        connection.ensure_connection()
        if self._listening_on is connection.connection:
            return
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {CHANNEL}")
        self._listening_on = connection.connection

    def _sleep(self) -> None:
        watched = [self._wake_read]
        if self._listening_on is not None:
            watched.append(self._listening_on)
        timeout = POLL_SECONDS.get(connection.vendor, DEFAULT_POLL_SECONDS)
        ready, _, _ = select.select(watched, [], [], timeout)
        if self._wake_read in ready:
            os.read(self._wake_read, 4096)
        if self._listening_on is not None and self._listening_on in ready:
            try:
                self._listening_on.poll()
                self._listening_on.notifies.clear()
            except Exception:
                # The driver's own error for a lost connection; the next step reconnects and listens again.
                connection.close()
                self._listening_on = None

    def _wake(self) -> None:
        # OSError: a wake-up is already pending, or the loop has ended.
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"x")
