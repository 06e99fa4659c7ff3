"""The admin lists' filters, where their wording differs from the field names."""

from django.contrib import admin

from ..models import orders_needing_agent


class ActiveFilter(admin.BooleanFieldListFilter):
    """Headed "Active", not after the field's name ("is active")."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.title = "active"


class ProxyNumberFilter(admin.RelatedFieldListFilter):
    """The orders' proxy-number filter, with its entry for orders without one named instead of "-"."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Filtered through the order's lines: titled after the number, not after the path.
        self.title = "proxy number"
        self.empty_value_display = "none yet"

    @property
    def include_empty_choice(self) -> bool:
        # Orders without a line yet: the line's own column is never empty, the path through it is.
        return True


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


class NeedsAgentFilter(admin.SimpleListFilter):
    title = "needs a new agent"
    parameter_name = "needs_agent"

    def lookups(self, request, model_admin):
        return [("yes", "Live line, agent inactive")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(pk__in=orders_needing_agent().values("pk"))
        return queryset
