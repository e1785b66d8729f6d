"""Keep-alive GET /livez over TLS 1.3, 64 connections, 10 s: kluis-server against uvicorn.

uvicorn (h11 protocol, asyncio loop, TLS) serves a minimal ASGI app that answers the same
JSON, measured in the same run with the same load generator, wrk.  Both run as one process
with access logging off.  wrk does not check certificates; it only generates load."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
DURATION = int(os.environ.get("KLUIS_BENCH_HTTP_SECONDS", "10"))
CONNECTIONS = 64
ROUNDS = int(os.environ.get("KLUIS_BENCH_HTTP_ROUNDS", "3"))
THREADS = 2

ASGI_APP = textwrap.dedent(
    """
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b'{"status":"alive"}'
        await send({
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        })
        await send({"type": "http.response.body", "body": body})
    """
)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("  installing wrk (apt-get install wrk)", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
        found = shutil.which("wrk")
    if not found:
        raise RuntimeError("the HTTP benchmark needs wrk: apt-get install wrk")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, ca_file: Path, process: subprocess.Popen[bytes]) -> None:
    from server.tls import client_context

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        if ca_file.exists():
            try:
                with httpx.Client(verify=client_context(ca_file)) as client:
                    if client.get(url).status_code == 200:
                        return
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} never became ready")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def parse_wrk(output: str) -> dict[str, float]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    figures = {"rps": rps}
    for percentile in ("50", "99"):
        match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        assert match, output
        figures[f"p{percentile}"] = float(match.group(1)) * _UNITS[match.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} error responses:\n{output}")
    return figures


def load(wrk: str, url: str, seconds: int) -> dict[str, float]:
    command = [wrk, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", url]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return parse_wrk(result.stdout)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def measure_kluis(wrk: str, data_dir: Path) -> dict[str, float]:
    env = {**os.environ, "KLUIS_ACCESS_LOG": "false", "KLUIS_LOG_LEVEL": "WARNING"}
    env.pop("KLUIS_DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-m", "server.cli", "migrate", "--data-dir", str(data_dir)],
        check=True,
        capture_output=True,
        env=env,
    )
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            "--data-dir",
            str(data_dir),
            "--listen",
            f"127.0.0.1:{port}",
            "--metrics-listen",
            f"127.0.0.1:{free_port()}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        url = f"https://localhost:{port}/livez"
        wait_ready(url, data_dir / "tls" / "ca.pem", process)
        load(wrk, url, 2)
        return load(wrk, url, DURATION)
    finally:
        stop(process)


def measure_uvicorn(wrk: str, data_dir: Path) -> dict[str, float]:
    (data_dir / "bench_asgi.py").write_text(ASGI_APP)
    port = free_port()
    tls = data_dir / "tls"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench_asgi:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--http",
            "h11",
            "--loop",
            "asyncio",
            "--ssl-certfile",
            str(tls / "server.pem"),
            "--ssl-keyfile",
            str(tls / "server-key.pem"),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=data_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"https://localhost:{port}/livez"
        wait_ready(url, tls / "ca.pem", process)
        load(wrk, url, 2)
        return load(wrk, url, DURATION)
    finally:
        stop(process)


def median_round(rounds: list[dict[str, float]]) -> dict[str, float]:
    """The round with the median throughput, so its latencies belong to it."""
    return sorted(rounds, key=lambda figures: figures["rps"])[len(rounds) // 2]


def run(report) -> None:  # type: ignore[no-untyped-def]
    wrk = ensure_wrk()
    kluis_rounds: list[dict[str, float]] = []
    uvicorn_rounds: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="kluis-bench-http-") as directory:
        data_dir = Path(directory)
        # Interleaved rounds, so that a noisy neighbour hurts both servers alike.
        for _ in range(ROUNDS):
            kluis_rounds.append(measure_kluis(wrk, data_dir))
            uvicorn_rounds.append(measure_uvicorn(wrk, data_dir))
    kluis, uvicorn = median_round(kluis_rounds), median_round(uvicorn_rounds)
    print(
        f"  rounds (requests/s): kluis {[round(r['rps']) for r in kluis_rounds]}, "
        f"uvicorn {[round(r['rps']) for r in uvicorn_rounds]}"
    )
    label = f"GET /livez TLS keep-alive, {CONNECTIONS} conns, {DURATION}s, median of {ROUNDS} (wrk)"
    report(f"http {label}: kluis-server", kluis["rps"], "requests/s", uvicorn["rps"], "uvicorn h11")
    report(
        "http p50 latency: kluis-server",
        kluis["p50"],
        "ms",
        uvicorn["p50"],
        "uvicorn h11",
        higher_is_better=False,
    )
    report(
        "http p99 latency: kluis-server",
        kluis["p99"],
        "ms",
        uvicorn["p99"],
        "uvicorn h11",
        higher_is_better=False,
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import main

    sys.exit(main(["http"]))
