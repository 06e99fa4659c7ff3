"""Test settings: the real settings module, fed a fixed test environment.

Assigned rather than defaulted so a developer's .env cannot change what the
suite checks; DATABASE_URL is the exception (Postgres in CI, SQLite here), and
TEST_PLIVO_API_URL, through which a test points the servers and workers it
starts at its stand-in Plivo API (tests/support/plivo_api_server.py).
"""

import os

os.environ.update(
    {
        # A developer's .env (make run writes one) is never read by the suite.
        "ENV_FILE": "",
        "DEBUG": "false",
        "SECRET_KEY": "tests-only-secret-key-not-for-production",
        "PUBLIC_BASE_URL": "http://masking.example.com",
        "PLIVO_AUTH_ID": "MAXXXXXXXXXXXXXXXXXX",
        "PLIVO_AUTH_TOKEN": "test-auth-token",
        "PLIVO_VALIDATE_SIGNATURES": "true",
        "PLIVO_API_URL": os.environ.get("TEST_PLIVO_API_URL") or "https://api.plivo.com",
        "MASKING_DEFAULT_REGION": "US",
        "MASKING_SUPPORT_NUMBER": "",
        "MASKING_PIN_LENGTH": "4",
        "LOG_LEVEL": "INFO",
        # The suite's receivers run on loopback; tests of the refused ranges clear it.
        "EVENTS_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
    }
)

from numbermasking.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The suite does not run collectstatic: no manifest of hashed names, and
# whitenoise finds the admin's files through the finders, as under DEBUG.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
