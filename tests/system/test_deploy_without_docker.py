"""docs/deploying.md, "Without Docker", followed as written on a fresh PostgreSQL database.

A deployment by hand once answered the admin's login page and the API docs
with a 500 (collectstatic had never run, and `check --deploy` passed). Here
the settings, the release step and the processes come from the page and the
Procfile themselves: the page's exports (only the database, the port and the
sweep interval replaced), its release commands, then its `honcho start web
worker`. The admin login and the API docs, with their static files, must
answer 200, and the worker must have armed the daily purge.
"""

import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import closing

import psycopg2
import pytest
from django.db import connection

from tests.support.servers import PROJECT, free_port

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the page deploys on PostgreSQL")

DOC = (PROJECT / "docs" / "deploying.md").read_text()
FENCED = re.compile(r"```sh\n(.*?)```", re.DOTALL)


def steps() -> list[str]:
    """The shell blocks of the "Without Docker" section, in order, each dedented."""
    section = DOC.split("## Without Docker\n", 1)[1].split("\n## ", 1)[0]
    return ["\n".join(line.strip() for line in block.splitlines()) for block in FENCED.findall(section)]


def commands(block: str) -> list[str]:
    """A block's commands, without their comments."""
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def exported(block: str) -> dict[str, str]:
    """The environment the page's exports give, evaluated by the shell (the SECRET_KEY it generates included)."""
    done = subprocess.run(  # bash evaluates the page's own export lines
        ["/bin/bash", "-c", f"{block}\nenv -0"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(item.split("=", 1) for item in done.stdout.split("\0") if "=" in item)


@pytest.fixture
def fresh_database():
    db = connection.settings_dict
    name = f"deploy_{secrets.token_hex(4)}"
    server = {"user": db["USER"], "host": db["HOST"] or "127.0.0.1", "port": db["PORT"] or 5432}
    admin = psycopg2.connect(dbname="postgres", **server)
    admin.autocommit = True
    with closing(admin), admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
        try:
            yield f"postgres://{server['user']}@{server['host']}:{server['port']}/{name}", server, name
        finally:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def get(port: int, path: str) -> tuple[int, bytes]:
    # What the TLS front sends on: the public host, and the scheme the client used.
    request = urllib.request.Request(  # noqa: S310 - the local server
        f"http://127.0.0.1:{port}{path}",
        headers={"Host": "masking.example.com", "X-Forwarded-Proto": "https"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_page_s_steps_deploy_a_service_whose_admin_and_api_docs_answer(fresh_database, tmp_path):
    database_url, server, name = fresh_database
    install, settings_block, release_block, processes_block = steps()
    assert "pip install -r requirements.txt" in install  # this checkout's .venv is installed already

    env = exported(settings_block)
    assert env["DEBUG"] == "false" and env["PUBLIC_BASE_URL"].startswith("https://")
    port = free_port()
    env.update(
        {
            "PATH": f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "DATABASE_URL": database_url,
            "PORT": str(port),
            "EVENTS_SWEEP_INTERVAL": "2",  # the worker looks at the purge schedule within a second
            "DJANGO_SUPERUSER_PASSWORD": secrets.token_urlsafe(12),
        }
    )
    timings = {}

    started = time.monotonic()
    for command in commands(release_block):
        if "createsuperuser" in command:  # asks for a password on a terminal: here, from the environment
            command += " --no-input --username admin --email admin@example.com"
        done = subprocess.run(command, shell=True, cwd=PROJECT, env=env, capture_output=True, text=True)  # noqa: S602
        assert done.returncode == 0, (command, done.stdout[-3000:], done.stderr[-3000:])
        assert "orders.E008" not in done.stderr, done.stderr
    timings["release"] = time.monotonic() - started

    (start,) = commands(processes_block)
    assert start == ".venv/bin/honcho start web worker"
    log = (tmp_path / "honcho.log").open("w")
    started = time.monotonic()
    honcho = subprocess.Popen(  # noqa: S602 - the page's command
        start, shell=True, cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and status != 200:
            assert honcho.poll() is None, (tmp_path / "honcho.log").read_text()
            try:
                status, _ = get(port, "/healthz")
            except OSError:
                time.sleep(0.1)
        timings["web up"] = time.monotonic() - started

        login_status, login = get(port, "/admin/login/")
        docs_status, docs = get(port, "/api/v1/docs/")
        assert login_status == 200, login[-2000:]
        assert docs_status == 200, docs[-2000:]
        # Their static files, by the hashed names the manifest gave them.
        for page, pattern in (
            (login, rb"/static/admin/css/base\.[0-9a-f]{12}\.css"),
            (docs, rb"/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui\.[0-9a-f]{12}\.css"),
        ):
            (asset,) = set(re.findall(pattern, page))
            assert get(port, asset.decode())[0] == 200

        # The worker is up: it armed the daily purge (MASKING_PURGE_AT) in the same database.
        with closing(psycopg2.connect(dbname=name, **server)) as db, db.cursor() as cursor:
            armed = None
            while time.monotonic() < deadline and not armed:
                cursor.execute("SELECT next_at FROM orders_deliverysweep WHERE id = 2")
                armed = cursor.fetchone()
                db.rollback()
                time.sleep(0.2)
        assert armed, (tmp_path / "honcho.log").read_text()
    finally:
        os.killpg(honcho.pid, signal.SIGTERM)
        honcho.wait(timeout=30)
        log.close()
    print(f"deploy without Docker: release {timings['release']:.1f} s, web up after {timings['web up']:.1f} s")
