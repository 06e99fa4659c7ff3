import logging
from contextvars import ContextVar

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from numbermasking.admin import ReadOnlyMixin
from orders.admin import OrderAdmin
from orders.admin.orders import short_time
from orders.models import Line, Order, Role
from orders.routing import asked_for_pin

from . import click_to_call
from .models import CallRecord, ClickToCall, MessageRecord, Recording
from .ops.simulator import line_of_party
from .plivo.media import is_plivo_media

LISTEN_PERMISSION = "voice.listen_recording"

logger = logging.getLogger(__name__)

# Whether the user viewing this page may play recordings. An inline's read-only
# fields do not see the request; the page's view sets this for its own
# request only (a ContextVar is per thread and per task).
_may_listen: ContextVar[bool] = ContextVar("may_listen", default=False)


def line_parties(line: Line | None) -> str:
    """The line's two parties as the admin names a line: "customer–store"; "" when no line was reached."""
    return "–".join(role.value for role in line.parties) if line is not None else ""


def party_and_line(role_label: str, line: Line | None) -> str:
    """Who sent or placed it, and over which line: "store, customer–store line" (the line when one was reached)."""
    return f"{role_label}, {line_parties(line)} line" if line is not None else role_label


class LineRecordMixin:
    """The line a call or text went over, by its parties, on a record's own page."""

    def get_queryset(self, request: HttpRequest):
        # The line beside each record in the same query, not one query per row.
        return super().get_queryset(request).select_related("line")

    @admin.display(description="line")
    def line_name(self, obj: CallRecord | MessageRecord) -> str:
        return line_parties(obj.line) or "none: it reached no live line"


