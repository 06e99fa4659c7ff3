"""The container wiring, checked by reading the files (Docker does not run here)."""

import os
import re
import runpy
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def _dockerfile_cmd(dockerfile: str) -> list[str]:
    (line,) = [line for line in dockerfile.splitlines() if line.startswith("CMD ")]
    return yaml.safe_load(line.removeprefix("CMD "))


def _container_port(compose: dict) -> int:
    # gunicorn's port is exposed to the proxy only, never published (tests/system/test_reverse_proxy.py).
    (exposed,) = compose["services"]["web"]["expose"]
    assert "ports" not in compose["services"]["web"]
    return int(exposed)


@pytest.fixture(scope="module")
def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def test_the_procfile_names_every_process_the_service_runs(procfile):
    assert procfile == {
        "release": "python manage.py migrate --no-input && python manage.py createcachetable"
        " && python manage.py collectstatic --no-input",
        "web": "gunicorn numbermasking.wsgi",
        "worker": "python manage.py worker",
    }


def test_compose_runs_the_procfile_s_processes_as_its_services(compose, dockerfile, procfile):
    services = compose["services"]

    # collectstatic, the release's last step, ran when the image was built (the container cannot write there).
    assert services["release"]["command"] == [
        "sh",
        "-c",
        procfile["release"].removesuffix(" && python manage.py collectstatic --no-input"),
    ]
    assert "collectstatic --no-input" in dockerfile
    assert services["worker"]["command"] == shlex.split(procfile["worker"])
    # web runs the image's command: the Procfile's, as it is.
    assert "command" not in services["web"]
    assert _dockerfile_cmd(dockerfile) == shlex.split(procfile["web"])


def test_make_run_starts_the_procfile_s_release_then_its_web_and_worker():
    makefile = (ROOT / "Makefile").read_text()

    assert "honcho start --no-colour release" in makefile
    assert re.search(r"honcho start .* web worker$", makefile, flags=re.MULTILINE)


def test_compose_runs_postgres_16_the_release_step_the_web_service_the_worker_and_the_proxy(compose):
    assert set(compose["services"]) == {"db", "release", "web", "worker", "proxy", "https"}
    db = compose["services"]["db"]
    assert db["image"] == "postgres:16"
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in db["volumes"])
    assert "pgdata" in compose["volumes"]


def test_the_web_service_database_url_points_at_the_db_service(compose):
    db_env = compose["services"]["db"]["environment"]
    url = urlsplit(compose["services"]["web"]["environment"]["DATABASE_URL"])

    assert url.scheme == "postgres"
    assert url.hostname == "db"
    assert url.port == 5432
    assert url.path == "/" + db_env["POSTGRES_DB"]
    assert url.username == db_env["POSTGRES_USER"]
    assert compose["services"]["release"]["environment"]["DATABASE_URL"] == url.geturl()


def test_migrations_finish_before_the_web_service_starts(compose):
    migrate, web = compose["services"]["release"], compose["services"]["web"]

    command = " ".join(migrate["command"])
    assert "manage.py migrate --no-input" in command
    # The API throttle's shared cache table (CACHE_URL=dbcache://api_cache).
    assert "manage.py createcachetable" in command
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert web["depends_on"]["release"]["condition"] == "service_completed_successfully"
    assert web["depends_on"]["db"]["condition"] == "service_healthy"
    assert "command" not in web, "web runs the image's gunicorn command"


def test_the_worker_sends_events_with_the_web_services_settings_after_migrations(compose):
    worker, web = compose["services"]["worker"], compose["services"]["web"]

    # The same command tests/system/test_event_workers.py runs against Postgres.
    assert worker["command"] == ["python", "manage.py", "worker"]
    assert worker["environment"] == web["environment"]
    assert worker["depends_on"]["release"]["condition"] == "service_completed_successfully"
    assert "ports" not in worker


