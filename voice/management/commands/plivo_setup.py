from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from orders.models import ProxyNumber
from voice.plivo import client as plivo_client

DEFAULT_APP_NAME = "Number Masking"

# Application field -> the URL name of the webhook Plivo should call for it.
WEBHOOKS = {
    "answer_url": "voice:answer",
    "hangup_url": "voice:hangup",
    "fallback_answer_url": "voice:fallback",
    "message_url": "voice:message",
}


def _base_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") or parts.query:
        raise CommandError(f"--base-url {value!r} must be a scheme and host only, such as https://masking.example.com.")
    return f"{parts.scheme}://{parts.netloc}"


class Command(BaseCommand):
    help = (
        "Create the Plivo Application (or update the one with this name) with this service's answer, hangup, "
        "fallback and message URLs, then link every active proxy number to it. Rerunnable."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--base-url",
            required=True,
            help="The public scheme and host Plivo calls, e.g. https://masking.example.com.",
        )
        parser.add_argument(
            "--app-name", default=DEFAULT_APP_NAME, help=f"The Application's name (default {DEFAULT_APP_NAME!r})."
        )

    def handle(self, *args, base_url: str, app_name: str, **options) -> str:
        base = _base_url(base_url)
        if base != settings.PUBLIC_BASE_URL:
            self.stderr.write(
                f"Warning: --base-url {base} differs from PUBLIC_BASE_URL {settings.PUBLIC_BASE_URL}; "
                "webhook signatures are checked against PUBLIC_BASE_URL, so Plivo's requests will get 403 "
                "until the two match."
            )
        urls = {field: base + reverse(name) for field, name in WEBHOOKS.items()}
        pool = [str(number) for number in ProxyNumber.objects.filter(is_active=True).values_list("number", flat=True)]
        try:
            client = plivo_client.connect()
            account = {entry.number: entry for entry in plivo_client.voice_numbers(client)}
            # Checked before anything changes on Plivo, so a stray number does
            # not leave the account half set up.
            missing = [number for number in pool if number not in account]
            if missing:
                raise CommandError(
                    f"Not a voice number in your Plivo account: {', '.join(missing)}. "
                    "Run plivo_sync_numbers (it deactivates them) or deactivate them in the admin."
                )
            app, created = plivo_client.save_application(client, app_name, urls)
            self.stdout.write(f"{'Created' if created else 'Updated'} Plivo application {app_name!r} ({app.app_id}):")
            for field, url in urls.items():
                self.stdout.write(f"  {field:<20} POST {url}")
            linked = 0
            for number in pool:
                if account[number].app_id == app.app_id:
                    self.stdout.write(f"{number} is already linked.")
                    continue
                plivo_client.link_number(client, number, app.app_id)
                self.stdout.write(f"Linked {number}.")
                linked += 1
        except plivo_client.PlivoAPIError as error:
            raise CommandError(str(error)) from error
        if not pool:
            self.stderr.write("No active proxy numbers to link: run plivo_sync_numbers first, then this again.")
        return (
            f"Plivo application {app_name!r} is ready: {linked} number(s) linked, {len(pool) - linked} already linked."
        )
