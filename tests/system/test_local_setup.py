"""What a new user meets first: the local .env, PORT, .env.example, one-line errors, logging, the favicon."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]


def python(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter in the project with exactly ``env`` (plus PATH)."""
    return subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", code],
        cwd=PROJECT,
        env={"PATH": os.environ.get("PATH", ""), "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def manage(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=PROJECT,
        env={"PATH": os.environ.get("PATH", ""), "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


SHOW = "import numbermasking.settings as s; print(s.DEBUG, s.PUBLIC_BASE_URL, getattr(s, 'SECURE_SSL_REDIRECT', False))"


def test_the_settings_read_the_file_env_file_names(tmp_path):
    env_file = tmp_path / "local.env"
    env_file.write_text("DEBUG=true\nSECRET_KEY=from-the-file\n")

    result = python(SHOW, tmp_path, ENV_FILE=str(env_file))

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "http://localhost:8000", "False"]


def test_an_empty_env_file_reads_no_file_so_the_suite_never_sees_a_developers_env(tmp_path):
    result = python(SHOW, tmp_path, ENV_FILE="")

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_the_test_settings_read_no_env_file():
    from django.conf import settings

    assert settings.ENV_FILE == ""


def test_the_local_public_url_follows_port(tmp_path):
    result = python(SHOW, tmp_path, ENV_FILE="", DEBUG="true", PORT="9000")

    assert result.stdout.split()[1] == "http://localhost:9000"


def test_an_explicit_public_url_wins_over_port(tmp_path):
    result = python(SHOW, tmp_path, ENV_FILE="", DEBUG="true", PORT="9000", PUBLIC_BASE_URL="https://m.example.com")

    assert result.stdout.split()[1:] == ["https://m.example.com", "True"]


def test_the_xml_action_urls_name_the_port_served(tmp_path):
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'numbermasking.settings'; django.setup(); "
        "from voice.plivo import xml; print(xml.ask_pin(attempt=1))"
    )

    result = python(code, tmp_path, ENV_FILE="", DEBUG="true", PORT="9000")

    assert result.returncode == 0, result.stderr
    assert 'action="http://localhost:9000/voice/pin/' in result.stdout


def test_env_example_copied_as_is_is_a_plain_http_local_run(tmp_path):
    shutil.copy(PROJECT / ".env.example", tmp_path / ".env")
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'numbermasking.settings'; django.setup(); "
        "from django.test import Client; "
        "print(Client().get('/admin/login/', HTTP_HOST='localhost:8000').status_code)"
    )

    result = python(code, tmp_path, ENV_FILE=str(tmp_path / ".env"))

    assert result.returncode == 0, result.stderr
    # 200, not a redirect to https on a runserver that speaks plain http.
    assert result.stdout.split()[-1] == "200"
    settings = python(SHOW, tmp_path, ENV_FILE=str(tmp_path / ".env"))
    assert settings.stdout.split() == ["True", "http://localhost:8000", "False"]


def test_env_example_marks_its_production_values_and_keeps_them_commented():
    example = (PROJECT / ".env.example").read_text()
    local, production = example.split("PRODUCTION:", 1)[0], example.split("---- PRODUCTION", 1)[1]

    assert "https://masking.example.com" not in local
    production_block = production.split("---- Both", 1)[0]
    assert re.search(r"^# PUBLIC_BASE_URL=https://masking.example.com$", production_block, re.MULTILINE)
    assert re.search(r"^# DEBUG=false$", production_block, re.MULTILINE)
    assert not re.search(r"^[A-Z_]+=", production_block, re.MULTILINE), "production values stay commented"


def test_a_missing_secret_key_outside_development_is_one_line(tmp_path):
    result = manage("create_api_key", "dispatch", tmp_path=tmp_path, ENV_FILE="", DEBUG="false")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("Error: SECRET_KEY is not set.")
    assert "make run" in result.stderr


def test_each_django_request_log_line_prints_once_under_debug(tmp_path):
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'numbermasking.settings'; django.setup(); "
        "import logging; logging.getLogger('django.request').warning('probe-line')"
    )

    result = python(code, tmp_path, ENV_FILE="", DEBUG="true")

    assert result.returncode == 0, result.stderr
    assert result.stderr.count("probe-line") == 1


def make_dry_run(*args: str) -> str:
    # -B: as on a fresh clone, every step runs; -n: printed, not run.
    result = subprocess.run(  # noqa: S603
        ["make", "-n", "-B", *args],  # noqa: S607 (make from PATH, as a user runs it)
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,  # noqa: S607
    )
    return result.stdout


