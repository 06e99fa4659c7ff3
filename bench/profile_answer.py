"""Profile the answer webhook in-process with pyinstrument (after `make bench` filled the database).

    .venv/bin/python -m bench.profile_answer [requests]

Runs signed answer requests through Django's full stack (middleware, signature
check, routing, insert, XML) and prints where the time goes.
"""

import sys
from urllib.parse import urlencode

# isort: off
from bench.environment import ENVIRONMENT, MIX, answer_params  # first: it sets Django up for the imports below

# isort: on
from django.test import Client
from pyinstrument import Profiler

from bench import fill
from voice.plivo.webhook import expected_signature


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 2000
    callers = [pair for kind in MIX for pair in fill.callers(kind, 200)]
    url = ENVIRONMENT["PUBLIC_BASE_URL"] + "/voice/answer/"
    prepared = []
    for i in range(count):
        params = answer_params(*callers[i % len(callers)])
        signature = expected_signature(
            "POST", url, {k: [v] for k, v in params.items()}, "1", ENVIRONMENT["PLIVO_AUTH_TOKEN"]
        )
        prepared.append((urlencode(params), signature.decode()))
    client = Client(HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")
    profiler = Profiler(interval=0.0002)
    with profiler:
        for body, signature in prepared:
            response = client.post(
                "/voice/answer/",
                body,
                content_type="application/x-www-form-urlencoded",
                headers={"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": "1"},
            )
            assert response.status_code == 200, response.status_code
    print(profiler.output_text(unicode=True, color=False, show_all="--all" in sys.argv))


if __name__ == "__main__":
    main()
