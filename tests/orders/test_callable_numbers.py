"""The callable-number rule: no party phone the service would dial at a premium, abroad or into nowhere.

One rule (orders.phones.callable_problem) on every write of a party's phone
(the API in tests/api/test_callable_numbers.py; the admin, the services and
the commands here) and again before anything is dialled (the webhooks here,
click-to-call in tests/api/test_click_to_call.py).
"""

import logging

import phonenumbers
import pytest
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from orders import services
from orders.checks import check_masking_settings
from orders.management.commands import seed_demo
from orders.models import Agent, Line, Order, ProxyNumber
from orders.phones import INTERNATIONAL_NETWORK_CODES, _classify, callable_problem
from orders.pool import party_countries
from tests.support.admin_forms import admin_post_data
from tests.support.commands import run_command
from tests.support.numbers import (
    GB_MOBILE,
    GB_PROXY,
    INVALID,
    ISSUE_AGENT,
    ISSUE_CUSTOMERS,
    PREMIUM_RATE,
    REFUSED,
    assert_names_the_rule,
)
from tests.support.webhooks import answer, spoken, type_pin, xml_of
from tests.support.world import AGENT_PHONE, CUSTOMER, PROXY, open_line
from voice.models import CallRecord

PREMIUM_CUSTOMER = ISSUE_CUSTOMERS[0][0]


# The rule itself


@pytest.mark.parametrize(("number", "rule"), [*REFUSED, (INVALID, "Invalid numbers")])
def test_each_refused_number_gets_one_sentence_naming_its_rule(number, rule):
    problem = callable_problem(number, {"US"})

    assert_names_the_rule(problem, rule, number)
    assert problem.count(".") == 1 and problem.endswith(".")


@pytest.mark.parametrize("number", ["+14156667777", "+18005550100", "+16502530000"])
def test_a_us_mobile_landline_or_toll_free_number_may_be_called_with_a_us_pool(number):
    assert callable_problem(number, {"US"}) is None


def test_a_number_is_callable_in_its_own_country_only():
    assert callable_problem(GB_MOBILE, {"GB"}) is None
    assert callable_problem(GB_MOBILE, {"US", "GB"}) is None
    assert_names_the_rule(callable_problem(GB_MOBILE, {"US"}), "Numbers in GB", GB_MOBILE)


def test_no_countries_skips_the_country_part_of_the_rule_only():
    assert callable_problem(GB_MOBILE, None) is None
    assert callable_problem("+12684601234", None) is None
    assert PREMIUM_RATE in callable_problem(PREMIUM_CUSTOMER, None)


@pytest.mark.parametrize("value", [None, "", "sip:14156667777@example.com", "call me", 42])
def test_what_is_not_a_phone_number_is_not_called(value):
    assert "Invalid numbers" in callable_problem(value, None)


def test_a_stored_phone_number_is_judged_like_its_text(agent):
    agent.refresh_from_db()

    assert callable_problem(agent.phone, {"US"}) is None
    Agent.objects.filter(pk=agent.pk).update(phone=ISSUE_AGENT)
    agent.refresh_from_db()
    assert PREMIUM_RATE in callable_problem(agent.phone, {"US"})


def test_the_international_network_codes_are_every_code_phonenumbers_knows_without_a_country():
    assert set(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS) == INTERNATIONAL_NETWORK_CODES


def test_a_number_is_classified_once_then_answered_from_the_cache():
    callable_problem("+14155550142", {"US"})
    hits = _classify.cache_info().hits

    callable_problem("+14155550142", {"GB"})

    assert _classify.cache_info().hits == hits + 1


# The countries


def test_the_countries_are_those_of_the_active_pool_in_one_query(proxy_number, django_assert_num_queries):
    ProxyNumber.objects.create(number=GB_PROXY)
    ProxyNumber.objects.create(number="+4915112345678", is_active=False)

    with django_assert_num_queries(1):
        assert party_countries() == {"US", "GB"}


def test_the_setting_overrides_the_pool_without_a_query(proxy_number, settings, django_assert_num_queries):
    settings.MASKING_PARTY_COUNTRIES = ["GB", "IE"]

    with django_assert_num_queries(0):
        assert party_countries() == {"GB", "IE"}


def test_an_empty_pool_falls_back_to_the_default_region(db, settings):
    ProxyNumber.objects.create(number=GB_PROXY, is_active=False)
    assert party_countries() == {"US"}

    settings.MASKING_DEFAULT_REGION = "GB"
    assert party_countries() == {"GB"}


# Every write path: the services, the admin, the commands


