from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from orders import services, tasks
from orders.events.retention import prune_events


class Command(BaseCommand):
    help = (
        "Scrub customer names and phone numbers from orders delivered or cancelled more than DAYS ago, and "
        "the parties' numbers from their call and message records; durations, outcomes and statuses stay. "
        "It also deletes events and finished task rows older than EVENTS_RETENTION_DAYS. "
        "Rerunnable: run it daily (see the data retention policy in docs/operating.md)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=30,
            metavar="DAYS",
            help="Purge orders whose masked line closed more than DAYS days ago (default 30).",
        )

    def handle(self, *args, older_than: int, **options) -> str:
        if older_than < 0:
            raise CommandError("--older-than must be a number of days, zero or more.")
        counts = services.purge_personal_data(older_than=timedelta(days=older_than))
        summary = ", ".join(counted(count, kind) for kind, count in counts.items())
        days = counted(older_than, "days")
        pruned = f"{counted(prune_events(), 'events')}, {counted(tasks.prune_finished_tasks(), 'finished tasks')}"
        return (
            f"Deleted {pruned} older than {counted(settings.EVENTS_RETENTION_DAYS, 'days')}.\n"
            f"Purged personal data closed more than {days} ago: {summary}."
        )


def counted(count: int, plural: str) -> str:
    """ "1 order", "2 orders": every kind the purge reports is a plain noun that takes an s."""
    return f"{count} {plural.removesuffix('s') if count == 1 else plural}"
