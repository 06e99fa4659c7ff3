"""Request checks that belong to no app."""

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest


class RefuseNulInAdminQueryMiddleware:
    """400 for an admin request whose query string holds a NUL character.

    PostgreSQL text cannot hold NUL, and the admin passes filter and search
    parameters (``?customer_phone=%00``, the autocomplete's ``term``) straight
    into queries, where it was a 500. No real filter or search contains one.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/admin/"):
            query = request.META.get("QUERY_STRING", "")
            if "%00" in query or "\x00" in query:
                return HttpResponseBadRequest("A NUL character is not allowed here.", content_type="text/plain")
        return self.get_response(request)
