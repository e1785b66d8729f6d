"""``python -m console.demo --data-dir DIR --listen HOST:PORT`` (``make demo``): a local
server and a console pointed at it, in one command.

The launcher prepares the data directory (migrate), starts ``kluis-server serve``, waits
until ``/readyz`` answers over TLS verified against ``DIR/tls/ca.pem``, runs the console,
and when the console exits (or crashes, or Ctrl-C arrives) stops the server with SIGTERM,
escalating to SIGKILL only if it does not stop in time."""

from __future__ import annotations

import argparse
import collections
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

import httpx

from console.net.client import exception_chain
from console.net.trust import TrustError, load_trust_anchor

# Server commands run, in order, before the server starts.  Seeding demo data is one more line.
PREPARATION_STEPS: tuple[tuple[str, ...], ...] = (("migrate",), ("demo-data", "--init"))

READY_TIMEOUT = 60.0
STEP_TIMEOUT = 300.0
SERVER_STOP_TIMEOUT = 40.0  # the server's default shutdown grace is 20 s
CONSOLE_STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.2
STDERR_TAIL_LINES = 25
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost", "0.0.0.0", "::"})  # noqa: S104 - names, not binds
LISTENING = re.compile(r"listening on https://(?P<host>\S+):(?P<port>\d+)\s*$")


class DemoError(Exception):
    """The demo cannot run; the message says why and quotes the server's last words."""


@dataclass(frozen=True)
class DemoResult:
    console_returncode: int
    server_returncode: int


def server_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "server.cli", *arguments]


def console_command() -> list[str]:
    return [sys.executable, "-m", "console.main"]


def split_listen(listen: str) -> tuple[str, int]:
    host, separator, port = listen.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not separator or not host or not port.isdigit() or not 0 <= int(port) < 65535:
        raise DemoError(f"--listen must be HOST:PORT with a port below 65535, not {listen!r}")
    return host, int(port)


def join_listen(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def client_url(host: str, port: int) -> str:
    """The URL the console uses: the development certificate names ``localhost``."""
    shown = "localhost" if host in LOOPBACK_HOSTS else (f"[{host}]" if ":" in host else host)
    return f"https://{shown}:{port}"


def _tail(lines: Sequence[str]) -> str:
    if not lines:
        return "(the server wrote nothing to stderr)"
    return "\n".join(f"    {line}" for line in lines)


def run_preparation(data_dir: Path, env: Mapping[str, str] | None) -> None:
    for step in PREPARATION_STEPS:
        completed = subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
            server_command(*step, "--data-dir", str(data_dir)),
            env=env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )
        if completed.returncode != 0:
            tail = completed.stderr.strip().splitlines()[-STDERR_TAIL_LINES:]
            command = " ".join(step)
            raise DemoError(
                f"kluis-server {command} failed with exit status {completed.returncode}:\n{_tail(tail)}"
            )


