from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import URLValidator

from orders.events.transport import check_destination
from orders.models import EventType, WebhookEndpoint


class Command(BaseCommand):
    help = (
        "Add a URL of the platform's that receives signed events; prints its signing secret, once. "
        "Without --events it receives every event type."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("url", help="Where to POST events, http:// or https://.")
        parser.add_argument(
            "--events",
            default="",
            metavar="TYPES",
            help=f"Comma-separated event types, e.g. line.opened,call.missed. Known: {', '.join(EventType.values)}.",
        )
        parser.add_argument("--description", default="", help="What this endpoint is, for the admin.")

    def handle(self, *args, url: str, events: str, description: str, **options) -> str:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            raise CommandError(f"{url!r} is not an http:// or https:// URL.") from None
        try:
            check_destination(url)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        event_types = [name.strip() for name in events.split(",") if name.strip()]
        unknown = [name for name in event_types if name not in EventType.values]
        if unknown:
            raise CommandError(f"Unknown event type(s): {', '.join(unknown)}. Known: {', '.join(EventType.values)}.")
        endpoint = WebhookEndpoint.objects.create(url=url, event_types=event_types, description=description[:200])
        wanted = ", ".join(event_types) if event_types else "every event type"
        return (
            f"Webhook endpoint {endpoint.pk} added for {url} ({wanted}).\n"
            f"Signing secret (shown once, store it now): {endpoint.secret}"
        )