def test_make_run_installs_only_the_service_and_make_test_the_toolchain_too():
    run, test = make_dry_run("run"), make_dry_run("test")

    assert "pip install --quiet -r requirements.txt" in run
    assert "requirements-dev.txt" not in run
    assert "pip install --quiet -r requirements-dev.txt" in test


def test_make_run_serves_on_port_and_runs_the_system_checks_once():
    from orders.management.commands.worker import Command as Worker

    run = make_dry_run("run", "PORT=9000")

    # The Procfile's processes: release first (its migrate runs the checks and prints any warning),
    # then web (gunicorn, no checks) and worker (which leaves them to the release step).
    assert ".venv/bin/honcho start --no-colour release" in run
    assert ".venv/bin/honcho start --no-colour --port 9000 web worker" in run
    assert "python manage.py migrate --no-input" in (PROJECT / "Procfile").read_text()
    assert Worker.requires_system_checks == []
    manage_lines = [
        line for line in run.splitlines() if line.startswith(".venv/bin/python manage.py") and "shell" not in line
    ]
    assert all("--skip-checks" in line for line in manage_lines), manage_lines


def test_make_run_writes_a_local_env_with_debug_and_a_generated_key_once(tmp_path):
    shutil.copy(PROJECT / "Makefile", tmp_path / "Makefile")

    subprocess.run(["make", ".env"], cwd=tmp_path, check=True, capture_output=True, timeout=60)  # noqa: S607
    first = (tmp_path / ".env").read_text()
    subprocess.run(["make", ".env"], cwd=tmp_path, check=True, capture_output=True, timeout=60)  # noqa: S607

    assert (tmp_path / ".env").read_text() == first
    assert "DEBUG=true" in first.splitlines()
    (key,) = [line.removeprefix("SECRET_KEY=") for line in first.splitlines() if line.startswith("SECRET_KEY=")]
    assert len(key) >= 50
    assert oct((tmp_path / ".env").stat().st_mode & 0o777) == "0o600"
    assert ".env" in (PROJECT / ".gitignore").read_text().splitlines()


@pytest.mark.django_db
def test_the_favicon_is_served_and_named_by_admin_pages(admin_client):
    icon = admin_client.get("/favicon.ico")
    page = admin_client.get("/admin/")

    assert icon.status_code == 200
    assert icon["Content-Type"] == "image/svg+xml"
    assert b"<svg" in icon.content
    assert '<link rel="icon" type="image/svg+xml" href="/favicon.ico">' in page.content.decode()


def test_make_run_records_the_port_served_so_later_commands_build_its_urls(tmp_path):
    # `PORT=18081 make run`, then simulate_call or plivo_setup from another shell, with no PORT set there.
    shutil.copy(PROJECT / "Makefile", tmp_path / "Makefile")
    make = ["make", "local-env", f"PYTHON={sys.executable}"]
    subprocess.run(make, cwd=tmp_path, check=True, capture_output=True, timeout=60)  # noqa: S603
    written = (tmp_path / ".env").read_text()
    subprocess.run([*make, "PORT=18081"], cwd=tmp_path, check=True, capture_output=True, timeout=60)  # noqa: S603
    env = (tmp_path / ".env").read_text()
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'numbermasking.settings'; django.setup(); "
        "from django.conf import settings; from voice.plivo import xml; "
        "print(settings.PUBLIC_BASE_URL, bool(settings.PLIVO_AUTH_TOKEN)); print(xml.ask_pin(attempt=1))"
    )

    result = python(code, tmp_path, ENV_FILE=str(tmp_path / ".env"))

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "http://localhost:18081 True"
    assert 'action="http://localhost:18081/voice/pin/' in result.stdout
    # Only the PORT line changed: the key and the local token are those written first.
    assert [line for line in env.splitlines() if line.startswith("PORT=")] == ["PORT=18081"]
    assert sorted(line for line in env.splitlines() if not line.startswith("PORT=")) == sorted(
        line for line in written.splitlines() if not line.startswith("PORT=")
    )
    assert oct((tmp_path / ".env").stat().st_mode & 0o777) == "0o600"


def test_make_run_leaves_a_plivo_token_already_in_env_alone(tmp_path):
    shutil.copy(PROJECT / "Makefile", tmp_path / "Makefile")
    (tmp_path / ".env").write_text("DEBUG=true\nPLIVO_AUTH_TOKEN=my-real-token\n")

    subprocess.run(["make", "local-env"], cwd=tmp_path, check=True, capture_output=True, timeout=60)  # noqa: S607

    assert (tmp_path / ".env").read_text() == "DEBUG=true\nPLIVO_AUTH_TOKEN=my-real-token\nPORT=8000\n"
