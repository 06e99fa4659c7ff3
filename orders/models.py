import secrets
from datetime import datetime

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from phonenumber_field.modelfields import PhoneNumberField

# No 0/O or 1/I: staff read references out over the phone.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
REFERENCE_LENGTH = 8


class Role(models.TextChoices):
    """Who a phone number is in an order: the routing result and what call records store."""

    CUSTOMER = "customer"
    AGENT = "agent"
    UNKNOWN = "unknown"


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

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The answer webhook's lookup: (caller, proxy number) for either party.
            models.Index(fields=["customer_phone", "proxy_number"], name="order_customer_proxy"),
            models.Index(fields=["agent", "proxy_number"], name="order_agent_proxy"),
            # Load per number during allocation counts only live lines.
            models.Index(fields=["proxy_number", "masking_expires_at"], name="order_proxy_expiry"),
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
        super().save(*args, **kwargs)

    def clean(self) -> None:
        _on_field("customer_phone", refuse_pool_number, self.customer_phone)

    @property
    def is_line_live(self) -> bool:
        return self.masking_expires_at is not None and self.masking_expires_at > timezone.now()


def live_orders(now: datetime | None = None) -> models.QuerySet[Order]:
    """Orders whose masked line is open: the one predicate routing relies on.

    An expiry is only ever set together with a proxy number (see the check
    constraint), so the expiry alone decides.
    """
    return Order.objects.filter(masking_expires_at__gt=now or timezone.now())


def orders_needing_agent(now: datetime | None = None) -> models.QuerySet[Order]:
    """Live orders whose agent was deactivated: their customers reach no one until a new agent is assigned."""
    return live_orders(now).filter(agent__is_active=False)


# A party's phone that is one of our own proxy numbers would make the service
# tell Plivo to dial itself: refused on every path that saves one (model
# clean() for the admin, the serializer and the services for the API, the
# pool sync).


def refuse_pool_number(phone: object) -> None:
    """ValidationError (``pool_number``) when ``phone`` is a number of the proxy pool, active or not."""
    if phone and ProxyNumber.objects.filter(number=str(phone)).exists():
        raise ValidationError("This is one of the service's proxy numbers, not a party's phone.", code="pool_number")


def refuse_party_phone(number: object) -> None:
    """ValidationError (``party_phone``) when ``number`` is an agent's phone or an order's customer phone."""
    text = str(number or "")
    if text and (Agent.objects.filter(phone=text).exists() or Order.objects.filter(customer_phone=text).exists()):
        raise ValidationError(
            "%(number)s is an agent's or a customer's phone, not a proxy number.",
            code="party_phone",
            params={"number": text},
        )


def _on_field(field: str, check, value: object) -> None:
    try:
        check(value)
    except ValidationError as error:
        raise ValidationError({field: error}) from error
