"""Write rules for masked lines: assigning an agent (which opens the line), allocation, PINs, call counts, the pool."""

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from django.conf import settings
from django.db import transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.utils import timezone

from .. import events, tasks
from ..errors import ServiceError
from ..models import (
    CALL_LIMIT_WINDOW,
    Agent,
    EventType,
    Order,
    ProxyNumber,
    Role,
    live_lines_of,
    live_orders,
    refuse_party_phone,
)
from ..phones import NANP_COUNTRY_CODE, nanp_area_code, redact
from ..pool import numbers_needed
from .orders import ASSIGNABLE, Status, _status_changed, _transition_error

logger = logging.getLogger(__name__)


def _empty_pool_error() -> ServiceError:
    return ServiceError(
        "The proxy-number pool is empty: add an active proxy number before assigning agents.",
        code="empty_pool",
        status=503,
    )


def validate_assignment(order: Order, agent: Agent) -> None:
    """Raise ServiceError when ``agent`` cannot be assigned to ``order``.

    The admin form calls this to show errors beside the field; ``assign_agent``
    calls it again under lock.
    """
    if order.status not in ASSIGNABLE:
        raise _transition_error(order, "assigned an agent")
    if not agent.is_active:
        raise ServiceError(
            "Agent %(name)s is inactive.", code="inactive_agent", params={"name": agent.name}, field="agent"
        )
    keeps_number = order.proxy_number_id is not None and order.proxy_number.is_active
    if not keeps_number and not ProxyNumber.objects.filter(is_active=True).exists():
        raise _empty_pool_error()


