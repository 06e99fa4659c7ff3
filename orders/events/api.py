"""The platform's side of events in the API: its webhook endpoints, and the events feed."""

from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_serializer,
    extend_schema_view,
)
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from ..api.errors import error_responses
from ..api.serializers import StrictModelSerializer
from ..api.views import NumericIdLookup, Pagination
from . import delivery
from .models import Event, EventType, WebhookEndpoint

FEED_PAGE_SIZE = 100
FEED_MAX_PAGE_SIZE = 500


class WebhookEndpointSerializer(StrictModelSerializer):
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        required=False,
        help_text="Event types to receive; empty or omitted means every type.",
    )

    is_active = serializers.BooleanField(
        required=False,
        help_text="False when staff or the service turned it off (see `disabled_reason`); set it true to turn it "
        "back on. Deliveries that failed meanwhile are sent again with `recover/`.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "event_types",
            "is_active",
            "disabled_at",
            "disabled_reason",
            "description",
            "created_at",
        ]
        read_only_fields = ["id", "created_at", "disabled_at", "disabled_reason"]
        extra_kwargs = {
            "url": {"help_text": "An http(s) URL on a public address, without user name or password."},
            "disabled_reason": {
                "help_text": "Why the service turned it off (a 410 Gone, or failing for EVENTS_DISABLE_AFTER); "
                "empty otherwise."
            },
        }

    def update(self, instance: WebhookEndpoint, validated_data: dict) -> WebhookEndpoint:
        with transaction.atomic():
            if validated_data.get("is_active") and not instance.is_active:
                delivery.reactivate(instance)
            return super().update(instance, validated_data)


class CreatedWebhookEndpointSerializer(WebhookEndpointSerializer):
    """The endpoint as created: the only answer that shows its signing secret."""

    secret = serializers.CharField(
        read_only=True, help_text="Standard Webhooks secret (whsec_…): shown once, store it now."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class RecoverSerializer(serializers.Serializer):
    since = serializers.DateTimeField(help_text="Send again failed deliveries of events since this time (ISO 8601).")


class RecoveringSerializer(serializers.Serializer):
    recovering = serializers.IntegerField(help_text="How many failed deliveries are queued again.")


@extend_schema_view(
    list=extend_schema(
        summary="List webhook endpoints (never their secrets)",
        responses={200: WebhookEndpointSerializer(many=True), **error_responses(400, 404)},
    ),
    create=extend_schema(
        summary="Add a webhook endpoint: the answer shows its signing secret, once",
        request=WebhookEndpointSerializer,
        responses={201: CreatedWebhookEndpointSerializer, **error_responses(400, 415)},
    ),
    retrieve=extend_schema(
        summary="Get a webhook endpoint", responses={200: WebhookEndpointSerializer, **error_responses(404)}
    ),
    partial_update=extend_schema(
        summary="Change a webhook endpoint",
        responses={200: WebhookEndpointSerializer, **error_responses(400, 404, 415)},
    ),
    destroy=extend_schema(summary="Remove a webhook endpoint", responses={204: None, **error_responses(404)}),
    recover=extend_schema(
        summary="Send again the endpoint's failed deliveries since a time",
        description="Every delivery to this endpoint that failed (after its last retry, or because the endpoint was "
        "disabled) and whose event occurred at or after `since` is queued again, from the start of the retry "
        "schedule. The endpoint must be active.",
        request=RecoverSerializer,
        responses={202: RecoveringSerializer, **error_responses(400, 404, 409, 415)},
    ),
)
class WebhookEndpointViewSet(
    NumericIdLookup,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    queryset = WebhookEndpoint.objects.order_by("pk")
    named = "webhook endpoint"
    serializer_class = WebhookEndpointSerializer
    pagination_class = Pagination
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def create(self, request: Request) -> Response:
        serializer = WebhookEndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = serializer.save()
        return Response(CreatedWebhookEndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def recover(self, request: Request, pk: str) -> Response:
        endpoint = self.get_object()
        serializer = RecoverSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        count = delivery.recover(endpoint, serializer.validated_data["since"])
        return Response({"recovering": count}, status=status.HTTP_202_ACCEPTED)


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "type", "occurred_at", "data"]
        read_only_fields = fields


# A list action's response is taken for an array of its serializer unless
# told otherwise; a feed page is one object holding the list.
@extend_schema_serializer(many=False, component_name="EventFeedPage")
class EventFeedPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    results = EventSerializer(many=True)


class EventFeedParameters(serializers.Serializer):
    after = serializers.CharField(required=False, max_length=32, help_text="The id of the last event you have.")
    type = serializers.ChoiceField(choices=EventType.choices, required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=FEED_MAX_PAGE_SIZE)


class EventFeedView(generics.GenericAPIView):
    # One page object, not a list: drf-spectacular would document a viewset's list as an array.
    queryset = Event.objects.all()
    serializer_class = EventSerializer

    @extend_schema(
        summary="Events, oldest first, after the one you have",
        description="Page with `after=<id of the last event of the previous page>` (the `next` link) until "
        "`next` is null. An event appears once every change that started before it has committed or rolled "
        "back, so paging never skips one that commits later.",
        parameters=[
            OpenApiParameter("after", OpenApiTypes.STR, description="The id of the last event you have."),
            OpenApiParameter("type", OpenApiTypes.STR, enum=EventType.values, description="Only this type."),
            OpenApiParameter("limit", OpenApiTypes.INT, description=f"At most this many (default {FEED_PAGE_SIZE})."),
        ],
        responses={
            200: EventFeedPageSerializer,
            **error_responses(400),
        },
    )
    def get(self, request: Request) -> Response:
        parameters = EventFeedParameters(data=request.query_params.dict())
        parameters.is_valid(raise_exception=True)
        query = parameters.validated_data
        events = self._after(Event.objects.settled(), query.get("after"))
        if "type" in query:
            events = events.filter(type=query["type"])
        page = list(events[: query.get("limit", FEED_PAGE_SIZE)])
        limit = query.get("limit", FEED_PAGE_SIZE)
        next_url = None
        if len(page) == limit:
            params = request.query_params.copy()
            params["after"] = page[-1].id
            next_url = request.build_absolute_uri(request.path) + "?" + params.urlencode()
        return Response({"next": next_url, "results": EventSerializer(page, many=True).data})

    def _after(self, events: QuerySet[Event], after: str | None) -> QuerySet[Event]:
        if not after:
            return events
        last = Event.objects.filter(id=after).only("seq", "txid").first()
        if last is None:
            raise ValidationError({"after": [f"No event with id {after!r}."]})
        return events.after(last)