@pytest.mark.parametrize(("number", "rule"), [*ISSUE_CUSTOMERS, (INVALID, "Invalid numbers")])
def test_create_order_refuses_an_uncallable_customer_phone(proxy_number, number, rule):
    with pytest.raises(ValidationError) as refused:
        services.create_order(customer_name="Eve", customer_phone=number)

    assert refused.value.code == "uncallable_number"
    assert_names_the_rule(refused.value.messages[0], rule, number)
    assert not Order.objects.exists()


def test_a_gb_customer_is_taken_once_the_pool_has_a_gb_number_and_refused_again_when_it_goes(proxy_number):
    gb = ProxyNumber.objects.create(number=GB_PROXY)
    order, created = services.create_order(customer_name="Eve", customer_phone=GB_MOBILE)
    assert created and str(order.customer_phone) == GB_MOBILE

    ProxyNumber.objects.filter(pk=gb.pk).update(is_active=False)

    with pytest.raises(ValidationError) as refused:
        services.create_order(customer_name="Fay", customer_phone=GB_MOBILE)
    assert_names_the_rule(refused.value.messages[0], "Numbers in GB", GB_MOBILE)
    assert list(Order.objects.values_list("customer_name", flat=True)) == ["Eve"]


@pytest.mark.parametrize(("number", "rule"), ISSUE_CUSTOMERS)
def test_the_admin_shows_the_rule_beside_the_customer_phone_of_a_new_order(admin_client, proxy_number, number, rule):
    response = admin_client.post(
        "/admin/orders/order/add/", {"reference": "", "customer_name": "Eve", "customer_phone": number}
    )

    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["customer_phone"]
    assert_names_the_rule(error, rule, number)
    assert not Order.objects.exists()


def test_the_admin_refuses_an_uncallable_agent_phone_on_a_new_agent(admin_client, proxy_number):
    response = admin_client.post("/admin/orders/agent/add/", {"name": "Eve", "phone": ISSUE_AGENT, "is_active": "on"})

    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["phone"]
    assert_names_the_rule(error, PREMIUM_RATE, ISSUE_AGENT)
    assert not Agent.objects.exists()


def test_the_admin_refuses_an_uncallable_agent_phone_on_an_agent_s_change(admin_client, agent):
    response = admin_client.post(
        f"/admin/orders/agent/{agent.pk}/change/", {"name": "Bob", "phone": ISSUE_AGENT, "is_active": "on"}
    )

    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["phone"]
    assert_names_the_rule(error, PREMIUM_RATE, ISSUE_AGENT)
    agent.refresh_from_db()
    assert str(agent.phone) == AGENT_PHONE


def test_an_agent_whose_stored_phone_is_refused_can_still_be_deactivated_in_the_admin(admin_client, agent):
    # Saved before the rule: staff must be able to stop it without inventing a new phone first.
    Agent.objects.filter(pk=agent.pk).update(phone=ISSUE_AGENT)

    response = admin_client.post(f"/admin/orders/agent/{agent.pk}/change/", {"name": "Bob", "phone": ISSUE_AGENT})

    assert response.status_code == 302
    agent.refresh_from_db()
    assert not agent.is_active and str(agent.phone) == ISSUE_AGENT


def test_an_order_whose_stored_phone_is_refused_can_still_be_edited_in_the_admin(admin_client, proxy_number):
    order = Order.objects.create(reference="OLD-1", customer_name="Eve", customer_phone=PREMIUM_CUSTOMER)

    url = f"/admin/orders/order/{order.pk}/change/"
    response = admin_client.post(url, admin_post_data(admin_client.get(url), customer_name="Eve Smith"))

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.customer_name == "Eve Smith"


def test_the_admin_still_takes_a_callable_agent(admin_client, proxy_number):
    response = admin_client.post(
        "/admin/orders/agent/add/", {"name": "Eve", "phone": "+14155550142", "is_active": "on"}
    )

    assert response.status_code == 302
    assert str(Agent.objects.get().phone) == "+14155550142"


def test_seed_demo_refuses_demo_parties_outside_the_countries_it_calls(db, settings):
    settings.MASKING_PARTY_COUNTRIES = ["GB"]

    with pytest.raises(CommandError, match="Numbers in US are not called"):
        run_command("seed_demo")

    assert not Agent.objects.exists() and not Order.objects.exists()


def test_seed_demo_refuses_an_uncallable_demo_agent(db, monkeypatch):
    monkeypatch.setattr(seed_demo, "DEMO_PAIRS", [("Alice", CUSTOMER, "Bob", ISSUE_AGENT, "DEMO-1")])

    with pytest.raises(CommandError, match=PREMIUM_RATE):
        run_command("seed_demo")

    assert not Agent.objects.exists() and not Order.objects.exists()


def test_seed_demo_loads_the_demo_when_its_parties_are_callable(db):
    assert "Demo ready" in run_command("seed_demo").out
    assert Agent.objects.count() == 3 and Order.objects.live().count() == 3


