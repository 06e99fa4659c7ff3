"""voice/records.py: the written-out inserts name every field, and skip the flush wait only for themselves."""

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext

from tests.support.webhooks import call_params
from voice import records
from voice.models import CallRecord, MessageRecord
from voice.plivo import params


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
    assert params.clip("ab\x00cdef", 4) == "abcd"
    assert params.clip(None, 4) == ""


@pytest.mark.skipif(connection.vendor != "postgresql", reason="synchronous_commit is a PostgreSQL setting")
# In autocommit, as in production: inside a test's transaction SET LOCAL would last until its rollback.
@pytest.mark.django_db(transaction=True)
def test_the_call_record_skips_the_flush_wait_without_changing_the_connection(plivo, live_order):
    with CaptureQueriesContext(connection) as queries:
        plivo.signed_post("/voice/answer/", call_params("14156667777"))

    (insert,) = [query["sql"] for query in queries if "INSERT" in query["sql"]]
    assert insert.startswith("SET LOCAL synchronous_commit TO OFF;")
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
