"""The call endpoints of the dispatch API: /api/v1/orders/{reference}/calls/ and .../call/.

They live here because calls are voice's; the project urls put them under
the orders API's path. They answer no phone number: the serializers do not
name those fields.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from orders.api import Pagination, order_or_404
from orders.api_errors import error_responses
from orders.models import Order, Role

from . import click_to_call
from .models import CallRecord


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


class OrderCallsView(generics.GenericAPIView):
    serializer_class = CallSerializer
    pagination_class = Pagination

    @extend_schema(
        summary="The order's calls (no phone numbers)",
        responses={200: CallSerializer(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, reference: str) -> Response:
        order = order_or_404(Order.objects.all(), reference)
        calls = CallRecord.objects.filter(order=order).order_by("-started_at", "-pk")
        page = self.paginate_queryset(calls)
        return self.get_paginated_response(CallSerializer(page, many=True).data)


def _first_party_field() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=[(role.value, role.label) for role in click_to_call.FIRST_PARTIES],
        help_text="The party rung first: `agent` or `customer`.",
    )


class ClickToCallSerializer(serializers.Serializer):
    """Whom Plivo rings first; the other party is dialled when they answer."""

    def get_fields(self) -> dict[str, serializers.Field]:
        # "from" is the API's word and a Python keyword: declared here, not as a class attribute.
        return {"from": _first_party_field()}


class StartedCallSerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            "request_uuid": serializers.CharField(
                help_text="Plivo's request UUID for the call (its CallUUID comes later)."
            ),
            "state": serializers.ChoiceField(
                choices=[click_to_call.QUEUED], help_text="`queued`: Plivo is about to ring the first party."
            ),
            "reference": serializers.CharField(),
            "from": _first_party_field(),
        }


class OrderCallView(generics.GenericAPIView):
    serializer_class = ClickToCallSerializer

    @extend_schema(
        summary="Click-to-call: ring one party from the proxy number, then connect the other",
        description="Plivo rings `from` (the agent or the customer) from the order's proxy number; when they answer "
        "they hear which order it is about and the other party is dialled, with the proxy number as caller ID "
        "(whisper and accept key as for other calls). No PIN is asked. Only on a live line with an active agent; "
        "at most MASKING_CLICK_TO_CALL_PER_MINUTE calls per order per minute. The call then appears under "
        "`calls/` (initiated_by `platform`) and raises `call.completed` or `call.missed`.",
        request=ClickToCallSerializer,
        responses={202: StartedCallSerializer, **error_responses(400, 404, 409, 415, 502, 503)},
    )
    def post(self, request: Request, reference: str) -> Response:
        order = order_or_404(Order.objects.all(), reference)
        serializer = ClickToCallSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        started = click_to_call.start_call(order, Role(serializer.validated_data["from"]))
        body = {
            "request_uuid": started.request_uuid,
            "state": started.state,
            "reference": order.reference,
            "from": started.first.value,
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)