# Checked again before anything is dialled: rows can predate the rule or be written around it


@pytest.fixture
def premium_customer(live_order) -> Order:
    Order.objects.filter(pk=live_order.pk).update(customer_phone=PREMIUM_CUSTOMER)
    # Written around the rule: on the order and the copy routing reads.
    Line.objects.filter(order_id=live_order.pk).update(customer_phone=PREMIUM_CUSTOMER)
    return live_order


def assert_not_available(root) -> None:
    assert spoken(root) == ["The person you are calling is not available right now. Please try again later. Goodbye."]
    assert root.find("Dial") is None


def test_an_agent_calling_a_premium_rate_customer_hears_not_available_in_two_queries(
    plivo, premium_customer, django_assert_num_queries, caplog
):
    with caplog.at_level(logging.WARNING, logger="orders.routing"), django_assert_num_queries(2):
        root = answer(plivo, AGENT_PHONE.lstrip("+"))

    assert_not_available(root)
    assert PREMIUM_RATE in caplog.text and f"order {premium_customer.pk}" in caplog.text
    assert "9002345678" not in caplog.text
    record = CallRecord.objects.get(call_uuid="call-1")
    # Nobody was dialled, and the record says so: no "connected", no number, nothing counted.
    assert (record.order_id, record.outcome, record.dialled_number) == (premium_customer.pk, "unknown", "")


def test_a_customer_calling_a_premium_rate_agent_hears_not_available(plivo, live_order, agent):
    Agent.objects.filter(pk=agent.pk).update(phone=ISSUE_AGENT)

    assert_not_available(answer(plivo, CUSTOMER.lstrip("+")))


def test_a_premium_rate_customer_is_not_dialled_after_the_pin_either(plivo, premium_customer, agent):
    other = open_line("+14155550142", agent)

    assert answer(plivo, AGENT_PHONE.lstrip("+")).find("GetDigits") is not None
    assert_not_available(type_pin(plivo, premium_customer.masking.pin, caller=AGENT_PHONE.lstrip("+")))
    assert (
        type_pin(plivo, other.masking.pin, caller=AGENT_PHONE.lstrip("+"), call_uuid="call-2").find("Dial") is not None
    )


def test_the_click_to_call_bridge_does_not_dial_a_premium_rate_customer(plivo, premium_customer):
    params = {
        "CallUUID": "bridge-1",
        "From": PROXY.lstrip("+"),
        "To": AGENT_PHONE.lstrip("+"),
        "Direction": "outbound",
        "CallStatus": "in-progress",
    }

    root = xml_of(plivo.signed_post(f"/voice/bridge/?order={premium_customer.pk}&first=agent", params))

    assert_not_available(root)


def test_the_support_number_takes_the_call_instead_when_there_is_one(plivo, premium_customer, settings):
    settings.MASKING_SUPPORT_NUMBER = "+14155550199"

    root = answer(plivo, AGENT_PHONE.lstrip("+"))

    assert [number.text for number in root.iter("Number")] == ["14155550199"]


def test_a_stored_phone_outside_the_set_countries_is_not_dialled(plivo, live_order, settings):
    Order.objects.filter(pk=live_order.pk).update(customer_phone=GB_MOBILE)
    # Written around the rule: on the order and the copy routing reads.
    Line.objects.filter(order_id=live_order.pk).update(customer_phone=GB_MOBILE)
    settings.MASKING_PARTY_COUNTRIES = ["US"]

    assert_not_available(answer(plivo, AGENT_PHONE.lstrip("+")))


def test_without_the_setting_the_answer_leaves_the_country_to_the_writes(plivo, live_order):
    # The pool's countries would cost the answer a query; the phone was checked when it was saved.
    Order.objects.filter(pk=live_order.pk).update(customer_phone=GB_MOBILE)
    # Written around the rule: on the order and the copy routing reads.
    Line.objects.filter(order_id=live_order.pk).update(customer_phone=GB_MOBILE)

    root = answer(plivo, AGENT_PHONE.lstrip("+"))

    assert [number.text for number in root.iter("Number")] == [GB_MOBILE.lstrip("+")]


# The setting


def test_an_unknown_region_in_the_party_countries_is_an_error(settings):
    settings.MASKING_PARTY_COUNTRIES = ["US", "XX", "UK"]

    [problem] = check_masking_settings(None)

    assert problem.id == "orders.E006"
    assert "'XX', 'UK'" in problem.msg


def test_known_regions_in_the_party_countries_pass_the_check(settings):
    settings.MASKING_PARTY_COUNTRIES = ["US", "GB", "CA"]

    assert check_masking_settings(None) == []
