"""Admin pages for events: the platform's endpoints, what was raised, and each delivery's attempts."""

import json
from contextvars import ContextVar
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html

from numbermasking.admin import ReadOnlyMixin

from . import delivery
from .models import Delivery, DeliveryAttempt, Event, EventType, WebhookEndpoint

# voice's permission to play recordings (the string only: orders does not import voice). Event data
# names recording URLs; staff without it see that there is one, not where.
LISTEN_PERMISSION = "voice.listen_recording"
RECORDING_URL_FIELDS = frozenset({"recording_url"})
# Whether the user viewing this page may play recordings (per request: a ContextVar is per thread and task).
_may_listen: ContextVar[bool] = ContextVar("events_may_listen", default=False)


class RecoverForm(forms.Form):
    since = forms.SplitDateTimeField(
        label="Failed since",
        widget=admin.widgets.AdminSplitDateTime,
        help_text="Deliveries of events that occurred at or after this time, in the admin's time zone.",
    )


ALL_TYPES, SOME_TYPES = "all", "some"


def _https_by_default(db_field, **kwargs):
    # A URL typed without a scheme is read as https (Django 6's default), never plain http.
    if db_field.name == "url":
        kwargs["assume_scheme"] = "https"
    return db_field.formfield(**kwargs)


class WebhookEndpointForm(forms.ModelForm):
    """Event types as ticks from the catalogue: a type that does not exist cannot be typed.

    "Every type" is a choice of its own, stored as an empty list, so an
    endpoint that wants everything also gets the types added later.
    """

    receives = forms.ChoiceField(
        label="Receives",
        choices=[(ALL_TYPES, "every event type, including types added later"), (SOME_TYPES, "only the types ticked")],
        widget=forms.RadioSelect,
        initial=ALL_TYPES,
    )
    event_types = forms.MultipleChoiceField(
        label="Event types",
        choices=EventType.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="The catalogue: docs/events.md. Ticks count only with “only the types ticked”.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "receives", "event_types", "is_active"]
        formfield_callback = _https_by_default

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["receives"] = SOME_TYPES if self.instance.event_types else ALL_TYPES

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("receives") == ALL_TYPES:
            cleaned["event_types"] = []
        elif cleaned.get("receives") == SOME_TYPES and not cleaned.get("event_types"):
            self.add_error("event_types", "Tick at least one event type, or choose “every event type”.")
        elif "event_types" in cleaned:
            cleaned["event_types"] = [name for name in EventType.values if name in cleaned["event_types"]]
        return cleaned


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "description", "types_received", "is_active", "disabled_reason", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "description"]
    fields = [
        *WebhookEndpointForm.Meta.fields,
        "disabled_at",
        "disabled_reason",
        "retry_at",
    ]
    readonly_fields = ["disabled_at", "disabled_reason", "retry_at"]
    actions = ["recover"]

    @admin.display(description="event types")
    def types_received(self, endpoint: WebhookEndpoint) -> str:
        return ", ".join(endpoint.event_types) or "every type"

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "url":
            # A URL typed without a scheme is read as https (Django 6's default), never plain http.
            kwargs["assume_scheme"] = "https"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form, change: bool) -> None:
        if change and obj.is_active and "is_active" in form.changed_data:
            delivery.reactivate(obj)
        super().save_model(request, obj, form, change)
        if not change:
            # The only time the secret is shown: the receiver needs it to verify signatures.
            self.message_user(
                request, f"Signing secret for {obj.url} (shown once, store it now): {obj.secret}", messages.WARNING
            )

    @admin.action(description="Send failed deliveries again since a time", permissions=["change"])
    def recover(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> HttpResponse | None:
        form = RecoverForm(request.POST if "since_0" in request.POST else None)
        if not form.is_valid():
            if not form.is_bound:
                form = RecoverForm(initial={"since": timezone.localtime() - timedelta(days=1)})
            context = {
                **self.admin_site.each_context(request),
                "title": "Send failed deliveries again",
                "opts": self.opts,
                "form": form,
                "endpoints": queryset,
                "action": "recover",
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "media": self.media + form.media,
            }
            return TemplateResponse(request, "admin/orders/webhookendpoint/recover.html", context)
        since = form.cleaned_data["since"]
        counts = []
        for endpoint in queryset:
            try:
                counts.append(delivery.recover(endpoint, since))
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
        self.message_user(request, f"{sum(counts)} failed delivery(ies) queued again.", messages.SUCCESS)
        return None


class DeliveryAttemptInline(ReadOnlyMixin, admin.TabularInline):
    model = DeliveryAttempt
    fields = ["attempted_at", "status_code", "error", "latency_ms"]
    readonly_fields = fields
    extra = 0


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["event", "endpoint", "status", "attempts", "next_attempt_at", "delivered_at"]
    list_filter = ["status", "endpoint"]
    search_fields = ["event__id"]
    list_select_related = ["event", "endpoint"]
    fields = ["event", "endpoint", "status", "attempts", "next_attempt_at", "delivered_at", "failure_reason"]
    readonly_fields = fields
    inlines = [DeliveryAttemptInline]
    actions = ["send_again"]

    @admin.action(description="Send selected deliveries again")
    def send_again(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        count = delivery.send_again(queryset)
        self.message_user(request, f"{count} delivery(ies) queued again.", messages.SUCCESS)

    def has_change_permission(self, request, obj=None) -> bool:
        # "Send again" changes a delivery's schedule: it needs the change permission, not a form.
        return request.user.has_perm("orders.change_delivery")


class DeliveryInline(ReadOnlyMixin, admin.TabularInline):
    model = Delivery
    fields = ["endpoint", "status", "attempts", "next_attempt_at", "delivered_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(Event)
class EventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "type", "occurred_at"]
    list_filter = ["type"]
    search_fields = ["id"]
    fields = ["id", "type", "occurred_at", "event_data"]
    readonly_fields = fields
    inlines = [DeliveryInline]
    date_hierarchy = "occurred_at"
    show_full_result_count = False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # A read-only field does not see the request; this page's rendering does, through the ContextVar.
        token = _may_listen.set(request.user.has_perm(LISTEN_PERMISSION))
        try:
            response = super().change_view(request, object_id, form_url, extra_context)
            if hasattr(response, "render"):
                response.render()
            return response
        finally:
            _may_listen.reset(token)

    @admin.display(description="data")
    def event_data(self, event: Event) -> str:
        data = dict(event.data)
        if not _may_listen.get():
            for field in RECORDING_URL_FIELDS & set(data):
                data[field] = "(hidden: playing recordings needs the “Can listen to recordings” permission)"
        return format_html("<pre>{}</pre>", json.dumps(data, indent=2, ensure_ascii=False))
