"""The README and docs/, run as written: their commands on a fresh clone, their API examples and first call for real."""

import json
import os
import re
import shlex
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path

import pytest
import responses
from django.core.management import call_command
from rest_framework.test import APIClient

from orders.api import keys

PROJECT = Path(__file__).resolve().parents[2]
README = (PROJECT / "README.md").read_text()
# Every page a reader may copy a command from; docs/api.md holds the API's examples.
DOCS = {
    path.relative_to(PROJECT).as_posix(): path.read_text()
    for path in [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]
}
API_DOC = DOCS["docs/api.md"]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
# The two account commands need Plivo credentials a fresh clone does not have;
# "works as written" is then their documented one-line refusal.
NEEDS_PLIVO = "PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN must be set (Plivo console: Account > Overview)."


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^ *```[a-z]*\n(.*?)^ *```", text, flags=re.MULTILINE | re.DOTALL)


def section(text: str, heading: str, next_heading: str) -> str:
    """The text between two headings, matched as whole lines (so "## A" is not "### A")."""
    start = re.search(rf"^{re.escape(heading)}\n", text, flags=re.MULTILINE)
    assert start, heading
    end = re.search(rf"^{re.escape(next_heading)}\n", text[start.end() :], flags=re.MULTILINE)
    assert end, next_heading
    return text[start.end() : start.end() + end.start()]


def shown_commands(text: str) -> list[str]:
    """Every `.venv/bin/python manage.py …` line in a page's code blocks, once each, comments dropped."""
    commands: list[str] = []
    for block in code_blocks(text):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line.strip())
            if line.startswith(".venv/bin/python manage.py") and line not in commands:
                commands.append(line)
    return commands


def documented_commands() -> list[str]:
    """The README's commands, then those only a page in docs/ shows: every one a reader may copy."""
    commands: list[str] = []
    for text in DOCS.values():
        commands += [command for command in shown_commands(text) if command not in commands]
    return commands


def test_the_docs_show_each_command_in_the_form_that_works():
    # The README's Commands block lists every command; the pages in docs/ show them where their topic is.
    assert len(shown_commands(section(README, "## Commands", "## Where to read next"))) >= 8
    for page, text in DOCS.items():
        for block in code_blocks(text):
            for line in block.splitlines():
                assert not re.match(r"\s*python3? manage\.py", line), f"{page}: bare python, no Django there: {line}"
                assert "[" not in line or not line.strip().startswith(".venv"), f"{page}: not runnable: {line}"
                # The worker without --batch never exits: the fresh-clone test would hang on it.
                assert not re.fullmatch(r"\.venv/bin/python manage\.py worker(\s+#.*)?", line.strip()), line


def clean_env() -> dict[str, str]:
    """What a new user's shell has: no Django, database or Plivo settings; the package index settings kept."""
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_CERT")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update({name: value for name, value in os.environ.items() if name.lower().endswith("_proxy")})
    return env


@pytest.mark.slow
def test_after_make_setup_on_a_fresh_clone_every_documented_command_works_as_written(tmp_path):
    clone = tmp_path / "clone"
    env = clean_env()
    subprocess.run(["git", "clone", "--quiet", str(PROJECT), str(clone)], check=True, env=env, timeout=120)  # noqa: S607

    # What `make run` does before it starts serving, with the real Makefile, on a port of its own.
    port = free_port()
    setup = subprocess.run(  # noqa: S603
        ["make", "setup", f"PORT={port}"],  # noqa: S607
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )

    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    assert (clone / ".env").exists()
    assert setup.stdout.count("PLIVO_AUTH_TOKEN is not set") + setup.stderr.count("PLIVO_AUTH_TOKEN is not set") <= 1
    # make run installs the service, not the test toolchain.
    assert subprocess.run([str(clone / ".venv/bin/python"), "-c", "import pytest"], capture_output=True).returncode  # noqa: S603
    commands = documented_commands()
    assert len(commands) >= 8
    # play_call and send_webhook talk to the server `make run` starts: the Procfile's web, as it runs there.
    with serving(clone, env, port):
        for command in commands:
            run_as_written(command, clone, env)


