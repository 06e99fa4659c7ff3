"""The callable-number rule through the API: a refused party phone is a 400 on its field that names the rule."""

import pytest

from orders.models import Agent, Order, ProxyNumber
from tests.support.api import assert_error
from tests.support.numbers import (
    GB_MOBILE,
    GB_PROXY,
    ISSUE_AGENT,
    ISSUE_CUSTOMERS,
    PREMIUM_RATE,
    REFUSED,
    assert_names_the_rule,
)
from tests.support.world import AGENT_PHONE

pytestmark = pytest.mark.django_db


def create_order(api, phone: str, reference: str = "C-1"):
    return api.post(
        "/api/v1/orders/", {"reference": reference, "customer_name": "Eve", "customer_phone": phone}, format="json"
    )


def assert_refused_field(response, field: str, rule: str, number: str) -> None:
    body = assert_error(response, 400, "invalid", fields=(field,))
    [reason] = body["fields"][field]
    assert_names_the_rule(reason, rule, number)
    assert body["detail"] == f"{field}: {reason}"


@pytest.mark.parametrize(("number", "rule"), REFUSED)
def test_an_uncallable_customer_phone_is_a_400_naming_the_rule(api, proxy_number, number, rule):
    response = create_order(api, number)

    assert_refused_field(response, "customer_phone", rule, number)
    assert not Order.objects.exists()


@pytest.mark.parametrize(("number", "rule"), [*ISSUE_CUSTOMERS, (ISSUE_AGENT, PREMIUM_RATE)])
def test_an_uncallable_agent_phone_is_a_400_naming_the_rule(api, proxy_number, number, rule):
    response = api.post("/api/v1/agents/", {"name": "Eve", "phone": number}, format="json")

    assert_refused_field(response, "phone", rule, number)
    assert not Agent.objects.exists()


def test_changing_an_agent_s_phone_to_a_premium_rate_number_is_a_400(api, agent):
    response = api.patch(f"/api/v1/agents/{agent.pk}/", {"phone": ISSUE_AGENT}, format="json")

    assert_refused_field(response, "phone", PREMIUM_RATE, ISSUE_AGENT)
    agent.refresh_from_db()
    assert str(agent.phone) == AGENT_PHONE


def test_the_rule_comes_with_the_other_fields_errors_in_one_answer(api, proxy_number):
    response = api.post("/api/v1/orders/", {"customer_name": "", "customer_phone": ISSUE_AGENT}, format="json")

    body = assert_error(response, 400, "invalid", fields=("customer_name", "customer_phone"))
    assert PREMIUM_RATE in body["fields"]["customer_phone"][0]


# Which countries: the active pool's by default, MASKING_PARTY_COUNTRIES when set


def test_a_gb_customer_is_taken_while_the_pool_has_an_active_gb_number(api, proxy_number):
    assert_refused_field(create_order(api, GB_MOBILE, "C-1"), "customer_phone", "Numbers in GB", GB_MOBILE)

    gb = ProxyNumber.objects.create(number=GB_PROXY)
    assert create_order(api, GB_MOBILE, "C-2").status_code == 201

    gb.is_active = False
    gb.save()
    assert_refused_field(create_order(api, GB_MOBILE, "C-3"), "customer_phone", "Numbers in GB", GB_MOBILE)
    assert list(Order.objects.values_list("reference", flat=True)) == ["C-2"]


def test_the_setting_overrides_the_pool_s_countries(api, proxy_number, settings):
    settings.MASKING_PARTY_COUNTRIES = ["US", "GB"]
    assert create_order(api, GB_MOBILE, "C-1").status_code == 201

    settings.MASKING_PARTY_COUNTRIES = ["GB"]
    response = create_order(api, "+14155550142", "C-2")

    assert_refused_field(response, "customer_phone", "Numbers in US", "+14155550142")
    assert list(Order.objects.values_list("reference", flat=True)) == ["C-1"]


def test_before_the_pool_has_a_number_the_default_region_decides(api, settings):
    assert create_order(api, "+14155550142", "C-1").status_code == 201
    assert_refused_field(create_order(api, GB_MOBILE, "C-2"), "customer_phone", "Numbers in GB", GB_MOBILE)

    settings.MASKING_DEFAULT_REGION = "GB"
    assert create_order(api, GB_MOBILE, "C-3").status_code == 201
    assert sorted(Order.objects.values_list("reference", flat=True)) == ["C-1", "C-3"]
