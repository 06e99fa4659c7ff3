"""The fallback webhook (/voice/fallback/): what Plivo plays when the answer URL fails."""

import pytest

from tests.support.webhooks import assert_apology, call_params, xml_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("method", ["signed_get", "signed_post"])
def test_it_apologises_without_touching_the_database(plivo, django_assert_num_queries, method):
    with django_assert_num_queries(0):
        response = getattr(plivo, method)("/voice/fallback/", call_params("14156667777"))

    assert_apology(xml_of(response))
