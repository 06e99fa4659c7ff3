"""Fixtures for the dispatch API: a key and a client that sends it (error checks: tests.support.api)."""

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
