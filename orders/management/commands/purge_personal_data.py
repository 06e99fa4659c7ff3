from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from orders import events, services


class Command(BaseCommand):
    help = (
        "Scrub customer names and phone numbers from orders delivered or cancelled more than DAYS ago, and "
        "the parties' numbers from their call and message records; durations, outcomes and statuses stay. "
        "It also deletes events and finished task rows older than EVENTS_RETENTION_DAYS. "
        "Rerunnable: run it daily (see the data retention policy in README)."
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
        summary = ", ".join(f"{count} {kind}" for kind, count in counts.items())
        pruned = events.prune()
        pruned_summary = ", ".join(f"{count} {kind}" for kind, count in pruned.items())
        return (
            f"Deleted {pruned_summary} older than {settings.EVENTS_RETENTION_DAYS} day(s).\n"
            f"Purged personal data closed more than {older_than} day(s) ago: {summary}."
        )
