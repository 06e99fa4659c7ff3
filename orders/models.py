import secrets
from datetime import datetime, timedelta

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from phonenumber_field.modelfields import PhoneNumberField

from .errors import ServiceError
from .events.models import (  # noqa: F401  (registered with this app; migrations name them here)
    CurrentTransactionId,
    Delivery,
    DeliveryAttempt,
    Event,
    EventType,
    WebhookEndpoint,
    new_event_id,
    new_webhook_secret,
)
from .phones import callable_problem, display, redact

# No 0/O or 1/I: staff read references out over the phone.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
REFERENCE_LENGTH = 8


class Role(models.TextChoices):
    """Who a phone number is in an order: the routing result and what call records store."""

    CUSTOMER = "customer"
    AGENT = "agent"
    STORE = "store"
    UNKNOWN = "unknown"

    def counterpart(self) -> "Role":
        """The other party on the customer–agent line (store and unknown: unknown).

        Kept for what only the customer–agent line has (a click-to-call that
        names one party); a line of any kind answers ``Line.Kind.other``.
        """
        return _COUNTERPARTS.get(self, Role.UNKNOWN)


_COUNTERPARTS = {Role.CUSTOMER: Role.AGENT, Role.AGENT: Role.CUSTOMER}

# The parties an order can have, in the order the API lists them.
PARTIES = (Role.CUSTOMER, Role.AGENT, Role.STORE)


# What the API can address as a path segment and staff can read out: letters,
# digits, '-' and '_'. On the model field, so the admin, the API and any
# full_clean() refuse the same references.
validate_reference = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_-]*\Z",
    "Use letters, digits, '-' and '_' only, starting with a letter or digit.",
    code="invalid_reference",
)


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


class Agent(models.Model):
    name = models.CharField(max_length=100)
    phone = PhoneNumberField(unique=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        _on_field("phone", refuse_pool_number, self.phone)
        if _phone_changed(self, "phone"):
            _on_field("phone", refuse_uncallable, self.phone)


class ProxyNumber(models.Model):
    """A rented Plivo number that calls between parties are routed through."""

    number = PhoneNumberField(unique=True)
    country = models.CharField(max_length=2, editable=False, help_text="ISO region, derived from the number.")
    is_active = models.BooleanField(default=True)
    label = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.number} ({self.label})" if self.label else str(self.number)

    def save(self, *args, **kwargs) -> None:
        self.country = phonenumbers.region_code_for_number(self.number) or ""
        super().save(*args, **kwargs)

    def clean(self) -> None:
        _on_field("number", refuse_party_phone, self.number)


class OrderQuerySet(models.QuerySet):
    def live(self, now: datetime | None = None) -> "OrderQuerySet":
        """Orders with at least one live line at ``now`` (LineQuerySet.live, the one predicate)."""
        return self.filter(models.Exists(Line.objects.live(now).filter(order=models.OuterRef("pk"))))

    def closed(self, now: datetime | None = None) -> "OrderQuerySet":
        """Every order without a live line: expired, never opened, or purged and closed."""
        return self.exclude(models.Exists(Line.objects.live(now).filter(order=models.OuterRef("pk"))))


