"""One rule for order references, on the model field: the admin accepts only what the API can address."""

import pytest
from rest_framework.test import APIClient
from rest_framework_api_key.models import APIKey

from orders.models import Order
from tests.support.admin_forms import admin_post_data
from tests.support.api import assert_error

pytestmark = pytest.mark.django_db

ADD = "/admin/orders/order/add/"


def order_form(admin_client, reference: str) -> dict:
    page = admin_client.get(ADD)
    return admin_post_data(page, reference=reference, customer_name="Sam", customer_phone="+14155550123")


BAD_REFERENCES = ["<svg onload=alert(1)>", 'a"b', "a'b", "two words", "-leading-dash", "a/b", "ünï"]


@pytest.mark.parametrize("reference", BAD_REFERENCES)
def test_the_admin_refuses_a_reference_the_api_could_not_address(admin_client, reference):
    response = admin_client.post(ADD, order_form(admin_client, reference))

    assert response.status_code == 200
    assert "letters, digits" in response.context["adminform"].form.errors["reference"][0]
    assert not Order.objects.exists()


@pytest.mark.parametrize("reference", BAD_REFERENCES)
def test_the_api_refuses_the_same_references_with_the_same_words(reference, db):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {APIKey.objects.create_key(name='dispatch')[1]}")
    body = {"reference": reference, "customer_name": "Sam", "customer_phone": "+14155550123"}

    response = api.post("/api/v1/orders/", body, format="json")

    error = assert_error(response, 400, "invalid", ("reference",))
    assert "letters, digits" in error["fields"]["reference"][0]


def test_a_good_reference_is_accepted_by_the_admin(admin_client):
    response = admin_client.post(ADD, order_form(admin_client, "WEB-1_a"))

    assert response.status_code == 302
    assert Order.objects.get().reference == "WEB-1_a"
