"""The worker's delivery loop: claims due deliveries and hands each endpoint's share to a thread.

It sleeps until there is work: on Postgres a NOTIFY from ``emit`` (sent as
the raising transaction commits) wakes it at once; retries that come due and
other databases are looked for every POLL_SECONDS. A finished batch wakes it
too.

Three things overlap so that a busy endpoint's deliveries never wait for the
database: while a thread sends one batch, the loop claims that endpoint's
next one (one ahead, no more), and a recorder thread writes the attempts.
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


# Batches one worker sends to one endpoint at once, each over a connection of its own: a receiver's
# round trip is the limit of one connection, and two overlap theirs (bench/RESULTS.md, "Event delivery").
LANES = 2

Lane = tuple[int, int]  # (endpoint id, lane number)


class DeliveryLoop:
    def __init__(self, *, threads: int | None = None) -> None:
        self.threads = threads or settings.EVENTS_DELIVERY_CONCURRENCY
        self.stopping = threading.Event()
        self.senders = delivery.Senders()
        self._lock = threading.Lock()
        self._in_flight: dict[Lane, Future] = {}
        # The next claim of a lane whose batch is on the wire, taken while it was sent.
        self._next: dict[Lane, delivery.Claim] = {}
        self.recorder: delivery.Recorder | None = None
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
        self.recorder = delivery.Recorder()
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
        with self._lock:
            waiting, self._next = list(self._next.values()), {}
        for claim in waiting:
            self.recorder.record(claim, [], unsent=claim.deliveries)
        self.recorder.stop()
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
        with self._lock:
            self._in_flight = {lane: future for lane, future in self._in_flight.items() if not future.done()}
            # A claim taken ahead for a lane whose batch ended meanwhile: it goes out now.
            orphans = [(lane, self._next.pop(lane)) for lane in list(self._next) if lane not in self._in_flight]
            for lane, claim in orphans:
                self._submit(pool, lane, claim)
            if len(self._in_flight) >= self.threads:
                return False
            # An endpoint is left alone once each of its lanes is busy and has its next batch.
            busy = {endpoint for endpoint, _ in self._next if all((endpoint, n) in self._next for n in range(LANES))}
        claims = delivery.claim(busy_endpoints=busy)
        with self._lock:
            for claim in claims:
                self._place(pool, claim)
        return sum(len(claim.deliveries) for claim in claims) >= delivery.BATCH

    def _place(self, pool: ThreadPoolExecutor, claim: delivery.Claim) -> None:
        """Send ``claim`` on a free lane of its endpoint, or hold it as a busy lane's next batch."""
        lanes = [(claim.endpoint.pk, n) for n in range(LANES)]
        free = [lane for lane in lanes if lane not in self._in_flight]
        if free:
            self._submit(pool, free[0], claim)
            return
        self._next[next(lane for lane in lanes if lane not in self._next)] = claim

    def _submit(self, pool: ThreadPoolExecutor, lane: Lane, claim: delivery.Claim) -> None:
        future = pool.submit(self._work, lane, claim)
        future.add_done_callback(lambda _future: self._wake())
        self._in_flight[lane] = future

    def _work(self, lane: Lane, claim: delivery.Claim) -> None:
        """Send ``claim``, then the lane's next claim if the loop took one meanwhile, and so on."""
        while claim is not None:
            sent = self._send(claim)
            with self._lock:
                following = self._next.pop(lane, None)
            if following is not None and (sent is None or sent.failed):
                # The endpoint just failed (it backs off), or this thread did: give the claim back untried.
                self.recorder.record(following, [], unsent=following.deliveries)
                following = None
            claim = following

    def _send(self, claim: delivery.Claim) -> delivery.Sent | None:
        # As Django does per request: this thread's connection may have died
        # since its last batch (the database restarted). This makes the batch's
        # first query check it and connect afresh.
        close_old_connections()
        try:
            return delivery.work(claim, self.senders, self.recorder)
        except DatabaseError as error:
            # The database went away mid-batch: one line, as the loop says it; the leases run out and
            # these deliveries are claimed (and sent) again.
            logger.warning(
                "delivery batch to endpoint %s not sent: the database is unavailable (%s)",
                claim.endpoint.pk,
                type(error).__name__,
            )
            connection.close()
        except Exception:
            # Its deliveries' leases run out and they are claimed again.
            logger.exception("delivery batch to endpoint %s failed", claim.endpoint.pk)
            connection.close()
        return None

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
