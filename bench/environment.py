"""Django on the benchmark database with the benchmark settings, and signed Plivo answer requests.

Import this before anything that touches Django: it sets the environment the
benchmark process and its gunicorn share, then sets Django up.
"""

import os
import secrets
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mask_bench")
MIX = {"known": 70, "ambiguous": 10, "unknown": 20}
TARGETS = {"webhook": "/voice/answer/", "floor": "/bench/floor/", "ceiling": "/bench/ceiling/"}
DURABLE_FLOOR = "/bench/floor-durable/"

ENVIRONMENT = {
    "DJANGO_SETTINGS_MODULE": "bench.settings",
    # The measured service reads this environment only, never a developer's .env.
    "ENV_FILE": "",
    "DATABASE_URL": DATABASE_URL,
    "DEBUG": "false",
    "SECRET_KEY": "bench-" + secrets.token_hex(16),
    # https, as in production: requests arrive with X-Forwarded-Proto from "the proxy".
    "PUBLIC_BASE_URL": "https://masking.example.com",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "PLIVO_AUTH_ID": "MABENCHBENCHBENCH000",
    "PLIVO_AUTH_TOKEN": "bench-" + secrets.token_hex(16),
    "PLIVO_VALIDATE_SIGNATURES": "true",
    "MASKING_SUPPORT_NUMBER": "",
}
os.environ.update(ENVIRONMENT)

import django  # noqa: E402

django.setup()

from voice.plivo.webhook import expected_signature  # noqa: E402


def answer_params(caller: str, proxy: str) -> dict[str, str]:
    """What Plivo posts to the answer URL (numbers as digits, no +)."""
    call_uuid = str(uuid.uuid4())
    return {
        "ALegRequestUUID": call_uuid,
        "ALegUUID": call_uuid,
        "BillRate": "0.0085",
        "CallStatus": "ringing",
        "CallUUID": call_uuid,
        "CallerName": caller.lstrip("+"),
        "Direction": "inbound",
        "Event": "StartApp",
        "From": caller.lstrip("+"),
        "ParentAuthID": ENVIRONMENT["PLIVO_AUTH_ID"],
        "RequestUUID": call_uuid,
        "SessionStart": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "To": proxy.lstrip("+"),
    }


def write_requests(path: Path, callers: dict[str, list[tuple[str, str]]], count: int) -> None:
    """``count`` signed answer requests, caller kinds interleaved in MIX proportions."""
    kinds = [kind for kind, weight in MIX.items() for _ in range(weight) if callers[kind]]
    url = ENVIRONMENT["PUBLIC_BASE_URL"] + TARGETS["webhook"]
    token = ENVIRONMENT["PLIVO_AUTH_TOKEN"]
    with path.open("w") as out:
        for i in range(count):
            pool = callers[kinds[i % len(kinds)]]
            caller, proxy = pool[(i // len(kinds)) % len(pool)]
            params = answer_params(caller, proxy)
            nonce = str(secrets.randbelow(10**20))
            signature = expected_signature("POST", url, {k: [v] for k, v in params.items()}, nonce, token)
            out.write(f"{nonce}\t{signature.decode()}\t{urlencode(params)}\n")
