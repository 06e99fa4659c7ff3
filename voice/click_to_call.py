"""Click-to-call: the platform (or a dispatcher) has Plivo ring one party, then the bridge dials the other.

``request_call`` is the one write rule, shared by ``POST /api/v1/orders/{reference}/call/``
and the order page's buttons. It checks and stores a reservation (a
``ClickToCall`` row, state ``queued``) and queues the task that asks Plivo
(voice.tasks.place_call), in one short transaction, and returns at once: no
web request waits for Plivo, and no lock is held while Plivo is asked. Plivo's
Call API then rings the first party from the proxy number; when they answer,
Plivo fetches the signed ``/voice/bridge/`` with the order, the first party
and the party to dial in its query, and that answer dials them over the line
that joins the two (calls.bridge). No PIN is asked: the platform named the
order and the line.

The reservation is stored before anything outward happens, so it counts
towards MASKING_CLICK_TO_CALL_PER_MINUTE (per order) and
MASKING_CLICK_TO_CALL_PER_HOUR (the whole service) however Plivo answers later.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone

from numbermasking import metrics
from numbermasking.logsafe import hide_numbers
from orders.errors import ServiceError
from orders.events import emit, order_data
from orders.models import PARTIES, BlockedNumber, EventType, Line, Order, Role
from orders.phones import callable_problem
from orders.pool import party_countries
from orders.tasks import enqueue

from .models import ClickToCall
from .plivo import client as plivo_client

logger = logging.getLogger(__name__)

FIRST_PARTIES = (Role.AGENT, Role.CUSTOMER, Role.STORE)
RATE_WINDOW = timedelta(minutes=1)
BUDGET_WINDOW = timedelta(hours=1)
# Serialises the service-wide budget check across processes on Postgres, for
# the milliseconds of a reservation's transaction (never across a Plivo
# request). Taken after the order's row lock, by reservations only. (SQLite
# runs one write transaction at a time.)
_RESERVATION_LOCK = 0x6E6D_6332  # any constant shared by every process of the service

State = ClickToCall.State


class CallLimitReached(ServiceError):
    """Too many click-to-calls in a window; ``retry_after`` says when one is free (seconds).

    ``call_limit``: one order's per-minute limit; ``call_budget``: the service's hourly budget.
    """

    def __init__(self, message: str, retry_after: int, code: str = "call_limit") -> None:
        super().__init__(message, code=code, status=429, retry_after=retry_after)
        self.retry_after = retry_after


def settings_problem() -> str | None:
    """Why no click-to-call can be placed with these settings (PLIVO_AUTH_ID, …), or None; asks nothing of Plivo."""
    try:
        plivo_client.check_settings()
    except plivo_client.PlivoAPIError as error:
        return str(error)
    return None


def request_call(order: Order, first: Role | str, to: Role | str | None = None) -> ClickToCall:
    """Reserve a click-to-call of ``order`` that rings ``first``, then dials ``to`` over their line, and queue it.

    ``to`` left out means the customer–agent line: the first party's counterpart there.
    Raises ServiceError with code ``invalid`` (not two parties of one kind of
    line), ``line_not_live``, ``no_agent`` or ``party_not_callable`` (a
    party's phone fails the callable-number rule: the order cannot be called),
    ``blocked`` (either party's number is on the block list), ``call_limit``
    or ``call_budget`` (CallLimitReached, with ``retry_after``), or
    ``plivo_unavailable`` (the Plivo settings are missing: nobody could be
    rung). Asks nothing of Plivo.
    """
    try:
        first, to = _parties(first, to)
        return _reserve(order, first, to)
    except ValidationError as error:
        metrics.CLICK_TO_CALL_REFUSED.labels(reason=error.code or "invalid").inc()
        raise


def _parties(first: Role | str, to: Role | str | None) -> tuple[Role, Role]:
    values = [role.value for role in PARTIES]
    if first not in values:
        raise ServiceError(
            "The first party must be the agent, the customer or the store.", code="invalid", field="from"
        )
    first = Role(first)
    if to in (None, ""):
        to = first.counterpart()
        if to == Role.UNKNOWN:
            raise ServiceError("Name the party to connect the store to: `to`.", code="invalid", field="to")
    if to not in values or to == first:
        raise ServiceError("The party to connect must be another party of the order.", code="invalid", field="to")
    return first, Role(to)


def _reserve(order: Order, first: Role, to: Role) -> ClickToCall:
    from .tasks import place_call  # the task module imports this one

    problem = settings_problem()
    if problem is not None:
        raise ServiceError(problem, code="plivo_unavailable", status=503)
    with transaction.atomic():
        # The order's row lock makes the per-order limit hold for concurrent
        # requests: each counts the others' rows only after they committed.
        locked = Order.objects.select_for_update(of=("self",)).select_related("agent").get(pk=order.pk)
        check_callable(locked, first, to)
        now = timezone.now()
        _check_rate(locked, now)
        _check_budget(now)
        reservation = ClickToCall.objects.create(
            order=locked, first_role=first, to_role=to, requested_at=now, updated_at=now
        )
        # On the database queue the task row commits with the reservation, or neither does.
        enqueue(place_call, reservation.pk, 0)
    logger.info(
        "click-to-call %s for order %s: queued, the %s first, then the %s",
        reservation.public_id,
        locked.pk,
        first.value,
        to.value,
    )
    return reservation


def call_line(order: Order, first: Role, to: Role) -> Line | None:
    """The order's line between ``first`` and ``to``, live or not; None when the order has none."""
    kind = Line.Kind.joining(first, to)
    return order.line(kind) if kind is not None else None


def check_callable(order: Order, first: Role = Role.AGENT, to: Role | None = None) -> None:
    """ServiceError (409) unless both parties of the line between ``first`` and ``to`` can be called now.

    Its code is ``line_not_live``, ``no_agent``, ``party_not_callable`` or ``blocked``.
    ``order`` comes with its agent. Asked when a call is requested, under the
    order's row lock, and again by the task just before Plivo is asked, without one.
    """
    to = to or first.counterpart()
    line = call_line(order, first, to)
    if line is None or not line.is_live:
        raise ServiceError(
            f"Order {order.reference} has no live line to call through.",
            code="line_not_live",
            status=409,
        )
    if Role.AGENT in line.parties:
        if order.agent is None:
            raise ServiceError(f"Order {order.reference} has no agent to connect.", code="no_agent", status=409)
        if not order.agent.is_active:
            raise ServiceError(
                f"Order {order.reference}'s agent is deactivated; assign another agent first.",
                code="no_agent",
                status=409,
            )
    # Phones were checked when they were saved; the pool or MASKING_PARTY_COUNTRIES
    # may have changed since, and a row may have been written around the rule.
    countries = party_countries()
    phones = {role: order.phone_of(role) for role in line.parties}
    for role, phone in phones.items():
        problem = callable_problem(phone, countries)
        if problem is not None:
            raise ServiceError(
                f"The {role.value}'s phone on order {order.reference} cannot be called. {problem}",
                code="party_not_callable",
                status=409,
            )
    parties = {phone: role for role, phone in phones.items()}
    blocked = BlockedNumber.objects.in_force().filter(number__in=list(parties)).values_list("number", flat=True)
    roles = sorted(parties[str(number)].value for number in blocked)
    if roles:
        # The role, never the number: this text reaches the API's caller, the admin and the event.
        raise ServiceError(
            f"Order {order.reference}'s {' and '.join(roles)} number is on the block list.", code="blocked", status=409
        )


def _check_rate(order: Order, now: datetime) -> None:
    limit = settings.MASKING_CLICK_TO_CALL_PER_MINUTE
    retry_after = _window_full(ClickToCall.objects.filter(order=order), limit, RATE_WINDOW, now)
    if retry_after is not None:
        raise CallLimitReached(
            f"Order {order.reference} was called {limit} times in the last minute "
            f"(MASKING_CLICK_TO_CALL_PER_MINUTE); try again in {retry_after} s.",
            retry_after,
        )


def _check_budget(now: datetime) -> None:
    budget = settings.MASKING_CLICK_TO_CALL_PER_HOUR
    if budget <= 0:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_RESERVATION_LOCK])
    retry_after = _window_full(ClickToCall.objects.all(), budget, BUDGET_WINDOW, now)
    if retry_after is not None:
        logger.warning(
            "click-to-call budget reached: %d requests in the last hour (MASKING_CLICK_TO_CALL_PER_HOUR); "
            "the next is possible in %d s",
            budget,
            retry_after,
        )
        raise CallLimitReached(
            f"The service requested {budget} click-to-calls in the last hour (MASKING_CLICK_TO_CALL_PER_HOUR); "
            f"try again in {retry_after} s.",
            retry_after,
            code="call_budget",
        )


