"""Write rules for masked lines: assigning an agent (which opens the lines), allocation, PINs, call counts, the pool.

An order has up to three lines (models.Line): customer–agent, store–agent
(when the order has a store phone) and customer–store (with
MASKING_CUSTOMER_STORE_LINE). All of them open when an agent is assigned,
each with a number of its own chosen by the same allocation.
"""

import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.utils import timezone

from .. import events, tasks
from ..errors import ServiceError
from ..models import (
    CALL_LIMIT_WINDOW,
    Agent,
    EventType,
    Line,
    Order,
    ProxyNumber,
    Role,
    live_lines,
    live_lines_of,
    refuse_party_phone,
)
from ..phones import NANP_COUNTRY_CODE, nanp_area_code, redact
from ..pool import numbers_needed
from .orders import ASSIGNABLE, Status, _forget_lines, _status_changed, _transition_error, close_lines

logger = logging.getLogger(__name__)

Kind = Line.Kind


def _empty_pool_error() -> ServiceError:
    return ServiceError(
        "The proxy-number pool is empty: add an active proxy number before assigning agents.",
        code="empty_pool",
        status=503,
    )


def wanted_kinds(order: Order) -> list[Kind]:
    """The lines an order with an agent has: customer–agent always; the store's when it has a store phone.

    The customer–store line opens with the others, on assignment (not on
    creation): before an agent is assigned nobody has accepted the order's
    delivery, and one moment for every line keeps the allocation in one place.
    """
    kinds = [Kind.CUSTOMER_AGENT]
    if order.store_phone:
        kinds.append(Kind.STORE_AGENT)
        if settings.MASKING_CUSTOMER_STORE_LINE:
            kinds.append(Kind.CUSTOMER_STORE)
    return kinds


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
    if not ProxyNumber.objects.filter(is_active=True).exists():
        keeps = order.pk is not None and Line.objects.filter(order=order, proxy_number__is_active=True).exists()
        if not keeps:
            raise _empty_pool_error()


def assign_agent(
    order: Order, agent: Agent, *, proxy_number: ProxyNumber | None = None, now: datetime | None = None
) -> Order:
    """Assign ``agent`` and open (or keep) the order's lines.

    Returns the saved order. Reassigning keeps each line's proxy number, which
    its parties already know; the PIN keeps routing unambiguous. The returned
    order's ``shared_number`` is a ``SharedNumber`` when a party of one of its
    lines now has another live line on the same proxy number (callers will be
    asked for the PIN), else None; it is None too when nothing changed.
    ``proxy_number`` (an active pool number) is used instead of allocation for
    every line that has no number of its own yet, or whose number was
    deactivated (seed_demo's one number).
    """
    now = now or timezone.now()
    with transaction.atomic():
        # The row lock serialises two staff members assigning the same order.
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
        _lock_parties(order, agent)
        agent = Agent.objects.get(pk=agent.pk)
        lines = {line.kind: line for line in Line.objects.select_for_update().filter(order=order)}
        wanted = _kinds_to_open(order, lines)
        if order.agent_id == agent.pk and all(kind in lines and lines[kind].is_live for kind in wanted):
            order.shared_number = None
            return order
        previous_status = order.status
        order.agent = agent
        if order.status == Status.PLACED:
            order.status = Status.ASSIGNED
        order.save()
        shared = _open_lines(order, agent, wanted, lines, now=now, proxy_number=proxy_number)
        if order.status != previous_status:
            _status_changed(order, previous_status)
    logger.info("order %s assigned agent %s", order.reference, agent.pk)
    if shared is not None:
        _warn_pool_exhausted(order, shared)
    order.shared_number = shared
    return order


def _kinds_to_open(order: Order, lines: dict[str, Line]) -> list[Kind]:
    """The kinds ``assign_agent`` opens or renews: those the order wants, but not a store line closed early.

    A store line closed while the customer–agent line stays live (picked up,
    close-store-line) stays closed when the agent changes: the store's part
    is done. When every line has closed, a new assignment opens them all.
    """
    masking = lines.get(Kind.CUSTOMER_AGENT)
    order_live = masking is not None and masking.is_live
    return [
        kind
        for kind in wanted_kinds(order)
        if kind == Kind.CUSTOMER_AGENT or not (order_live and kind in lines and not lines[kind].is_live)
    ]


