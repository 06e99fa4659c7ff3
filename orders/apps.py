from django.apps import AppConfig
from rest_framework_api_key.apps import RestFrameworkApiKeyConfig


class OrdersConfig(AppConfig):
    # This module has two configs: without this, INSTALLED_APPS' "orders" got a
    # plain AppConfig and ready() never registered the system checks.
    default = True
    name = "orders"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)


class ApiKeysConfig(RestFrameworkApiKeyConfig):
    """djangorestframework-api-key, named for the people who manage the keys.

    Its own name, "API Key Permissions", headed the admin's key list; the
    label (and so its tables and migrations) stays the library's.
    """

    verbose_name = "API keys"
