"""/api/v1/orders/: orders and their transitions, which open and close masked lines.

Views parse the request, call the same orders.services functions as the admin
and answer the order. They never touch Plivo. A service's refusal carries its
HTTP status (orders/errors.py), so the views need no try/except.
"""

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from .. import services
from ..models import Order
from .errors import error_responses
from .serializers import (
    AssignSerializer,
    OrderCreateSerializer,
    OrderFilterSerializer,
    OrderSerializer,
    OrderUpdateSerializer,
)
from .views import Pagination


def order_or_404(queryset: QuerySet[Order], reference: str) -> Order:
    """The order an API path names, or the API's JSON 404."""
    # Postgres refuses NUL in text; such a reference cannot exist anyway.
    if len(reference) <= Order._meta.get_field("reference").max_length and "\x00" not in reference:
        order = queryset.filter(reference=reference).first()
        if order is not None:
            return order
    raise NotFound(f"No order with reference {reference!r}.")


def _order_response(order: Order, http_status: int = status.HTTP_200_OK) -> Response:
    return Response(OrderSerializer(order).data, status=http_status)


class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    # The lines and their numbers in one more query per page, not one per order.
    queryset = Order.objects.prefetch_related("lines__proxy_number").order_by("-created_at", "-pk")
    serializer_class = OrderSerializer
    pagination_class = Pagination
    lookup_field = "reference"
    # Any reference the admin accepted must be reachable; get_object vets it.
    lookup_value_regex = "[^/]+"

    def get_object(self) -> Order:
        return order_or_404(self.get_queryset(), self.kwargs["reference"])

    @extend_schema(
        summary="List orders, newest first",
        parameters=[OrderFilterSerializer],
        responses={200: OrderSerializer(many=True), **error_responses(400, 404)},
    )
    def list(self, request: Request) -> Response:
        # A plain dict, so that DRF reads "?status=" as a wrong value, not as no filter.
        filters = OrderFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        lookups = {"status": "status", "agent": "agent_id"}
        self.queryset = self.get_queryset().filter(
            **{lookups[name]: value for name, value in filters.validated_data.items()}
        )
        return super().list(request)

    @extend_schema(summary="Get an order and its masked line", responses={200: OrderSerializer, **error_responses(404)})
    def retrieve(self, request: Request, reference: str) -> Response:
        return _order_response(self.get_object())

    @extend_schema(
        summary="Create an order",
        request=OrderCreateSerializer,
        responses={
            201: OrderSerializer,
            200: OpenApiResponse(OrderSerializer, "A retry: the order with this reference and these details."),
            **error_responses(400, 409, 415),
        },
    )
    def create(self, request: Request) -> Response:
        serializer = OrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order, created = services.create_order(**serializer.validated_data)
        return _order_response(order, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        summary="Set the order's store",
        description="`store_name` and `store_phone`. On an order whose lines are open, a new store phone opens "
        'the store–agent line (and the customer–store line, where that is on) at once; `""` removes the '
        "store's phone and closes its lines.",
        request=OrderUpdateSerializer,
        responses={200: OrderSerializer, **error_responses(400, 404, 415, 503)},
    )
    def partial_update(self, request: Request, reference: str) -> Response:
        order = self.get_object()
        serializer = OrderUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        order = services.set_store(order, name=data.get("store_name"), phone=data.get("store_phone"))
        return _order_response(order)

    @extend_schema(
        summary="Assign an agent: opens (or keeps) the masked lines",
        description="Answers the order with its `masking` object and its `lines`: the customer–agent line, and the "
        "store–agent line when the order has a store phone. Assigning the same agent again changes nothing; "
        "another agent keeps each line's proxy number, which its parties already know.",
        request=AssignSerializer,
        responses={200: OrderSerializer, **error_responses(400, 404, 409, 415, 503)},
    )
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, reference: str) -> Response:
        order = self.get_object()
        serializer = AssignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _order_response(services.assign_agent(order, serializer.validated_data["agent"]))

    @extend_schema(
        summary="Mark picked up", request=None, responses={200: OrderSerializer, **error_responses(404, 409)}
    )
    @action(detail=True, methods=["post"], url_path="picked-up")
    def picked_up(self, request: Request, reference: str) -> Response:
        return _order_response(services.mark_picked_up(self.get_object()))

    @extend_schema(
        summary="Mark delivered: every line stays open for the grace period",
        request=None,
        responses={200: OrderSerializer, **error_responses(404, 409)},
    )
    @action(detail=True, methods=["post"])
    def delivered(self, request: Request, reference: str) -> Response:
        return _order_response(services.mark_delivered(self.get_object()))

    @extend_schema(
        summary="Close the store's lines: picked up from the store, no more calls needed",
        description="The store–agent (and customer–store) lines close now, with `line.closed`; the customer–agent "
        "line stays. Repeating it changes nothing. 409 `no_store` when the order never had a store line.",
        request=None,
        responses={200: OrderSerializer, **error_responses(404, 409)},
    )
    @action(detail=True, methods=["post"], url_path="close-store-line")
    def close_store_line(self, request: Request, reference: str) -> Response:
        return _order_response(services.close_store_line(self.get_object()))

    @extend_schema(
        summary="Cancel: every line closes at once",
        request=None,
        responses={200: OrderSerializer, **error_responses(404, 409)},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, reference: str) -> Response:
        return _order_response(services.cancel_order(self.get_object()))
