"""The admin's block list: numbers whose calls and texts reach no one (docs/security.md, "Abuse controls")."""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from ..models import BlockedNumber
from ..phones import to_e164


class BlockedNumberForm(forms.ModelForm):
    class Meta:
        model = BlockedNumber
        fields = ["number", "reason", "until"]
        error_messages = {"number": {"unique": "This number is already blocked; change its block instead."}}
        help_texts = {"reason": "Why it is blocked, for the staff who read this later."}


class InForceFilter(admin.SimpleListFilter):
    title = "in force"
    parameter_name = "in_force"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No, ended")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.in_force()
        if self.value() == "no":
            return queryset.exclude(pk__in=BlockedNumber.objects.in_force().values("pk"))
        return queryset


@admin.register(BlockedNumber)
class BlockedNumberAdmin(admin.ModelAdmin):
    form = BlockedNumberForm
    list_display = ["number", "reason", "until", "in_force", "added_by", "created_at"]
    list_filter = [InForceFilter]
    list_select_related = ["added_by"]
    search_fields = ["number", "reason"]
    readonly_fields = ["added_by", "created_at"]

    @admin.display(description="in force", boolean=True)
    def in_force(self, obj: BlockedNumber) -> bool:
        return obj.is_in_force

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        # Numbers are stored in E.164: "415 666 7777" finds +14156667777 as staff type it.
        number = to_e164(search_term, settings.MASKING_DEFAULT_REGION) if search_term else None
        if number:
            return queryset.filter(number=number), False
        return super().get_search_results(request, queryset, search_term)

    def save_model(self, request: HttpRequest, obj: BlockedNumber, form: forms.ModelForm, change: bool) -> None:
        if not change:
            obj.added_by = request.user
        super().save_model(request, obj, form, change)