def _lock_parties(order: Order, agent: Agent) -> None:
    """Serialise the allocations of every party of the order's lines (Postgres; SQLite writes one at a time).

    Each allocation then sees the lines the one before it committed, so no
    party gets two live lines on one number while the pool has room, however
    many of its orders are assigned at once. Transaction-level advisory locks
    (customers and stores are phones, not rows), taken in one global order so
    two assignments never wait on each other crosswise; a hash collision only
    makes two allocations take turns.
    """
    if connection.vendor != "postgresql":
        return
    keys = [f"agent:{agent.pk}", f"customer:{order.customer_phone}"]
    if order.store_phone:
        keys.append(f"store:{order.store_phone}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT hashtext(key) FROM unnest(%s::text[]) AS key ORDER BY 1", [keys])
        for (key,) in cursor.fetchall():
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_PARTY_LOCKS, key])


# The first half of the advisory lock keys of _lock_parties: any constant no other lock of the service uses.
_PARTY_LOCKS = 0x6E6D_6C6E


def _party_filter(order: Order, agent: Agent | None, kind: Kind) -> Q:
    """Lines (of any order) that have a party of ``order``'s line of ``kind``."""
    parties = {
        Role.CUSTOMER: Q(customer_phone=order.customer_phone),
        Role.STORE: Q(store_phone=order.store_phone),
        Role.AGENT: Q(agent=agent),
    }
    first, second = kind.parties
    return parties[first] | parties[second]


def _open_lines(
    order: Order,
    agent: Agent | None,
    kinds: Iterable[Kind],
    lines: dict[str, Line],
    *,
    now: datetime,
    proxy_number: ProxyNumber | None = None,
) -> "SharedNumber | None":
    """Open (or renew, keeping their numbers) the order's lines of ``kinds``; the caller holds the order's lock.

    Numbers are chosen for every line first, then locked in pk order (so two
    assignments never wait on each other's numbers crosswise), then the PINs
    are drawn under those locks.
    """
    chosen: dict[Kind, tuple[ProxyNumber, bool | None]] = {}
    for kind in kinds:
        line = lines.get(kind)
        if line is not None and line.proxy_number.is_active:
            chosen[kind] = (line.proxy_number, None)
        elif proxy_number is not None and proxy_number.is_active:
            chosen[kind] = (proxy_number, None)
        else:
            # Every two lines of one order share a party: a sibling's number is a conflict.
            siblings = [number.pk for number, _ in chosen.values()]
            chosen[kind] = _allocate_proxy_number(order, agent, kind, now, siblings=siblings)
    locked = {
        number.pk: number
        for number in ProxyNumber.objects.select_for_update()
        .filter(pk__in=[number.pk for number, _ in chosen.values()])
        .order_by("pk")
    }
    expires_at = now + timedelta(seconds=settings.MASKING_SESSION_TTL)
    worst: SharedNumber | None = None
    for kind, (number, conflict) in chosen.items():
        number = locked[number.pk]
        line = lines.get(kind) or Line(order=order, kind=kind)
        shared = _shared_number(order, agent, kind, line, number, now, conflict=conflict)
        if shared is not None and (worst is None or shared.busiest_party_orders > worst.busiest_party_orders):
            worst = shared
        used_pins = _live_pins(number, exclude=line, now=now)
        if line.proxy_number_id != number.pk or not line.pin or line.pin in used_pins:
            line.pin = _new_pin(used_pins)
        was_live = line.pk is not None and line.is_live
        new_agent = Role.AGENT in kind.parties and line.agent_id not in (None, agent.pk)
        if new_agent:
            # A new agent's calls are their own: the hourly count starts again.
            line.agent_calls, line.agent_calls_since = 0, None
        line.proxy_number = number
        line.expires_at = expires_at
        line.customer_phone = order.customer_phone if Role.CUSTOMER in kind.parties else ""
        line.store_phone = order.store_phone if Role.STORE in kind.parties else ""
        line.agent = agent if Role.AGENT in kind.parties else None
        if line.pk is None:
            line.save()
        else:
            # Not the counters (but the agent's after a new agent): the hangup callback counts them concurrently.
            fields = ["proxy_number", "pin", "expires_at", "customer_phone", "store_phone", "agent"]
            if new_agent:
                fields += ["agent_calls", "agent_calls_since"]
            line.save(update_fields=fields)
        lines[kind] = line
        if not was_live:
            events.emit(
                EventType.LINE_OPENED,
                events.line_data(line, agent_id=agent.pk if agent else None, expires_at=expires_at.isoformat()),
            )
        tasks.line_expiry_scheduled(line)
        logger.info("order %s: %s line on proxy %s", order.reference, kind.value, redact(number.number))
    _forget_lines(order)
    return worst


