from django.core.management.base import BaseCommand, CommandError
from rest_framework_api_key.models import APIKey

NAME_MAX_LENGTH = APIKey._meta.get_field("name").max_length


class Command(BaseCommand):
    help = (
        "Create an API key for one integration (e.g. 'dispatch') and print it once; only its hash is stored. "
        "Revoke it in the admin under API keys."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="Who uses the key, so it can be found and revoked later.")

    def handle(self, *args, name: str, **options) -> str:
        name = name.strip()
        if not name or len(name) > NAME_MAX_LENGTH:
            raise CommandError(f"Give the key a name of 1 to {NAME_MAX_LENGTH} characters.")
        api_key, key = APIKey.objects.create_key(name=name)
        # The explanation goes to stderr so that `KEY=$(manage.py create_api_key NAME)` captures the key alone.
        self.stderr.write(
            f"Created API key {name!r} (prefix {api_key.prefix}). It is shown only now: store it in the "
            "integration's secrets and send it as 'Authorization: Api-Key <key>'."
        )
        return key
