"""The Plivo REST calls the account commands and the worker's tasks make, through the plivo SDK.

The client is built when a command or task runs, never at import (and never
in a web request), from the settings ``PLIVO_AUTH_ID``, ``PLIVO_AUTH_TOKEN``,
``PLIVO_API_URL`` and the timeouts ``PLIVO_CONNECT_TIMEOUT`` and
``PLIVO_READ_TIMEOUT``. Every SDK or network failure comes out as a
``PlivoAPIError`` whose message is one line a user can act on; the commands
turn it into a ``CommandError``. ``PlivoUnavailable`` (no connection, no
answer in time, any 5xx) is the one worth trying again; the SDK's own retries
are off, so each call here is exactly one HTTP request.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import plivo
import requests
from django.conf import settings
from plivo import exceptions as plivo_errors

from orders.phones import to_e164

from .params import plivo_digits

# The SDK refuses a larger page size for numbers and applications.
PAGE_SIZE = 20


class PlivoAPIError(Exception):
    """A Plivo REST call failed; the message is one line for the user."""


class PlivoUnavailable(PlivoAPIError):
    """Plivo could not be reached, did not answer in time, or answered with a server error: worth retrying."""


@dataclass(frozen=True)
class AccountNumber:
    number: str  # E.164
    alias: str
    app_id: str  # the linked Application's id, "" when none


@dataclass(frozen=True)
class Application:
    app_id: str
    app_name: str


class _Client(plivo.RestClient):
    """The SDK client, with the account API host taken from ``PLIVO_API_URL`` and the SDK's retries off.

    ``RestClient.request`` assigns ``base_uri`` from module constants before
    every call (and to its voice fallbacks after a 5xx), so setting it once
    does not stick. A property that ignores those assignments does, for every
    account-scoped request, without patching the SDK's module globals.
    """

    def __init__(self, auth_id: str, auth_token: str, *, api_url: str) -> None:
        self._account_base_uri = f"{api_url.rstrip('/')}/v1/Account"
        # requests takes (connect, read): a dead host fails fast, a slow answer gets longer.
        super().__init__(auth_id, auth_token, timeout=(settings.PLIVO_CONNECT_TIMEOUT, settings.PLIVO_READ_TIMEOUT))

    def request(self, method, path=None, data=None, response_type=None, objects_type=None, files=None, **kwargs):
        # The SDK sends a "voice request" (calls, applications, recordings) up
        # to three times when Plivo answers 5xx; a Call API request that Plivo
        # half-handled then rang the party twice. One request here; the
        # callers that may retry (the click-to-call and recording tasks) do
        # so themselves, with backoff and a bound (docs/plivo.md).
        kwargs.pop("is_voice_request", None)
        return super().request(method, path, data, response_type, objects_type, files, **kwargs)

    @property
    def base_uri(self) -> str:
        return self._account_base_uri

    @base_uri.setter
    def base_uri(self, value: str) -> None:
        pass  # the SDK's choice of host is replaced by ours on purpose

    def process_response(self, method, response, response_type=None, objects_type=None):
        if response.status_code > 500:
            # The SDK raises PlivoServerError for 500 only, and a generic
            # error for 502, 503, 504: every 5xx is Plivo failing, not refusing.
            raise plivo_errors.PlivoServerError(f"HTTP {response.status_code} {_error_of(response)}".strip())
        if response.status_code >= 400:
            # The SDK wraps an error body in the list type before reading its
            # "error", which raises AttributeError for list calls (a 401 on
            # numbers.list in 4.63.0); read errors as plain objects instead.
            return super().process_response(method, response)
        return super().process_response(method, response, response_type, objects_type)


def _error_of(response: requests.Response) -> str:
    """Plivo's one-line reason from an error body (its JSON "error"), or nothing."""
    try:
        body = response.json()
    except ValueError:
        return ""
    return " ".join(str(body.get("error") or "").split()) if isinstance(body, dict) else ""


