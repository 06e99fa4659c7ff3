from django.core.management.base import BaseCommand

from orders.phones import to_e164
from voice import calls
from voice.ops.simulator import summary


class Command(BaseCommand):
    help = (
        "Print the XML the answer webhook would return for a call (or, with --digits, the PIN webhook), "
        "through the same code path, without writing a call record. What the call would do goes to stderr."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--from", dest="caller", required=True, help="The caller, as Plivo sends it.")
        parser.add_argument("--to", dest="proxy_number", required=True, help="The proxy number that was called.")
        parser.add_argument("--digits", default="", help="The PIN the caller typed.")

    def handle(self, *args, caller: str, proxy_number: str, digits: str, **options) -> str:
        # No check that --from is a number: a SIP URI or garbage is a call the
        # webhook answers too (as an unknown caller), and this prints that answer.
        route, answer = calls.simulate_route(to_e164(caller), to_e164(proxy_number), digits)
        # On stderr, so that stdout stays exactly the XML Plivo would get.
        self.stderr.write(summary(route, digits=digits))
        return answer
