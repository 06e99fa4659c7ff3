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

from ..errors import ServiceError

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
    """API_THROTTLE_RATE requests per key, counted by the key's public prefix.

    DRF's own throttle reads the key's request history, appends and writes it
    back, so concurrent requests overwrite each other's entries and a limit of
    1200/min let 1,980 through in 21 s. This one counts with the cache's
    atomic ``incr`` in fixed windows of the rate's period and weighs the
    previous window by how much of it still overlaps the last period (a
    sliding-window estimate), so no burst at a window's edge doubles the
    rate. It holds as far as the cache's incr is atomic and shared: Redis and
    Memcached across hosts, the database cache (made atomic by
    numbermasking/cache.py) across hosts, locmem within one process only.
    """

    scope = "api_key"

    def get_rate(self) -> str:
        # Read on every request (not at import, as DRF's default does) so the
        # setting is the only place the rate lives.
        return settings.API_THROTTLE_RATE

    def get_cache_key(self, request: Request, view: object) -> str | None:
        if not isinstance(request.auth, APIKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}

    def allow_request(self, request: Request, view: object) -> bool:
        key = self.get_cache_key(request, view)
        if key is None or self.rate is None:
            return True
        now = self.timer()
        window, elapsed = divmod(now, self.duration)
        window = int(window)
        current = f"{key}:{window}"
        # Two periods: the previous window is still read for a whole period after it ends.
        if self.cache.add(current, 1, 2 * self.duration):
            count = 1
        else:
            try:
                count = self.cache.incr(current)
            except ValueError:  # expired between add and incr
                self.cache.add(current, 1, 2 * self.duration)
                count = 1
        previous = self.cache.get(f"{key}:{window - 1}", 0)
        estimate = previous * (1 - elapsed / self.duration) + count
        if estimate <= self.num_requests:
            return True
        # A refused request does not count against the next one.
        self.cache.decr(current)
        # Until the estimate, with this request, fits the rate again.
        if previous and count <= self.num_requests:
            self._wait = max(0.0, self.duration * (1 - (self.num_requests - count) / previous) - elapsed)
        else:
            self._wait = self.duration - elapsed
        return False

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)


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


# Keys are made by hand (create_api_key, the admin), one at a time; these are their write rules.
API_KEY_NAME_MAX_LENGTH = APIKey._meta.get_field("name").max_length


def validate_api_key_name(name: str, *, exclude_pk: str | None = None) -> str:
    """The name stripped, or ServiceError: a key is found and revoked by its name, so names are unique.

    Revoked keys keep their name too, so the admin's list never shows two keys
    of one name; delete the revoked key to reuse it.
    """
    name = name.strip()
    if not name or len(name) > API_KEY_NAME_MAX_LENGTH:
        raise ServiceError(
            "Give the key a name of 1 to %(max)d characters.",
            code="api_key_name_invalid",
            field="name",
            params={"max": API_KEY_NAME_MAX_LENGTH},
        )
    existing = APIKey.objects.filter(name=name).exclude(pk=exclude_pk).first()
    if existing is not None:
        raise ServiceError(
            "An API key named %(name)r already exists (prefix %(prefix)s): choose another name, or delete "
            "that key in the admin under API keys first.",
            code="api_key_name_taken",
            status=409,
            field="name",
            params={"name": name, "prefix": existing.prefix},
        )
    return name


def create_api_key(name: str) -> tuple[APIKey, str]:
    """A new key for one integration: ``(api_key, key)``; the key itself is shown once, only its hash is kept.

    Two requests racing with one new name could both pass the check (there is
    no database constraint on the library's table); keys are created by hand,
    one at a time.
    """
    return APIKey.objects.create_key(name=validate_api_key_name(name))