class LineFilter(admin.ChoicesFieldListFilter):
    """The line__kind filter, titled "line" (not the field's own "kind")."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.title = "line"


class CallResultMixin:
    # Plivo's codes ("connected" routing, then "no-answer") read as a success
    # when nobody picked up; staff see one plain result, the codes stay on the
    # call's own page.
    @admin.display(description="result")
    def result(self, obj: CallRecord) -> str:
        return obj.result_label


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
        if not is_plivo_media(recording.url):
            # Stored before callbacks' URLs were checked (voice.plivo.media): not rendered as a source.
            return "recorded (its URL is not Plivo's media host)"
        return format_html('<audio controls preload="none" src="{}"></audio>', recording.url)


class ResultFilter(admin.SimpleListFilter):
    """The plain result ("no answer", "PIN refused"), computed in SQL as the list shows it: "show me missed calls"."""

    title = "result"
    parameter_name = "result"

    def lookups(self, request, model_admin):
        return CallRecord.Result.choices

    def queryset(self, request, queryset):
        if self.value() in CallRecord.Result.values:
            return queryset.alias(call_result=CallRecord.result_expression()).filter(call_result=self.value())
        return queryset


@admin.register(CallRecord)
class CallRecordAdmin(LineRecordMixin, CallResultMixin, ListenMixin, ReadOnlyMixin, admin.ModelAdmin):
    # At 1280 px, beside the menu and the filters, the table has about 600 px: a short start time and one
    # "caller" column keep the call UUID on screen (the full values are on the call's page).
    list_display = ["started", "order", "caller", "result", "call_uuid"]
    # Plivo's codes are not filters here ("Connected" read as "they talked"); the plain result is.
    list_filter = [ResultFilter, "caller_role", ("line__kind", LineFilter), "initiated_by"]
    search_fields = ["call_uuid", "order__reference"]
    list_select_related = ["order", "line"]
    readonly_fields = ["result", "line_name"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "order",
                    "line_name",
                    "caller_role",
                    "initiated_by",
                    "result",
                    "started_at",
                    "ended_at",
                    "duration",
                ]
            },
        ),
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
    inlines = [RecordingInline]

    @admin.display(description=f"started ({settings.TIME_ZONE})", ordering="started_at")
    def started(self, obj: CallRecord) -> str:
        return short_time(obj.started_at)

    @admin.display(description="caller, line", ordering="caller_role")
    def caller(self, obj: CallRecord) -> str:
        # One column for both: at 1280 px a separate line column would push the call UUID off screen.
        role = obj.get_caller_role_display().lower()
        role = f"{role} (click-to-call)" if obj.initiated_by == CallRecord.Initiator.PLATFORM else role
        return party_and_line(role, obj.line)


class CallRecordInline(LineRecordMixin, CallResultMixin, ReadOnlyMixin, admin.TabularInline):
    model = CallRecord
    fields = ["started_at", "caller_role", "line_name", "initiated_by", "result"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    verbose_name_plural = "calls"


@admin.register(MessageRecord)
class MessageRecordAdmin(LineRecordMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["message_uuid", "received_at", "order", "sender", "outcome"]
    list_filter = ["outcome", "sender_role", ("line__kind", LineFilter)]
    search_fields = ["message_uuid", "order__reference"]
    list_select_related = ["order", "line"]
    readonly_fields = ["line_name"]
    fields = [
        "message_uuid",
        "order",
        "line_name",
        "sender_role",
        "from_number",
        "proxy_number",
        "relayed_to",
        "outcome",
        "received_at",
    ]
    date_hierarchy = "received_at"

    @admin.display(description="sender, line", ordering="sender_role")
    def sender(self, obj: MessageRecord) -> str:
        return party_and_line(obj.get_sender_role_display().lower(), obj.line)


class ClickToCallInline(ReadOnlyMixin, admin.TabularInline):
    """The order's click-to-call requests: what each came to, and Plivo's reason when it was not placed."""

    model = ClickToCall
    fields = ["requested_at", "first_role", "state", "why", "attempts", "placed_at"]
    readonly_fields = fields
    extra = 0
    verbose_name_plural = "click-to-call requests"

    @admin.display(description="reason")
    def why(self, obj: ClickToCall) -> str:
        reason = obj.get_reason_display() if obj.reason else ""
        return ": ".join(part for part in (reason, obj.detail) if part) or "—"


class MessageRecordInline(LineRecordMixin, ReadOnlyMixin, admin.TabularInline):
    model = MessageRecord
    fields = ["received_at", "sender_role", "line_name", "outcome"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    verbose_name_plural = "text messages"


# orders knows nothing of calls; the order page gains its call list here.
admin.site.unregister(Order)


@admin.register(Order)
class OrderWithCallsAdmin(ListenMixin, OrderAdmin):
    inlines = [CallRecordInline, ClickToCallInline, MessageRecordInline, RecordingInline]
    readonly_fields = [*OrderAdmin.readonly_fields, "simulate"]

    def get_inlines(self, request: HttpRequest, obj: Order | None):
        # The add page has no calls, texts or recordings to list: no empty tables before a line exists.
        return self.inlines if obj is not None else []

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
        if obj.masking is None:
            return "once an agent is assigned"
        # The reference, not the numbers or the PIN, goes into the link: admin URLs end up in browser history
        # and logs. The simulator types the PIN itself for a party who would be asked for it.
        base = reverse("call_simulator")
        parties = [Role.CUSTOMER, Role.AGENT]
        store_line = line_of_party(obj, Role.STORE)
        if store_line is not None and store_line.is_live:
            parties.append(Role.STORE)
        links = []
        for role in parties:
            line = line_of_party(obj, role)
            note = f" (typing PIN {line.pin})" if asked_for_pin(obj, line, role) else ""
            url = f"{base}?{urlencode({'order': obj.reference, 'party': role.value})}"
            links.append(
                format_html('<a href="{}" class="simulate-{}">the {} calling{}</a>', url, role.value, role.value, note)
            )
        return format_html("{} (call simulator)", format_html_join(" · ", "{}", ((link,) for link in links)))

    # Click-to-call for dispatchers: the same service as the API's POST .../call/.
    CALL_BUTTONS = [(Role.AGENT, "Call agent"), (Role.CUSTOMER, "Call customer")]

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/call/<slug:party>/",
                self.admin_site.admin_view(self.call_view),
                name="orders_order_call",
            )
        ]
        return urls + super().get_urls()

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        order = self.get_object(request, unquote(object_id))
        buttons, off_reason = [], None
        if order is not None and self.has_change_permission(request, order) and order.is_line_live and order.agent_id:
            problem = click_to_call.settings_problem()
            # Without the Plivo settings a click could only fail. Dispatchers do not see buttons that cannot
            # work; superusers, who run the service and can set them, see them disabled with the reason.
            if problem is None or request.user.is_superuser:
                buttons = [
                    {"label": label, "url": reverse("admin:orders_order_call", args=[order.pk, role.value])}
                    for role, label in self.CALL_BUTTONS
                ]
            if problem is not None and request.user.is_superuser:
                off_reason = f"Click-to-call is off: {problem}"
        context = {"order_call_buttons": buttons, "order_call_off_reason": off_reason}
        return super().change_view(request, object_id, form_url, extra_context={**(extra_context or {}), **context})

    def call_view(self, request: HttpRequest, object_id: str, party: str) -> HttpResponse:
        order = self.order_for_button(request, object_id)
        if isinstance(order, HttpResponse):
            return order
        first = dict((role.value, role) for role, _label in self.CALL_BUTTONS).get(party)
        if first is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        try:
            reservation = click_to_call.request_call(order, first)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
        except DatabaseError:
            logger.exception("click-to-call for order %s: database error", order.pk)
            self.message_user(request, "The database did not answer; try again in a moment.", messages.ERROR)
        else:
            self.log_change(request, order, f"Click-to-call {reservation.public_id}: the {first.value} first.")
            other = Role(first).counterpart().value
            self.message_user(
                request,
                f"Call queued ({reservation.public_id}): Plivo will ring the {first.value} of order {order.reference} "
                f"from its proxy number, and when they answer, the {other} is dialled. "
                "Its state is under “click-to-call requests” below.",
                messages.SUCCESS,
            )
        return redirect("admin:orders_order_change", order.pk)
