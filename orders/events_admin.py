"""Admin pages for events: the platform's endpoints, what was raised, and each delivery's attempts."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import tasks
from .models import Delivery, DeliveryAttempt, Event, WebhookEndpoint


class ReadOnlyMixin:
    """For records of what happened (events, attempts; voice's call and message records): nobody edits them."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "description", "event_types", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "description"]
    fields = ["url", "description", "event_types", "is_active"]

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            # The only time the secret is shown: the receiver needs it to verify signatures.
            self.message_user(
                request, f"Signing secret for {obj.url} (shown once, store it now): {obj.secret}", messages.WARNING
            )


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
    fields = ["event", "endpoint", "status", "attempts", "next_attempt_at", "delivered_at"]
    readonly_fields = fields
    inlines = [DeliveryAttemptInline]
    actions = ["send_again"]

    @admin.action(description="Send selected deliveries again")
    def send_again(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        for delivery in queryset:
            tasks.redeliver(delivery)
        self.message_user(request, f"{queryset.count()} delivery(ies) queued again.", messages.SUCCESS)

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
    fields = ["id", "type", "occurred_at", "data"]
    readonly_fields = fields
    inlines = [DeliveryInline]
    date_hierarchy = "occurred_at"
    show_full_result_count = False
