"""One client connection: bytes in, h11 events, the dispatcher, bytes out.

h11 does the HTTP/1.1 parsing and framing; this class adds what a hostile network
needs: timeouts for every wait, limits on every size, read and write flow control,
and an orderly close when either side must."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import re
import time
from collections.abc import Sequence
from http import HTTPStatus
from typing import Protocol, cast
from urllib.parse import unquote

import h11

from server.http.dispatch import Dispatcher, error_response
from server.http.errors import HTTPError
from server.http.headers import REQUEST_ID_HEADER, SECURITY_HEADERS, HttpDate, request_id_from
from server.http.limits import Limits
from server.http.messages import Request, Response

logger = logging.getLogger("kluis.http")

_REASONS = {status.value: status.phrase.encode("ascii") for status in HTTPStatus}
_NO_BODY_STATUSES = frozenset({204, 304})

Received = h11.Event | type[h11.PAUSED]
_END = h11.EndOfMessage()


class RequestObserver(Protocol):
    def request_finished(
        self, request_id: str, method: str, route: str, status: int, seconds: float
    ) -> None: ...


class ConnectionHost(Protocol):
    """What a connection needs from the listener that accepted it."""

    limits: Limits
    dispatcher: Dispatcher
    observer: RequestObserver
    http_date: HttpDate

    @property
    def draining(self) -> bool: ...

    def admit(self, connection: HTTPConnection) -> bool: ...

    def release(self, connection: HTTPConnection) -> None: ...


class _Timeout(Exception):
    pass


class _Gone(Exception):
    """The peer went away; nothing more can be said to it."""


class HTTPConnection(asyncio.Protocol):
    def __init__(self, host: ConnectionHost) -> None:
        self._host = host
        self._limits = host.limits
        self._loop = asyncio.get_running_loop()
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=host.limits.max_header_bytes)
        self._transport: asyncio.Transport | None = None
        self._client: tuple[str, int] | None = None
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._eof = False
        self._eof_fed = False
        self._lost = False
        self._reading_paused = False
        self._writing_paused = False
        self._read_waiter: asyncio.Future[None] | None = None
        self._deadline = math.inf
        self._timer: asyncio.TimerHandle | None = None
        self._write_waiter: asyncio.Future[None] | None = None
        self._idle = False
        self._requests_served = 0
        self._request_started = 0.0
        self.task: asyncio.Task[None] | None = None

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._client = (str(peer[0]), int(peer[1]))
        admitted = self._host.admit(self)
        self.task = self._loop.create_task(self._serve(admitted))

    def data_received(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size > self._limits.read_high_water and not self._reading_paused:
            self._reading_paused = True
            assert self._transport is not None
            self._transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool | None:
        self._eof = True
        self._wake_reader()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._eof = True
        self._wake_reader()
        self._wake_writer()
        self._host.release(self)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake_writer()

    # -- called by the listener ------------------------------------------------------

    @property
    def idle(self) -> bool:
        """Between requests with none of the next one received."""
        return self._idle

    def drain(self) -> None:
        """Shutdown began: an idle connection closes now, a busy one after its response."""
        if self._idle:
            self._wake_reader()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # -- waiting ---------------------------------------------------------------------

    def _wake_reader(self) -> None:
        waiter = self._read_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_writer(self) -> None:
        waiter = self._write_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _has_input(self) -> bool:
        return bool(self._pending) or (self._eof and not self._eof_fed)

    async def _wait_for_input(self, deadline: float) -> bool:
        """Wait for bytes or end of stream; False if the deadline came first."""
        if self._reading_paused and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()
        if self._has_input():
            return True
        if deadline <= self._loop.time():
            return False
        self._arm_timer(deadline)
        waiter = self._loop.create_future()
        self._read_waiter = waiter
        try:
            await waiter
        finally:
            self._read_waiter = None
            self._deadline = math.inf
        return self._has_input()

    def _arm_timer(self, deadline: float) -> None:
        # One timer per connection, moved only when a deadline comes earlier than it: on
        # a busy keep-alive connection most waits then cost no timer at all.
        self._deadline = deadline
        if self._timer is not None and self._timer.when() <= deadline:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._loop.time() >= self._deadline:
            self._wake_reader()
        elif self._deadline != math.inf:
            self._timer = self._loop.call_at(self._deadline, self._on_timer)

    def _feed(self) -> bool:
        if self._pending:
            data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            self._pending.clear()
            self._pending_size = 0
            self._h11.receive_data(data)
            return True
        if self._eof and not self._eof_fed:
            self._eof_fed = True
            self._h11.receive_data(b"")
            return True
        return False

    async def _next_event(self, deadline: float) -> Received:
        while True:
            # What has arrived goes to h11 before it is asked for an event: a call that
            # could only answer NEED_DATA costs as much as parsing a small request head.
            self._feed()
            event = self._h11.next_event()
            if event is not h11.NEED_DATA:
                return cast(Received, event)
            if not await self._wait_for_input(deadline):
                raise _Timeout
            if self._lost and not self._has_input():
                raise _Gone

    async def _drain_writes(self) -> None:
        while self._writing_paused and not self._lost:
            waiter = self._loop.create_future()
            self._write_waiter = waiter
            try:
                await waiter
            finally:
                self._write_waiter = None

    # -- the request cycle -------------------------------------------------------------

    async def _serve(self, admitted: bool) -> None:
        try:
            if admitted:
                while await self._serve_one():
                    pass
            else:
                await self._refuse()
        except _Gone:
            pass
        except Exception:
            logger.exception("connection failed")
        finally:
            self._idle = False
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._transport is not None and not self._transport.is_closing():
                self._transport.close()

    async def _refuse(self) -> None:
        """Over capacity: read the request head briefly, answer 503 and close."""
        try:
            event = await self._next_event(self._loop.time() + self._limits.refused_head_timeout)
        except (_Timeout, h11.RemoteProtocolError):
            return
        if isinstance(event, h11.Request):
            request_id = request_id_from(_header(event.headers, REQUEST_ID_HEADER))
            error = HTTPError(503, "overloaded", "The server is at capacity; retry shortly.")
            await self._send(error_response(error, request_id), request_id, event.method, close=True)
            self._host.observer.request_finished(request_id, event.method.decode(), "-", 503, 0.0)

    async def _wait_for_request_head(self) -> Received | None:
        """The next request's head, or None when the connection should simply close.
        Sets ``_request_started`` when the request's first byte is at hand, so that time
        spent idle between keep-alive requests is not counted as the request's."""
        self._request_started = time.perf_counter()
        if not self._has_input() and self._h11.trailing_data == (b"", False):
            if self._host.draining and self._requests_served:
                return None
            self._idle = True
            try:
                arrived = await self._wait_for_input(self._loop.time() + self._limits.keepalive_timeout)
            finally:
                self._idle = False
            if not arrived or (self._host.draining and not self._pending):
                return None
            self._request_started = time.perf_counter()
        return await self._next_event(self._loop.time() + self._limits.header_timeout)

    async def _serve_one(self) -> bool:
        """Serve one request; True when the connection may carry another."""
        try:
            event = await self._wait_for_request_head()
        except _Timeout:
            await self._send_early_error(
                408, "request_timeout", "The request head took too long.", self._request_started
            )
            return False
        except h11.RemoteProtocolError as exc:
            status = exc.error_status_hint
            if status == 431:
                await self._send_early_error(
                    431, "headers_too_large", "The request headers are too large.", self._request_started
                )
            else:
                await self._send_early_error(
                    400, "bad_request", "Malformed HTTP request.", self._request_started
                )
            return False
        if event is None or not isinstance(event, h11.Request):
            return False
        started = self._request_started

        # h11's Headers iterates item by item through Python; read them once, as a list.
        headers = list(event.headers)
        request_id = request_id_from(_header(headers, REQUEST_ID_HEADER))
        method = event.method.decode("ascii")
        try:
            request, content_length, has_body = self._parse_head(event, headers, request_id)
        except HTTPError as error:
            await self._send(error_response(error, request_id), request_id, event.method, close=True)
            self._host.observer.request_finished(
                request_id, method, "-", error.status, time.perf_counter() - started
            )
            return False

        dispatcher = self._host.dispatcher
        plan = await dispatcher.plan(request, content_length)
        close = False
        if plan.reads_body:
            if self._h11.they_are_waiting_for_100_continue:
                self._write(self._h11.send(h11.InformationalResponse(status_code=100, headers=[])))
            try:
                body = await self._read_body()
            except HTTPError as error:
                response = error_response(error, request_id)
                close = True
            else:
                response = await dispatcher.respond(plan, request, body)
        else:
            response = await dispatcher.respond(plan, request, b"")
            close = has_body
        close = close or self._host.draining or self._h11.their_state is h11.MUST_CLOSE
        await self._send(response, request_id, event.method, close=close)
        route = plan.route.path if plan.route is not None else "-"
        self._host.observer.request_finished(
            request_id, method, route, response.status, time.perf_counter() - started
        )
        self._requests_served += 1
        return self._start_next_cycle(close)

    def _parse_head(
        self, event: h11.Request, headers: list[tuple[bytes, bytes]], request_id: str
    ) -> tuple[Request, int | None, bool]:
        head_size = len(event.method) + len(event.target) + 12
        content_length: int | None = None
        chunked = False
        for name, value in headers:
            head_size += len(name) + len(value) + 4
            if name == b"content-length":
                content_length = int(value)
            elif name == b"transfer-encoding":
                chunked = True
        if head_size > self._limits.max_header_bytes:
            raise HTTPError(431, "headers_too_large", "The request headers are too large.")
        target = event.target
        if not target.startswith(b"/"):
            raise HTTPError(400, "bad_request", "The request target must be an absolute path.")
        raw_path, _, query = target.partition(b"?")
        path = raw_path.decode("ascii")
        if "%" in path:
            try:
                path = unquote(path, errors="strict")
            except UnicodeDecodeError:
                raise HTTPError(400, "bad_request", "The request path is not valid UTF-8.") from None
            if "\x00" in path:
                raise HTTPError(400, "bad_request", "The request path contains a NUL byte.")
        request = Request(
            method=event.method.decode("ascii"),
            path=path,
            query_string=query.decode("ascii"),
            headers=headers,
            request_id=request_id,
            client=self._client,
        )
        return request, content_length, chunked or bool(content_length)

    async def _read_body(self) -> bytes:
        limit = self._limits.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                event = await self._next_event(self._loop.time() + self._limits.body_timeout)
            except _Timeout:
                raise HTTPError(408, "request_timeout", "The request body stopped arriving.") from None
            except h11.RemoteProtocolError:
                raise HTTPError(400, "bad_request", "Malformed request body framing.") from None
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > limit:
                    raise self._host.dispatcher.body_too_large()
                chunks.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)
            else:
                raise _Gone

    # -- writing -----------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if not self._lost and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    async def _send(self, response: Response, request_id: str, method: bytes, *, close: bool) -> None:
        if self._lost or self._h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        status = response.status
        headers: list[tuple[bytes, bytes]] = [
            (b"date", self._host.http_date.now()),
            (b"x-request-id", request_id.encode("ascii")),
            *SECURITY_HEADERS,
        ]
        if status not in _NO_BODY_STATUSES:
            if response.content_type is not None:
                headers.append(_content_type(response.content_type))
            headers.append((b"content-length", b"%d" % len(response.body)))
        if response.headers:
            headers.extend(_checked_header(name, value) for name, value in response.headers)
        if close:
            headers.append((b"connection", b"close"))
        send = self._h11.send
        # Every header is either a constant, made here from validated parts, or checked by
        # _checked_header, so h11's per-header regular expressions (a third of the cost of a
        # small response) are skipped the way h11 skips them for what its own parser built.
        head = h11.Response(
            status_code=status, headers=headers, reason=_REASONS.get(status, b""), _parsed=True
        )
        data = send(head)
        if response.body and method != b"HEAD" and status not in _NO_BODY_STATUSES:
            data += send(h11.Data(data=response.body))
        data += send(_END)
        self._write(data)
        if self._writing_paused:
            await self._drain_writes()

    async def _send_early_error(self, status: int, code: str, message: str, started: float) -> None:
        """An error before a request could be parsed: answer it if HTTP still allows."""
        if self._lost:
            return
        request_id = request_id_from(None)
        await self._send(
            error_response(HTTPError(status, code, message), request_id), request_id, b"", close=True
        )
        self._host.observer.request_finished(request_id, "-", "-", status, time.perf_counter() - started)

    def _start_next_cycle(self, close: bool) -> bool:
        h = self._h11
        if close or self._lost or h.our_state is not h11.DONE:
            return False
        if h.their_state is h11.SEND_BODY:
            # An early answer to a request whose body was never read: only a body that is
            # already complete (Content-Length: 0) lets the connection carry on.
            try:
                event = h.next_event()
            except h11.RemoteProtocolError:
                return False
            if not isinstance(event, h11.EndOfMessage):
                return False
        if h.their_state is not h11.DONE:
            return False
        h.start_next_cycle()
        return True


_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(rb"[\x21-\x7e\x80-\xff]([\x20-\x7e\x80-\xff\t]*[\x21-\x7e\x80-\xff])?|")


def _checked_header(name: str, value: str) -> tuple[bytes, bytes]:
    """A handler's extra header, refused if it could break the response's framing."""
    raw_name, raw_value = name.lower().encode("latin-1"), value.encode("latin-1")
    if not _TOKEN.fullmatch(raw_name) or not _FIELD_VALUE.fullmatch(raw_value):
        raise ValueError(f"invalid response header {name!r}")
    return raw_name, raw_value


@functools.lru_cache(maxsize=64)
def _content_type(value: str) -> tuple[bytes, bytes]:
    """Handlers name a handful of content types; each is checked once."""
    return _checked_header("content-type", value)


def _header(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return bytes(value)
    return None
