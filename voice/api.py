"""The calls endpoint of the dispatch API: /api/v1/orders/{reference}/calls/.

It lives here because the call log is voice's; the project urls put it under
the orders API's path. It answers no phone number: the serializer does not
name those fields.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from orders.api import Pagination, order_or_404
from orders.api_errors import error_responses
from orders.models import Order

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
