"""Write rules for orders and their masked lines.

The admin, the commands, the API and the tests all call these functions, so
every path follows the same rules (docs/architecture.md, "Allocation"). Every
refusal is a ValidationError with a code; orders/api_errors.py gives each code
its HTTP status once.
"""

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone
from rest_framework_api_key.models import APIKey

from . import events, tasks
from .models import (
    CALL_LIMIT_WINDOW,
    Agent,
    EventType,
    Order,
    ProxyNumber,
    Role,
    live_lines_of,
    live_orders,
    refuse_party_phone,
    refuse_pool_number,
    refuse_uncallable,
)
from .phones import NANP_COUNTRY_CODE, nanp_area_code, redact
from .pool import numbers_needed
from .signals import purging_personal_data

logger = logging.getLogger(__name__)

Status = Order.Status

ASSIGNABLE = {Status.PLACED, Status.ASSIGNED, Status.PICKED_UP}
# The statuses each transition starts from; the admin offers a button only where it applies.
PICK_UP_FROM = {Status.ASSIGNED}
DELIVER_FROM = {Status.ASSIGNED, Status.PICKED_UP}
CANCEL_FROM = ASSIGNABLE


def _transition_error(order: Order, action: str) -> ValidationError:
    return ValidationError(
        "Order %(reference)s is %(status)s and cannot be %(action)s.",
        code="invalid_transition",
        params={"reference": order.reference, "status": order.get_status_display().lower(), "action": action},
    )


def _empty_pool_error() -> ValidationError:
    return ValidationError(
        "The proxy-number pool is empty: add an active proxy number before assigning agents.",
        code="empty_pool",
    )


def create_order(*, customer_name: str, customer_phone: str, reference: str = "") -> tuple[Order, bool]:
    """Create an order (no line yet), or return the one an earlier try of the same request created.

    Returns ``(order, created)``. A reference is generated when none is given;
    a given reference already used for other details is refused
    (``reference_exists``), and so is a phone the service may not call
    (``pool_number``, ``uncallable_number``).
    """
    refuse_pool_number(customer_phone)
    refuse_uncallable(customer_phone)
    try:
        # The savepoint keeps a duplicate reference from breaking a surrounding transaction.
        with transaction.atomic():
            return Order.objects.create(
                reference=reference, customer_name=customer_name, customer_phone=customer_phone
            ), True
    except IntegrityError:
        # Only the reference is unique, and only a given reference can collide.
        if not reference:
            raise
    existing = Order.objects.select_related("proxy_number").get(reference=reference)
    if existing.customer_name == customer_name and str(existing.customer_phone) == str(customer_phone):
        return existing, False
    raise ValidationError(
        "An order with reference %(reference)s already exists with other details.",
        code="reference_exists",
        params={"reference": reference},
    )


