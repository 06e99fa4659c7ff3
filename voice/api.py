"""The call endpoints of the dispatch API: /api/v1/orders/{reference}/calls/, .../call/ and .../call-requests/.

They live here because calls are voice's; ``urlpatterns`` below are mounted
under /api/v1/ beside the orders app's (numbermasking/urls.py). They answer no
phone number: the serializers do not name those fields.
"""

from django.urls import re_path
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from orders.api.errors import error_responses
from orders.api.orders import order_or_404
from orders.api.views import Pagination
from orders.models import PARTIES, Order

from . import click_to_call
from .models import CallRecord, ClickToCall


class CallSerializer(serializers.ModelSerializer):
    """One call about an order: when, who called, what happened. No phone numbers."""

    call_uuid = serializers.CharField(help_text="Plivo's CallUUID.")
    dial_status = serializers.CharField(help_text="Plivo's DialStatus, e.g. completed, busy, no-answer.")
    outcome = serializers.ChoiceField(
        choices=CallRecord.Outcome.choices,
        help_text="Where the answer webhook sent the call: connected means the other party was dialled, "
        "not that anyone answered (see result).",
    )
    result = serializers.ChoiceField(
        choices=CallRecord.Result.choices, help_text="What the call did, from outcome and dial status."
    )
    result_label = serializers.CharField(help_text='The result as staff read it, e.g. "talked 0:55", "no answer".')

    class Meta:
        model = CallRecord
        fields = [
            "call_uuid",
            "started_at",
            "ended_at",
            "caller_role",
            "initiated_by",
            "outcome",
            "dial_status",
            "hangup_cause",
            "duration",
            "bill_duration",
            "result",
            "result_label",
        ]
        read_only_fields = fields


class OrderRowsView(generics.GenericAPIView):
    """GET: one page of the order's rows of the serializer's model, in ``ordering`` (newest first)."""

    pagination_class = Pagination
    ordering: tuple[str, ...]

    def get(self, request: Request, reference: str) -> Response:
        order = order_or_404(Order.objects.all(), reference)
        rows = self.get_serializer_class().Meta.model.objects.filter(order=order).order_by(*self.ordering)
        return self.get_paginated_response(self.get_serializer(self.paginate_queryset(rows), many=True).data)


@extend_schema_view(
    get=extend_schema(
        summary="The order's calls (no phone numbers)",
        responses={200: CallSerializer(many=True), **error_responses(400, 404)},
    )
)
class OrderCallsView(OrderRowsView):
    serializer_class = CallSerializer
    ordering = ("-started_at", "-pk")


def _first_party_field(**kwargs: object) -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=[role.value for role in PARTIES],
        help_text="The party rung first: `agent`, `customer` or `store`.",
        **kwargs,
    )


def _to_party_field(**kwargs: object) -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=[role.value for role in PARTIES],
        help_text="The party dialled when the first answers, over the live line between the two: `agent`, "
        "`customer` or `store`. Left out: the other party of the customer–agent line.",
        **kwargs,
    )


class ClickToCallSerializer(serializers.Serializer):
    """Whom Plivo rings first, and whom it dials when they answer."""

    def get_fields(self) -> dict[str, serializers.Field]:
        # "from" is the API's word and a Python keyword: declared here, not as a class attribute.
        return {"from": _first_party_field(), "to": _to_party_field(required=False)}


def _request_id_field() -> serializers.CharField:
    return serializers.CharField(source="public_id", help_text="The call request's id: `ctc_` and 24 hex digits.")


class QueuedCallSerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            "id": _request_id_field(),
            "state": serializers.ChoiceField(
                choices=[ClickToCall.State.QUEUED.value],
                help_text="`queued`: reserved; Plivo is asked in the background (see `call-requests/{id}/`).",
            ),
            "reference": serializers.CharField(source="order.reference"),
            "from": _first_party_field(source="first_role"),
            "to": _to_party_field(source="callee_role"),
        }


