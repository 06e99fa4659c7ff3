from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

from . import services
from .models import Agent, Order, ProxyNumber, live_lines_of


class LiveLinesMixin:
    """A "live lines" column on the list of a model that orders point at (agents, proxy numbers)."""

    live_lines_field: str  # the Order foreign key to this model

    @admin.display(description="live lines", ordering="live_lines")
    def live_lines(self, obj) -> int:
        return obj.live_lines

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        # Only the list shows the count. The change pages and the order form's
        # agent autocomplete (AutocompleteJsonView calls get_queryset too) would
        # pay for it on every page and every keystroke.
        match = request.resolver_match
        if match is not None and match.url_name == f"{self.opts.app_label}_{self.opts.model_name}_changelist":
            queryset = queryset.annotate(live_lines=live_lines_of(self.live_lines_field))
        return queryset


@admin.register(Agent)
class AgentAdmin(LiveLinesMixin, admin.ModelAdmin):
    list_display = ["name", "phone", "is_active", "live_lines"]
    live_lines_field = "agent"
    ordering = ["name"]  # explicit: the order form's agent autocomplete pages through this order
    list_filter = ["is_active"]
    search_fields = ["name", "phone"]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # The order form offers only agents who can take the order; the agent
        # list itself still finds everyone.
        if request.GET.get("model_name") == "order" and request.GET.get("field_name") == "agent":
            queryset = queryset.filter(is_active=True)
        return queryset, may_have_duplicates


@admin.register(ProxyNumber)
class ProxyNumberAdmin(LiveLinesMixin, admin.ModelAdmin):
    list_display = ["number", "label", "country", "is_active", "live_lines"]
    live_lines_field = "proxy_number"
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
        if self.value() == "live":
            return queryset.live()
        if self.value() == "closed":
            return queryset.closed()
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


class EstimatedCountPaginator(Paginator):
    """Counts an unfiltered list from Postgres's table statistics instead of a COUNT(*) of every row.

    As healthchecks does for its pings: autovacuum's ANALYZE keeps
    pg_class.reltuples close enough for "page 1 of 10,000". Small tables,
    filtered or searched lists and other databases get the exact count.
    """

    estimate_from = 10_000

    @cached_property
    def count(self) -> int:
        query = self.object_list.query
        database = connections[self.object_list.db]
        if not query.where and database.vendor == "postgresql":
            with database.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [query.model._meta.db_table]
                )
                estimate = cursor.fetchone()[0]
            if estimate >= self.estimate_from:  # -1 before the first ANALYZE
                return estimate
        return super().count


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    form = OrderForm
    # No COUNT(*) of the whole table on every page view (see EstimatedCountPaginator).
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_display = ["reference", "customer_name", "status", "agent", "proxy_number", "line_live", "created_at"]
    list_filter = ["status", LineLiveFilter, "proxy_number"]
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


from . import events_admin  # noqa: E402,F401  (the events pages register themselves)
