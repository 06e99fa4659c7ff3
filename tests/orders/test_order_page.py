"""The order page for a dispatcher: what the customer dials, PIN prompts, buttons, the grace period."""

import re

import pytest
from django.contrib.messages import get_messages

from orders.models import Agent, Order
from tests.support.admin_forms import admin_post_data
from tests.support.world import CUSTOMER, open_line

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def page(admin_client, order: Order) -> str:
    response = admin_client.get(f"/admin/orders/order/{order.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_order_page_says_what_the_customers_app_shows(admin_client, live_order):
    content = page(admin_client, live_order)

    assert f"call +1 415 555 0100, code {live_order.masking.pin}" in content
    assert "no: calls go straight through" in content


def test_an_order_sharing_a_number_says_its_callers_are_asked_for_the_pin(admin_client, live_order, agent):
    second = open_line(CUSTOMER, Agent.objects.create(name="Dave", phone="+14156667780"))

    content = page(admin_client, second)

    assert (
        "yes: the customer also has another live order on this number, so callers are asked for the PIN "
        f"{second.masking.pin}" in content
    )


def test_assigning_in_the_admin_says_when_the_number_is_shared_and_how_many_numbers_the_pool_needs(
    admin_client, live_order
):
    dave = Agent.objects.create(name="Dave", phone="+14156667780")
    second = Order.objects.create(customer_name="Alice", customer_phone=CUSTOMER)
    data = admin_post_data(admin_client.get(f"/admin/orders/order/{second.pk}/change/"), agent=str(dave.pk))

    response = admin_client.post(f"/admin/orders/order/{second.pk}/change/", data)

    second.refresh_from_db()
    shown = messages_of(response)
    assert (
        f"Line open for {second.reference}: the customer's app should show “call +1 415 555 0100, "
        f"code {second.masking.pin}”." in shown
    )
    (warning,) = [message for message in shown if "shares proxy number" in message]
    assert f"{second.reference} shares proxy number +1 415 555 0100" in warning
    assert f"asked for the order PIN ({second.masking.pin})" in warning
    assert "the pool needs at least 3 active numbers in US; it has 1." in warning


def test_an_assignment_on_a_free_number_gives_no_warning(admin_client, proxy_number, agent):
    order = Order.objects.create(customer_name="Alice", customer_phone=CUSTOMER)
    data = admin_post_data(admin_client.get(f"/admin/orders/order/{order.pk}/change/"), agent=str(agent.pk))

    response = admin_client.post(f"/admin/orders/order/{order.pk}/change/", data)

    assert not [message for message in messages_of(response) if "shares proxy number" in message]


@pytest.mark.parametrize(
    ("status", "buttons"),
    [
        ("assigned", ["Mark picked up", "Mark delivered", "Cancel order"]),
        ("picked_up", ["Mark delivered", "Cancel order"]),
        ("delivered", []),
        ("cancelled", []),
    ],
)
def test_the_order_page_offers_the_transitions_its_status_allows(admin_client, live_order, status, buttons):
    Order.objects.filter(pk=live_order.pk).update(status=status)

    content = page(admin_client, live_order)

    assert re.findall(r'/transition/[\w-]+/">.*?<button type="submit">([^<]+)</button>', content) == buttons


def test_mark_delivered_from_the_order_page_says_when_the_grace_period_ends(admin_client, live_order):
    response = admin_client.post(f"/admin/orders/order/{live_order.pk}/transition/delivered/")

    live_order.refresh_from_db()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/orders/order/{live_order.pk}/change/"
    assert live_order.status == Order.Status.DELIVERED
    (message,) = messages_of(response)
    assert message.startswith(f"Order {live_order.reference} marked delivered. Its line stays open until ")
    assert message.endswith(" UTC (the grace period) for questions about the drop-off.")
    assert "live for the grace period after delivery, until" in page(admin_client, live_order)


def test_picked_up_and_cancel_from_the_order_page(admin_client, live_order):
    admin_client.post(f"/admin/orders/order/{live_order.pk}/transition/picked-up/")
    live_order.refresh_from_db()
    assert live_order.status == Order.Status.PICKED_UP

    response = admin_client.post(f"/admin/orders/order/{live_order.pk}/transition/cancel/")

    live_order.refresh_from_db()
    assert live_order.status == Order.Status.CANCELLED
    assert not live_order.is_line_live
    assert messages_of(response)[-1] == f"Order {live_order.reference} cancelled. Its line is closed."


def test_a_transition_the_status_does_not_allow_is_an_error_message(admin_client, live_order):
    admin_client.post(f"/admin/orders/order/{live_order.pk}/transition/cancel/")

    response = admin_client.post(f"/admin/orders/order/{live_order.pk}/transition/delivered/")

    live_order.refresh_from_db()
    assert live_order.status == Order.Status.CANCELLED
    assert messages_of(response)[-1] == f"Order {live_order.reference} is cancelled and cannot be marked delivered."


def test_a_transition_is_post_only_and_needs_the_change_permission(admin_client, client, live_order, django_user_model):
    assert admin_client.get(f"/admin/orders/order/{live_order.pk}/transition/delivered/").status_code == 405
    viewer = django_user_model.objects.create_user("viewer", password="a-long-viewer-password", is_staff=True)
    client.force_login(viewer)

    response = client.post(f"/admin/orders/order/{live_order.pk}/transition/delivered/")

    live_order.refresh_from_db()
    assert response.status_code in (302, 403)
    assert live_order.status == Order.Status.ASSIGNED


def test_times_on_the_order_page_name_their_time_zone(admin_client, live_order):
    content = page(admin_client, live_order)

    assert re.search(r"live until \w+\.? \d+, \d{4}, [^<]+ UTC", content)


def test_the_order_page_links_to_the_simulator_for_its_customer_and_agent(admin_client, live_order):
    content = page(admin_client, live_order)

    assert f'href="/admin/call-simulator/?order={live_order.reference}&amp;party=customer"' in content
    assert f'href="/admin/call-simulator/?order={live_order.reference}&amp;party=agent"' in content


def test_the_agent_autocomplete_has_no_delete_icon_and_the_reference_says_it_is_generated(admin_client, live_order):
    add_page = admin_client.get("/admin/orders/order/add/").content.decode()

    assert "delete_id_agent" not in add_page
    assert "change_id_agent" in add_page or "add_id_agent" in add_page
    assert "Left empty, one is generated" in add_page


def test_the_simulator_link_of_a_party_asked_for_the_pin_says_the_pin_it_types(admin_client, live_order):
    second = open_line(CUSTOMER, Agent.objects.create(name="Dave", phone="+14156667780"))

    content = page(admin_client, second)

    assert f"the customer calling (typing PIN {second.masking.pin})</a>" in content
