"""The admin's page for API keys: the library's, with a plain status and unique names."""

from django import forms
from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from ..api import keys


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = APIKey
        fields = ["name", "expiry_date", "revoked"]
        # The library's text says names "need not be unique"; here they must be (keys.validate_api_key_name).
        help_texts = {
            "name": "The integration that uses the key; unique, revoked keys included (delete a revoked key to "
            f"reuse its name). {keys.API_KEY_NAME_MAX_LENGTH} characters at most."
        }

    def clean_name(self) -> str:
        return keys.validate_api_key_name(self.cleaned_data["name"], exclude_pk=self.instance.pk)


admin.site.unregister(APIKey)


@admin.register(APIKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    form = ApiKeyForm
    # One word instead of two yes/no icons: "Has expired: no" showed as a red
    # cross, which reads as a problem on a key that is fine.
    list_display = ("name", "prefix", "status", "created", "expiry_date")
    list_filter = ("revoked", "created")

    @admin.display(description="status")
    def status(self, obj: APIKey) -> str:
        if obj.revoked:
            return "revoked"
        if obj.has_expired:
            return "expired"
        return "active"