def check_settings() -> None:
    """PlivoAPIError when the settings cannot make a client; asks nothing of Plivo."""
    if not settings.PLIVO_AUTH_ID or not settings.PLIVO_AUTH_TOKEN:
        raise PlivoAPIError("PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN must be set (Plivo console: Account > Overview).")
    api_url = settings.PLIVO_API_URL
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PlivoAPIError(f"PLIVO_API_URL={api_url!r} must be an http(s) URL such as https://api.plivo.com.")


def connect() -> plivo.RestClient:
    """A client for the configured account; PlivoAPIError when settings are missing."""
    check_settings()
    try:
        return _Client(settings.PLIVO_AUTH_ID, settings.PLIVO_AUTH_TOKEN, api_url=settings.PLIVO_API_URL)
    except plivo_errors.AuthenticationError as error:
        # The SDK checks the id's shape before any request is made.
        raise PlivoAPIError(
            "PLIVO_AUTH_ID does not look like a Plivo auth ID (20 characters starting with MA or SA)."
        ) from error


@contextmanager
def _calling(client: plivo.RestClient, what: str, *, not_found: str | None = None) -> Iterator[None]:
    """Turn the SDK's and requests' exceptions into one-line PlivoAPIErrors."""
    try:
        yield
    except plivo_errors.AuthenticationError as error:
        raise PlivoAPIError(
            "Plivo rejected the credentials (HTTP 401): check PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN."
        ) from error
    except plivo_errors.ResourceNotFoundError as error:
        raise PlivoAPIError(not_found or f"Plivo found nothing while {what} (HTTP 404).") from error
    except plivo_errors.PlivoServerError as error:
        raise PlivoUnavailable(f"Plivo answered with a server error while {what}: {_one_line(error)}") from error
    except plivo_errors.PlivoRestError as error:
        raise PlivoAPIError(f"Plivo answered with an error while {what}: {_one_line(error)}") from error
    except requests.Timeout as error:
        raise PlivoUnavailable(f"The Plivo API at {_host(client)} did not answer in time while {what}.") from error
    except requests.RequestException as error:
        raise PlivoUnavailable(
            f"Could not reach the Plivo API at {_host(client)} while {what}; check the network and PLIVO_API_URL."
        ) from error


def _host(client: plivo.RestClient) -> str:
    parts = urlsplit(client.base_uri)
    return f"{parts.scheme}://{parts.netloc}"


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _field(obj: object, name: str) -> str:
    value = getattr(obj, name, None)
    return "" if value is None else str(value)


def _app_id_from_uri(uri: str) -> str:
    # Plivo names a number's application by its URI: /v1/Account/{id}/Application/{app_id}/
    parts = [part for part in uri.split("/") if part]
    return parts[-1] if len(parts) >= 2 and parts[-2] == "Application" else ""


def voice_numbers(client: plivo.RestClient) -> list[AccountNumber]:
    """Every voice-enabled number the account rents, all pages."""
    numbers: dict[str, AccountNumber] = {}
    offset = 0
    while True:
        with _calling(client, "listing the account's numbers"):
            page = client.numbers.list(services="voice", limit=PAGE_SIZE, offset=offset)
        objects = list(getattr(page, "objects", None) or [])
        new = 0
        for item in objects:
            number = to_e164(_field(item, "number"))
            if number is None or getattr(item, "voice_enabled", True) is False or number in numbers:
                continue
            numbers[number] = AccountNumber(
                number=number,
                alias=_field(item, "alias"),
                app_id=_app_id_from_uri(_field(item, "application")),
            )
            new += 1
        meta = getattr(page, "meta", None)
        has_next = bool(getattr(meta, "next", None)) if meta is not None else len(objects) == PAGE_SIZE
        # A page with nothing new means the server ignored the offset: stop
        # rather than ask for the same page forever.
        if not objects or not new or not has_next:
            return sorted(numbers.values(), key=lambda n: n.number)
        offset += len(objects)


