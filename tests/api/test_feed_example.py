"""docs/events.md's feed example runs as written: no id in it that the feed never gave (that answers 400)."""

import json
import os
import re
import subprocess
from io import StringIO

import pytest
from django.core.management import call_command

from orders.api import keys
from tests.support.servers import PROJECT

FEED_SECTION = (PROJECT / "docs" / "events.md").read_text().split("## The feed\n", 1)[1].split("\n## ", 1)[0]


def json_answers(output: str) -> list[dict]:
    """Each JSON document curl printed, one after another."""
    decoder, answers, index = json.JSONDecoder(), [], 0
    while index < len(output.rstrip()):
        answer, index = decoder.raw_decode(output, index)
        answers.append(answer)
        while index < len(output) and output[index].isspace():
            index += 1
    return answers


@pytest.mark.django_db(transaction=True)
def test_the_feed_example_answers_pages_on_the_demo_database(live_server):
    call_command("seed_demo", stdout=StringIO())  # its assignments raise line.opened events
    (block,) = re.findall(r"```sh\n(.*?)```", FEED_SECTION, flags=re.DOTALL)
    script = block.replace("http://localhost:8000", live_server.url)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KEY": keys.create_api_key("platform")[1]}

    done = subprocess.run(["/bin/bash", "-e", "-c", script], env=env, capture_output=True, text=True, check=False)

    assert done.returncode == 0, done.stderr
    first, following = json_answers(done.stdout)
    assert len(first["results"]) == 2 and first["next"].endswith(f"after={first['results'][-1]['id']}")
    assert following["results"] and {event["type"] for event in following["results"]} == {"line.opened"}
    assert following["results"][0]["id"] not in {event["id"] for event in first["results"]}
