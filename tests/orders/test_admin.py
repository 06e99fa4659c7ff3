"""The admin as staff use it, through Django's test client with a logged-in superuser."""

from datetime import timedelta

import pytest
from django.db import connection
from django.http import HttpResponse
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders import services
from orders.admin.orders import EstimatedCountPaginator
from orders.models import Agent, Line, Order, ProxyNumber
from tests.support.world import CUSTOMER, open_line
from voice.models import CallRecord

pytestmark = pytest.mark.django_db

# The order page lists its calls, click-to-call requests, messages and recordings as read-only inlines, whose
# management forms a browser posts back.
INLINE = {
    f"{prefix}-{name}": "0"
    for prefix in ("calls", "click_to_calls", "messages", "recordings")
    for name in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS")
}


def order_form(**fields) -> dict:
    return {"reference": "", "customer_name": "Alice", "customer_phone": CUSTOMER, "agent": "", **INLINE, **fields}


def messages_of(response: HttpResponse) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_adding_an_order_with_an_agent_opens_its_line(admin_client, proxy_number, agent):
    response = admin_client.post("/admin/orders/order/add/", order_form(agent=agent.pk))

    assert response.status_code == 302
    order = Order.objects.get()
    assert order.agent == agent
    assert order.status == "assigned"
    assert order.masking.proxy_number == proxy_number
    assert len(order.masking.pin) == 4
    assert order.is_line_live
    assert len(order.reference) == 8


def test_adding_an_order_without_an_agent_leaves_it_placed(admin_client, proxy_number):
    response = admin_client.post("/admin/orders/order/add/", order_form(reference="WEB-1", customer_phone="4156667777"))

    assert response.status_code == 302
    order = Order.objects.get()
    assert (order.reference, order.status, order.masking) == ("WEB-1", "placed", None)
    # National input is read in MASKING_DEFAULT_REGION and stored in E.164.
    assert str(order.customer_phone) == CUSTOMER


def test_assigning_an_agent_to_a_placed_order_opens_its_line(admin_client, proxy_number, agent):
    order = Order.objects.create(customer_name="Alice", customer_phone=CUSTOMER)

    response = admin_client.post(f"/admin/orders/order/{order.pk}/change/", order_form(agent=agent.pk))

    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.agent, order.masking.proxy_number, order.status) == (agent, proxy_number, "assigned")
    assert order.is_line_live


def test_changing_the_agent_keeps_the_proxy_number(admin_client, proxy_number, agent):
    order = open_line(CUSTOMER, agent)
    ProxyNumber.objects.create(number="+14155550000")  # an emptier number the order must not move to
    dave = Agent.objects.create(name="Dave", phone="+14156667780")

    response = admin_client.post(f"/admin/orders/order/{order.pk}/change/", order_form(agent=dave.pk))

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.agent == dave
    assert order.masking.proxy_number == proxy_number
    assert order.is_line_live


def test_editing_the_customer_name_does_not_touch_the_line(admin_client, proxy_number, agent):
    order = open_line(CUSTOMER, agent)
    pin, expires_at = order.masking.pin, order.masking.expires_at

    response = admin_client.post(
        f"/admin/orders/order/{order.pk}/change/", order_form(customer_name="Alice B.", agent=agent.pk)
    )

    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.customer_name, order.masking.pin, order.masking.expires_at) == ("Alice B.", pin, expires_at)


def test_assigning_with_an_empty_pool_shows_the_error_in_the_form(admin_client, agent):
    response = admin_client.post("/admin/orders/order/add/", order_form(agent=agent.pk))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "pool is empty" in errors["agent"][0]
    assert b"pool is empty" in response.content
    assert not Order.objects.exists()


def test_assigning_an_agent_to_a_cancelled_order_shows_the_error_in_the_form(admin_client, proxy_number, agent):
    order = Order.objects.create(customer_name="Alice", customer_phone=CUSTOMER, status="cancelled")

    response = admin_client.post(f"/admin/orders/order/{order.pk}/change/", order_form(agent=agent.pk))

    assert response.status_code == 200
    assert "cannot be assigned an agent" in response.context["adminform"].form.errors["agent"][0]
    order.refresh_from_db()
    assert (order.agent, order.masking) == (None, None)


def test_removing_the_agent_of_an_assigned_order_is_refused(admin_client, proxy_number, agent):
    order = open_line(CUSTOMER, agent)

    response = admin_client.post(f"/admin/orders/order/{order.pk}/change/", order_form(agent=""))

    assert response.status_code == 200
    assert "agent" in response.context["adminform"].form.errors
    order.refresh_from_db()
    assert order.agent == agent


def test_the_order_page_shows_the_masking_panel_and_calls(admin_client, proxy_number, agent):
    order = open_line(CUSTOMER, agent)
    CallRecord.objects.create(call_uuid="call-1", order=order, outcome="connected", dial_status="completed")

    response = admin_client.get(f"/admin/orders/order/{order.pk}/change/")

    assert response.status_code == 200
    content = response.content.decode()
    assert order.masking.pin in content
    assert "+14155550100" in content
    assert "Masking" in content
    assert "talked" in content  # the call's plain result; Plivo's codes are on the call's page