@contextmanager
def serving(clone: Path, env: dict[str, str], port: int) -> Iterator[None]:
    web = subprocess.Popen(  # noqa: S603
        [str(clone / ".venv/bin/gunicorn"), "numbermasking.wsgi"],
        cwd=clone,
        env={**env, "PORT": str(port), "HOST": "127.0.0.1", "WEB_CONCURRENCY": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)  # noqa: S310
                break
            except OSError:
                assert time.monotonic() < deadline and web.poll() is None, "the server did not start"
                time.sleep(0.5)
        yield
    finally:
        web.terminate()
        web.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_as_written(command: str, clone: Path, env: dict[str, str]) -> None:
    result = subprocess.run(  # noqa: S603
        ["bash", "-c", command],  # noqa: S607
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in result.stderr, (command, result.stderr)
    if "manage.py plivo_" in command:
        # One line saying what is missing: the local .env has a token for play_call, but no Plivo account.
        assert result.returncode == 1, command
        assert result.stderr.strip().splitlines()[-1] == f"CommandError: {NEEDS_PLIVO}", command
    else:
        assert result.returncode == 0, (command, result.stderr)


def api_examples() -> list[tuple[str, str, dict | None, int | None, dict | None]]:
    """(method, path, body, status, expected JSON) for each curl of docs/api.md's dispatch flow (click-to-call
    included) and block list, in order."""
    shown = section(API_DOC, "## The dispatch flow", "## Other endpoints") + section(
        API_DOC, "## The block list", "## Errors"
    )
    examples = []
    for block in code_blocks(shown):
        lines = block.replace("\\\n", " ").splitlines()
        for index, line in enumerate(lines):
            if not line.startswith("curl "):
                continue
            words = shlex.split(line)
            method = words[words.index("-X") + 1] if "-X" in words else "GET"
            (url,) = [word for word in words if word.startswith("$API")]
            body = json.loads(words[words.index("-d") + 1]) if "-d" in words else None
            comment = []
            for following in lines[index + 1 :]:
                if not following.startswith("#"):
                    break
                comment.append(following.lstrip("#").strip())
            status, expected = None, None
            if comment and re.match(r"\d{3}( |$)", comment[0]):
                text = " ".join(comment)
                status = int(text[:3])
                expected = json.loads(re.sub(r",\s*\.\.\.", "", text[4:])) if text[4:].strip() else None
            examples.append((method, url.replace("$API", "/api/v1"), body, status, expected))
    return examples


def assert_shown(expected: object, actual: object, where: str) -> None:
    """What the docs show is in the real answer; times and PINs in their real format."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        for key, value in expected.items():
            assert key in actual, f"{where}: no {key!r} in {actual}"
            assert_shown(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: {actual!r}"
        for index, (shown, answered) in enumerate(zip(expected, actual, strict=True)):
            assert_shown(shown, answered, f"{where}.{index}")
    elif isinstance(expected, str) and expected.startswith("ctc_"):
        # A click-to-call request's id is random.
        assert isinstance(actual, str) and re.fullmatch(r"ctc_[0-9a-f]{24}", actual), f"{where}: {actual!r}"
    elif isinstance(expected, str) and TIMESTAMP.match(expected):
        assert isinstance(actual, str) and TIMESTAMP.match(actual), f"{where}: {actual!r}"
    elif where.endswith(".pin"):
        assert re.fullmatch(r"\d{4}", actual), f"{where}: {actual!r}"
    else:
        assert actual == expected, f"{where}: docs/api.md shows {expected!r}, the API answers {actual!r}"


@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_the_api_examples_are_real_answers_on_the_demo_database():
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {keys.create_api_key('dispatch')[1]}")
    examples = api_examples()
    assert len(examples) >= 12

    # Click-to-call's example only reserves the call; no request may leave for Plivo.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        answers = [
            (
                method,
                path,
                status,
                expected,
                api.generic(method, path, json.dumps(body) if body else "", content_type="application/json"),
            )
            for method, path, body, status, expected in examples
        ]
    assert not mocked.calls
    for method, path, status, expected, response in answers:
        where = f"{method} {path}"
        assert response.status_code == (status or 200), (where, response.content)
        if expected is not None:
            assert_shown(expected, response.json(), where)

    listed = api.get("/api/v1/orders/?status=assigned&agent=1&page=1")
    assert listed.status_code == 200
    assert "/orders/?status=assigned&agent=1&page=1" in API_DOC


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_the_readme_first_call_is_what_play_call_prints(live_server, settings):
    # The README shows a local `make run`: its server is http://localhost:8000 and .env holds a local token.
    settings.PUBLIC_BASE_URL = live_server.url
    settings.PLIVO_AUTH_TOKEN = "local-token"
    call_command("seed_demo", stdout=StringIO())
    first_call = section(README, "## A first call", "## How a masked call works")
    (command,) = shown_commands(first_call)
    (shown,) = [block for block in code_blocks(first_call) if "manage.py" not in block]
    stdout = StringIO()

    call_command(*shlex.split(command.removeprefix(".venv/bin/python manage.py ")), stdout=stdout)

    printed = stdout.getvalue().replace(live_server.url, "http://localhost:8000")
    assert UUID.sub("<uuid>", printed).strip() == UUID.sub("<uuid>", shown).strip()
