import pytest

from orders.models import Agent
from tests.support.api import assert_error

pytestmark = pytest.mark.django_db


def test_it_creates_an_agent_with_the_phone_in_international_form(api):
    response = api.post("/api/v1/agents/", {"name": "Bob", "phone": "(415) 666-7778"}, format="json")

    assert response.status_code == 201
    agent = Agent.objects.get()
    assert response.json() == {"id": agent.pk, "name": "Bob", "phone": "+14156667778", "is_active": True}
    assert str(agent.phone) == "+14156667778"


def test_it_names_the_field_and_the_reason_for_a_phone_that_does_not_parse(api):
    response = api.post("/api/v1/agents/", {"name": "Bob", "phone": "+1 415"}, format="json")

    body = assert_error(response, 400, "invalid", fields=("phone",))
    assert body["fields"]["phone"] == ["Not a valid phone number: it is too short."]
    assert body["detail"] == "phone: Not a valid phone number: it is too short."
    assert not Agent.objects.exists()


@pytest.mark.parametrize(
    ("phone", "reason"),
    [
        ("call me", "it is not a phone number"),
        ("+999 123456", "it has no valid country code"),
        ("+1 415 666 7778 1234 5678", "it is too long"),
        ("+1 011 555 0100", "no such number is in use"),
    ],
)
def test_it_explains_why_a_phone_number_is_refused(api, phone, reason):
    response = api.post("/api/v1/agents/", {"name": "Bob", "phone": phone}, format="json")

    body = assert_error(response, 400, "invalid", fields=("phone",))
    assert reason in body["fields"]["phone"][0]
    assert not Agent.objects.exists()


def test_it_refuses_a_second_agent_with_the_same_phone(api, agent):
    response = api.post("/api/v1/agents/", {"name": "Bobby", "phone": "+1 415 666 7778"}, format="json")

    body = assert_error(response, 400, "invalid", fields=("phone",))
    assert "already exists" in body["detail"]
    assert Agent.objects.count() == 1


def test_it_requires_name_and_phone(api):
    response = api.post("/api/v1/agents/", {}, format="json")

    assert_error(response, 400, "invalid", fields=("name", "phone"))


def test_it_lists_agents_paginated(api, agent):
    Agent.objects.create(name="Ann", phone="+14155550111", is_active=False)

    response = api.get("/api/v1/agents/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [(a["name"], a["is_active"]) for a in body["results"]] == [("Ann", False), ("Bob", True)]


def test_it_shows_one_agent(api, agent):
    response = api.get(f"/api/v1/agents/{agent.pk}/")

    assert response.status_code == 200
    assert response.json()["phone"] == "+14156667778"


@pytest.mark.parametrize("agent_id", ["999999", "abc", "99999999999999999999999"])
def test_it_answers_404_for_an_unknown_agent(api, agent_id):
    response = api.get(f"/api/v1/agents/{agent_id}/")

    assert_error(response, 404, "not_found")


def test_it_deactivates_an_agent(api, agent):
    response = api.patch(f"/api/v1/agents/{agent.pk}/", {"is_active": False}, format="json")

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    agent.refresh_from_db()
    assert agent.is_active is False
    assert agent.name == "Bob"


def test_it_changes_an_agents_phone_but_not_to_another_agents(api, agent):
    other = Agent.objects.create(name="Ann", phone="+14155550111")

    taken = api.patch(f"/api/v1/agents/{other.pk}/", {"phone": "+14156667778"}, format="json")
    moved = api.patch(f"/api/v1/agents/{other.pk}/", {"phone": "+14155550112"}, format="json")

    assert_error(taken, 400, "invalid", fields=("phone",))
    assert moved.status_code == 200
    other.refresh_from_db()
    assert str(other.phone) == "+14155550112"


def test_agents_cannot_be_replaced_or_deleted(api, agent):
    put = api.put(f"/api/v1/agents/{agent.pk}/", {"name": "X", "phone": "+14155550111"}, format="json")
    delete = api.delete(f"/api/v1/agents/{agent.pk}/")

    assert_error(put, 405, "method_not_allowed")
    assert_error(delete, 405, "method_not_allowed")
    agent.refresh_from_db()
    assert agent.name == "Bob"


def test_it_answers_a_json_error_for_a_body_that_is_not_json(api):
    response = api.post("/api/v1/agents/", "{not json", content_type="application/json")
    form = api.post("/api/v1/agents/", {"name": "Bob", "phone": "+14156667778"})

    assert_error(response, 400, "parse_error")
    assert_error(form, 415, "unsupported_media_type")
    assert not Agent.objects.exists()


def test_a_number_as_an_agent_name_is_refused(api):
    response = api.post("/api/v1/agents/", {"name": 42, "phone": "+14155550142"}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()["fields"]
