from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from orders.api import keys


class Command(BaseCommand):
    help = (
        "Create an API key for one integration (e.g. 'dispatch') and print it once; only its hash is stored. "
        "Names are unique. Revoke a key in the admin under API keys."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="Who uses the key, so it can be found and revoked later.")

    def handle(self, *args, name: str, **options) -> str:
        try:
            api_key, key = keys.create_api_key(name)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        # The explanation goes to stderr so that `KEY=$(manage.py create_api_key NAME)` captures the key alone.
        self.stderr.write(
            f"Created API key {api_key.name!r} (prefix {api_key.prefix}). It is shown only now: store it in the "
            "integration's secrets and send it as 'Authorization: Api-Key <key>'."
        )
        return key