def _allocate_proxy_number(
    order: Order, agent: Agent | None, kind: Kind, now: datetime, *, siblings: list[int]
) -> tuple[ProxyNumber, bool]:
    """Pick a proxy number for ``order``'s line of ``kind`` by the allocation rules (docs/architecture.md).

    Returns the number and whether a party of the line already has a live
    line on it. Locked later, with the order's other numbers.
    """
    party_lines = live_lines(now).exclude(order=order, kind=kind).filter(_party_filter(order, agent, kind))
    # The line's first party's phone decides the country (the customer, else the store).
    phone = order.customer_phone if Role.CUSTOMER in kind.parties else order.store_phone
    country = phonenumbers.region_code_for_number(phone) or ""
    candidates = ProxyNumber.objects.filter(is_active=True).annotate(
        foreign=Case(When(country=country, then=Value(0)), default=Value(1)),
        conflict=Case(
            When(pk__in=siblings, then=Value(True)),
            default=Exists(party_lines.filter(proxy_number=OuterRef("pk"))),
        ),
        # An index-only range scan of line_proxy_expiry per number.
        load=live_lines_of("proxy_number", now),
    )
    ordering = ["foreign", "conflict", "load", "pk"]
    area_code = nanp_area_code(phone)
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
    return chosen, bool(chosen.conflict)


@dataclass(frozen=True)
class SharedNumber:
    """An assignment that left a party with another live line on the same proxy number.

    Routing cannot tell those lines apart by (caller, proxy number), so such
    callers are asked for the line's PIN. With N the most concurrent live lines
    of a party (of any kind), the country needs 2N − 1 numbers to avoid that
    (orders.pool.numbers_needed).
    """

    proxy_number: str  # E.164
    country: str  # ISO region of the line's first party, "" when unknown
    busiest_party_orders: int  # live lines, this one included, of the party with the most
    pool_size: int  # active proxy numbers in that country
    numbers_needed: int


def _shared_number(
    order: Order,
    agent: Agent | None,
    kind: Kind,
    line: Line,
    proxy_number: ProxyNumber,
    now: datetime,
    *,
    conflict: bool | None,
) -> SharedNumber | None:
    """What sharing ``proxy_number`` means for the line, or None when neither party has another line on it.

    ``conflict`` is the allocation's own answer when it chose the number; a
    kept or given number is asked here (one indexed EXISTS).
    """
    others = live_lines(now).exclude(order=order, kind=kind)
    if conflict is None:
        conflict = others.filter(_party_filter(order, agent, kind), proxy_number=proxy_number).exists()
    if not conflict:
        return None
    parties = {
        Role.CUSTOMER: Q(customer_phone=order.customer_phone),
        Role.STORE: Q(store_phone=order.store_phone),
        Role.AGENT: Q(agent=agent),
    }
    concurrent = 1 + max(others.filter(parties[role]).count() for role in kind.parties)
    phone = order.customer_phone if Role.CUSTOMER in kind.parties else order.store_phone
    country = phonenumbers.region_code_for_number(phone) or ""
    return SharedNumber(
        proxy_number=str(proxy_number.number),
        country=country,
        busiest_party_orders=concurrent,
        pool_size=ProxyNumber.objects.filter(is_active=True, country=country).count(),
        numbers_needed=numbers_needed(concurrent),
    )


def _warn_pool_exhausted(order: Order, shared: SharedNumber) -> None:
    logger.warning(
        "proxy-number pool exhausted for order %s: a party now has %d live lines but the pool has %d active "
        "number(s) in %s; callers will be asked for the line's PIN. Add numbers until the pool has at least %d "
        "to avoid PIN prompts.",
        order.reference,
        shared.busiest_party_orders,
        shared.pool_size,
        shared.country or "the customer's country",
        shared.numbers_needed,
    )


def _live_pins(proxy_number: ProxyNumber, *, exclude: Line, now: datetime) -> set[str]:
    lines = live_lines(now).filter(proxy_number=proxy_number)
    if exclude.pk is not None:
        lines = lines.exclude(pk=exclude.pk)
    return set(lines.values_list("pin", flat=True))


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


