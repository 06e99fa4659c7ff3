import pytest

from orders import services
from orders.models import Order
from tests.support.api import assert_error
from tests.support.world import CUSTOMER

pytestmark = pytest.mark.django_db

NEW_ORDER = {"reference": "A-1001", "customer_name": "Alice", "customer_phone": "+1 415 666 7777"}


def test_it_creates_an_order_without_a_line(api):
    response = api.post("/api/v1/orders/", NEW_ORDER, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["reference"] == "A-1001"
    assert body["customer_phone"] == CUSTOMER
    assert body["status"] == "placed"
    assert body["agent"] is None
    assert body["masking"] is None
    order = Order.objects.get()
    assert (order.reference, order.customer_name, str(order.customer_phone)) == ("A-1001", "Alice", CUSTOMER)


def test_it_generates_a_reference_when_none_is_given(api):
    response = api.post("/api/v1/orders/", {"customer_name": "Alice", "customer_phone": CUSTOMER}, format="json")

    assert response.status_code == 201
    reference = response.json()["reference"]
    assert len(reference) == 8
    assert Order.objects.get().reference == reference


def test_a_retried_create_returns_the_existing_order(api):
    first = api.post("/api/v1/orders/", NEW_ORDER, format="json")
    # The same phone written another way is the same detail.
    retry = api.post("/api/v1/orders/", {**NEW_ORDER, "customer_phone": "+14156667777"}, format="json")

    assert first.status_code == 201
    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert Order.objects.count() == 1


def test_a_retry_finds_the_order_as_it_is_now(api, proxy_number, agent):
    api.post("/api/v1/orders/", NEW_ORDER, format="json")
    services.assign_agent(Order.objects.get(), agent)

    retry = api.post("/api/v1/orders/", NEW_ORDER, format="json")

    assert retry.status_code == 200
    assert retry.json()["status"] == "assigned"
    assert retry.json()["masking"]["live"] is True


def test_an_existing_reference_with_other_details_is_a_conflict(api):
    api.post("/api/v1/orders/", NEW_ORDER, format="json")

    response = api.post("/api/v1/orders/", {**NEW_ORDER, "customer_name": "Mallory"}, format="json")

    body = assert_error(response, 409, "reference_exists", fields=("reference",))
    assert "A-1001" in body["detail"]
    assert Order.objects.get().customer_name == "Alice"


def test_it_names_each_invalid_field(api):
    response = api.post(
        "/api/v1/orders/",
        {"reference": "no spaces/please", "customer_name": "", "customer_phone": "12"},
        format="json",
    )

    body = assert_error(response, 400, "invalid", fields=("customer_name", "customer_phone", "reference"))
    assert body["fields"]["customer_phone"] == ["Not a valid phone number: it is too short."]
    assert not Order.objects.exists()


def test_it_refuses_a_body_that_is_not_an_object(api):
    response = api.post("/api/v1/orders/", ["Alice"], format="json")

    body = assert_error(response, 400, "invalid", fields=("non_field_errors",))
    assert "dictionary" in body["detail"]


def test_it_shows_an_order_by_reference(api, live_order):
    response = api.get(f"/api/v1/orders/{live_order.reference}/")

    assert response.status_code == 200
    body = response.json()
    assert body["reference"] == live_order.reference
    assert body["agent"] == live_order.agent_id
    assert body["masking"]["proxy_number"] == "+14155550100"
    assert body["masking"]["pin"] == live_order.masking.pin


@pytest.mark.parametrize("reference", ["NOPE", "x" * 40, "%00"])
def test_it_answers_404_for_an_unknown_reference(api, reference):
    response = api.get(f"/api/v1/orders/{reference}/")

    assert_error(response, 404, "not_found")


@pytest.fixture
def orders(proxy_number, agent):
    placed = Order.objects.create(reference="P-1", customer_name="Carol", customer_phone="+14156667779")
    assigned = services.assign_agent(
        Order.objects.create(reference="A-1", customer_name="Alice", customer_phone=CUSTOMER), agent
    )
    cancelled = services.cancel_order(
        services.assign_agent(
            Order.objects.create(reference="C-1", customer_name="Erin", customer_phone="+14156667781"), agent
        )
    )
    return placed, assigned, cancelled


def references(response) -> list[str]:
    assert response.status_code == 200
    return [order["reference"] for order in response.json()["results"]]


def test_it_lists_orders_newest_first(api, orders):
    response = api.get("/api/v1/orders/")

    assert references(response) == ["C-1", "A-1", "P-1"]
    assert response.json()["count"] == 3


def test_it_filters_orders_by_status_and_agent(api, orders, agent):
    assert references(api.get("/api/v1/orders/?status=assigned")) == ["A-1"]
    assert references(api.get(f"/api/v1/orders/?agent={agent.pk}")) == ["C-1", "A-1"]
    assert references(api.get(f"/api/v1/orders/?agent={agent.pk}&status=cancelled")) == ["C-1"]
    assert references(api.get(f"/api/v1/orders/?agent={agent.pk + 1}")) == []


def test_it_refuses_an_unknown_status_filter(api, orders):
    response = api.get("/api/v1/orders/?status=lost")

    body = assert_error(response, 400, "invalid", fields=("status",))
    assert "lost" in body["detail"]


def test_it_pages_through_orders(api, settings):
    Order.objects.bulk_create(
        Order(reference=f"R-{n:03d}", customer_name="Alice", customer_phone=CUSTOMER) for n in range(55)
    )

    first = api.get("/api/v1/orders/").json()
    second = api.get(first["next"]).json()
    beyond = api.get("/api/v1/orders/?page=9")

    assert first["count"] == 55
    assert len(first["results"]) == 50
    assert len(second["results"]) == 5
    assert second["next"] is None
    assert {o["reference"] for o in first["results"]} | {o["reference"] for o in second["results"]} == {
        f"R-{n:03d}" for n in range(55)
    }
    assert_error(beyond, 404, "not_found")


@pytest.mark.parametrize("query", ["status=", "agent=", "agent=x", "agent=0", "agent=99999999999999999999999"])
def test_it_refuses_a_filter_that_is_empty_or_not_an_id(api, orders, query):
    response = api.get(f"/api/v1/orders/?{query}")

    assert_error(response, 400, "invalid", fields=(query.partition("=")[0],))


@pytest.mark.parametrize("page", ["", "0", "000", "-1", "x", "last", "1.5", "\u0661"])
def test_it_refuses_a_page_that_is_not_a_whole_number_from_one(api, orders, page):
    response = api.get(f"/api/v1/orders/?page={page}")

    assert_error(response, 400, "invalid", fields=("page",))


def test_a_page_number_far_beyond_the_last_is_404(api, orders):
    assert_error(api.get("/api/v1/orders/?page=" + "9" * 5000), 404, "not_found")


def test_an_unknown_api_path_answers_json(api):
    response = api.get("/api/v1/orders")

    body = assert_error(response, 404, "not_found")
    assert "end with a slash" in body["detail"]
    assert_error(api.get("/api/v1/nothing/here/"), 404, "not_found")


def test_a_page_number_may_have_leading_zeros(api, orders):
    assert references(api.get("/api/v1/orders/?page=0001")) == ["C-1", "A-1", "P-1"]
