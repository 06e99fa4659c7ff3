from django.core.management.base import BaseCommand

from voice import calls


class Command(BaseCommand):
    help = (
        "Print the XML the answer webhook would return for a call (or, with --digits, the PIN webhook), "
        "through the same code path, without writing a call record."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--from", dest="caller", required=True, help="The caller, as Plivo sends it.")
        parser.add_argument("--to", dest="proxy_number", required=True, help="The proxy number that was called.")
        parser.add_argument("--digits", default="", help="The PIN the caller typed.")

    def handle(self, *args, caller: str, proxy_number: str, digits: str, **options) -> str:
        return calls.simulate(caller, proxy_number, digits)
