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
    UNKNOWN = "unknown"

    def counterpart(self) -> "Role":
        """The other party of a line: whom this party's call or text reaches (unknown stays unknown)."""
        return _COUNTERPARTS.get(self, Role.UNKNOWN)


# The one place where parties are paired: every "the other party" asks Role.counterpart().
_COUNTERPARTS = {Role.CUSTOMER: Role.AGENT, Role.AGENT: Role.CUSTOMER}


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


CALL_COUNTER_FIELDS = frozenset({"customer_calls", "customer_calls_since", "agent_calls", "agent_calls_since"})


class OrderQuerySet(models.QuerySet):
    def live(self, now: datetime | None = None) -> "OrderQuerySet":
        """Orders whose masked line is open at ``now``: the one predicate routing relies on.

        An expiry is only ever set together with a proxy number (see the check
        constraint), so the expiry alone decides. Order.is_line_live is the same
        test on one loaded order; routing's hand-written SQL keeps a copy, and
        tests/orders/test_live_predicate.py checks that they agree.
        """
        return self.filter(_live_line(now))

    def closed(self, now: datetime | None = None) -> "OrderQuerySet":
        """Every order that is not live: expired, never opened, or purged and closed."""
        return self.exclude(_live_line(now))


def _live_line(now: datetime | None) -> models.Q:
    return models.Q(masking_expires_at__gt=now or timezone.now())


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

    proxy_number = models.ForeignKey(
        ProxyNumber, on_delete=models.PROTECT, null=True, blank=True, related_name="orders"
    )
    pin = models.CharField("PIN", max_length=8, blank=True)
    masking_expires_at = models.DateTimeField(null=True, blank=True)

    # Each party's calls through the line in a fixed window of CALL_LIMIT_WINDOW
    # that starts at *_calls_since (MASKING_MAX_CALLS_PER_HOUR). On the order
    # row so the answer's one routing query reads them; the hangup callback
    # counts (orders.services.count_call).
    customer_calls = models.PositiveIntegerField(default=0, editable=False)
    customer_calls_since = models.DateTimeField(null=True, blank=True, editable=False)
    agent_calls = models.PositiveIntegerField(default=0, editable=False)
    agent_calls_since = models.DateTimeField(null=True, blank=True, editable=False)

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The answer webhook's lookup: (caller, proxy number) for either party.
            models.Index(fields=["customer_phone", "proxy_number"], name="order_customer_proxy"),
            models.Index(fields=["agent", "proxy_number"], name="order_agent_proxy"),
            # Live lines per number (allocation, the proxy-number list) and per
            # agent (the agent list) are counted from these alone (live_lines_of).
            models.Index(fields=["proxy_number", "masking_expires_at"], name="order_proxy_expiry"),
            models.Index(fields=["agent", "masking_expires_at"], name="order_agent_expiry"),
            # The admin's order list, newest first: its ordering plus the pk Django
            # adds to make it deterministic, so a page is read, not sorted.
            models.Index(fields=["-created_at", "-id"], name="order_newest_first"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(proxy_number__isnull=False) | models.Q(masking_expires_at__isnull=True),
                name="order_expiry_needs_proxy_number",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    def save(self, *args, **kwargs) -> None:
        if not self.reference:
            self.reference = new_reference()
        if not self._state.adding and not args and kwargs.get("update_fields") is None:
            # The call counters are counted in the database (services.count_call)
            # while an admin form or a service holds this order: saving it must
            # not write back the counts it read. So a plain save() quietly becomes
            # a save of every other field. Known and kept for now: the issue that
            # gives each line its own counters moves them off this row.
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name not in CALL_COUNTER_FIELDS
            ]
        super().save(*args, **kwargs)

    def clean(self) -> None:
        _on_field("customer_phone", refuse_pool_number, self.customer_phone)
        if _phone_changed(self, "customer_phone"):
            _on_field("customer_phone", refuse_uncallable, self.customer_phone)

    def phone_of(self, role: Role) -> str:
        """The phone of the order's party ``role`` in E.164, or "" (no agent, a purged order, an unknown role)."""
        if role == Role.CUSTOMER:
            return str(self.customer_phone or "")
        if role == Role.AGENT and self.agent_id is not None:
            return str(self.agent.phone)
        return ""

    @property
    def is_line_live(self) -> bool:
        """OrderQuerySet.live() for this one order, without a query."""
        return self.masking_expires_at is not None and self.masking_expires_at > timezone.now()

    @property
    def dial_instructions(self) -> str:
        """What the customer's app shows while the line is live: "call +1 415 555 0100, code 4385"; else "".

        The code is shown even when calls go straight through: another order
        on the same number can make the PIN necessary at any time.
        """
        if not self.is_line_live:
            return ""
        return f"call {display(self.proxy_number.number)}, code {self.pin}"


def live_orders(now: datetime | None = None) -> OrderQuerySet:
    """Orders whose masked line is open (OrderQuerySet.live)."""
    return Order.objects.live(now)


def live_lines_of(field: str, now: datetime | None = None) -> Coalesce:
    """The number of live lines of each row an ``Order`` foreign key ``field`` points at, for ``annotate()``.

    A correlated count per row over live orders only, which an index on
    (``field``, masking_expires_at) answers without reading the table. A
    Count() over the reverse relation joins every order ever made instead (see
    bench/PROFILE.md).
    """
    per_row = live_orders(now).filter(**{field: OuterRef("pk")}).order_by().values(field)
    return Coalesce(Subquery(per_row.annotate(lines=Count("*")).values("lines")), 0)


# The window MASKING_MAX_CALLS_PER_HOUR counts a party's calls in.
CALL_LIMIT_WINDOW = timedelta(hours=1)


def call_limit() -> int:
    """Calls a party may make through one order's line per window; 0 is no limit."""
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
    return live_orders(now).filter(agent__is_active=False)


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
    """ServiceError (``party_phone``) when ``number`` is an agent's phone or an order's customer phone."""
    text = str(number or "")
    if text and (Agent.objects.filter(phone=text).exists() or Order.objects.filter(customer_phone=text).exists()):
        raise ServiceError(
            "%(number)s is an agent's or a customer's phone, not a proxy number.",
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