class Order(models.Model):
    class Status(models.TextChoices):
        PLACED = "placed"
        ASSIGNED = "assigned"
        PICKED_UP = "picked_up", "Picked up"
        DELIVERED = "delivered"
        CANCELLED = "cancelled"

    reference = models.CharField(max_length=32, unique=True, blank=True, validators=[validate_reference])
    customer_name = models.CharField(max_length=100)
    customer_phone = PhoneNumberField()
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, null=True, blank=True, related_name="orders")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLACED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The optional third party: the store (restaurant, shop) the agent collects from.
    store_name = models.CharField(max_length=100, blank=True)
    store_phone = PhoneNumberField(blank=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The admin's order list, newest first: its ordering plus the pk Django
            # adds to make it deterministic, so a page is read, not sorted.
            models.Index(fields=["-created_at", "-id"], name="order_newest_first"),
        ]

    def __str__(self) -> str:
        return self.reference

    def save(self, *args, **kwargs) -> None:
        if not self.reference:
            self.reference = new_reference()
        super().save(*args, **kwargs)
        stored = getattr(self, "_stored_phones", None)
        phones = (self.customer_phone, self.store_phone)
        if stored is not None and [str(p or "") for p in stored] != [str(p or "") for p in phones]:
            # Routing reads the parties' phones from the line rows (one indexed
            # query); a changed phone follows onto them.
            lines = Line.objects.filter(order=self)
            lines.filter(kind__in=Line.Kind.with_party(Role.CUSTOMER)).update(customer_phone=self.customer_phone)
            lines.filter(kind__in=Line.Kind.with_party(Role.STORE)).update(store_phone=self.store_phone)
        self._stored_phones = phones

    @classmethod
    def from_db(cls, db, field_names, values):
        order = super().from_db(db, field_names, values)
        # The phones as stored: save() copies a changed one onto the order's lines.
        order._stored_phones = (order.__dict__.get("customer_phone"), order.__dict__.get("store_phone"))
        return order

    def clean(self) -> None:
        for field in ("customer_phone", "store_phone"):
            _on_field(field, refuse_pool_number, getattr(self, field))
            if getattr(self, field) and _phone_changed(self, field):
                _on_field(field, refuse_uncallable, getattr(self, field))
        if self.store_phone and str(self.store_phone) == str(self.customer_phone):
            raise ValidationError({"store_phone": "The store's phone is the customer's phone."})

    def phone_of(self, role: Role) -> str:
        """The phone of the order's party ``role`` in E.164, or "" (no agent, no store, purged, unknown role)."""
        return party_phone(self, role)

    def line(self, kind: "Line.Kind | str") -> "Line | None":
        """The order's line of ``kind``, live or not, or None.

        The lines are read once per instance (with their numbers), like a
        field: refresh_from_db() reads them again.
        """
        if "lines" not in getattr(self, "_prefetched_objects_cache", {}):
            models.prefetch_related_objects([self], "lines__proxy_number")
        return next((line for line in self.lines.all() if line.kind == kind), None)

    @property
    def masking(self) -> "Line | None":
        """The customer–agent line: what the API's ``masking`` and older clients know as the order's line."""
        return self.line(Line.Kind.CUSTOMER_AGENT)

    @property
    def live_lines(self) -> list["Line"]:
        self.line(Line.Kind.CUSTOMER_AGENT)  # reads the lines once
        return [line for line in self.lines.all() if line.is_live]

    @property
    def is_line_live(self) -> bool:
        """Whether any line of the order is live (OrderQuerySet.live() for this one order)."""
        return bool(self.live_lines)

    @property
    def dial_instructions(self) -> str:
        """What the customer's app shows for the customer–agent line: "call +1 415 555 0100, code 4385"; else ""."""
        line = self.masking
        return line.dial_instructions if line is not None else ""

    @property
    def party_instructions(self) -> dict[str, list[str]]:
        """Per party, what their app shows for each of their live lines ("the store: call …, code …").

        The code is shown even when calls go straight through: another order
        on the same number can make the PIN necessary at any time.
        """
        shown: dict[str, list[str]] = {}
        for line in self.live_lines:
            for role in line.parties:
                other = Line.Kind(line.kind).other(role)
                shown.setdefault(role.value, []).append(f"the {other.value}: {line.dial_instructions}")
        return shown


class LineQuerySet(models.QuerySet):
    def live(self, now: datetime | None = None) -> "LineQuerySet":
        """Lines open at ``now``: THE live-line predicate routing, allocation and the pool rely on.

        A line's expiry alone decides (closing a line sets it to now). Line.is_live
        is the same test on one loaded line; routing's hand-written SQL keeps a
        copy, and tests/orders/test_live_predicate.py checks that they agree.
        """
        return self.filter(expires_at__gt=now or timezone.now())

    def closed(self, now: datetime | None = None) -> "LineQuerySet":
        return self.exclude(expires_at__gt=now or timezone.now())


