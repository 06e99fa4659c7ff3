"""The store through the API: its fields, the order's lines, PATCH, close-store-line, click-to-call from and to."""

import pytest

from orders.models import Agent, Line, ProxyNumber
from tests.support.api import assert_error
from tests.support.events import run_worker
from tests.support.webhooks import PlivoClient, call_params, xml_of
from tests.support.world import AGENT_PHONE, CUSTOMER
from voice.models import CallRecord

pytestmark = pytest.mark.django_db

STORE = "+14156667790"


@pytest.fixture
def pool(db) -> list[ProxyNumber]:
    return [ProxyNumber.objects.create(number=f"+1415555010{i}") for i in range(3)]


def create(api, **fields):
    body = {"reference": "K7X4", "customer_name": "Alice", "customer_phone": CUSTOMER, **fields}
    return api.post("/api/v1/orders/", body, format="json")


def assign(api, agent: Agent, reference: str = "K7X4"):
    return api.post(f"/api/v1/orders/{reference}/assign/", {"agent": agent.pk}, format="json")


def test_an_order_with_a_store_answers_its_lines_and_keeps_masking_as_the_customer_agent_line(api, pool, agent):
    created = create(api, store_name="Green Grocer", store_phone="(415) 666-7790")
    assert created.status_code == 201, created.content
    assert (created.json()["store_name"], created.json()["store_phone"], created.json()["lines"]) == (
        "Green Grocer",
        STORE,
        [],
    )

    body = assign(api, agent).json()

    lines = {tuple(line["parties"]): line for line in body["lines"]}
    assert set(lines) == {("customer", "agent"), ("store", "agent")}
    masking = lines[("customer", "agent")]
    assert body["masking"] == {key: masking[key] for key in ("proxy_number", "pin", "expires_at", "live")}
    assert lines[("store", "agent")]["live"] is True
    assert lines[("store", "agent")]["proxy_number"] != masking["proxy_number"]


def test_an_order_without_a_store_says_so(api, pool):
    body = create(api).json()

    assert (body["store_name"], body["store_phone"]) == ("", None)


def test_a_store_phone_that_is_the_customers_is_refused(api, pool):
    assert_error(create(api, store_phone=CUSTOMER), 400, "invalid", ("store_phone",))


def test_patch_sets_the_store_and_opens_its_line_on_an_assigned_order(api, pool, agent):
    create(api)
    assign(api, agent)

    response = api.patch("/api/v1/orders/K7X4/", {"store_name": "Grocer", "store_phone": STORE}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["store_name"], body["store_phone"]) == ("Grocer", STORE)
    assert sorted(tuple(line["parties"]) for line in body["lines"]) == [("customer", "agent"), ("store", "agent")]


def test_patch_refuses_a_pool_number_as_the_stores_phone(api, pool):
    create(api)

    response = api.patch("/api/v1/orders/K7X4/", {"store_phone": str(pool[0].number)}, format="json")

    assert_error(response, 400, "invalid", ("store_phone",))


def test_close_store_line_closes_it_and_keeps_the_customer_agent_line(api, pool, agent):
    create(api, store_phone=STORE)
    assign(api, agent)

    response = api.post("/api/v1/orders/K7X4/close-store-line/")

    assert response.status_code == 200, response.content
    live = {tuple(line["parties"]): line["live"] for line in response.json()["lines"]}
    assert live == {("customer", "agent"): True, ("store", "agent"): False}
    assert api.post("/api/v1/orders/K7X4/close-store-line/").status_code == 200  # a retry


def test_close_store_line_without_a_store_is_a_conflict(api, pool, agent):
    create(api)
    assign(api, agent)

    assert_error(api.post("/api/v1/orders/K7X4/close-store-line/"), 409, "no_store")


def test_the_order_list_reads_every_orders_lines_in_one_query(api, pool, agent, django_assert_max_num_queries):
    for n in range(3):
        create(api, reference=f"K{n}", store_phone=STORE)
        assign(api, agent, f"K{n}")
    with django_assert_max_num_queries(6):
        page = api.get("/api/v1/orders/").json()
    assert [len(order["lines"]) for order in page["results"]] == [2, 2, 2]


def test_click_to_call_rings_the_store_then_dials_the_agent_over_their_line(api, pool, agent, account):
    create(api, store_phone=STORE)
    assign(api, agent)
    store_line = Line.objects.get(kind=Line.Kind.STORE_AGENT)

    response = api.post("/api/v1/orders/K7X4/call/", {"from": "store", "to": "agent"}, format="json")
    assert response.status_code == 202, response.content
    assert (response.json()["from"], response.json()["to"]) == ("store", "agent")
    run_worker()

    [placed] = account.calls
    assert (placed["from"], placed["to"]) == (str(store_line.proxy_number.number).lstrip("+"), STORE.lstrip("+"))
    answer_url = placed["answer_url"].split("masking.example.com", 1)[1]
    params = call_params(
        str(store_line.proxy_number.number).lstrip("+"),
        STORE.lstrip("+"),
        call_uuid="c2c-store",
        Direction="outbound",
        CallStatus="in-progress",
    )
    root = xml_of(PlivoClient().signed_post(answer_url, params))
    assert [number.text for number in root.iter("Number")] == [AGENT_PHONE.lstrip("+")]
    record = CallRecord.objects.get(call_uuid="c2c-store")
    assert (record.line_id, record.caller_role, record.initiated_by) == (store_line.pk, "store", "platform")


@pytest.mark.parametrize(
    ("body", "field"),
    [({"from": "store"}, "to"), ({"from": "agent", "to": "agent"}, "to"), ({"from": "nobody"}, "from")],
)
def test_click_to_call_needs_two_parties_of_a_line(api, pool, agent, body, field):
    create(api, store_phone=STORE)
    assign(api, agent)

    assert_error(api.post("/api/v1/orders/K7X4/call/", body, format="json"), 400, "invalid", (field,))


def test_click_to_call_between_customer_and_store_needs_that_line(api, pool, agent, account):
    create(api, store_phone=STORE)
    assign(api, agent)

    response = api.post("/api/v1/orders/K7X4/call/", {"from": "customer", "to": "store"}, format="json")

    assert_error(response, 409, "line_not_live")
