"""The repository's nginx.conf and Caddyfile run by Debian's nginx and caddy, as docker-compose.yml runs them.

Docker does not run here, so the tests run the same files directly, with the
compose service names replaced by this test's loopback addresses.
"""

import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

from tests.support.servers import PROJECT, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CADDY = shutil.which("caddy") or "/usr/bin/caddy"


def wait_for_port(port: int, what: str, log: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start: {log.read_text()[-2000:]}")


def collect_static(env: dict[str, str]) -> None:
    """collectstatic into the project's STATIC_ROOT, as the Procfile's release (and the image build) runs it."""
    done = subprocess.run(  # our own interpreter and script
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


class Nginx:
    """nginx.conf in front of gunicorn on ``upstream_port``."""

    def __init__(self, tmp_path: Path, upstream_port: int) -> None:
        self.port = free_port()
        config = (PROJECT / "nginx.conf").read_text()
        config, upstreams = re.subn(r"server web:8000;", f"server 127.0.0.1:{upstream_port};", config)
        config, listens = re.subn(r"listen 8080;", f"listen 127.0.0.1:{self.port};", config)
        assert (upstreams, listens) == (1, 1)
        (tmp_path / "site.conf").write_text(config)
        temp = {name: tmp_path / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
        (tmp_path / "nginx.conf").write_text(
            # The main context a distribution's nginx.conf gives, pointed at this test's directory.
            f"""
            daemon off;
            worker_processes 1;
            user root;
            pid {tmp_path}/nginx.pid;
            error_log {tmp_path}/error.log warn;
            events {{ worker_connections 512; }}
            http {{
                client_body_temp_path {temp["body"]};
                proxy_temp_path {temp["proxy"]};
                fastcgi_temp_path {temp["fastcgi"]};
                uwsgi_temp_path {temp["uwsgi"]};
                scgi_temp_path {temp["scgi"]};
                include {tmp_path}/site.conf;
            }}
            """
        )
        self.log_path = tmp_path / "nginx.out"
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(  # Debian's nginx binary, our config
            [NGINX, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)], stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_for_port(self.port, "nginx", tmp_path / "error.log")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()


class Caddy:
    """The Caddyfile serving ``public_base_url`` over TLS in front of nginx on ``upstream_port``.

    Its internal CA stands in for the public ACME CA (``local_certs``, the
    global form of ``tls internal``); the global options keep it off port 80,
    the admin API and the system's trust store. The site itself is the
    repository's Caddyfile, imported as it is.
    """

    def __init__(self, tmp_path: Path, public_base_url: str, upstream_port: int) -> None:
        self.port = int(public_base_url.rsplit(":", 1)[1])
        home = tmp_path / "caddy"
        home.mkdir()
        (home / "Caddyfile").write_text(
            "{\n\tadmin off\n\tlocal_certs\n\tskip_install_trust\n\tauto_https disable_redirects\n"
            f"\thttp_port {free_port()}\n\thttps_port {self.port}\n}}\n\nimport {PROJECT / 'Caddyfile'}\n"
        )
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "PUBLIC_BASE_URL": public_base_url,
            "CADDY_UPSTREAM": f"127.0.0.1:{upstream_port}",
        }
        self.root_certificate = home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        self.log_path = home / "caddy.log"
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(  # Debian's caddy binary, our config
            [CADDY, "run", "--config", str(home / "Caddyfile"), "--adapter", "caddyfile"],
            cwd=home,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, "caddy", self.log_path)
        self._wait_for_certificate(public_base_url.split("//", 1)[1].rsplit(":", 1)[0])

    def _wait_for_certificate(self, host: str, timeout: float = 20) -> None:
        """Caddy listens before its CA has issued the site's certificate: wait until a handshake succeeds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.root_certificate.exists():
                context = ssl.create_default_context(cafile=str(self.root_certificate))
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                        context.wrap_socket(sock, server_hostname=host).close()
                    return
                except (OSError, ssl.SSLError):
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"caddy served no certificate for {host}: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()
