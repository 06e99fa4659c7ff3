"""The block list in the API: numbers whose calls and texts reach no one (docs/security.md, "Abuse controls").

The same rows as the admin's block list; routing reads them in its one query.
"""

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.validators import UniqueValidator

from ..models import BlockedNumber
from .errors import error_responses
from .serializers import PhoneField, StrictModelSerializer, taken_is_a_field_error
from .views import NumericIdLookup, Pagination

NUMBER_TAKEN = "This number is already blocked; change or remove its block instead."


class BlockedNumberSerializer(StrictModelSerializer):
    number = PhoneField(validators=[UniqueValidator(BlockedNumber.objects.all(), message=NUMBER_TAKEN)])
    until = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When the block ends; null or omitted: until it is removed."
    )
    in_force = serializers.BooleanField(source="is_in_force", read_only=True, help_text="Whether it applies now.")
    added_by = serializers.SerializerMethodField(
        help_text="The admin user who blocked it; null when it came through the API."
    )

    class Meta:
        model = BlockedNumber
        fields = ["id", "number", "reason", "until", "in_force", "added_by", "created_at"]
        read_only_fields = ["id", "created_at"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_added_by(self, blocked: BlockedNumber) -> str | None:
        # A method, not source="added_by.…": a PATCH (partial) would leave a null user's field out.
        return blocked.added_by.get_username() if blocked.added_by else None

    # The unique index settles two concurrent requests for one number: the
    # same refusal as the validator's, not a server error.
    def create(self, validated_data: dict) -> BlockedNumber:
        with taken_is_a_field_error("number", NUMBER_TAKEN):
            return super().create(validated_data)

    def update(self, instance: BlockedNumber, validated_data: dict) -> BlockedNumber:
        with taken_is_a_field_error("number", NUMBER_TAKEN):
            return super().update(instance, validated_data)


class BlockedNumberFilterSerializer(serializers.Serializer):
    number = PhoneField(required=False, help_text="Only the block of this number.")


@extend_schema_view(
    list=extend_schema(
        summary="List blocked numbers, newest first",
        parameters=[BlockedNumberFilterSerializer],
        responses={200: BlockedNumberSerializer(many=True), **error_responses(400, 404)},
    ),
    create=extend_schema(
        summary="Block a number: its calls hear the unknown-caller message, its texts are not relayed",
        responses={201: BlockedNumberSerializer, **error_responses(400, 415)},
    ),
    retrieve=extend_schema(
        summary="Get a blocked number", responses={200: BlockedNumberSerializer, **error_responses(404)}
    ),
    partial_update=extend_schema(
        summary="Change a block's reason or end time",
        responses={200: BlockedNumberSerializer, **error_responses(400, 404, 415)},
    ),
    destroy=extend_schema(summary="Unblock a number", responses={204: None, **error_responses(404)}),
)
class BlockedNumberViewSet(
    NumericIdLookup,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    queryset = BlockedNumber.objects.select_related("added_by").order_by("-created_at", "-pk")
    named = "blocked number"
    serializer_class = BlockedNumberSerializer
    pagination_class = Pagination
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def list(self, request: Request) -> Response:
        # A plain dict, so that "?number=" is a wrong value, not no filter.
        filters = BlockedNumberFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        self.queryset: QuerySet[BlockedNumber] = self.get_queryset().filter(**filters.validated_data)
        return super().list(request)
