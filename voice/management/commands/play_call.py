import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from django.utils.http import urlencode

from orders.models import PARTIES, Order, Role
from orders.phones import display
from voice import click_to_call
from voice.ops.simulator import option_number
from voice.plivo import player
from voice.plivo.params import plivo_digits


class Command(BaseCommand):
    help = (
        "Play one whole call against a running server over HTTP, as Plivo would: every request signed with "
        "PLIVO_AUTH_TOKEN, the answer's XML followed (PIN, whisper, accept key, dial status, voicemail), the "
        "hangup posted last. Prints each request and what the caller and the callee hear. No Plivo account needed."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--from", dest="caller", help="The caller's number, with its country code.")
        parser.add_argument(
            "--to",
            dest="proxy_number",
            help="The proxy number called; with --click-to-call, the party dialled once the first answers "
            "(agent, customer or store; default: the first party's counterpart on the customer–agent line).",
        )
        parser.add_argument(
            "--click-to-call",
            metavar="ORDER_REFERENCE",
            help="Instead: the call Plivo places for a click-to-call of this order (its bridge URL), "
            "once the worker has asked for it.",
        )
        parser.add_argument(
            "--first",
            choices=[role.value for role in PARTIES],
            default=Role.AGENT.value,
            help="With --click-to-call: the party rung first (default agent).",
        )
        parser.add_argument(
            "--digits",
            action="append",
            default=[],
            help="What the caller types at a prompt (the PIN); repeat it for a second prompt.",
        )
        callee = parser.add_mutually_exclusive_group()
        callee.add_argument("--answer", dest="dial", action="store_const", const=player.ANSWER, help="(default)")
        callee.add_argument("--no-answer", dest="dial", action="store_const", const=player.NO_ANSWER)
        callee.add_argument("--busy", dest="dial", action="store_const", const=player.BUSY)
        parser.add_argument(
            "--talk",
            type=int,
            default=30,
            help="Seconds the parties talk, or the voicemail lasts (default 30); reported, not waited for.",
        )
        parser.add_argument("--server", help="The server's scheme and host (default: PUBLIC_BASE_URL).")

    def handle(self, *args, **options) -> str:
        token = settings.PLIVO_AUTH_TOKEN
        if not token:
            raise CommandError(
                "PLIVO_AUTH_TOKEN is not set: the server would refuse every request. `make run` writes a local "
                "one to .env; the server and this command must share it."
            )
        if options["talk"] < 0:
            raise CommandError("--talk must be 0 seconds or more.")
        server = options["server"] or settings.PUBLIC_BASE_URL
        try:
            player.url_of(server, "/")
        except ValueError as error:
            raise CommandError(f"--server: {error}") from error
        if options["click_to_call"]:
            leg, answer_path, hangup_path = self._click_to_call(
                options["click_to_call"], Role(options["first"]), options["proxy_number"]
            )
        else:
            leg = self._inbound(options["caller"], options["proxy_number"])
            answer_path, hangup_path = reverse("voice:answer"), reverse("voice:hangup")
        play = player.CallPlayer(
            token=token,
            write=self.stdout.write,
            digits=options["digits"],
            dial=options["dial"] or player.ANSWER,
            talk=options["talk"],
            auth_id=settings.PLIVO_AUTH_ID,
        )
        fallback = "" if options["click_to_call"] else player.url_of(server, reverse("voice:fallback"))
        try:
            play.play(leg, player.url_of(server, answer_path), player.url_of(server, hangup_path), fallback)
        except requests.RequestException as error:
            raise CommandError(
                f"Cannot reach the server at {server} ({type(error).__name__}): is it running (make run)?"
            ) from error
        if play.replies and play.replies[0].status == 403:
            raise CommandError(
                f"{play.summary()} The server refused the signature: it checks it against its own PUBLIC_BASE_URL "
                f"and PLIVO_AUTH_TOKEN; this command signed for {server} with this project's PLIVO_AUTH_TOKEN."
            )
        return play.summary()

    def _inbound(self, caller: str | None, proxy_number: str | None) -> player.Leg:
        if not caller or not proxy_number:
            raise CommandError("Give --from and --to (or --click-to-call ORDER_REFERENCE).")
        caller_e164 = option_number("--from", caller)
        proxy_e164 = option_number("--to", proxy_number)
        leg = player.Leg(caller=plivo_digits(caller_e164), to=plivo_digits(proxy_e164))
        self.stdout.write(f"Call {leg.call_uuid}: {display(caller_e164)} calls {display(proxy_e164)}.")
        return leg

    def _click_to_call(self, reference: str, first: Role, to_party: str | None) -> tuple[player.Leg, str, str]:
        # The order's id, parties and numbers are what the worker gives Plivo's Call API (voice.tasks.place_call).
        order = Order.objects.select_related("agent").filter(reference=reference).first()
        if order is None:
            raise CommandError(f"No order {reference}.")
        to = _callee(first, to_party)
        line = click_to_call.call_line(order, first, to)
        if line is None or (Role.AGENT in line.parties and order.agent is None):
            raise CommandError(
                f"Order {reference} has no line between the {first.value} and the {to.value} to call through"
                + (": assign an agent first." if order.agent is None else ".")
            )
        query = "?" + urlencode({"order": order.pk, "first": first.value, "to": to.value})
        leg = player.Leg(
            caller=plivo_digits(str(line.proxy_number.number)),
            to=plivo_digits(order.phone_of(first)),
            direction="outbound",
            caller_name=first.value,
            callee_name=to.value,
            extra={"RequestUUID": player.new_uuid()},
        )
        self.stdout.write(
            f"Call {leg.call_uuid}: click-to-call of {reference}; Plivo rang the {first.value} from "
            f"{display(line.proxy_number.number)}, who answered; the {to.value} is dialled next."
        )
        return leg, reverse("voice:bridge") + query, reverse("voice:hangup") + query


def _callee(first: Role, to_party: str | None) -> Role:
    """The party dialled once ``first`` answers, refused as the click-to-call API refuses it."""
    if not to_party:
        if first.counterpart() == Role.UNKNOWN:
            raise CommandError("Name the party to connect the store to: --to agent or --to customer.")
        return first.counterpart()
    if to_party not in [role.value for role in PARTIES] or to_party == first.value:
        raise CommandError(f"--to {to_party}: with --click-to-call, name another party: agent, customer or store.")
    return Role(to_party)