class Line(models.Model):
    """A masked line: two parties of one order, their own proxy number, PIN, expiry and hourly counters.

    Like a Twilio Proxy session, a line has exactly two participants. The
    parties' phones are copied onto the row (Order.save keeps them in step)
    so routing is one indexed query on this table.
    """

    class Kind(models.TextChoices):
        CUSTOMER_AGENT = "customer_agent", "Customer–agent"
        STORE_AGENT = "store_agent", "Store–agent"
        CUSTOMER_STORE = "customer_store", "Customer–store"

        @property
        def parties(self) -> tuple[Role, Role]:
            return _LINE_PARTIES[self]

        def other(self, role: Role) -> Role:
            """The other party of this kind of line, or unknown when ``role`` is not on it."""
            first, second = _LINE_PARTIES[self]
            return second if role == first else first if role == second else Role.UNKNOWN

        @classmethod
        def with_party(cls, role: Role) -> list["Line.Kind"]:
            return [kind for kind in cls if role in _LINE_PARTIES[kind]]

        @classmethod
        def joining(cls, first: Role, second: Role) -> "Line.Kind | None":
            """The kind of line between two parties (in any order), or None."""
            return next((kind for kind in cls if set(_LINE_PARTIES[kind]) == {first, second}), None)

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines", db_index=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # No single-column indexes on the foreign keys: the composite ones below lead with them.
    proxy_number = models.ForeignKey(ProxyNumber, on_delete=models.PROTECT, related_name="lines", db_index=False)
    pin = models.CharField("PIN", max_length=8, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    # The parties' phones, copied from the order ("" / NULL where the kind lacks that party).
    customer_phone = PhoneNumberField(blank=True)
    store_phone = PhoneNumberField(blank=True)
    agent = models.ForeignKey(
        Agent, on_delete=models.PROTECT, null=True, blank=True, related_name="lines", db_index=False
    )

    # Each party's calls through this line in a fixed window of CALL_LIMIT_WINDOW
    # that starts at *_calls_since (MASKING_MAX_CALLS_PER_HOUR); the answer's one
    # routing query reads them, the hangup callback counts (services.count_call).
    customer_calls = models.PositiveIntegerField(default=0, editable=False)
    customer_calls_since = models.DateTimeField(null=True, blank=True, editable=False)
    agent_calls = models.PositiveIntegerField(default=0, editable=False)
    agent_calls_since = models.DateTimeField(null=True, blank=True, editable=False)
    store_calls = models.PositiveIntegerField(default=0, editable=False)
    store_calls_since = models.DateTimeField(null=True, blank=True, editable=False)

    objects = LineQuerySet.as_manager()

    class Meta:
        ordering = ["order", "kind"]
        constraints = [models.UniqueConstraint(fields=["order", "kind"], name="line_one_per_kind")]
        indexes = [
            # The answer webhook's lookup: (caller, proxy number) for each party.
            models.Index(fields=["customer_phone", "proxy_number"], name="line_customer_proxy"),
            models.Index(fields=["store_phone", "proxy_number"], name="line_store_proxy"),
            models.Index(fields=["agent", "proxy_number"], name="line_agent_proxy"),
            # Live lines per number (allocation, the proxy-number list) and per
            # agent (the agent list) are counted from these alone (live_lines_of).
            models.Index(fields=["proxy_number", "expires_at"], name="line_proxy_expiry"),
            models.Index(fields=["agent", "expires_at"], name="line_agent_expiry"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} line"

    @property
    def parties(self) -> tuple[Role, Role]:
        return self.Kind(self.kind).parties

    @property
    def is_live(self) -> bool:
        """LineQuerySet.live() for this one line, without a query."""
        return self.expires_at is not None and self.expires_at > timezone.now()

    @property
    def dial_instructions(self) -> str:
        """What a party's app shows while the line is live: "call +1 415 555 0100, code 4385"; else ""."""
        if not self.is_live:
            return ""
        return f"call {display(self.proxy_number.number)}, code {self.pin}"

    def phone_of(self, role: Role) -> str:
        """The phone of the line's party ``role`` in E.164, or ""."""
        return party_phone(self, role)


_LINE_PARTIES = {
    Line.Kind.CUSTOMER_AGENT: (Role.CUSTOMER, Role.AGENT),
    Line.Kind.STORE_AGENT: (Role.STORE, Role.AGENT),
    Line.Kind.CUSTOMER_STORE: (Role.CUSTOMER, Role.STORE),
}


def live_lines(now: datetime | None = None) -> LineQuerySet:
    """Lines that are open (LineQuerySet.live)."""
    return Line.objects.live(now)


def live_orders(now: datetime | None = None) -> OrderQuerySet:
    """Orders with a live line (OrderQuerySet.live)."""
    return Order.objects.live(now)


def live_lines_of(field: str, now: datetime | None = None) -> Coalesce:
    """The number of live lines of each row a ``Line`` foreign key ``field`` points at, for ``annotate()``.

    A correlated count per row over live lines only, which an index on
    (``field``, expires_at) answers without reading the table. A Count() over
    the reverse relation joins every line ever opened instead (see
    bench/PROFILE.md).
    """
    per_row = live_lines(now).filter(**{field: OuterRef("pk")}).order_by().values(field)
    return Coalesce(Subquery(per_row.annotate(lines=Count("*")).values("lines")), 0)


# The window MASKING_MAX_CALLS_PER_HOUR counts a party's calls in.
CALL_LIMIT_WINDOW = timedelta(hours=1)


def call_limit() -> int:
    """Calls a party may make through one line per window; 0 is no limit."""
    return settings.MASKING_MAX_CALLS_PER_HOUR


class BlockedNumberQuerySet(models.QuerySet):
    def in_force(self, now: datetime | None = None) -> "BlockedNumberQuerySet":
        """Blocks that apply at ``now``: the one predicate (routing's raw SQL keeps a tested copy)."""
        return self.filter(_block_in_force(now))


def _block_in_force(now: datetime | None) -> models.Q:
    return models.Q(until__isnull=True) | models.Q(until__gt=now or timezone.now())


class BlockedNumber(models.Model):
    """A phone number whose calls and texts reach no one: it hears the unknown-caller message."""

    number = PhoneNumberField(unique=True)
    reason = models.CharField(max_length=200)
    until = models.DateTimeField(null=True, blank=True, help_text="Empty: blocked until the block is removed.")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = BlockedNumberQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        # Only the number as log lines show it (+1***77): this text goes into the admin's history of changes
        # and its messages ("The blocked number “+1***77” was added").
        return redact(self.number) if self.number else "new blocked number"

    @property
    def is_in_force(self) -> bool:
        """BlockedNumberQuerySet.in_force() for this one block, without a query."""
        return self.until is None or self.until > timezone.now()


class DeliverySweep(models.Model):
    """When a recurring job of the worker is next due, one row each.

    Row 1: the sweep for tasks whose worker died (orders.tasks.sweep_tasks);
    row 2: the daily purge (orders.tasks.schedule_purge).
    """

    next_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"next sweep at {self.next_at:%Y-%m-%d %H:%M:%S}"


def orders_needing_agent(now: datetime | None = None) -> models.QuerySet[Order]:
    """Live orders whose agent was deactivated: their customers reach no one until a new agent is assigned."""
    return Order.objects.filter(models.Exists(live_lines(now).filter(order=OuterRef("pk"), agent__is_active=False)))


# A party's phone that is one of our own proxy numbers would make the service
# tell Plivo to dial itself: refused on every path that saves one (model
# clean() for the admin, the serializer and the services for the API, the
# pool sync).


def refuse_pool_number(phone: object, *, field: str | None = None) -> None:
    """ServiceError (``pool_number``) when ``phone`` is a number of the proxy pool, active or not."""
    if phone and ProxyNumber.objects.filter(number=str(phone)).exists():
        raise ServiceError(
            "This is one of the service's proxy numbers, not a party's phone.", code="pool_number", field=field
        )


def refuse_uncallable(phone: object, *, field: str | None = None) -> None:
    """ServiceError (``uncallable_number``) when the callable-number rule refuses ``phone`` as a party's phone.

    Applied wherever a party's phone is saved, beside refuse_pool_number;
    voice checks the stored phones again before it dials.
    """
    # Imported here: orders.pool reads the models.
    from .pool import party_countries

    problem = callable_problem(phone, party_countries()) if phone else None
    if problem is not None:
        raise ServiceError(problem, code="uncallable_number", field=field)


def refuse_party_phone(number: object) -> None:
    """ServiceError (``party_phone``) when ``number`` is an agent's phone or an order's customer or store phone."""
    text = str(number or "")
    if text and (
        Agent.objects.filter(phone=text).exists()
        or Order.objects.filter(models.Q(customer_phone=text) | models.Q(store_phone=text)).exists()
    ):
        raise ServiceError(
            "%(number)s is an agent's or a customer's phone (or a store's), not a proxy number.",
            code="party_phone",
            params={"number": text},
        )


def _phone_changed(instance: models.Model, field: str) -> bool:
    """Whether ``field`` holds another phone than the stored one: always, for a new row.

    A phone saved before the callable-number rule, or before the pool lost
    its country, must not stop staff from deactivating its agent or
    reassigning its order; dialling it is refused all the same.
    """
    if instance._state.adding:
        return True
    stored = type(instance)._default_manager.filter(pk=instance.pk, **{field: getattr(instance, field)})
    return not stored.exists()


def _on_field(field: str, check, value: object) -> None:
    try:
        check(value)
    except ValidationError as error:
        raise ValidationError({field: error}) from error


def party_phone(holder: "Order | Line", role: Role) -> str:
    """The phone of ``role`` on an order or a line (the same three fields), in E.164, or ""."""
    if role == Role.CUSTOMER:
        return str(holder.customer_phone or "")
    if role == Role.STORE:
        return str(holder.store_phone or "")
    if role == Role.AGENT and holder.agent_id is not None:
        return str(holder.agent.phone)
    return ""
