"""The records of outbound events: the catalogue, the platform's endpoints, each event and each delivery.

Registered under the ``orders`` app (orders/models.py imports them), so their
tables and migrations stay the app's own.
"""

import base64
import secrets

from django.core.validators import URLValidator
from django.db import connection, models
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone


class EventType(models.TextChoices):
    """The catalogue of events the platform hears about (docs/events.md, "Catalogue"). Adding one is a line here.

    Each label is the type itself: staff read `line.opened` in the admin, as the API and the payloads say it.
    """

    LINE_OPENED = "line.opened", "line.opened"
    LINE_CLOSED = "line.closed", "line.closed"
    LINE_EXPIRED = "line.expired", "line.expired"
    ORDER_STATUS_CHANGED = "order.status_changed", "order.status_changed"
    CALL_COMPLETED = "call.completed", "call.completed"
    CALL_MISSED = "call.missed", "call.missed"
    MESSAGE_RELAYED = "message.relayed", "message.relayed"
    VOICEMAIL_RECEIVED = "voicemail.received", "voicemail.received"
    RECORDING_READY = "recording.ready", "recording.ready"
    CALL_LIMIT_REACHED = "call.limit_reached", "call.limit_reached"
    # A click-to-call that ended without a call: refused by Plivo, Plivo unavailable, or no longer callable.
    CALL_NOT_PLACED = "call.not_placed", "call.not_placed"


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def validate_endpoint_url(url: str) -> None:
    """Only a public http(s) destination without credentials (orders.events.transport decides what is public)."""
    from .transport import check_destination

    check_destination(url)


class WebhookEndpoint(models.Model):
    """A URL of the platform's that receives signed events.

    Its delivery health lives here too: a failing endpoint is tried once per
    retry step (``retry_at``), not once per waiting event, and is disabled
    after a 410 Gone or after failing for EVENTS_DISABLE_AFTER.
    """

    url = models.URLField(
        "URL", max_length=500, validators=[URLValidator(schemes=["http", "https"]), validate_endpoint_url]
    )
    secret = models.CharField(max_length=100, default=new_webhook_secret, editable=False)
    event_types = models.JSONField(
        default=list, blank=True, help_text="Event types it receives; empty means every type."
    )
    is_active = models.BooleanField("active", default=True)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the service turned the endpoint off (410 Gone, or failing too long); cleared when re-activated.
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=200, blank=True, editable=False)
    # Backoff while it fails: consecutive failed attempts, since when, and when the next one may go.
    failure_count = models.PositiveIntegerField(default=0, editable=False)
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    retry_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.description or self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


class CurrentTransactionId(models.Func):
    """The inserting transaction's id on Postgres (``pg_current_xact_id()``), NULL elsewhere.

    SQLite runs one write transaction at a time, so there the sequence number
    alone is commit order.
    """

    output_field = models.BigIntegerField()

    def as_sql(self, compiler, connection, **extra_context):
        return "NULL", []

    def as_postgresql(self, compiler, connection, **extra_context):
        return "(pg_current_xact_id()::text::bigint)", []


# The feed's horizon: the oldest transaction of this database that was still running when the reading
# statement's snapshot was taken (every older one has committed or rolled back), or, with none
# running, the first transaction id not yet given out. Transactions of other databases on the same
# server cannot raise our events and are left out, but only those still seen running in another
# database: one that ended meanwhile keeps the horizon low for this read, which is the safe side.
_FEED_HORIZON = """(
SELECT COALESCE(
  (SELECT MIN(x::text::bigint) FROM pg_snapshot_xip(s.snap) AS x
   WHERE NOT EXISTS (
     SELECT 1 FROM pg_stat_activity a WHERE a.backend_xid = xid(x) AND a.datname <> current_database())),
  pg_snapshot_xmax(s.snap)::text::bigint)
FROM (SELECT pg_current_snapshot() AS snap) AS s
)"""


class EventQuerySet(models.QuerySet):
    def settled(self) -> "EventQuerySet":
        """Events a feed reader may see without ever missing one that commits later, in feed order.

        An event carries its transaction's id. Every transaction older than the
        oldest one still running has ended, so no event can still appear below
        that horizon: the feed stops there and orders by (transaction id,
        sequence). Nothing is locked to get this (docs/events.md, "Feed order").
        """
        events = self.order_by("txid", "seq")
        if connection.vendor == "postgresql":
            events = events.filter(txid__lt=RawSQL(_FEED_HORIZON, []))  # noqa: S611 - a constant, no input
        return events

    def after(self, event: "Event") -> "EventQuerySet":
        """Events that come after ``event`` in feed order."""
        if event.txid is None:
            return self.filter(seq__gt=event.seq)
        return self.filter(Q(txid__gt=event.txid) | Q(txid=event.txid, seq__gt=event.seq))


class Event(models.Model):
    """Something that happened to an order, as the platform hears it. Holds no phone number of a party."""

    seq = models.BigAutoField(primary_key=True)
    id = models.CharField("ID", max_length=32, unique=True, default=new_event_id, editable=False)
    type = models.CharField(max_length=32, choices=EventType.choices)
    occurred_at = models.DateTimeField(default=timezone.now)
    data = models.JSONField(default=dict)
    # Raising an event twice for one cause (a retried callback, a task run
    # twice) is refused by this key; empty when the cause cannot repeat.
    dedupe_key = models.CharField(max_length=120, null=True, blank=True, unique=True, editable=False)
    # The id of the transaction that inserted it (EventQuerySet.settled).
    txid = models.BigIntegerField(null=True, blank=True, editable=False, db_default=CurrentTransactionId())

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["txid", "seq"], name="event_feed_order"),
            models.Index(fields=["type", "txid", "seq"], name="event_type_feed_order"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"

    @property
    def payload(self) -> dict:
        return {"id": self.id, "type": self.type, "occurred_at": self.occurred_at.isoformat(), "data": self.data}


class Delivery(models.Model):
    """One event on its way to one endpoint: pending until a 2xx, failed after the last retry."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # Set while a worker holds it (orders.events.delivery.claim); a lease that
    # ran out means that worker died, and another may take it.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=32, blank=True, editable=False)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # Why a failed delivery stopped: the last retry, or its endpoint turned off.
    failure_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-pk"]
        # "Deliveries" alone reads as parcels in a delivery business.
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_status_due")]

    def __str__(self) -> str:
        return f"{self.event} to {self.endpoint}"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["attempted_at", "pk"]

    def __str__(self) -> str:
        return f"{self.status_code or self.error} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"
