"""The per-key rate holds under concurrent requests, on the caches a deployment may configure."""

import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from tests.support.concurrency import run_concurrently
from tests.support.servers import PROJECT

RATE = 100
CLIENTS = 16
REQUESTS_EACH = 15  # 240 requests in a few seconds: well over the rate

CACHES = {
    "locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # As CACHE_URL=dbcache://api_cache configures it (docker-compose.yml); the settings swap in the atomic incr.
    "database": {"BACKEND": "numbermasking.cache.AtomicDatabaseCache", "LOCATION": "api_cache"},
}


@pytest.fixture(params=sorted(CACHES))
def cache(request, settings):
    if request.param == "database" and connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    settings.CACHES = {"default": CACHES[request.param]}
    settings.API_THROTTLE_RATE = f"{RATE}/min"
    if request.param == "database":
        call_command("createcachetable")
    return request.param


@pytest.mark.django_db(transaction=True)
def test_concurrent_clients_of_one_key_get_the_rate_and_no_more(cache, api_key):
    def client_run() -> list[int]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key[1]}")
        return [client.get("/api/v1/agents/").status_code for _ in range(REQUESTS_EACH)]

    statuses = [status for run in run_concurrently(*[client_run] * CLIENTS) for status in run]

    allowed = statuses.count(200)
    print(f"{cache}: {allowed} of {len(statuses)} allowed at {RATE}/min ({(allowed - RATE) / RATE:+.0%})")
    assert set(statuses) == {200, 429}
    assert RATE * 0.9 <= allowed <= RATE * 1.1


def test_a_database_cache_url_gets_the_atomic_increment():
    show = "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "CACHE_URL": "dbcache://api_cache"}

    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {show}"],
        env=env,  # noqa: S603
        cwd=PROJECT,
        capture_output=True,
        text=True,
    )

    assert result.stdout.strip() == "numbermasking.cache.AtomicDatabaseCache", result.stderr
