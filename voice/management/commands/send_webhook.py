import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from voice.plivo import player


class Command(BaseCommand):
    help = (
        "Sign one request as Plivo would (V3, with PLIVO_AUTH_TOKEN, for the URL it is sent to), send it to a "
        "running server and print the answer. Fields are given as name=value, e.g. CallUUID=abc From=14156667777."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="The webhook's path and query, e.g. /voice/answer/ or /voice/pin/?attempt=1.")
        parser.add_argument("fields", nargs="*", metavar="NAME=VALUE", help="The form fields Plivo would send.")
        parser.add_argument("--get", action="store_true", help="Send the fields in the query string with GET.")
        parser.add_argument("--server", help="The server's scheme and host (default: PUBLIC_BASE_URL).")

    def handle(self, *args, path: str, fields: list[str], get: bool, server: str | None, **options) -> str:
        if not settings.PLIVO_AUTH_TOKEN:
            raise CommandError("PLIVO_AUTH_TOKEN is not set: the server would refuse the request unsigned.")
        if not path.startswith("/"):
            raise CommandError(f"{path!r}: give the path from its first slash, e.g. /voice/answer/.")
        form = {}
        for item in fields:
            name, equals, value = item.partition("=")
            if not equals or not name:
                raise CommandError(f"{item!r}: give each field as NAME=VALUE.")
            form[name] = value
        server = server or settings.PUBLIC_BASE_URL
        try:
            url = player.url_of(server, path)
        except ValueError as error:
            raise CommandError(f"--server: {error}") from error
        method = "GET" if get else "POST"
        try:
            reply = player.send(method, url, form, settings.PLIVO_AUTH_TOKEN)
        except requests.RequestException as error:
            raise CommandError(
                f"Cannot reach the server at {server} ({type(error).__name__}): is it running (make run)?"
            ) from error
        self.stdout.write(f"{method} {reply.url} -> {reply.status}")
        self.stdout.write(reply.body)
        if reply.status != 200:
            raise CommandError(f"{reply.url} answered {reply.status}.")
        return f"{method} {reply.url} answered {reply.status}."
