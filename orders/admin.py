from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from . import services
from .models import Agent, Order, ProxyNumber, orders_needing_agent


def _with_live_lines(queryset: QuerySet) -> QuerySet:
    return queryset.annotate(live_lines=Count("orders", filter=Q(orders__masking_expires_at__gt=timezone.now())))


class LiveLinesMixin:
    @admin.display(description="live lines", ordering="live_lines")
    def live_lines(self, obj) -> int:
        return obj.live_lines

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return _with_live_lines(super().get_queryset(request))


@admin.register(Agent)
class AgentAdmin(LiveLinesMixin, admin.ModelAdmin):
    list_display = ["name", "phone", "is_active", "live_lines"]
    # Explicit: the live-lines Count groups the query and Django drops
    # Meta.ordering from grouped queries, so the agent autocomplete would page
    # through an unordered list.
    ordering = ["name"]
    list_filter = ["is_active"]
    search_fields = ["name", "phone"]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # The order form offers only agents who can take the order; the agent
        # list itself still finds everyone.
        if request.GET.get("model_name") == "order" and request.GET.get("field_name") == "agent":
            queryset = queryset.filter(is_active=True)
        return queryset, may_have_duplicates

    def save_model(self, request: HttpRequest, obj: Agent, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # Routing stops connecting an inactive agent at once; staff must know
        # whose customers now reach no one.
        stranded = orders_needing_agent().filter(agent=obj).count() if not obj.is_active else 0
        if stranded:
            url = reverse("admin:orders_order_changelist") + f"?{NeedsAgentFilter.parameter_name}=yes"
            self.message_user(
                request,
                format_html(
                    "{} is inactive: calls to and from them stop now. {} live order(s) need a new agent: "
                    '<a href="{}">assign one</a>.',
                    obj.name,
                    stranded,
                    url,
                ),
                messages.WARNING,
            )


@admin.register(ProxyNumber)
class ProxyNumberAdmin(LiveLinesMixin, admin.ModelAdmin):
    list_display = ["number", "label", "country", "is_active", "live_lines"]
    ordering = ["number"]  # explicit, as for agents
    list_filter = ["is_active", "country"]
    search_fields = ["number", "label"]
    readonly_fields = ["country"]


class LineLiveFilter(admin.SimpleListFilter):
    title = "masked line"
    parameter_name = "line"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("closed", "Closed")]

    def queryset(self, request, queryset):
        live = Q(masking_expires_at__gt=timezone.now())
        if self.value() == "live":
            return queryset.filter(live)
        if self.value() == "closed":
            return queryset.exclude(live)
        return queryset


class NeedsAgentFilter(admin.SimpleListFilter):
    title = "needs a new agent"
    parameter_name = "needs_agent"

    def lookups(self, request, model_admin):
        return [("yes", "Live line, agent inactive")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(pk__in=orders_needing_agent().values("pk"))
        return queryset


class OrderForm(forms.ModelForm):
    class Meta:
        model = Order
        fields = ["reference", "customer_name", "customer_phone", "agent"]

    def clean(self) -> dict:
        cleaned = super().clean()
        agent = cleaned.get("agent")
        if "agent" in self.changed_data:
            if agent is None:
                self.add_error("agent", "An assigned order keeps its agent; cancel the order to close its line.")
            else:
                try:
                    services.validate_assignment(self.instance, agent)
                except ValidationError as error:
                    self.add_error("agent", error)
        return cleaned


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    form = OrderForm
    list_display = ["reference", "customer_name", "status", "agent", "proxy_number", "line_live", "created_at"]
    list_filter = ["status", LineLiveFilter, NeedsAgentFilter, "proxy_number"]
    search_fields = ["reference", "customer_name", "customer_phone", "agent__name", "agent__phone"]
    list_select_related = ["agent", "proxy_number"]
    autocomplete_fields = ["agent"]
    readonly_fields = ["status", "proxy_number", "pin", "masking_expires_at", "line_live", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["reference", "customer_name", "customer_phone", "agent", "status"]}),
        (
            "Masking",
            {
                "fields": ["proxy_number", "pin", "masking_expires_at", "line_live"],
                "description": "Assigning an agent opens the line. Customer and agent both call the proxy number; "
                "callers with several live orders on it are asked for the PIN.",
            },
        ),
        ("History", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]
    actions = ["mark_picked_up", "mark_delivered", "cancel"]

    @admin.display(description="line live", boolean=True)
    def line_live(self, obj: Order) -> bool:
        return obj.is_line_live

    def get_readonly_fields(self, request, obj=None):
        # The reference is what the customer was told; it may be chosen once.
        return [*self.readonly_fields, "reference"] if obj else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Order, form: OrderForm, change: bool) -> None:
        agent = obj.agent if "agent" in form.changed_data else None
        if change:
            # The line is opened by the service, not by a bare field write.
            obj.agent_id = form.initial.get("agent")
            super().save_model(request, obj, form, change)
        else:
            # Orders are created by the service, as through the API and seed_demo;
            # the form has already refused a reference in use.
            created, _ = services.create_order(
                customer_name=obj.customer_name, customer_phone=obj.customer_phone, reference=obj.reference
            )
            obj.pk = created.pk
            obj.refresh_from_db()
        if agent is None:
            return
        try:
            services.assign_agent(obj, agent)
        except ValidationError as error:
            # The form checked this a moment ago; only a concurrent change gets here.
            self.message_user(request, " ".join(error.messages), messages.ERROR)
        obj.refresh_from_db()

    def _run(self, request: HttpRequest, queryset: QuerySet, service, done: str) -> None:
        succeeded = 0
        for order in queryset:
            try:
                service(order)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
            else:
                succeeded += 1
        if succeeded:
            self.message_user(request, f"{succeeded} order(s) {done}.", messages.SUCCESS)

    @admin.action(description="Mark selected orders picked up")
    def mark_picked_up(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._run(request, queryset, services.mark_picked_up, "marked picked up")

    @admin.action(description="Mark selected orders delivered (line closes after the grace period)")
    def mark_delivered(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._run(request, queryset, services.mark_delivered, "marked delivered")

    @admin.action(description="Cancel selected orders (line closes now)")
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._run(request, queryset, services.cancel_order, "cancelled")
