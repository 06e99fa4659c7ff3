"""The one kind of error a write rule raises: what went wrong, and how the API answers it.

The services know nothing of HTTP requests, but each refusal says which HTTP
status and request field it stands for, so that the API's error handler
(orders/api/errors.py) holds no table of other modules' codes: a new refusal
is one ``raise`` in the module that refuses.
"""

from django.core.exceptions import ValidationError


class ServiceError(ValidationError):
    """A write rule's refusal: a stable ``code`` and a sentence for people.

    ``status`` is the HTTP status the API answers (400 unless said otherwise),
    ``field`` the request field at fault (None: the request as a whole), and
    ``retry_after`` the seconds a 429 or 503 tells the client to wait. The
    admin and the commands show the sentence; a form shows it beside its field.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        params: dict | None = None,
        status: int = 400,
        field: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message, code=code, params=params)
        self.status = status
        self.field = field
        self.retry_after = retry_after