@pytest.mark.parametrize(
    "query",
    ["", "?status__exact=assigned", "?line=live", "?line=closed", "?q=Alice", "?q=14156667777", "?o=2"],
)
def test_the_order_list_renders_with_filters_and_search(admin_client, proxy_number, agent, query):
    order = open_line(CUSTOMER, agent, name="Alice")

    response = admin_client.get("/admin/orders/order/" + query)

    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert shown == ([] if query == "?line=closed" else [order])


def test_the_live_filter_separates_live_and_closed_lines(admin_client, proxy_number, agent):
    live = open_line(CUSTOMER, agent)
    closed = open_line("+14156667779", Agent.objects.create(name="Dave", phone="+14156667780"))
    Line.objects.filter(order_id=closed.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    live_list = admin_client.get("/admin/orders/order/?line=live").context["cl"].result_list
    closed_list = admin_client.get("/admin/orders/order/?line=closed").context["cl"].result_list

    assert list(live_list) == [live]
    assert list(closed_list) == [closed]


def whole_table_counts(queries: CaptureQueriesContext) -> list[str]:
    """COUNT(*) statements over every order: no WHERE clause."""
    return [
        query["sql"]
        for query in queries
        if query["sql"].startswith("SELECT COUNT(*)")
        and '"orders_order"' in query["sql"]
        and "WHERE" not in query["sql"]
    ]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the estimate is Postgres's table statistics")
def test_the_order_list_estimates_a_large_table_instead_of_counting_it(admin_client, proxy_number, agent, monkeypatch):
    for i in range(3):
        open_line(f"+1415666780{i}", agent)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders_order")  # what autovacuum does on a real table
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_from", 2)  # "large" for this test

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get("/admin/orders/order/")

    assert response.status_code == 200
    assert response.context["cl"].result_count == 3
    assert len(response.context["cl"].result_list) == 3
    assert whole_table_counts(queries) == []


def test_the_order_list_counts_a_small_table_and_a_filtered_list_exactly(admin_client, proxy_number, agent):
    open_line(CUSTOMER, agent)
    closed = open_line("+14156667779", agent)
    Line.objects.filter(order_id=closed.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    everything = admin_client.get("/admin/orders/order/")
    with CaptureQueriesContext(connection) as queries:
        live = admin_client.get("/admin/orders/order/", {"line": "live"})

    assert everything.context["cl"].result_count == 2
    assert live.context["cl"].result_count == 1
    # show_full_result_count is off: a filtered list does not also count the whole table.
    assert whole_table_counts(queries) == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads Postgres's plan")
def test_the_order_list_reads_a_page_in_index_order_without_sorting(admin_client, proxy_number, agent):
    open_line(CUSTOMER, agent)
    page_query = admin_client.get("/admin/orders/order/").context["cl"].queryset[:100]
    with connection.cursor() as cursor:
        # Only as a tiny test table would be: force the planner to say whether an index gives this order.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        plan = page_query.explain()

    assert "order_newest_first" in plan
    assert "Sort" not in plan


@pytest.mark.parametrize(
    ("action", "status"),
    [("mark_picked_up", "picked_up"), ("mark_delivered", "delivered"), ("cancel", "cancelled")],
)
def test_list_actions_change_the_status(admin_client, proxy_number, agent, action, status):
    order = open_line(CUSTOMER, agent)

    response = admin_client.post(
        "/admin/orders/order/", {"action": action, "_selected_action": [order.pk]}, follow=True
    )

    assert response.status_code == 200
    assert any("1 order(s)" in message for message in messages_of(response))
    order.refresh_from_db()
    assert order.status == status
    assert order.is_line_live == (status != "cancelled")


def test_repeating_an_action_succeeds_as_through_the_api(admin_client, proxy_number, agent):
    order = services.mark_delivered(open_line(CUSTOMER, agent))

    response = admin_client.post(
        "/admin/orders/order/", {"action": "mark_delivered", "_selected_action": [order.pk]}, follow=True
    )

    assert messages_of(response) == ["1 order(s) marked delivered."]
    order.refresh_from_db()
    assert order.status == "delivered"


def test_an_action_that_is_not_allowed_shows_an_error_not_a_500(admin_client, proxy_number, agent):
    order = open_line(CUSTOMER, agent)
    Order.objects.filter(pk=order.pk).update(status="cancelled")

    response = admin_client.post(
        "/admin/orders/order/", {"action": "mark_delivered", "_selected_action": [order.pk]}, follow=True
    )

    assert response.status_code == 200
    assert any("cannot be marked delivered" in message for message in messages_of(response))
    order.refresh_from_db()
    assert order.status == "cancelled"


def test_the_agent_list_shows_live_line_counts(admin_client, proxy_number, agent):
    dave = Agent.objects.create(name="Dave", phone="+14156667780")
    open_line(CUSTOMER, agent)
    open_line("+14156667779", agent)
    expired = open_line("+14156667781", dave)
    Line.objects.filter(order_id=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = admin_client.get("/admin/orders/agent/")

    assert response.status_code == 200
    counts = {a.name: a.live_lines for a in response.context["cl"].result_list}
    assert counts == {"Bob": 2, "Dave": 0}


def test_the_proxy_number_list_shows_live_line_counts(admin_client, proxy_number, agent):
    spare = ProxyNumber.objects.create(number="+14155550199", label="spare", is_active=False)
    open_line(CUSTOMER, agent)
    open_line("+14156667779", agent)

    response = admin_client.get("/admin/orders/proxynumber/?o=5")

    assert response.status_code == 200
    counts = {p.pk: p.live_lines for p in response.context["cl"].result_list}
    assert counts == {proxy_number.pk: 2, spare.pk: 0}


def test_the_agent_list_sorts_by_live_lines(admin_client, proxy_number, agent):
    dave = Agent.objects.create(name="Dave", phone="+14156667780")
    Agent.objects.create(name="Anna", phone="+14156667782")
    open_line(CUSTOMER, dave)
    open_line("+14156667779", dave)
    open_line("+14156667781", agent)

    response = admin_client.get("/admin/orders/agent/", {"o": "-4"})

    assert [(a.name, a.live_lines) for a in response.context["cl"].result_list] == [
        ("Dave", 2),
        ("Bob", 1),
        ("Anna", 0),
    ]


def test_a_purged_order_with_a_closed_line_is_not_a_live_line(admin_client, proxy_number, agent):
    order = open_line(CUSTOMER, agent)
    Order.objects.filter(pk=order.pk).update(customer_name="", customer_phone="")
    Line.objects.filter(order=order).update(customer_phone="", expires_at=timezone.now() - timedelta(days=40))

    agents = admin_client.get("/admin/orders/agent/").context["cl"].result_list
    numbers = admin_client.get("/admin/orders/proxynumber/").context["cl"].result_list

    assert [a.live_lines for a in agents] == [0]
    assert [p.live_lines for p in numbers] == [0]


def test_the_agent_autocomplete_does_not_count_live_lines(admin_client, proxy_number, agent):
    open_line(CUSTOMER, agent)

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(
            "/admin/autocomplete/", {"term": "B", "app_label": "orders", "model_name": "order", "field_name": "agent"}
        )

    assert [result["text"] for result in response.json()["results"]] == ["Bob"]
    assert not [query["sql"] for query in queries if "orders_order" in query["sql"]]


def test_adding_a_proxy_number_derives_its_country(admin_client):
    response = admin_client.post("/admin/orders/proxynumber/add/", {"number": "+442071838750", "is_active": "on"})

    assert response.status_code == 302
    assert ProxyNumber.objects.get().country == "GB"


def test_agent_autocomplete_finds_agents_by_name_in_name_order(admin_client, agent):
    Agent.objects.create(name="Barbara", phone="+14156667780")
    Agent.objects.create(name="Zed", phone="+14156667782")

    response = admin_client.get(
        "/admin/autocomplete/", {"term": "B", "app_label": "orders", "model_name": "order", "field_name": "agent"}
    )

    assert response.status_code == 200
    assert [result["text"] for result in response.json()["results"]] == ["Barbara", "Bob"]


def test_agent_autocomplete_on_an_order_leaves_out_inactive_agents(admin_client, agent):
    Agent.objects.create(name="Barbara", phone="+14156667780", is_active=False)

    response = admin_client.get(
        "/admin/autocomplete/", {"term": "B", "app_label": "orders", "model_name": "order", "field_name": "agent"}
    )

    assert [result["text"] for result in response.json()["results"]] == ["Bob"]
    assert admin_client.get("/admin/orders/agent/", {"q": "Barbara"}).context["cl"].result_count == 1


def change_form_as_the_browser_sends_it(response: HttpResponse) -> dict:
    """The POST data of a rendered change form: its fields and its inline formsets."""
    form = response.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        data.update({management.add_prefix(name): management[name].value() for name in management.fields})
        for child in formset.forms:
            data.update({child.add_prefix(name): child[name].value() for name in child.fields})
    return {name: ("" if value is None else value) for name, value in data.items()}


def test_changing_the_agent_of_an_order_with_calls_keeps_its_calls(admin_client, proxy_number, agent):
    order = open_line(CUSTOMER, agent)
    CallRecord.objects.create(call_uuid="call-1", order=order, outcome="connected")
    dave = Agent.objects.create(name="Dave", phone="+14156667780")
    page = admin_client.get(f"/admin/orders/order/{order.pk}/change/")
    data = change_form_as_the_browser_sends_it(page)
    assert data["calls-INITIAL_FORMS"] == 1

    response = admin_client.post(f"/admin/orders/order/{order.pk}/change/", {**data, "agent": dave.pk})

    assert response.status_code == 302, response.context["adminform"].form.errors
    order.refresh_from_db()
    assert (order.agent, order.masking.proxy_number) == (dave, proxy_number)
    assert CallRecord.objects.get().order == order