def _window_full(requests: models.QuerySet, limit: int, window: timedelta, now: datetime) -> int | None:
    """Seconds until one of ``limit`` slots in ``window`` is free, or None when one is free now (or no limit)."""
    if limit <= 0:
        return None
    recent = list(
        requests.filter(requested_at__gt=now - window)
        .order_by("-requested_at")
        .values_list("requested_at", flat=True)[limit - 1 : limit]
    )
    if not recent:
        return None
    # A slot frees when the oldest of the last ``limit`` requests leaves the window.
    return max(1, int((recent[0] + window - now).total_seconds()) + 1)


def end(reservation: ClickToCall, state: str, reason: str, detail: str, *, attempts: int) -> bool:
    """End a reservation the task holds (``attempts`` made) as refused, failed or cancelled, with ``call.not_placed``.

    A conditional update: a reservation moved on by anyone else is left as it
    is, and False is returned. The event commits with the state.
    """
    held = State.QUEUED if state == State.CANCELLED else State.PLACING
    detail = hidden(detail)
    with transaction.atomic():
        ended = ClickToCall.objects.filter(pk=reservation.pk, state=held, attempts=attempts).update(
            state=state, reason=reason, detail=detail, updated_at=timezone.now()
        )
        if ended:
            data = order_data(reservation.order, call_request=reservation.public_id, reason=reason, detail=detail)
            emit(
                EventType.CALL_NOT_PLACED,
                {**data, "from": reservation.first_role, "to": reservation.callee_role.value},
                dedupe_key=f"{EventType.CALL_NOT_PLACED.value}:{reservation.public_id}",
            )
            transaction.on_commit(metrics.CLICK_TO_CALLS.labels(state=state).inc)
    if ended:
        logger.warning("click-to-call %s %s (%s): %s", reservation.public_id, state, reason, detail)
    return bool(ended)


def hidden(detail: str) -> str:
    """A detail fit to store and show: any phone number hidden, one line, clipped to the column."""
    return " ".join(hide_numbers(detail).split())[:500]