class CallRequestSerializer(serializers.ModelSerializer):
    """One click-to-call request and what came of it. No phone numbers."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = {
            **super().get_fields(),
            "id": _request_id_field(),
            "from": _first_party_field(source="first_role", read_only=True),
            "to": _to_party_field(source="callee_role", read_only=True),
        }
        return {name: fields[name] for name in ["id", "state", "from", "to", *self.Meta.fields[1:]]}

    state = serializers.ChoiceField(
        read_only=True,
        choices=ClickToCall.State.choices,
        help_text="`queued` (waiting for the worker, also between retries), `placing` (Plivo is being asked), "
        "`placed` (Plivo accepted: it rings the first party), `refused` (Plivo said no; not retried), `failed` "
        "(Plivo unavailable after the last retry), `cancelled` (no longer callable when the worker took it).",
    )
    reason = serializers.CharField(
        read_only=True,
        help_text="Why it was not placed, once refused, failed or cancelled: `plivo_refused`, `plivo_unavailable`, "
        "`line_not_live`, `no_agent`, `blocked`; empty otherwise.",
    )
    detail = serializers.CharField(
        read_only=True, help_text="One sentence: Plivo's reason for a refusal, or the last failure; no phone numbers."
    )
    attempts = serializers.IntegerField(read_only=True, help_text="Requests made to Plivo's Call API.")
    request_uuid = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="Plivo's request UUID once it accepted the call (its CallUUID comes later).",
    )

    class Meta:
        model = ClickToCall
        fields = ["state", "reason", "detail", "attempts", "requested_at", "placed_at", "request_uuid"]
        read_only_fields = fields


class OrderCallView(generics.GenericAPIView):
    serializer_class = ClickToCallSerializer

    @extend_schema(
        summary="Click-to-call: ring one party from their line's proxy number, then connect the other",
        description="Reserves the call and answers at once; the worker then asks Plivo to ring `from` (the agent, "
        "the customer or the store) from the proxy number of the line between `from` and `to` (without `to`: the "
        "customer–agent line). When they answer they hear which order it is about and `to` is dialled, with the "
        "line's proxy number as caller ID (whisper and accept key as for other calls). No PIN is asked. Only on a "
        "live line (with an active agent, when the agent is a party), neither party's number blocked; at most "
        "MASKING_CLICK_TO_CALL_PER_MINUTE requests per order per minute and MASKING_CLICK_TO_CALL_PER_HOUR for "
        "the whole service. Follow it at `call-requests/{id}/`: `placed`, or `refused`, `failed`, `cancelled` "
        "(with the event `call.not_placed`). The call then appears under `calls/` (initiated_by `platform`) and "
        "raises `call.completed` or `call.missed`.",
        request=ClickToCallSerializer,
        responses={202: QueuedCallSerializer, **error_responses(400, 404, 409, 415, 503)},
    )
    def post(self, request: Request, reference: str) -> Response:
        order = order_or_404(Order.objects.all(), reference)
        serializer = ClickToCallSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        reservation = click_to_call.request_call(order, data["from"], data.get("to"))
        return Response(QueuedCallSerializer(reservation).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    get=extend_schema(
        summary="The order's click-to-call requests, newest first (no phone numbers)",
        responses={200: CallRequestSerializer(many=True), **error_responses(400, 404)},
    )
)
class OrderCallRequestsView(OrderRowsView):
    serializer_class = CallRequestSerializer
    ordering = ("-requested_at", "-pk")


class OrderCallRequestView(generics.GenericAPIView):
    serializer_class = CallRequestSerializer

    @extend_schema(
        summary="One click-to-call request: its state and, if it was not placed, why",
        responses={200: CallRequestSerializer, **error_responses(404)},
    )
    def get(self, request: Request, reference: str, id: str) -> Response:
        order = order_or_404(Order.objects.all(), reference)
        reservation = ClickToCall.objects.filter(order=order, public_id=id[:28]).first()
        if reservation is None:
            raise NotFound(f"Order {order.reference} has no call request {id[:28]!r}.")
        return Response(CallRequestSerializer(reservation).data)


# Voice's routes under /api/v1/, in the ``api`` namespace with the orders app's.
ORDER = r"^orders/(?P<reference>[^/]+)/"
urlpatterns = [
    re_path(ORDER + r"calls/$", OrderCallsView.as_view(), name="order_calls"),
    re_path(ORDER + r"call/$", OrderCallView.as_view(), name="order_call"),
    re_path(ORDER + r"call-requests/$", OrderCallRequestsView.as_view(), name="order_call_requests"),
    re_path(ORDER + r"call-requests/(?P<id>[^/]+)/$", OrderCallRequestView.as_view(), name="order_call_request"),
]
