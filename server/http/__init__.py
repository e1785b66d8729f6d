"""The HTTP layer: h11 over asyncio and TLS 1.3, one route table, typed handlers.

Protocol decisions (routing, negotiation, limits, error shapes) are plain functions and
objects; sockets and timers live only in :mod:`server.http.connection` and
:mod:`server.http.listener`."""
