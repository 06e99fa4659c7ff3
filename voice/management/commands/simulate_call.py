from django.core.management.base import BaseCommand, CommandError

from voice import calls
from voice.ops.simulator import option_number, pool_problem, summary


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
        # The same refusals as the admin's simulator: a typing mistake, not a call to simulate.
        caller_e164 = option_number("--from", caller)
        proxy_e164 = option_number("--to", proxy_number)
        problem = pool_problem(proxy_e164)
        if problem:
            raise CommandError(f"--to {proxy_number}: {problem}")
        route, answer = calls.simulate_route(caller_e164, proxy_e164, digits)
        # On stderr, so that stdout stays exactly the XML Plivo would get.
        self.stderr.write(summary(route, digits=digits))
        return answer