class ServerProcess:
    """``kluis-server serve`` as a child process in its own process group, so that Ctrl-C
    in the terminal reaches the launcher, which then stops the server exactly once."""

    def __init__(self, data_dir: Path, listen: str, env: Mapping[str, str] | None) -> None:
        host, port = split_listen(listen)
        metrics = join_listen(host, port + 1 if port else 0)
        self.data_dir = data_dir
        self.url: str | None = None
        self._listening = threading.Event()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._log = (data_dir / "server.log").open("a", encoding="utf-8")
        try:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
                server_command(
                    "serve", "--data-dir", str(data_dir), "--listen", listen, "--metrics-listen", metrics
                ),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                process_group=0,
            )
        except BaseException:
            self._log.close()
            raise
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self._pumps = [
            threading.Thread(target=self._read_stdout, args=(self.process.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self.process.stderr,), daemon=True),
        ]
        for pump in self._pumps:
            pump.start()

    def _read_stdout(self, stream: IO[str]) -> None:
        with stream:
            for line in stream:
                print(f"server: {line.rstrip()}", flush=True)
                match = LISTENING.search(line)
                if match and self.url is None:
                    self.url = client_url(match["host"], int(match["port"]))
                    self._listening.set()

    def _read_stderr(self, stream: IO[str]) -> None:
        with stream:
            for line in stream:
                self._stderr_tail.append(line.rstrip())
                self._log.write(line)
                self._log.flush()

    def _failure(self, what: str) -> DemoError:
        return DemoError(
            f"{what} Its last lines on stderr (all of them are in {self.data_dir / 'server.log'}):\n"
            f"{_tail(list(self._stderr_tail))}"
        )

    def wait_until_ready(self, timeout: float) -> None:
        """Wait for the listening line, then for ``/readyz`` to answer 200 over verified TLS."""
        deadline = time.monotonic() + timeout
        while not self._listening.wait(POLL_INTERVAL):
            if self.process.poll() is not None:
                self._join_pumps()
                raise self._failure(
                    f"The server exited with status {self.process.returncode} while starting."
                )
            if time.monotonic() > deadline:
                raise self._failure(f"The server did not start listening within {timeout:.0f} s.")
        assert self.url is not None
        ca_file = self.data_dir / "tls" / "ca.pem"
        try:
            context = load_trust_anchor(ca_file).tls_context()
        except TrustError as exc:
            raise DemoError(str(exc)) from None
        with httpx.Client(verify=context, timeout=2.0, trust_env=False) as http:
            while True:
                if self.process.poll() is not None:
                    self._join_pumps()
                    raise self._failure(f"The server exited with status {self.process.returncode}.")
                try:
                    if http.get(f"{self.url}/readyz").status_code == 200:
                        return
                except httpx.ConnectError as exc:
                    if any(isinstance(cause, ssl.SSLError) for cause in exception_chain(exc)):
                        raise DemoError(f"TLS to {self.url} failed with the CA in {ca_file}: {exc}") from None
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise self._failure(f"The server at {self.url} was not ready within {timeout:.0f} s.")
                time.sleep(POLL_INTERVAL)

    def stop(self, timeout: float = SERVER_STOP_TIMEOUT) -> int:
        """SIGTERM and wait; SIGKILL only if it is still running after ``timeout``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                print(
                    f"launcher: the server did not stop within {timeout:.0f} s; killing it", file=sys.stderr
                )
                self.process.kill()
                self.process.wait()
        self._join_pumps()
        self._log.close()
        return self.process.returncode

    def _join_pumps(self) -> None:
        for pump in self._pumps:
            pump.join(10)


def run_console(command: Sequence[str], env: Mapping[str, str] | None) -> int:
    console = subprocess.Popen(command, env=env)  # noqa: S603 - the launcher's own console command
    try:
        return console.wait()
    except KeyboardInterrupt:
        _stop_console(console)
        raise


def _stop_console(console: subprocess.Popen[bytes]) -> None:
    """Ask the console to close (it treats SIGTERM like a terminal's Ctrl-C, which may have
    reached it already), and kill it if it does not."""
    if console.poll() is None:
        console.terminate()
    try:
        console.wait(CONSOLE_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        console.kill()
        console.wait()


def run_demo(
    data_dir: Path,
    listen: str,
    console: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    ready_timeout: float = READY_TIMEOUT,
) -> DemoResult:
    """Prepare ``data_dir``, serve it on ``listen``, run ``console`` with ``--server``,
    ``--ca`` and ``--profile`` appended, then stop the server, whatever happened."""
    split_listen(listen)
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    run_preparation(data_dir, env)
    server = ServerProcess(data_dir, listen, env)
    console_returncode: int | None = None
    try:
        server.wait_until_ready(ready_timeout)
        assert server.url is not None
        console_returncode = run_console(
            [
                *console,
                "--server",
                server.url,
                "--ca",
                str(data_dir / "tls" / "ca.pem"),
                "--profile",
                str(data_dir / "console-profile"),
            ],
            env,
        )
    finally:
        server_returncode = server.stop()
    return DemoResult(console_returncode=console_returncode, server_returncode=server_returncode)


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m console.demo", description="Run a local Kluis server and a console against it."
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="the demo server's data directory")
    parser.add_argument("--listen", default="127.0.0.1:8443", help="HOST:PORT for the demo server")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        result = run_demo(args.data_dir, args.listen, console_command(), env=os.environ)
    except DemoError as exc:
        print(f"launcher: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("launcher: interrupted; the server was stopped.", file=sys.stderr)
        return 130
    if result.server_returncode != 0:
        print(f"launcher: the server exited with status {result.server_returncode}", file=sys.stderr)
    return result.console_returncode


if __name__ == "__main__":
    sys.exit(main())
