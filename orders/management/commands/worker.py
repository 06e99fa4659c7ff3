import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections, connection
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker

from orders.events.delivery import deliver_due
from orders.events.worker import DeliveryLoop
from orders.tasks import arm_sweep, schedule_purge

logger = logging.getLogger("orders.worker")

# Seconds between tries while the database is down: quick at first, then every half minute.
RETRY_DELAYS = (1, 2, 5, 10, 30)


class Command(BaseCommand):
    help = (
        "Run the background worker: event deliveries to the platform's endpoints, and the one-off tasks "
        "(click-to-call, line expiry, recording deletion). Start as many as you need; they share the work."
    )

    # The Procfile's release step (migrate) runs the system checks once per deploy; a worker
    # started beside the web would only print the same warnings again.
    requires_system_checks = []

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--threads",
            type=int,
            default=None,
            help="Endpoints sent to at once (default: EVENTS_DELIVERY_CONCURRENCY).",
        )
        parser.add_argument(
            "--no-tasks", action="store_true", help="Only deliver events; leave the task queue to other workers."
        )
        parser.add_argument(
            "--no-deliveries", action="store_true", help="Only run tasks; leave deliveries to other workers."
        )
        parser.add_argument(
            "--batch",
            action="store_true",
            help="Run the tasks and send the events that are due now, then exit (for cron, or to try things out).",
        )

    def handle(
        self, *, threads: int | None, no_tasks: bool, no_deliveries: bool, batch: bool, verbosity: int, **options
    ) -> str | None:
        if verbosity < 2:
            # A line per task run (the sweep runs every EVENTS_SWEEP_INTERVAL) would bury what matters.
            for name in ("django_tasks", "django_tasks_db"):
                logging.getLogger(name).setLevel(logging.WARNING)
        if batch:
            return run_once(tasks=not no_tasks, deliveries=not no_deliveries)
        stopping = threading.Event()
        deliveries = None if no_deliveries else DeliveryLoop(threads=threads)

        def stop(signum, frame) -> None:
            logger.info("worker stopping (%s)", signal.Signals(signum).name)
            stopping.set()
            if deliveries is not None:
                deliveries.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

        if not wait_for_database(stopping):
            return
        tasks = None
        if not no_tasks:
            tasks = threading.Thread(target=run_tasks, args=(stopping,), name="tasks", daemon=True)
            tasks.start()
            threading.Thread(target=keep_sweeping, args=(stopping,), name="sweep", daemon=True).start()
        logger.info(
            "worker started: %s", ", ".join(part for part, on in (("deliveries", deliveries), ("tasks", tasks)) if on)
        )
        if deliveries is not None:
            deliveries.run()
        else:
            stopping.wait()
        if tasks is not None:
            tasks.join(timeout=settings.EVENTS_DELIVERY_TIMEOUT + 5)


def wait_for_database(stopping: threading.Event) -> bool:
    """Wait until the database answers, saying so once per try; False when stopped first."""
    for attempt in range(1_000_000):
        try:
            connection.ensure_connection()
            return True
        except DatabaseError as error:
            delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
            logger.warning("worker waiting for the database (%s), trying again in %d s", type(error).__name__, delay)
            connection.close()
            if stopping.wait(delay):
                return False
    return False


def run_once(*, tasks: bool, deliveries: bool) -> str:
    """Run every task that is due, then send every delivery that is due; a one-line summary."""
    ran = 0
    if tasks:
        schedule_purge()  # a purge that is due runs in this batch
        worker = _tasks_worker(batch=True)
        worker.run()
        ran = worker._run_tasks
    sent = deliver_due() if deliveries else 0
    return f"Ran {ran} task(s) and made {sent} delivery attempt(s)."


def _tasks_worker(*, batch: bool) -> Worker:
    return Worker(
        queue_names=["default"],
        interval=0 if batch else 0.5,
        batch=batch,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=get_random_string(32),
        excluded_queue_names=[],
    )


def keep_sweeping(stopping: threading.Event) -> None:
    """Keep the chain of sweeps for tasks whose worker died going (orders.tasks.sweep_tasks), and queue the
    daily purge when it is due (orders.tasks.schedule_purge)."""
    while not stopping.wait(settings.EVENTS_SWEEP_INTERVAL / 2):
        try:
            arm_sweep()
            schedule_purge()
        except DatabaseError:
            connection.close()  # the tasks thread already says the database is unavailable


def run_tasks(stopping: threading.Event) -> None:
    """The Tasks API's database worker, in this thread, outliving database outages."""
    worker = _tasks_worker(batch=False)
    # Its loop checks this flag; set it from ours.
    threading.Thread(target=lambda: (stopping.wait(), setattr(worker, "running", False)), daemon=True).start()
    failures = 0
    while not stopping.is_set():
        try:
            worker.run()
            failures = 0
        except DatabaseError as error:
            delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
            failures += 1
            logger.warning(
                "tasks paused: the database is unavailable (%s), trying again in %d s", type(error).__name__, delay
            )
            close_old_connections()
            connection.close()
            # Not time.sleep: a SIGTERM during a long wait must not hold the exit for it.
            stopping.wait(delay)
