"""What the API's views share: page numbers for every list, and looking an object up by its numeric id."""

from django.db.models import Model
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


class Pagination(PageNumberPagination):
    """DRF's page numbers, minus its leniency: an empty or non-numeric page is a 400, not page 1 or a 404."""

    page_size = 50
    last_page_strings = ()

    def get_page_number(self, request: Request, paginator: object) -> int:
        raw = request.query_params.get(self.page_query_param, "1")
        digits = raw.lstrip("0")
        if not (raw.isascii() and raw.isdecimal()) or not digits:
            raise ValidationError({self.page_query_param: ["A page number is a whole number, 1 or more."]})
        # No list has a billion pages; skipping int() on longer input keeps absurd input cheap.
        return int(digits) if len(digits) <= 9 else paginator.num_pages + 1

    def get_schema_operation_parameters(self, view: object) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters


class NumericIdLookup:
    """``get_object`` for a viewset whose objects are named by a plain numeric id (``/…/{id}/``).

    Only a plain id can name one; anything else (or an id past the column's
    range) is the API's JSON 404, never Django's page or a database error.
    """

    named = "object"  # what the 404 calls it, e.g. "webhook endpoint"

    def get_object(self) -> Model:
        pk = self.kwargs["pk"]
        found = None
        if pk.isascii() and pk.isdigit() and len(pk) <= 18:
            found = self.get_queryset().filter(pk=int(pk)).first()
        if found is None:
            raise NotFound(f"No {self.named} with id {pk!r}.")
        return found
