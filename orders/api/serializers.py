"""What the dispatch API reads and writes (see orders/api/orders.py)."""

from collections.abc import Iterator
from contextlib import contextmanager

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, models, transaction
from drf_spectacular.utils import extend_schema_field
from phonenumbers import NumberParseException, ValidationResult
from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from ..models import PARTIES, Agent, Line, Order, refuse_pool_number, refuse_uncallable, validate_reference

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "it has no valid country code; write it as +<country code><number>",
    NumberParseException.NOT_A_NUMBER: "it is not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "it is too short",
    NumberParseException.TOO_SHORT_NSN: "it is too short",
    NumberParseException.TOO_LONG: "it is too long",
}
_LENGTH_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "it has no valid country code; write it as +<country code><number>",
    ValidationResult.TOO_SHORT: "it is too short",
    ValidationResult.TOO_LONG: "it is too long",
    ValidationResult.INVALID_LENGTH: "it has the wrong number of digits",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "it lacks an area code",
}


class TextField(serializers.CharField):
    """A string field that takes JSON strings only: DRF's CharField turns 42 or 4.2e16 into "42"."""

    default_error_messages = {"not_a_string": "Expected a string."}

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


@extend_schema_field(
    {
        "type": "string",
        "example": "+14155550100",
        "description": "International (E.164) form; national form is read in the server's default region.",
    }
)
class PhoneField(serializers.CharField):
    """A phone number, read as the admin reads it and answered in E.164.

    Errors say why the number was refused, not just that it was.
    """

    default_error_messages = {"phone": "Not a valid phone number: {reason}."}

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 32)
        super().__init__(**kwargs)

    def to_internal_value(self, data: object) -> str:
        text = super().to_internal_value(data)
        try:
            number = phonenumbers.parse(text, settings.MASKING_DEFAULT_REGION)
        except NumberParseException as error:
            self.fail("phone", reason=_PARSE_REASONS.get(error.error_type, "it is not a phone number"))
        possible = phonenumbers.is_possible_number_with_reason(number)
        if possible in _LENGTH_REASONS:
            self.fail("phone", reason=_LENGTH_REASONS[possible])
        if not phonenumbers.is_valid_number(number):
            region = phonenumbers.region_code_for_country_code(number.country_code)
            self.fail("phone", reason=f"no such number is in use in +{number.country_code} ({region})")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def to_representation(self, value: object) -> str:
        return getattr(value, "as_e164", None) or str(value)


class StrictModelSerializer(serializers.ModelSerializer):
    """The base of every model serializer of the API: a text column takes JSON strings only (TextField)."""

    serializer_field_mapping = {**serializers.ModelSerializer.serializer_field_mapping, models.CharField: TextField}


@contextmanager
def taken_is_a_field_error(field: str, message: str) -> Iterator[None]:
    """A unique index refusing the write is ``field``'s 400, not a server error.

    A UniqueValidator reads before the write, so two concurrent requests with
    the same value both pass it and one of them hits the index: that is the
    same refusal.
    """
    try:
        # The savepoint keeps a surrounding transaction usable after the refusal.
        with transaction.atomic():
            yield
    except IntegrityError as error:
        raise serializers.ValidationError({field: [message]}) from error


PHONE_TAKEN = "An agent with this phone number already exists."


class AgentSerializer(StrictModelSerializer):
    phone = PhoneField(validators=[UniqueValidator(Agent.objects.all(), message=PHONE_TAKEN)])

    class Meta:
        model = Agent
        fields = ["id", "name", "phone", "is_active"]

    def validate_phone(self, phone: str) -> str:
        return _party_phone(phone)

    def create(self, validated_data: dict) -> Agent:
        with taken_is_a_field_error("phone", PHONE_TAKEN):
            return super().create(validated_data)

    def update(self, instance: Agent, validated_data: dict) -> Agent:
        with taken_is_a_field_error("phone", PHONE_TAKEN):
            return super().update(instance, validated_data)


def _party_phone(phone: str) -> str:
    """``phone``, or the field's 400 when it may not be a party's phone (the model's and the services' rules)."""
    try:
        refuse_pool_number(phone)
        refuse_uncallable(phone)
    except DjangoValidationError as error:
        raise serializers.ValidationError(error.messages) from error
    return phone


