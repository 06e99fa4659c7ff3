from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from orders.admin import OrderAdmin
from orders.events_admin import ReadOnlyMixin
from orders.models import Order

from .models import CallRecord, MessageRecord


class CallResultMixin:
    # Plivo's codes ("connected" routing, then "no-answer") read as a success
    # when nobody picked up; staff see one plain result, the codes stay on the
    # call's own page.
    @admin.display(description="result")
    def result(self, obj: CallRecord) -> str:
        return obj.result_label


@admin.register(CallRecord)
class CallRecordAdmin(CallResultMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["started_at", "order", "caller_role", "result", "call_uuid"]
    # Plivo's codes are not filters here: "Connected" read as "they talked".
    list_filter = ["caller_role"]
    search_fields = ["call_uuid", "order__reference"]
    list_select_related = ["order"]
    readonly_fields = ["result"]
    fieldsets = [
        (None, {"fields": ["order", "caller_role", "result", "started_at", "ended_at", "duration"]}),
        ("Numbers", {"fields": ["from_number", "proxy_number", "dialled_number"]}),
        (
            "Plivo's codes",
            {
                "fields": ["call_uuid", "outcome", "dial_status", "hangup_cause", "bill_duration"],
                "classes": ["collapse"],
                "description": "Outcome is where the answer webhook sent the call (connected: the other party's "
                "phone was dialled); dial status and hangup cause are Plivo's account of what happened then.",
            },
        ),
    ]
    date_hierarchy = "started_at"


class CallRecordInline(CallResultMixin, ReadOnlyMixin, admin.TabularInline):
    model = CallRecord
    fields = ["started_at", "caller_role", "result"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    verbose_name_plural = "calls"


@admin.register(MessageRecord)
class MessageRecordAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["message_uuid", "received_at", "order", "sender_role", "outcome"]
    list_filter = ["outcome", "sender_role"]
    search_fields = ["message_uuid", "order__reference"]
    list_select_related = ["order"]
    fields = [
        "message_uuid",
        "order",
        "sender_role",
        "from_number",
        "proxy_number",
        "relayed_to",
        "outcome",
        "received_at",
    ]
    date_hierarchy = "received_at"


class MessageRecordInline(ReadOnlyMixin, admin.TabularInline):
    model = MessageRecord
    fields = ["received_at", "sender_role", "outcome"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    verbose_name_plural = "text messages"


# orders knows nothing of calls; the order page gains its call list here.
admin.site.unregister(Order)


@admin.register(Order)
class OrderWithCallsAdmin(OrderAdmin):
    inlines = [CallRecordInline, MessageRecordInline]
    readonly_fields = [*OrderAdmin.readonly_fields, "simulate"]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        # The simulator sits in the Masking panel, beside the line it tries out.
        return [
            (name, {**options, "fields": [*options["fields"], "simulate"]}) if name == "Masking" else (name, options)
            for name, options in fieldsets
        ]

    @admin.display(description="try a call")
    def simulate(self, obj: Order) -> str:
        if obj.proxy_number_id is None:
            return "once an agent is assigned"
        # The reference, not the numbers, goes into the link: admin URLs end up in browser history and logs.
        base = reverse("call_simulator")
        return format_html(
            '<a href="{}" class="simulate-customer">the customer calling</a> · '
            '<a href="{}" class="simulate-agent">the agent calling</a> (call simulator)',
            f"{base}?{urlencode({'order': obj.reference, 'party': 'customer'})}",
            f"{base}?{urlencode({'order': obj.reference, 'party': 'agent'})}",
        )