def find_application(client: plivo.RestClient, app_name: str) -> Application | None:
    """The account's Application named exactly ``app_name``, or None."""
    matches: list[Application] = []
    offset = 0
    while True:
        with _calling(client, "listing the account's applications"):
            page = client.applications.list(app_name=app_name, limit=PAGE_SIZE, offset=offset)
        objects = list(getattr(page, "objects", None) or [])
        # The name filter is the server's; the exact match is ours.
        matches += [
            Application(app_id=_field(app, "app_id"), app_name=_field(app, "app_name"))
            for app in objects
            if _field(app, "app_name") == app_name
        ]
        meta = getattr(page, "meta", None)
        if not objects or not (meta is not None and getattr(meta, "next", None)):
            break
        offset += len(objects)
    if len(matches) > 1:
        raise PlivoAPIError(
            f"The account has {len(matches)} applications named {app_name!r}; "
            "delete or rename the extras in the Plivo console, or pass another --app-name."
        )
    return matches[0] if matches else None


def save_application(client: plivo.RestClient, app_name: str, urls: dict[str, str]) -> tuple[Application, bool]:
    """Create the Application, or update the one with that name; returns it and whether it was created.

    ``urls`` holds ``answer_url``, ``hangup_url``, ``fallback_answer_url`` and
    ``message_url``; every method is POST.
    """
    fields = {
        **urls,
        "answer_method": "POST",
        "hangup_method": "POST",
        "fallback_method": "POST",
        "message_method": "POST",
        # Relayed texts are private between customer and agent; keep them out
        # of Plivo's message logs, as GetDigits keeps PINs out of call logs.
        "log_incoming_messages": False,
    }
    existing = find_application(client, app_name)
    if existing is None:
        with _calling(client, "creating the application"):
            response = client.applications.create(app_name=app_name, **fields)
        app_id = _field(response, "app_id")
        if not app_id:
            raise PlivoAPIError("Plivo created the application but did not return its app_id.")
        return Application(app_id=app_id, app_name=app_name), True
    with _calling(
        client,
        "updating the application",
        not_found=f"The application {app_name!r} disappeared while it was being updated; run the command again.",
    ):
        client.applications.update(existing.app_id, **fields)
    return existing, False


def link_number(client: plivo.RestClient, number: str, app_id: str) -> None:
    """Point ``number``'s incoming calls and messages at the Application."""
    with _calling(
        client,
        f"linking {number}",
        not_found=f"{number} is not a number in your Plivo account; run plivo_sync_numbers or deactivate it.",
    ):
        client.numbers.update(plivo_digits(number), app_id=app_id)


def delete_recording(client: plivo.RestClient, recording_id: str) -> bool:
    """Delete a recording's media at Plivo; False when Plivo says it is already gone (404)."""
    try:
        with _calling(client, f"deleting recording {recording_id}"):
            client.recordings.delete(recording_id)
    except PlivoAPIError as error:
        if isinstance(error.__cause__, plivo_errors.ResourceNotFoundError):
            return False
        raise
    return True


def start_call(
    client: plivo.RestClient,
    *,
    from_: str,
    to: str,
    answer_url: str,
    hangup_url: str,
    time_limit: int,
    ring_timeout: int,
) -> str:
    """Ask Plivo to ring ``to`` (E.164) from ``from_`` and fetch ``answer_url`` when answered; Plivo's request UUID.

    PlivoUnavailable when Plivo cannot be reached or fails (a retry may work),
    PlivoAPIError when it refuses the request.
    """
    with _calling(client, "placing the call"):
        response = client.calls.create(
            from_=plivo_digits(from_),
            to_=plivo_digits(to),
            answer_url=answer_url,
            answer_method="POST",
            hangup_url=hangup_url,
            hangup_method="POST",
            time_limit=time_limit,
            ring_timeout=ring_timeout,
        )
    request_uuid = _field(response, "request_uuid")
    if not request_uuid:
        raise PlivoAPIError("Plivo accepted the call but returned no request_uuid.")
    return request_uuid