def assign_agent(
    order: Order, agent: Agent, *, proxy_number: ProxyNumber | None = None, now: datetime | None = None
) -> Order:
    """Assign ``agent`` and open (or keep) the order's masked line.

    Returns the saved order. Reassigning keeps the proxy number the customer
    already knows; the PIN keeps routing unambiguous. The returned order's
    ``shared_number`` is a ``SharedNumber`` when a party now has another live
    order on the same proxy number (callers will be asked for the PIN), else
    None; it is None too when nothing changed. ``proxy_number`` (an
    active pool number) is used instead of allocation for an order that has
    no number of its own yet, or whose number was deactivated.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # The row lock serialises two staff members assigning the same order.
        # No select_related: when this waits for a concurrent assignment,
        # Postgres re-reads the locked order row but keeps the joined proxy
        # number as it was before the wait (NULL for a fresh order), so the
        # order came back with a proxy_number_id and proxy_number None. The
        # proxy number is read after the lock instead.
        order = Order.objects.select_for_update().get(pk=order.pk)
        if not order.customer_phone:
            # A purged order has no one left to connect; it must never open a line.
            raise ServiceError(
                "Order %(reference)s has no customer phone number (its personal data was purged).",
                code="purged",
                status=409,
                params={"reference": order.reference},
            )
        validate_assignment(order, agent)
        if order.agent_id == agent.pk and order.is_line_live:
            order.shared_number = None
            return order

        conflict: bool | None = None  # unknown until asked, except after allocation
        if order.proxy_number_id is not None and order.proxy_number.is_active:
            proxy_number = ProxyNumber.objects.select_for_update().get(pk=order.proxy_number_id)
        elif proxy_number is not None and proxy_number.is_active:
            proxy_number = ProxyNumber.objects.select_for_update().get(pk=proxy_number.pk)
        else:
            proxy_number, conflict = _allocate_proxy_number(order, agent, now)
        shared = _shared_number(order, agent, proxy_number, now, conflict=conflict)
        used_pins = _live_pins(proxy_number, exclude=order, now=now)
        if order.proxy_number_id != proxy_number.pk or not order.pin or order.pin in used_pins:
            order.pin = _new_pin(used_pins)

        was_live, previous_status = order.is_line_live, order.status
        if order.agent_id not in (None, agent.pk) and order.agent_calls:
            # A new agent's calls are their own: the hourly count starts again.
            Order.objects.filter(pk=order.pk).update(agent_calls=0, agent_calls_since=None)
        order.agent = agent
        order.proxy_number = proxy_number
        order.masking_expires_at = now + timedelta(seconds=settings.MASKING_SESSION_TTL)
        if order.status == Status.PLACED:
            order.status = Status.ASSIGNED
        order.save()
        if not was_live:
            events.emit(
                EventType.LINE_OPENED,
                events.order_data(order, agent_id=agent.pk, expires_at=order.masking_expires_at.isoformat()),
            )
        if order.status != previous_status:
            _status_changed(order, previous_status)
        tasks.line_expiry_scheduled(order)
    logger.info("order %s assigned agent %s on proxy %s", order.reference, agent.pk, redact(proxy_number.number))
    if shared is not None:
        _warn_pool_exhausted(order, shared)
    order.shared_number = shared
    return order


def _allocate_proxy_number(order: Order, agent: Agent, now: datetime) -> tuple[ProxyNumber, bool]:
    """Pick and lock a proxy number following the allocation rules (docs/architecture.md, "Allocation").

    Returns the number and whether a party already has a live order on it.
    """
    live = live_orders(now).exclude(pk=order.pk)
    party_orders = live.filter(Q(customer_phone=order.customer_phone) | Q(agent=agent))
    country = phonenumbers.region_code_for_number(order.customer_phone) or ""
    candidates = ProxyNumber.objects.filter(is_active=True).annotate(
        foreign=Case(When(country=country, then=Value(0)), default=Value(1)),
        conflict=Exists(party_orders.filter(proxy_number=OuterRef("pk"))),
        # An index-only range scan of order_proxy_expiry per number.
        load=live_lines_of("proxy_number", now),
    )
    ordering = ["foreign", "conflict", "load", "pk"]
    area_code = nanp_area_code(order.customer_phone)
    if area_code is not None:
        # Callers answer a number they recognise as local more often, but not at
        # the price of a PIN prompt: the area code comes after conflicts and
        # before load. A string compare per pool row, in the same query.
        candidates = candidates.annotate(
            distant=Case(When(number__startswith=f"+{NANP_COUNTRY_CODE}{area_code}", then=Value(0)), default=Value(1))
        )
        ordering.insert(2, "distant")
    chosen = candidates.order_by(*ordering).first()
    if chosen is None:
        raise _empty_pool_error()
    # Lock the number so concurrent assignments draw PINs one after another.
    return ProxyNumber.objects.select_for_update().get(pk=chosen.pk), chosen.conflict


@dataclass(frozen=True)
class SharedNumber:
    """An assignment that left a party with another live order on the same proxy number.

    Routing cannot tell those orders apart by (caller, proxy number), so such
    callers are asked for the order PIN. With N the most concurrent orders of
    a party, the country needs 2N − 1 numbers to avoid that (orders.pool.numbers_needed).
    """

    proxy_number: str  # E.164
    country: str  # ISO region of the customer, "" when unknown
    busiest_party_orders: int  # live orders, this one included, of the party with the most
    pool_size: int  # active proxy numbers in that country
    numbers_needed: int


def _shared_number(
    order: Order, agent: Agent, proxy_number: ProxyNumber, now: datetime, *, conflict: bool | None
) -> SharedNumber | None:
    """What sharing ``proxy_number`` means for ``order``, or None when neither party has another order on it.

    ``conflict`` is the allocation's own answer when it chose the number; a
    kept or given number is asked here (one indexed EXISTS).
    """
    live = live_orders(now).exclude(pk=order.pk)
    party_orders = live.filter(Q(customer_phone=order.customer_phone) | Q(agent=agent))
    if conflict is None:
        conflict = party_orders.filter(proxy_number=proxy_number).exists()
    if not conflict:
        return None
    concurrent = 1 + max(
        live.filter(customer_phone=order.customer_phone).count(),
        live.filter(agent=agent).count(),
    )
    country = phonenumbers.region_code_for_number(order.customer_phone) or ""
    return SharedNumber(
        proxy_number=str(proxy_number.number),
        country=country,
        busiest_party_orders=concurrent,
        pool_size=ProxyNumber.objects.filter(is_active=True, country=country).count(),
        numbers_needed=numbers_needed(concurrent),
    )


def _warn_pool_exhausted(order: Order, shared: SharedNumber) -> None:
    logger.warning(
        "proxy-number pool exhausted for order %s: a party now has %d live orders but the pool has %d active "
        "number(s) in %s; callers will be asked for the order PIN. Add numbers until the pool has at least %d "
        "to avoid PIN prompts.",
        order.reference,
        shared.busiest_party_orders,
        shared.pool_size,
        shared.country or "the customer's country",
        shared.numbers_needed,
    )


def _live_pins(proxy_number: ProxyNumber, *, exclude: Order, now: datetime) -> set[str]:
    return set(live_orders(now).filter(proxy_number=proxy_number).exclude(pk=exclude.pk).values_list("pin", flat=True))


def _new_pin(used: set[str]) -> str:
    length = settings.MASKING_PIN_LENGTH
    capacity = 10**length
    if len(used) >= capacity:
        raise ServiceError(
            "Every %(length)d-digit PIN is in use on this proxy number; add proxy numbers to the pool.",
            code="pins_exhausted",
            status=503,
            params={"length": length},
        )
    while True:
        pin = f"{secrets.randbelow(capacity):0{length}d}"
        if pin not in used:
            return pin


def count_call(order_id: int, role: Role, now: datetime | None = None) -> None:
    """Count a call of ``role`` through the order's line in its current window (MASKING_MAX_CALLS_PER_HOUR).

    A window is fixed: it starts with the first call counted after the last
    one ended, and lasts CALL_LIMIT_WINDOW. One UPDATE, so two hangups at once
    both count.
    """
    if role not in (Role.CUSTOMER, Role.AGENT):
        raise ValueError(f"only a party's calls are counted, not {role!r}")
    now = now or timezone.now()
    calls, since = f"{role.value}_calls", f"{role.value}_calls_since"
    # Every SET expression reads the row as it was, so both test the old window.
    new_window = Q(**{f"{since}__isnull": True}) | Q(**{f"{since}__lte": now - CALL_LIMIT_WINDOW})
    Order.objects.filter(pk=order_id).update(
        **{
            calls: Case(When(new_window, then=Value(1)), default=F(calls) + 1),
            since: Case(When(new_window, then=Value(now)), default=F(since)),
        }
    )


@dataclass(frozen=True)
class PoolSync:
    """What ``sync_pool`` changed, numbers in E.164."""

    added: list[str]
    deactivated: list[str]
    left_inactive: list[str]
    unchanged: int
    stranded_orders: int  # live orders whose proxy number was just deactivated


def sync_pool(rented: Mapping[str, str]) -> PoolSync:
    """Make the pool match the numbers the business rents: ``{E.164 number: label}``.

    New numbers join the pool active; pool numbers no longer rented are
    deactivated (never deleted: orders and call records point at them). A
    number staff deactivated stays inactive even if it is still rented.
    """
    with transaction.atomic():
        pool = {str(proxy.number): proxy for proxy in ProxyNumber.objects.select_for_update()}
        added = sorted(set(rented) - set(pool))
        for number in added:
            refuse_party_phone(number)
        for number in added:
            ProxyNumber.objects.create(number=number, label=rented[number][:100])
        gone = [proxy for number, proxy in pool.items() if number not in rented and proxy.is_active]
        ProxyNumber.objects.filter(pk__in=[proxy.pk for proxy in gone]).update(is_active=False)
        stranded = live_orders().filter(proxy_number__in=[proxy.pk for proxy in gone]).count()
    left_inactive = sorted(number for number, proxy in pool.items() if number in rented and not proxy.is_active)
    result = PoolSync(
        added=added,
        deactivated=sorted(str(proxy.number) for proxy in gone),
        left_inactive=left_inactive,
        unchanged=len(set(rented) & set(pool)) - len(left_inactive),
        stranded_orders=stranded,
    )
    logger.info(
        "proxy pool synced: %d added, %d deactivated, %d left inactive",
        len(result.added),
        len(result.deactivated),
        len(result.left_inactive),
    )
    return result
