"""The store on the order page: its fields, every line with what each party's app shows, "Close store line"."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages

from orders import services
from orders.models import Line, Order, ProxyNumber
from tests.support.admin_forms import admin_post_data
from tests.support.events import events_of
from tests.support.world import CUSTOMER
from voice.models import CallRecord, MessageRecord

pytestmark = pytest.mark.django_db

STORE = "+14156667790"
CLOSE_BUTTON = re.compile(r'/close-store-line/" class="close-store-line">.*?<button[^>]*>Close store line</button>')


@pytest.fixture
def pool(db) -> list[ProxyNumber]:
    return [ProxyNumber.objects.create(number=f"+1415555010{i}") for i in range(3)]


@pytest.fixture
def store_order(pool, agent) -> Order:
    """An assigned order with a store: its customer–agent and store–agent lines are live."""
    order, _ = services.create_order(
        customer_name="Alice", customer_phone=CUSTOMER, store_name="Green Grocer", store_phone=STORE
    )
    return services.assign_agent(order, agent)


def change_url(order: Order) -> str:
    return f"/admin/orders/order/{order.pk}/change/"


def close_url(order: Order) -> str:
    return f"/admin/orders/order/{order.pk}/close-store-line/"


def page(client, order: Order) -> str:
    response = client.get(change_url(order))
    assert response.status_code == 200
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_the_order_page_shows_the_store_and_each_line_with_what_each_partys_app_shows(admin_client, store_order):
    masking, store_line = store_order.line(Line.Kind.CUSTOMER_AGENT), store_order.line(Line.Kind.STORE_AGENT)

    content = page(admin_client, store_order)

    assert 'value="Green Grocer"' in content and "+14156667790" in content
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", content)
    assert [row[:3] for row in rows] == [
        ("Customer–agent", "+1 415 555 0100", masking.pin),
        ("Store–agent", "+1 415 555 0101", store_line.pin),
    ]
    assert all(row[3].startswith("live until ") for row in rows)
    assert f"<p>The customer's app: the agent: call +1 415 555 0100, code {masking.pin}</p>" in content
    assert (
        f"<p>The agent's app: the customer: call +1 415 555 0100, code {masking.pin}; "
        f"the store: call +1 415 555 0101, code {store_line.pin}</p>" in content
    )
    assert f"<p>The store's app: the agent: call +1 415 555 0101, code {store_line.pin}</p>" in content
    # The Masking panel still speaks of the customer–agent line.
    assert f"call +1 415 555 0100, code {masking.pin}" in content.split("field-customer_app")[1][:600]


def test_close_store_line_closes_only_the_store_line_and_raises_line_closed(admin_client, store_order):
    assert CLOSE_BUTTON.search(page(admin_client, store_order))
    assert "picked up from the store, no more calls needed" in page(admin_client, store_order)

    response = admin_client.post(close_url(store_order))

    assert response.status_code == 302 and response["Location"] == change_url(store_order)
    order = Order.objects.get(pk=store_order.pk)
    assert order.line(Line.Kind.CUSTOMER_AGENT).is_live
    assert not order.line(Line.Kind.STORE_AGENT).is_live
    assert [event.data["parties"] for event in events_of("line.closed")] == [["store", "agent"]]
    assert messages_of(response) == [
        f"Store line of order {order.reference} closed: picked up from the store, no more calls needed. "
        "The customer–agent line stays open."
    ]
    after = page(admin_client, order)
    assert not CLOSE_BUTTON.search(after)
    assert re.search(r"<tr><td>Store–agent</td><td>[^<]+</td><td>\d+</td><td>closed at ", after)
    assert "The store's app" not in after


def test_the_customer_store_line_closes_with_the_store_agent_line(admin_client, pool, agent, settings):
    settings.MASKING_CUSTOMER_STORE_LINE = True
    order, _ = services.create_order(customer_name="Alice", customer_phone=CUSTOMER, store_phone=STORE)
    order = services.assign_agent(order, agent)
    assert len(order.live_lines) == 3

    admin_client.post(close_url(order))

    order = Order.objects.get(pk=order.pk)
    assert [line.kind for line in order.live_lines] == [Line.Kind.CUSTOMER_AGENT]
    assert sorted(event.data["parties"] for event in events_of("line.closed")) == [
        ["customer", "store"],
        ["store", "agent"],
    ]


def test_no_button_without_a_live_store_line_and_a_post_is_an_error_message_not_a_500(admin_client, live_order):
    content = page(admin_client, live_order)
    assert not CLOSE_BUTTON.search(content) and 'id="close-store-line-why"' not in content

    response = admin_client.post(close_url(live_order))

    assert response.status_code == 302
    assert messages_of(response) == [f"Order {live_order.reference} has no store line."]
    assert Order.objects.get(pk=live_order.pk).line(Line.Kind.CUSTOMER_AGENT).is_live
    assert events_of("line.closed") == []


def test_close_store_line_is_post_only_and_needs_the_change_permission(
    client, admin_client, store_order, django_user_model
):
    assert admin_client.get(close_url(store_order)).status_code == 405
    viewer = django_user_model.objects.create_user("viewer", password="a-long-viewer-password", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(viewer)

    content = page(client, store_order)
    response = client.post(close_url(store_order))

    assert not CLOSE_BUTTON.search(content) and 'id="close-store-line-why"' not in content
    assert "The store's app: the agent: call" in content  # a viewer still sees the lines
    assert response.status_code == 403
    assert Order.objects.get(pk=store_order.pk).line(Line.Kind.STORE_AGENT).is_live
    assert events_of("line.closed") == []


@pytest.mark.parametrize(
    ("phone", "error"),
    [
        ("+19002345678", "premium"),
        ("+14155550100", "one of the service's proxy numbers"),
        (CUSTOMER, "The store's phone is the customer's phone."),
        ("not a number", "Enter a valid phone number"),
    ],
)
def test_the_store_phone_is_refused_as_the_api_refuses_it(admin_client, store_order, phone, error):
    data = admin_post_data(admin_client.get(change_url(store_order)), store_phone=phone)

    response = admin_client.post(change_url(store_order), data)

    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors.get("store_phone", []))
    assert error.lower() in errors.lower(), response.context["adminform"].form.errors
    assert str(Order.objects.get(pk=store_order.pk).store_phone) == STORE


def test_a_store_phone_set_on_a_live_order_opens_its_line_and_removing_it_closes_it(admin_client, live_order):
    ProxyNumber.objects.create(number="+14155550101")
    data = admin_post_data(admin_client.get(change_url(live_order)), store_name="Deli", store_phone=STORE)

    response = admin_client.post(change_url(live_order), data)

    assert response.status_code == 302
    order = Order.objects.get(pk=live_order.pk)
    store_line = order.line(Line.Kind.STORE_AGENT)
    assert (order.store_name, str(order.store_phone), store_line.is_live) == ("Deli", STORE, True)
    assert (
        f"Store line open for {order.reference}: the store's app should show "
        f"“the agent: call +1 415 555 0101, code {store_line.pin}”." in messages_of(response)
    )

    data = admin_post_data(admin_client.get(change_url(order)), store_phone="")
    admin_client.post(change_url(order), data)

    order = Order.objects.get(pk=order.pk)
    assert (str(order.store_phone or ""), order.line(Line.Kind.STORE_AGENT).is_live) == ("", False)
    assert order.line(Line.Kind.CUSTOMER_AGENT).is_live
    assert [event.data["reason"] for event in events_of("line.closed")] == ["store_removed"]


def test_an_order_added_with_a_store_opens_its_store_line_on_assignment(admin_client, pool, agent):
    add = admin_client.get("/admin/orders/order/add/")
    assert "Masking" not in add.content.decode() and "id_store_phone" in add.content.decode()
    data = admin_post_data(add, customer_name="Alice", customer_phone=CUSTOMER, store_name="Deli", store_phone=STORE)
    data["agent"] = str(agent.pk)

    response = admin_client.post("/admin/orders/order/add/", data)

    assert response.status_code == 302
    order = Order.objects.get()
    assert (order.store_name, str(order.store_phone)) == ("Deli", STORE)
    assert sorted(line.kind for line in order.live_lines) == [Line.Kind.CUSTOMER_AGENT, Line.Kind.STORE_AGENT]


def test_call_and_message_records_name_the_line_and_the_store_as_caller(admin_client, store_order):
    store_line = store_order.line(Line.Kind.STORE_AGENT)
    CallRecord.objects.create(call_uuid="call-store", order=store_order, line=store_line, caller_role="store")
    CallRecord.objects.create(call_uuid="call-stranger", caller_role="unknown")
    MessageRecord.objects.create(
        message_uuid="sms-store", order=store_order, line=store_line, sender_role="store", outcome="relayed"
    )

    calls = admin_client.get("/admin/voice/callrecord/").content.decode()
    stores_only = admin_client.get("/admin/voice/callrecord/?caller_role__exact=store")
    by_line = admin_client.get("/admin/voice/callrecord/?line__kind__exact=store_agent")
    assert [spec.title for spec in by_line.context["cl"].filter_specs][:3] == ["result", "caller role", "line"]
    texts = admin_client.get("/admin/voice/messagerecord/").content.decode()
    call_page = admin_client.get(f"/admin/voice/callrecord/{CallRecord.objects.get(call_uuid='call-store').pk}/change/")

    assert re.findall(r'<td class="field-caller">([^<]+)</td>', calls) == ["unknown", "store, store–agent line"]
    assert [record.call_uuid for record in stores_only.context["cl"].result_list] == ["call-store"]
    assert [record.call_uuid for record in by_line.context["cl"].result_list] == ["call-store"]
    assert '<td class="field-sender">store, store–agent line</td>' in texts
    assert "store–agent" in call_page.content.decode()
    # The order page's call and text tables say which line, too.
    order_page = page(admin_client, store_order)
    assert len(re.findall(r'<td class="field-line_name">\s*<p>store–agent</p>', order_page)) == 2
