"""Who may call the API: one named, hashed, revocable key per integration.

djangorestframework-api-key stores the keys; it only ships a permission class,
so this module adds an authentication class around its key parser. Failing
authentication is then a 401 with ``WWW-Authenticate: Api-Key`` rather than a
bare 403, and ``request.auth`` is the key, which the throttle counts by.
"""

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.request import Request
from rest_framework_api_key.models import APIKey
from rest_framework_api_key.permissions import KeyParser

KEYWORD = "Api-Key"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Api-Key <key>``; a missing header leaves the request anonymous."""

    key_parser = KeyParser()

    def authenticate(self, request: Request) -> tuple[AnonymousUser, APIKey] | None:
        key = self.key_parser.get(request)
        if key is None:
            return None
        try:
            api_key = APIKey.objects.get_from_key(key.strip())
        except APIKey.DoesNotExist:
            api_key = None
        # One message for unknown, revoked and expired keys: the caller learns
        # nothing about which keys exist.
        if api_key is None or api_key.has_expired:
            raise exceptions.AuthenticationFailed("The API key is not valid, or it has been revoked.")
        # The caller is an integration, not a Django user.
        return AnonymousUser(), api_key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


class HasApiKey(permissions.BasePermission):
    def has_permission(self, request: Request, view: object) -> bool:
        if not isinstance(request.auth, APIKey):
            # Raised here because DRF's own 401 does not say which header to send.
            raise exceptions.NotAuthenticated(f"Send an API key in the header Authorization: {KEYWORD} <key>.")
        return True


class ApiKeyRateThrottle(throttling.SimpleRateThrottle):
    """API_THROTTLE_RATE requests per key, counted by the key's public prefix."""

    scope = "api_key"

    def get_rate(self) -> str:
        # Read on every request (not at import, as DRF's default does) so the
        # setting is the only place the rate lives.
        return settings.API_THROTTLE_RATE

    def get_cache_key(self, request: Request, view: object) -> str | None:
        if not isinstance(request.auth, APIKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Describes the key to the OpenAPI schema, so Swagger UI's Authorize button works."""

    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema: object) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": f"`{KEYWORD} <key>`, with a key from `manage.py create_api_key NAME`.",
        }
