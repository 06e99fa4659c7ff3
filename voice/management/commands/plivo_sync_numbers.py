from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from orders import services
from voice.plivo import client as plivo_client


class Command(BaseCommand):
    help = (
        "Import the Plivo account's voice-enabled numbers into the proxy-number pool and deactivate pool "
        "numbers the account no longer has. Rerunnable."
    )

    def handle(self, *args, **options) -> str:
        try:
            client = plivo_client.connect()
            # Every page is read before the database is touched, so a failure
            # half way through the listing changes nothing.
            rented = plivo_client.voice_numbers(client)
        except plivo_client.PlivoAPIError as error:
            raise CommandError(str(error)) from error

        try:
            result = services.sync_pool({entry.number: entry.alias for entry in rented})
        except ValidationError as error:
            # A rented number that is a party's phone: nothing was changed.
            raise CommandError(" ".join(error.messages) + " Nothing was changed.") from error
        for number in result.added:
            self.stdout.write(f"Added {number} to the pool.")
        for number in result.deactivated:
            self.stdout.write(f"Deactivated {number}: the Plivo account no longer has it.")
        for number in result.left_inactive:
            self.stdout.write(f"Left {number} inactive: it was deactivated in the admin; activate it there to use it.")
        if result.stranded_orders:
            self.stderr.write(
                f"Warning: {result.stranded_orders} live order(s) still use a deactivated number; "
                "their parties cannot reach each other through it."
            )
        return (
            f"Pool synced with Plivo: {len(rented)} voice number(s) in the account; {len(result.added)} added, "
            f"{len(result.deactivated)} deactivated, {result.unchanged} unchanged."
        )
