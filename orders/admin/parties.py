"""Admin pages for the parties and numbers orders use: delivery agents and the proxy-number pool."""

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from ..models import Agent, ProxyNumber, live_lines_of, orders_needing_agent
from .filters import ActiveFilter, NeedsAgentFilter


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


class AgentForm(forms.ModelForm):
    class Meta:
        model = Agent
        fields = ["name", "phone", "is_active"]
        error_messages = {"phone": {"unique": "Another agent already has this phone number."}}
        labels = {"is_active": "Active"}


@admin.register(Agent)
class AgentAdmin(LiveLinesMixin, admin.ModelAdmin):
    form = AgentForm
    list_display = ["name", "phone", "is_active", "live_lines"]
    live_lines_field = "agent"
    ordering = ["name"]  # explicit: the order form's agent autocomplete pages through this order
    list_filter = [("is_active", ActiveFilter)]
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


class ProxyNumberForm(forms.ModelForm):
    class Meta:
        model = ProxyNumber
        fields = ["number", "label", "is_active"]
        error_messages = {"number": {"unique": "This number is already in the proxy-number pool."}}
        labels = {"is_active": "Active"}


@admin.register(ProxyNumber)
class ProxyNumberAdmin(LiveLinesMixin, admin.ModelAdmin):
    form = ProxyNumberForm
    list_display = ["number", "label", "country", "is_active", "live_lines"]
    live_lines_field = "proxy_number"
    ordering = ["number"]  # explicit, as for agents
    list_filter = [("is_active", ActiveFilter), "country"]
    search_fields = ["number", "label"]
    readonly_fields = ["country"]
