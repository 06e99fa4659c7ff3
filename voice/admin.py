from contextvars import ContextVar

from django.contrib import admin
from django.utils.html import format_html

from orders.admin import OrderAdmin
from orders.models import Order

from .models import CallRecord, MessageRecord, Recording

LISTEN_PERMISSION = "voice.listen_recording"

# Whether the user viewing this page may play recordings. An inline's read-only
# fields do not see the request; the page's view sets this for its own
# request only (a ContextVar is per thread and per task).
_may_listen: ContextVar[bool] = ContextVar("may_listen", default=False)


class ReadOnlyMixin:
    """Call and message records are Plivo's account of what happened: nobody edits them."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ListenMixin:
    """Sets, for the page being rendered, whether its user may play recordings."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        token = _may_listen.set(request.user.has_perm(LISTEN_PERMISSION))
        try:
            response = super().change_view(request, object_id, form_url, extra_context)
            # Rendered here, while the permission is still set for this request.
            if hasattr(response, "render"):
                response.render()
            return response
        finally:
            _may_listen.reset(token)


class RecordingInline(ReadOnlyMixin, admin.TabularInline):
    """Voicemails and recorded calls: everyone sees that one exists, only some may play it."""

    model = Recording
    fields = ["created_at", "kind", "duration", "player"]
    readonly_fields = fields
    extra = 0
    verbose_name_plural = "recordings and voicemails"

    def has_view_permission(self, request, obj=None) -> bool:
        # Shown on the call and order pages to whoever may see those pages:
        # that a recording exists is part of the call log; playing it is not.
        return True

    @admin.display(description="recording")
    def player(self, recording: Recording) -> str:
        if recording.deleted_at is not None or not recording.url:
            return "deleted at Plivo" if recording.deleted_at else "not ready yet"
        if not _may_listen.get():
            return "recorded (playing it needs the “Can listen to recordings” permission)"
        return format_html('<audio controls preload="none" src="{}"></audio>', recording.url)


@admin.register(CallRecord)
class CallRecordAdmin(ListenMixin, ReadOnlyMixin, admin.ModelAdmin):
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
    inlines = [RecordingInline]


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
class OrderWithCallsAdmin(ListenMixin, OrderAdmin):
    inlines = [CallRecordInline, MessageRecordInline, RecordingInline]
