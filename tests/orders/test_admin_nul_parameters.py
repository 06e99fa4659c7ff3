"""A NUL byte in the admin's filter or search parameters is a 400, never a 500 (PostgreSQL text refuses NUL)."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/admin/orders/order/?customer_phone=%00",
        "/admin/orders/order/?q=%00",
        "/admin/orders/order/?q=abc%00def",
        "/admin/orders/agent/?phone=%00",
        "/admin/voice/callrecord/?q=%00",
        "/admin/autocomplete/?app_label=orders&model_name=order&field_name=agent&term=%00",
    ],
)
def test_a_nul_in_an_admin_query_is_a_bad_request(admin_client, live_order, url):
    admin_client.raise_request_exception = False

    response = admin_client.get(url)

    assert response.status_code == 400


def test_ordinary_searches_still_work(admin_client, live_order):
    response = admin_client.get(f"/admin/orders/order/?q={live_order.reference}")

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [live_order]
