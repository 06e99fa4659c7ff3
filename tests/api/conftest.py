"""Fixtures for the dispatch API: a key, a client that sends it, and checks on error bodies."""

import pytest
from rest_framework.test import APIClient
from rest_framework_api_key.models import APIKey


@pytest.fixture
def api_key(db) -> tuple[APIKey, str]:
    return APIKey.objects.create_key(name="dispatch")


@pytest.fixture
def api(api_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key[1]}")
    return client


def assert_error(response, status: int, code: str, fields: tuple[str, ...] = ()) -> dict:
    """The stable error shape: status, code, a sentence, and the fields at fault."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "detail", "fields"}
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    assert tuple(sorted(body["fields"])) == tuple(sorted(fields))
    return body