class MaskingSerializer(serializers.Serializer):
    """What the customer's app shows for the customer–agent line: "call +1 415 555 0100, code 4821"."""

    proxy_number = PhoneField(source="proxy_number.number", help_text="The number both parties call.")
    pin = serializers.CharField(help_text="Asked for only when a caller has several live lines on the number.")
    expires_at = serializers.DateTimeField(allow_null=True)
    live = serializers.BooleanField(source="is_live", help_text="Whether calls are put through now.")


class LineSerializer(MaskingSerializer):
    """One masked line: two parties of the order, their proxy number and PIN."""

    parties = serializers.ListField(
        child=serializers.ChoiceField(choices=[role.value for role in PARTIES]),
        min_length=2,
        max_length=2,
        help_text="The line's two parties: `customer`, `agent` or `store`.",
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        return {name: fields[name] for name in ["parties", "proxy_number", "pin", "expires_at", "live"]}

    def to_representation(self, line: Line) -> dict:
        data = super().to_representation(line)
        data["parties"] = [role.value for role in line.parties]
        return data


class OrderSerializer(serializers.ModelSerializer):
    customer_phone = PhoneField(read_only=True)
    store_phone = serializers.SerializerMethodField(
        help_text="The store's phone in E.164; null when the order has no store."
    )
    masking = serializers.SerializerMethodField(
        help_text="The customer–agent line (as in `lines`); null until an agent is assigned."
    )
    lines = serializers.SerializerMethodField(
        help_text="Every line the order has had, live or closed: customer–agent, store–agent, customer–store."
    )

    class Meta:
        model = Order
        fields = [
            "reference",
            "customer_name",
            "customer_phone",
            "store_name",
            "store_phone",
            "status",
            "agent",
            "created_at",
            "updated_at",
            "masking",
            "lines",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "nullable": True, "example": "+14155550199"})
    def get_store_phone(self, order: Order) -> str | None:
        return str(order.store_phone) if order.store_phone else None

    @extend_schema_field(MaskingSerializer(allow_null=True))
    def get_masking(self, order: Order) -> dict | None:
        line = order.masking
        return MaskingSerializer(line).data if line is not None else None

    @extend_schema_field(LineSerializer(many=True))
    def get_lines(self, order: Order) -> list[dict]:
        return [LineSerializer(line).data for line in order.lines.all()]


class OrderCreateSerializer(serializers.Serializer):
    reference = serializers.CharField(
        required=False,
        max_length=32,
        # The model field's own validator: the admin accepts exactly what the API can address.
        validators=[validate_reference],
        help_text="Your own order code; one is generated when omitted. "
        "Sending an existing reference with the same details returns that order.",
    )
    customer_name = TextField(max_length=100)
    customer_phone = PhoneField()
    store_name = TextField(max_length=100, required=False, allow_blank=True, help_text="The store, if any.")
    store_phone = PhoneField(
        required=False,
        help_text="The store's phone: the agent and the store reach each other over a store–agent line.",
    )

    # services.create_order refuses these too; here they come with the other fields' errors in one 400.
    def validate_customer_phone(self, phone: str) -> str:
        return _party_phone(phone)

    def validate_store_phone(self, phone: str) -> str:
        return _party_phone(phone)


class OrderUpdateSerializer(serializers.Serializer):
    """PATCH: the store's details. A store phone set on an order with open lines opens its store lines."""

    store_name = TextField(max_length=100, required=False, allow_blank=True)
    store_phone = PhoneField(
        required=False,
        allow_blank=True,
        help_text="The store's phone; \"\" removes it and closes the store's lines.",
    )

    def validate_store_phone(self, phone: str) -> str:
        return _party_phone(phone) if phone else phone


class AgentIdField(serializers.PrimaryKeyRelatedField):
    """An agent id as a JSON integer, nothing int() would also take (1.9, "1 ", "١", true)."""

    def to_internal_value(self, data: object) -> Agent:
        if type(data) is not int:
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)


class AssignSerializer(serializers.Serializer):
    agent = AgentIdField(
        queryset=Agent.objects.all(),
        help_text="Agent id.",
        error_messages={
            "does_not_exist": "No agent with id {pk_value}.",
            "incorrect_type": "Expected an agent id (an integer), got {data_type}.",
        },
    )


class OrderFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Order.Status.choices, required=False)
    # Bounded to the id column's range: a larger number is no id, and SQLite
    # cannot even bind it (a foreign-key lookup gets no overflow guard from Django).
    agent = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1, help_text="Agent id.")