def count_call(line_id: int, role: Role, now: datetime | None = None) -> None:
    """Count a call of ``role`` through the line in its current window (MASKING_MAX_CALLS_PER_HOUR).

    A window is fixed: it starts with the first call counted after the last
    one ended, and lasts CALL_LIMIT_WINDOW. One UPDATE, so two hangups at once
    both count.
    """
    if role not in (Role.CUSTOMER, Role.AGENT, Role.STORE):
        raise ValueError(f"only a party's calls are counted, not {role!r}")
    now = now or timezone.now()
    calls, since = f"{role.value}_calls", f"{role.value}_calls_since"
    # Every SET expression reads the row as it was, so both test the old window.
    new_window = Q(**{f"{since}__isnull": True}) | Q(**{f"{since}__lte": now - CALL_LIMIT_WINDOW})
    Line.objects.filter(pk=line_id).update(
        **{
            calls: Case(When(new_window, then=Value(1)), default=F(calls) + 1),
            since: Case(When(new_window, then=Value(now)), default=F(since)),
        }
    )


def close_store_line(order: Order, *, reason: str = "store_line_closed") -> Order:
    """Close the order's store lines now ("picked up from the store, no more calls needed").

    Refused (``no_store``) for an order without a store line ever opened. A
    repeated request finds the lines closed: success, as with transitions.
    """
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        store_lines = list(Line.objects.select_for_update().filter(order=order, kind__in=Kind.with_party(Role.STORE)))
        if not store_lines:
            raise ServiceError(
                "Order %(reference)s has no store line.",
                code="no_store",
                status=409,
                params={"reference": order.reference},
            )
        close_lines(order, store_lines, reason=reason, at=timezone.now())
    logger.info("order %s: store lines closed", order.reference)
    return order


def set_store(order: Order, *, name: str | None = None, phone: str | None = None) -> Order:
    """Set the order's store; an order whose lines are open gets (or loses) its store lines at once.

    ``None`` leaves a field as it is; a phone of "" removes the store's phone
    and closes its lines. The phone follows the rule every party phone does.
    A store line closed early (picked up) is opened again only for a new
    store phone, not for a new name.
    """
    from ..models import refuse_pool_number, refuse_uncallable

    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        new_phone = phone is not None and str(phone) != str(order.store_phone or "")
        if new_phone:
            if phone:
                refuse_pool_number(phone, field="store_phone")
                refuse_uncallable(phone, field="store_phone")
                refuse_same_as_customer(order.customer_phone, phone)
            order.store_phone = phone
        if name is not None:
            order.store_name = name
        order.save()
        lines = {line.kind: line for line in Line.objects.select_for_update().filter(order=order)}
        masking = lines.get(Kind.CUSTOMER_AGENT)
        store_kinds = Kind.with_party(Role.STORE)
        if not order.store_phone:
            close_lines(
                order, [lines[kind] for kind in store_kinds if kind in lines], reason="store_removed", at=timezone.now()
            )
        elif masking is not None and masking.is_live and order.agent_id and order.status in ASSIGNABLE:
            missing = [
                kind
                for kind in wanted_kinds(order)
                if kind in store_kinds and (kind not in lines or (new_phone and not lines[kind].is_live))
            ]
            if missing:
                agent = Agent.objects.get(pk=order.agent_id)
                _lock_parties(order, agent)
                shared = _open_lines(order, agent, missing, lines, now=timezone.now())
                if shared is not None:
                    _warn_pool_exhausted(order, shared)
    return order


def refuse_same_as_customer(customer_phone: object, store_phone: object) -> None:
    """ServiceError (``same_phone``): a store whose phone is the customer's could not be told apart when calling."""
    if store_phone and str(store_phone) == str(customer_phone or ""):
        raise ServiceError("The store's phone is the customer's phone.", code="same_phone", field="store_phone")


@dataclass(frozen=True)
class PoolSync:
    """What ``sync_pool`` changed, numbers in E.164."""

    added: list[str]
    deactivated: list[str]
    left_inactive: list[str]
    unchanged: int
    stranded_orders: int  # orders with a live line whose proxy number was just deactivated


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
        stranded = live_lines().filter(proxy_number__in=[proxy.pk for proxy in gone]).values("order").distinct().count()
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
