from django.contrib import admin

from orders.admin import OrderAdmin
from orders.models import Order

from .models import CallRecord, MessageRecord


class ReadOnlyMixin:
    """Call and message records are Plivo's account of what happened: nobody edits them."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CallRecord)
class CallRecordAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["call_uuid", "started_at", "order", "caller_role", "outcome", "dial_status", "duration"]
    list_filter = ["outcome", "caller_role", "dial_status"]
    search_fields = ["call_uuid", "order__reference"]
    list_select_related = ["order"]
    fields = [
        "call_uuid",
        "order",
        "caller_role",
        "from_number",
        "proxy_number",
        "dialled_number",
        "outcome",
        "dial_status",
        "hangup_cause",
        "duration",
        "bill_duration",
        "started_at",
        "ended_at",
    ]
    date_hierarchy = "started_at"


class CallRecordInline(ReadOnlyMixin, admin.TabularInline):
    model = CallRecord
    fields = ["started_at", "caller_role", "outcome", "dial_status", "hangup_cause", "duration"]
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
