from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Exists, OuterRef

from orders import services
from orders.models import Agent, Line, Order, ProxyNumber, refuse_uncallable
from orders.phones import to_e164
from orders.services import ASSIGNABLE

# The seed tutorial's map: each customer with the agent delivering to them.
DEMO_PAIRS = [
    ("Alice (demo customer)", "+14156667777", "Bob (demo agent)", "+14156667778", "DEMO-1"),
    ("Carol (demo customer)", "+14156667779", "Dave (demo agent)", "+14156667780", "DEMO-2"),
    ("Erin (demo customer)", "+14156667781", "Frank (demo agent)", "+14156667782", "DEMO-3"),
]
# One demo order also has a store: its agent and the store reach each other over a store–agent line.
DEMO_STORE = ("DEMO-3", "Green Grocer (demo store)", "+14156667783")
DEFAULT_PROXY_NUMBER = "+14155550100"


class Command(BaseCommand):
    help = (
        "Load the seed tutorial's three customer/agent pairs with live masked lines, one order with a store "
        "(rerunnable)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--proxy-number",
            default=DEFAULT_PROXY_NUMBER,
            help=f"Your Plivo number, in international form (default {DEFAULT_PROXY_NUMBER}).",
        )

    def handle(self, *args, proxy_number: str, **options) -> str:
        number = to_e164(proxy_number)
        if number is None:
            raise CommandError(f"--proxy-number {proxy_number!r} is not a phone number in international form.")
        with transaction.atomic():
            proxy, _ = ProxyNumber.objects.get_or_create(number=number, defaults={"label": "demo"})
            if not proxy.is_active:
                proxy.is_active = True
                proxy.save()
            # A rerun with another --proxy-number moves the demo to that number.
            ProxyNumber.objects.filter(label="demo").exclude(pk=proxy.pk).update(is_active=False)
            opened = 0
            for customer_name, customer_phone, agent_name, agent_phone, reference in DEMO_PAIRS:
                agent = _seed_agent(agent_name, agent_phone)
                if _seed_order(reference, customer_name, customer_phone, agent, proxy):
                    opened += 1
        return (
            f"Demo ready: {len(DEMO_PAIRS)} orders on proxy number {number} "
            f"({opened} line(s) opened, {len(DEMO_PAIRS) - opened} already live)."
        )


def _seed_agent(name: str, phone: str) -> Agent:
    try:
        # The rule an agent's form and the API apply; the orders get it from create_order.
        refuse_uncallable(phone)
    except ValidationError as error:
        raise CommandError(" ".join(error.messages)) from error
    agent, _ = Agent.objects.update_or_create(phone=phone, defaults={"name": name, "is_active": True})
    return agent


def _seed_order(reference: str, customer_name: str, customer_phone: str, agent: Agent, proxy: ProxyNumber) -> bool:
    """Make the demo order ``reference`` live on ``proxy`` with ``agent``; True when a line was opened.

    A demo order that was finished, purged or moved to another number is
    replaced by a new one: orders only move forward, so the demo starts over
    rather than rewinding one. The store's line is allocated from the pool
    like any other: with the one demo number its agent is asked for the PIN.
    """
    store_name, store_phone = ("", "")
    if reference == DEMO_STORE[0]:
        store_name, store_phone = DEMO_STORE[1:]
    on_proxy = Line.objects.filter(order=OuterRef("pk"), kind=Line.Kind.CUSTOMER_AGENT, proxy_number=proxy)
    kept = Order.objects.filter(
        reference=reference,
        customer_name=customer_name,
        customer_phone=customer_phone,
        store_name=store_name,
        store_phone=store_phone,
        status__in=ASSIGNABLE,
    ).filter(Exists(on_proxy))
    Order.objects.filter(reference=reference).exclude(pk__in=kept.values("pk")).delete()
    try:
        if store_phone:
            refuse_uncallable(store_phone)
        order, _ = services.create_order(
            reference=reference,
            customer_name=customer_name,
            customer_phone=customer_phone,
            store_name=store_name,
            store_phone=store_phone,
        )
        if order.agent_id == agent.pk and all(
            order.line(kind) is not None and order.line(kind).is_live for kind in services.wanted_kinds(order)
        ):
            return False
        services.assign_agent(order, agent, proxy_number=proxy)
    except ValidationError as error:
        raise CommandError(" ".join(error.messages)) from error
    return True
