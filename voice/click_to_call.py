"""Click-to-call: the platform (or a dispatcher) has Plivo ring one party, then the bridge dials the other.

``start_call`` is the one write rule, shared by ``POST /api/v1/orders/{reference}/call/``
and the order page's buttons. Plivo's Call API rings the first party from the
proxy number; when they answer, Plivo fetches the signed ``/voice/bridge/``
with the order and the first party in its query, and that answer dials the
other party (calls.bridge). No PIN is asked: the platform named the order.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from orders.models import Order, Role
from orders.phones import callable_problem
from orders.pool import party_countries

from . import plivo_api, xml
from .models import ClickToCall

logger = logging.getLogger(__name__)

FIRST_PARTIES = (Role.AGENT, Role.CUSTOMER)
RATE_WINDOW = timedelta(minutes=1)
# What Plivo's Call API says of a call it accepted: it is queued to ring the first party.
QUEUED = "queued"


class CallLimitReached(ValidationError):
    """Too many click-to-calls for one order in the last minute; ``retry_after`` says when one is free (seconds)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, code="call_limit")
        self.retry_after = retry_after


@dataclass(frozen=True)
class StartedCall:
    request_uuid: str
    state: str
    first: Role


def start_call(order: Order, first: Role) -> StartedCall:
    """Have Plivo ring ``first`` (agent or customer) about ``order``; the bridge then dials the other party.

    Raises ValidationError with code ``line_not_live``, ``no_agent`` or
    ``party_not_callable`` (a party's phone fails the callable-number rule:
    the order cannot be called), ``call_limit`` (CallLimitReached: more than
    MASKING_CLICK_TO_CALL_PER_MINUTE in a minute), ``plivo_unavailable`` (Plivo
    unreachable or failing: retry) or ``plivo_refused`` (Plivo said no, with
    its reason). Nothing is stored unless Plivo accepted the call.
    """
    first = Role(first)
    if first not in FIRST_PARTIES:
        raise ValidationError("The first party must be the agent or the customer.", code="invalid")
    with transaction.atomic():
        # The order's row lock makes the limit hold for concurrent requests:
        # each counts the others' rows only after they committed.
        locked = Order.objects.select_for_update(of=("self",)).select_related("agent", "proxy_number").get(pk=order.pk)
        _check_callable(locked)
        now = timezone.now()
        _check_rate(locked, now)
        first_phone = locked.agent.phone if first == Role.AGENT else locked.customer_phone
        client = _client()
        try:
            request_uuid = plivo_api.start_call(
                client,
                from_=str(locked.proxy_number.number),
                to=str(first_phone),
                answer_url=xml.webhook_url("voice:bridge", order=locked.pk, first=first.value),
                hangup_url=xml.webhook_url("voice:hangup", order=locked.pk, first=first.value),
                time_limit=settings.MASKING_CALL_TIME_LIMIT,
                ring_timeout=settings.MASKING_RING_TIMEOUT,
            )
        except plivo_api.PlivoUnavailable as error:
            raise ValidationError(str(error), code="plivo_unavailable") from error
        except plivo_api.PlivoAPIError as error:
            raise ValidationError(str(error), code="plivo_refused") from error
        ClickToCall.objects.create(order=locked, first_role=first, request_uuid=request_uuid, requested_at=now)
    logger.info("click-to-call %s for order %s: ringing the %s first", request_uuid, locked.pk, first.value)
    return StartedCall(request_uuid=request_uuid, state=QUEUED, first=first)


def _check_callable(order: Order) -> None:
    if not order.is_line_live:
        raise ValidationError(f"Order {order.reference} has no live line to call through.", code="line_not_live")
    if order.agent is None:
        raise ValidationError(f"Order {order.reference} has no agent to connect.", code="no_agent")
    if not order.agent.is_active:
        raise ValidationError(
            f"Order {order.reference}'s agent is deactivated; assign another agent first.", code="no_agent"
        )
    # Phones were checked when they were saved; the pool or MASKING_PARTY_COUNTRIES
    # may have changed since, and a row may have been written around the rule.
    countries = party_countries()
    for party, phone in (("customer", order.customer_phone), ("agent", order.agent.phone)):
        problem = callable_problem(phone, countries)
        if problem is not None:
            raise ValidationError(
                f"The {party}'s phone on order {order.reference} cannot be called. {problem}",
                code="party_not_callable",
            )


def _check_rate(order: Order, now) -> None:
    limit = settings.MASKING_CLICK_TO_CALL_PER_MINUTE
    if limit <= 0:
        return
    recent = list(
        ClickToCall.objects.filter(order=order, requested_at__gt=now - RATE_WINDOW)
        .order_by("-requested_at")
        .values_list("requested_at", flat=True)[:limit]
    )
    if len(recent) >= limit:
        # A slot frees when the oldest of the last ``limit`` calls leaves the window.
        retry_after = max(1, int((recent[-1] + RATE_WINDOW - now).total_seconds()) + 1)
        raise CallLimitReached(
            f"Order {order.reference} was called {limit} times in the last minute "
            f"(MASKING_CLICK_TO_CALL_PER_MINUTE); try again in {retry_after} s.",
            retry_after,
        )


def _client():
    try:
        return plivo_api.connect()
    except plivo_api.PlivoAPIError as error:
        # Missing or malformed credentials: ours to fix, but Plivo cannot be asked.
        raise ValidationError(str(error), code="plivo_unavailable") from error
