"""voice/records.py: the written-out inserts name every field of the records they write."""

import pytest
from django.db import models

from voice import records
from voice.models import CallRecord, MessageRecord


@pytest.mark.parametrize(
    ("model", "defaults"),
    [(CallRecord, records.CALL_RECORD_DEFAULTS), (MessageRecord, records.MESSAGE_RECORD_DEFAULTS)],
)
def test_the_insert_names_every_column_with_the_models_default(model, defaults):
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]

    assert list(defaults) == [field.column for field in fields]
    for field in fields:
        if field.has_default() and not callable(field.default):
            assert defaults[field.column] == field.get_default(), field.name
        elif isinstance(field, models.DateTimeField):
            assert defaults[field.column] is None, "times are set per write"
        elif field.null:
            assert defaults[field.column] is None, field.name
        else:
            assert defaults[field.column] == "", field.name


def test_clip_drops_nul_and_cuts_to_length():
    assert records.clip("ab\x00cdef", 4) == "abcd"
    assert records.clip(None, 4) == ""
