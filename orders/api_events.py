"""The platform's side of events in the API: its webhook endpoints, and the events feed."""

from django.db import models
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_serializer,
    extend_schema_view,
)
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from .api import Pagination
from .api_errors import error_responses
from .models import Event, EventType, WebhookEndpoint
from .serializers import TextField

FEED_PAGE_SIZE = 100
FEED_MAX_PAGE_SIZE = 500


class WebhookEndpointSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {**serializers.ModelSerializer.serializer_field_mapping, models.CharField: TextField}
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        required=False,
        help_text="Event types to receive; empty or omitted means every type.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "event_types", "is_active", "description", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate_url(self, url: str) -> str:
        if not url.startswith(("https://", "http://")):
            raise serializers.ValidationError("Use an http:// or https:// URL.")
        return url


class CreatedWebhookEndpointSerializer(WebhookEndpointSerializer):
    """The endpoint as created: the only answer that shows its signing secret."""

    secret = serializers.CharField(
        read_only=True, help_text="Standard Webhooks secret (whsec_…): shown once, store it now."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


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
)
class WebhookEndpointViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    queryset = WebhookEndpoint.objects.order_by("pk")
    serializer_class = WebhookEndpointSerializer
    pagination_class = Pagination
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_object(self) -> WebhookEndpoint:
        pk = self.kwargs["pk"]
        # Only a plain id can name one; anything else (or an id past the column's range) is a JSON 404.
        endpoint = None
        if pk.isascii() and pk.isdigit() and len(pk) <= 18:
            endpoint = self.get_queryset().filter(pk=int(pk)).first()
        if endpoint is None:
            raise NotFound(f"No webhook endpoint with id {pk!r}.")
        return endpoint

    def create(self, request: Request) -> Response:
        serializer = WebhookEndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = serializer.save()
        return Response(CreatedWebhookEndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED)


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
        "`next` is null. Events appear in the order their changes committed, so a page never skips one that "
        "commits later.",
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
        events = self._after(Event.objects.order_by("seq"), query.get("after"))
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
        seq = Event.objects.filter(id=after).values_list("seq", flat=True).first()
        if seq is None:
            raise ValidationError({"after": [f"No event with id {after!r}."]})
        return events.filter(seq__gt=seq)
