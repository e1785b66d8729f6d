"""A deliberately simple HTTP/1.1 client over raw TLS sockets, for tests that need to send
exactly the bytes they choose (malformed, slow, pipelined)."""

from __future__ import annotations

import json
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from server.tls import client_context


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body)


class RawClient:
    def __init__(
        self,
        address: tuple[str, int],
        ca_file: Path,
        *,
        timeout: float = 10.0,
        context: ssl.SSLContext | None = None,
    ) -> None:
        self.context = context or client_context(ca_file)
        raw = socket.create_connection(address, timeout=timeout)
        self.sock = self.context.wrap_socket(raw, server_hostname="localhost")
        self.reader: BinaryIO = self.sock.makefile("rb")

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> RawResponse:
        self.send(build_request(method, path, body=body, headers=headers))
        return self.read_response(method)

    def read_response(self, method: str = "GET") -> RawResponse:
        status_line = self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed before a response")
        version, status, reason = status_line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        assert version == "HTTP/1.1", status_line
        headers: list[tuple[str, str]] = []
        while True:
            line = self.reader.readline().decode("latin-1").rstrip("\r\n")
            if not line:
                break
            name, _, value = line.partition(":")
            headers.append((name.strip().lower(), value.strip()))
        response = RawResponse(int(status), reason, headers, b"")
        length = response.header("content-length")
        if method != "HEAD" and length is not None and int(status) not in (100, 204, 304):
            response.body = self.reader.read(int(length))
        return response

    def is_closed(self, wait: float = 5.0) -> bool:
        """Whether the server closed the connection (reads EOF within ``wait`` seconds)."""
        self.sock.settimeout(wait)
        try:
            return self.reader.read(1) == b""
        except (ConnectionError, ssl.SSLError):
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        try:
            self.reader.close()
            self.sock.close()
        except OSError:
            pass


def build_request(
    method: str, path: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost"]
    given = {name.lower() for name in (headers or {})}
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body is not None and "content-length" not in given and "transfer-encoding" not in given:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
