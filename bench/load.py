"""The load side of the benchmark: gunicorn on a loopback port, wrk with pre-signed requests."""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench import fill
from bench.environment import DURABLE_FLOOR, MIX, ROOT, TARGETS, write_requests

DURATION = int(os.environ.get("BENCH_DURATION", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = (8, 32)
# Enough distinct signed bodies that no run repeats a CallUUID (checked below).
BODIES = int(os.environ.get("BENCH_BODIES", "30000"))
WRK_THREADS = 2
LUA = Path(__file__).with_name("answer.lua")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def ensure_wrk() -> str:
    if not shutil.which("wrk") and os.geteuid() == 0 and shutil.which("apt-get"):
        log("installing wrk (Debian package)")
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
        if not shutil.which("wrk"):
            subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    path = shutil.which("wrk")
    if not path:
        sys.exit("wrk is not installed: apt-get install wrk")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn with the production config (gunicorn.conf.py) on a loopback port."""

    def __init__(self, logfile: Path) -> None:
        self.port = free_port()
        self.logfile = logfile.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "numbermasking.wsgi", "--bind", f"127.0.0.1:{self.port}"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=self.logfile,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                sys.exit(f"gunicorn did not come up; see {logfile}")
            time.sleep(0.3)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.logfile.close()


def run_wrk(wrk: str, server: Server, path: str, requests: Path, connections: int, duration: int) -> dict:
    command = [wrk, f"-t{WRK_THREADS}", f"-c{connections}", f"-d{duration}s", "--timeout", "5s"]
    command += ["-s", str(LUA), server.url + path, "--", path, str(WRK_THREADS)]
    output = subprocess.run(
        command, env={**os.environ, "BENCH_REQUESTS": str(requests)}, capture_output=True, text=True, check=True
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    result = json.loads(line.removeprefix("BENCH "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def measure(wrk: str, label: str, workdir: Path) -> dict:
    """All targets at every connection count, ROUNDS alternating rounds each."""
    callers = {kind: fill.callers(kind, 3000 if kind == "known" else 1000) for kind in MIX}
    log(f"{label}: sampled callers " + ", ".join(f"{k} {len(v)}" for k, v in callers.items()))
    ceiling_requests = workdir / f"{label}-ceiling.txt"
    write_requests(ceiling_requests, callers, 5000)
    server = Server(workdir / "gunicorn.log")
    counter = 0

    def fresh_requests() -> Path:
        nonlocal counter
        counter += 1
        path = workdir / f"{label}-{counter}.txt"
        write_requests(path, callers, BODIES)
        return path

    runs: dict[tuple[str, int], list[dict]] = {}
    try:
        warmup_requests = workdir / f"{label}-warmup.txt"
        write_requests(warmup_requests, callers, 5000)
        for path in [*TARGETS.values(), DURABLE_FLOOR]:  # every worker connected, every code path loaded
            run_wrk(wrk, server, path, warmup_requests, 8, 2)
        for connections in CONNECTIONS:
            for round_number in range(ROUNDS):
                plan = list(TARGETS.items())
                if connections == CONNECTIONS[0]:
                    plan.append(("floor_durable", DURABLE_FLOOR))
                for name, path in plan:
                    requests = ceiling_requests if name == "ceiling" else fresh_requests()
                    result = run_wrk(wrk, server, path, requests, connections, DURATION)
                    if name != "ceiling":
                        result["repeated_bodies"] = max(0, result["requests"] - BODIES)
                    runs.setdefault((name, connections), []).append(result)
                    log(
                        f"{label} c={connections} round {round_number + 1}: {name:13} {result['rps']:7.0f} req/s  "
                        f"p50 {result['p50_us'] / 1000:6.2f} ms  p99 {result['p99_us'] / 1000:6.2f} ms"
                        + (f"  non-2xx {result['non2xx']}" if result["non2xx"] else "")
                    )
                    for stale in workdir.glob(f"{label}-[0-9]*.txt"):
                        stale.unlink()
    finally:
        server.stop()
    summary = {}
    for (name, connections), results in runs.items():
        summary[f"{name}@{connections}"] = {
            "rps": statistics.median(r["rps"] for r in results),
            "p50_ms": statistics.median(r["p50_us"] for r in results) / 1000,
            "p99_ms": statistics.median(r["p99_us"] for r in results) / 1000,
            "rps_rounds": [round(r["rps"]) for r in results],
            "non2xx": sum(r["non2xx"] + r["socket_errors"] for r in results),
            "repeated_bodies": sum(r.get("repeated_bodies", 0) for r in results),
        }
    return summary
