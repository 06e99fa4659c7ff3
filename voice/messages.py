"""SMS masking: relay a text between the two parties of a live line (any kind: customer, agent, store).

Same routing as calls (the pair sender, proxy number). A sender with several
live lines on the number starts the text with the line's PIN, which is
stripped before the text is relayed. The text is never logged or stored.
"""

import logging
import re

from django.conf import settings
from django.db import transaction

from numbermasking import metrics
from orders.events import emit, line_data
from orders.models import EventType, Line
from orders.phones import log_value, redact
from orders.routing import Action, Route, resolve, resolve_pin

from . import records
from .models import MessageRecord
from .plivo import xml
from .plivo.params import Message

logger = logging.getLogger(__name__)

Outcome = MessageRecord.Outcome

PIN_PROMPT = f"{xml.SEVERAL_DELIVERIES} Please start your message with your order code."
PIN_RETRY = "That order code was not recognised. Please start your message with your order code."


def _split_pin(text: str) -> tuple[str, str]:
    """The PIN a text starts with and the text after it; ``("", text)`` when it starts with none."""
    length = settings.MASKING_PIN_LENGTH
    match = re.match(rf"\s*(\d{{{length}}})(?!\d)[\s:.,;#-]*(.*)", text, re.DOTALL)
    return (match.group(1), match.group(2)) if match else ("", text)


def relay(message: Message) -> str:
    """Message webhook: relay the text, ask for the PIN, or stay silent; record it once per MessageUUID.

    Only a text whose MessageUUID is new is answered: the record's insert says so.
    """
    sender, proxy_number, text = message.sender.e164, message.proxy_number.e164, message.text
    # The hourly limit is on calls; a blocked sender is still refused.
    route = resolve(sender, proxy_number, hourly_limit=False)
    prompt = PIN_PROMPT
    if route.action == Action.ASK_PIN:
        pin, rest = _split_pin(text)
        by_pin = resolve_pin(sender, proxy_number, pin, hourly_limit=False) if pin else None
        if by_pin is not None and by_pin.action == Action.CONNECT:
            route, text = by_pin, rest
        elif pin:
            prompt = PIN_RETRY

    if route.action == Action.CONNECT and text.strip():
        outcome, body = Outcome.RELAYED, xml.sms(text, src=route.proxy_number, dst=route.connect_to)
    elif route.action == Action.CONNECT:
        # A PIN alone, or a picture with no text: nothing to pass on.
        outcome, body = Outcome.EMPTY, xml.empty()
    elif route.action == Action.ASK_PIN:
        outcome, body = Outcome.PIN_PROMPTED, xml.sms(prompt, src=route.proxy_number, dst=route.caller)
    elif route.action == Action.BLOCKED:
        # Silent, as for a stranger.
        outcome, body = Outcome.BLOCKED, xml.empty()
    else:
        # Strangers get no answer at all: a reply would confirm the number is in use.
        outcome, body = Outcome.UNKNOWN, xml.empty()
    # DEBUG like the answer's line: the message record is the per-message log.
    logger.debug("sms from %s to %s: %s", redact(route.caller), redact(route.proxy_number), outcome)
    with transaction.atomic():
        if not records.record_message(message, route, outcome):
            # A MessageUUID seen before is a replay (or a retry of a text already
            # relayed): relaying again would send it twice, and to whoever is the
            # other party by now.
            logger.info(
                "did not relay message %s again: its MessageUUID was seen before", log_value(message.message_uuid)
            )
            return xml.empty()
        if outcome == Outcome.RELAYED:
            _relayed(message, route)
            transaction.on_commit(metrics.TEXTS_RELAYED.inc)
    return body


def _relayed(message: Message, route: Route) -> None:
    message_uuid = message.message_uuid
    line = Line.objects.select_related("order", "proxy_number").get(pk=route.line_id)
    data = {
        **line_data(line),
        "message_uuid": message_uuid,
        "sender_role": route.role.value,
        "recipient_role": route.callee_role.value,
    }
    # Only a new MessageUUID gets here, but the key keeps the rule in one place: one text, one event.
    emit(EventType.MESSAGE_RELAYED, data, dedupe_key=f"message:{message_uuid}")