def test_the_web_healthcheck_asks_healthz_on_the_container_port(compose):
    test = " ".join(compose["services"]["web"]["healthcheck"]["test"])

    assert f"http://localhost:{_container_port(compose)}/healthz" in test


def test_the_web_service_publishes_the_port_gunicorn_binds(compose, dockerfile, monkeypatch):
    port = _container_port(compose)
    environment = compose["services"]["web"]["environment"]

    # No --bind on the command line: it would win over PORT (docs/deploying.md, "Web processes").
    assert "--bind" not in _dockerfile_cmd(dockerfile) and "-b" not in _dockerfile_cmd(dockerfile)
    assert int(environment["PORT"]) == port
    assert f"PORT={port}" in dockerfile and f"EXPOSE {port}" in dockerfile
    monkeypatch.setenv("PORT", environment["PORT"])
    monkeypatch.delenv("HOST", raising=False)
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["bind"] == f"0.0.0.0:{port}"


def test_the_compose_header_names_every_service(compose):
    header = (ROOT / "docker-compose.yml").read_text().split("\n\n", 1)[0]

    for name in compose["services"]:
        assert f"`{name}`" in header, f"the header comment does not name the {name} service"
    assert "Six services" in header and len(compose["services"]) == 6


def test_the_https_service_serves_public_base_url_in_front_of_nginx(compose):
    https = compose["services"]["https"]
    caddyfile = (ROOT / "Caddyfile").read_text()

    assert https["profiles"] == ["https"]
    assert https["environment"]["CADDY_UPSTREAM"] == f"proxy:{compose['services']['proxy']['ports'][0].split(':')[-1]}"
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in https["volumes"]
    assert {"80:80", "443:443"} <= set(https["ports"])
    assert "{$PUBLIC_BASE_URL} {" in caddyfile
    assert "reverse_proxy {$CADDY_UPSTREAM:proxy:8080}" in caddyfile


def test_the_web_service_gets_every_setting_in_env_example(compose):
    example = (ROOT / ".env.example").read_text()
    names = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    environment = compose["services"]["web"]["environment"]

    assert "DATABASE_URL" in names
    assert names - set(environment) == set(), "add these settings to docker-compose.yml's environment"


def test_the_dockerfile_installs_requirements_and_collects_static_files(dockerfile):
    lines = dockerfile.replace("\\\n", " ").splitlines()
    runs = [shlex.split(line.removeprefix("RUN ")) for line in lines if line.startswith("RUN ")]
    words = [word for run in runs for word in run]

    assert "COPY requirements.txt ." in dockerfile
    assert words[words.index("pip") : words.index("pip") + 4] == ["pip", "install", "-r", "requirements.txt"]
    assert "collectstatic" in words


def test_gunicorn_takes_workers_and_threads_from_the_environment(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "7")
    monkeypatch.setenv("GUNICORN_THREADS", "4")
    monkeypatch.setenv("PORT", "9123")

    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))

    assert (config["workers"], config["threads"], config["bind"]) == (7, 4, "0.0.0.0:9123")


def test_gunicorn_access_log_leaves_out_the_query_string():
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))

    # %(r)s and %(q)s would log the GET answer URL's From and To.
    assert "%(U)s" in config["access_log_format"]
    assert "%(r)s" not in config["access_log_format"]
    assert "%(q)s" not in config["access_log_format"]


def test_whitenoise_serves_the_admin_static_files(client):
    response = client.get("/static/admin/css/base.css")

    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"/*")


def test_gunicorn_reads_an_empty_variable_as_the_default(monkeypatch):
    # docker compose passes ${WEB_CONCURRENCY:-} as an empty string when it is unset.
    monkeypatch.setenv("WEB_CONCURRENCY", "")
    monkeypatch.setenv("GUNICORN_THREADS", "")

    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))

    assert config["workers"] == os.cpu_count() + 1
    assert config["threads"] == 1
