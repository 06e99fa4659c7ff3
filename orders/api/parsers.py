"""The API's request parser (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]).

Its own module: DRF reads the setting while rest_framework.views loads, which
orders.api.errors imports.
"""

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with nesting too deep for Python's json module a parse error rather than a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            raise exceptions.ParseError("JSON parse error - the document is nested too deeply.") from error