def validate_assignment(order: Order, agent: Agent) -> None:
    """Raise ValidationError when ``agent`` cannot be assigned to ``order``.

    The admin form calls this to show errors beside the field; ``assign_agent``
    calls it again under lock.
    """
    if order.status not in ASSIGNABLE:
        raise _transition_error(order, "assigned an agent")
    if not agent.is_active:
        raise ValidationError("Agent %(name)s is inactive.", code="inactive_agent", params={"name": agent.name})
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
            raise ValidationError(
                "Order %(reference)s has no customer phone number (its personal data was purged).",
                code="purged",
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
        raise ValidationError(
            "Every %(length)d-digit PIN is in use on this proxy number; add proxy numbers to the pool.",
            code="pins_exhausted",
            params={"length": length},
        )
    while True:
        pin = f"{secrets.randbelow(capacity):0{length}d}"
        if pin not in used:
            return pin


def _transition(
    order: Order, *, allowed: set[str], action: str, status: str, expires_at: datetime | None = None
) -> Order:
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        # A repeated request (a retry, a second click) finds the order where
        # the first one left it: that is success, not a refusal. Decided under
        # the lock, so two concurrent requests cannot both change the order.
        if order.status == status:
            return order
        if order.status not in allowed:
            raise _transition_error(order, action)
        previous_status, was_live = order.status, order.is_line_live
        order.status = status
        if expires_at is not None and order.masking_expires_at is not None:
            order.masking_expires_at = min(order.masking_expires_at, expires_at)
        order.save()
        _status_changed(order, previous_status)
        if was_live and expires_at is not None:
            events.emit(
                EventType.LINE_CLOSED,
                events.order_data(order, reason=status, expires_at=order.masking_expires_at.isoformat()),
            )
            if status != Status.CANCELLED:
                # A delivered order's line expires at the end of its grace period.
                tasks.line_expiry_scheduled(order)
    logger.info("order %s %s", order.reference, order.get_status_display().lower())
    return order


def _status_changed(order: Order, previous_status: str) -> None:
    events.emit(
        EventType.ORDER_STATUS_CHANGED, events.order_data(order, **{"from": previous_status, "to": order.status})
    )


def mark_picked_up(order: Order) -> Order:
    return _transition(
        order,
        allowed=PICK_UP_FROM,
        action="marked picked up",
        status=Status.PICKED_UP,
    )


def mark_delivered(order: Order) -> Order:
    """Deliver; the line stays open for the grace period for drop-off questions."""
    return _transition(
        order,
        allowed=DELIVER_FROM,
        action="marked delivered",
        status=Status.DELIVERED,
        expires_at=timezone.now() + timedelta(seconds=settings.MASKING_GRACE_PERIOD),
    )


def cancel_order(order: Order) -> Order:
    """Cancel; the line closes at once."""
    return _transition(
        order,
        allowed=CANCEL_FROM,
        action="cancelled",
        status=Status.CANCELLED,
        expires_at=timezone.now(),
    )


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


def closed_orders(cutoff: datetime) -> QuerySet[Order]:
    """Orders delivered or cancelled whose line closed before ``cutoff``.

    A cancelled order that never had a line counts from its last change.
    """
    return Order.objects.filter(status__in=[Status.DELIVERED, Status.CANCELLED]).filter(
        Q(masking_expires_at__lt=cutoff) | Q(masking_expires_at__isnull=True, updated_at__lt=cutoff)
    )


def purge_personal_data(*, older_than: timedelta, now: datetime | None = None) -> dict[str, int]:
    """Scrub customer names and numbers from orders closed longer than ``older_than``.

    Status, timestamps, agent and proxy number stay, so counts and durations
    still add up. Scrubbed values are empty strings: no phone number parses
    to one, so routing can never match a purged order, and assign_agent
    refuses to reopen one. Rerunning scrubs nothing new.

    Other apps keep personal data about orders too (voice keeps callers'
    numbers in its call log) but orders must not import them: they receive
    ``signals.purging_personal_data`` in the same transaction and report what
    they scrubbed. Returns counts by kind, e.g. {"orders": 2, "call records": 5}.
    """
    cutoff = (now or timezone.now()) - older_than
    orders = closed_orders(cutoff)
    with transaction.atomic():
        counts: dict[str, int] = {}
        for _receiver, scrubbed in purging_personal_data.send(sender=Order, orders=orders, cutoff=cutoff):
            counts.update(scrubbed or {})
        # update(), not save(): updated_at keeps the closing time the cutoff is measured from.
        counts = {
            "orders": orders.exclude(customer_name="", customer_phone="").update(customer_name="", customer_phone=""),
            **counts,
        }
    logger.info("purged personal data closed before %s: %s", cutoff.isoformat(), counts)
    return counts


API_KEY_NAME_MAX_LENGTH = APIKey._meta.get_field("name").max_length


def validate_api_key_name(name: str, *, exclude_pk: str | None = None) -> str:
    """The name stripped, or ValidationError: a key is found and revoked by its name, so names are unique.

    Revoked keys keep their name too, so the admin's list never shows two keys
    of one name; delete the revoked key to reuse it.
    """
    name = name.strip()
    if not name or len(name) > API_KEY_NAME_MAX_LENGTH:
        raise ValidationError(
            "Give the key a name of 1 to %(max)d characters.",
            code="api_key_name_invalid",
            params={"max": API_KEY_NAME_MAX_LENGTH},
        )
    existing = APIKey.objects.filter(name=name).exclude(pk=exclude_pk).first()
    if existing is not None:
        raise ValidationError(
            "An API key named %(name)r already exists (prefix %(prefix)s): choose another name, or delete "
            "that key in the admin under API keys first.",
            code="api_key_name_taken",
            params={"name": name, "prefix": existing.prefix},
        )
    return name


def create_api_key(name: str) -> tuple[APIKey, str]:
    """A new key for one integration: ``(api_key, key)``; the key itself is shown once, only its hash is kept.

    Two requests racing with one new name could both pass the check (there is
    no database constraint on the library's table); keys are created by hand,
    one at a time.
    """
    return APIKey.objects.create_key(name=validate_api_key_name(name))
