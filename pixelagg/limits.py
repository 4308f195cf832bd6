"""Limits on slow and hostile HTTP clients, for uvicorn and granian.

uvicorn with httptools takes a request head of any size and waits for it for ever, so a few
clients that send an endless header, or nothing at all, hold memory and file descriptors until
the pixel stalls. `limit_protocol` wraps uvicorn's HTTP protocol (httptools or h11) with:

- a request line of at most MAX_REQUEST_LINE bytes (else 414) and a head (request line and
  headers) of at most MAX_HEAD bytes (else 431), checked before the parser sees the bytes;
- HEAD_TIMEOUT seconds from the connection (or the first byte of a request) to the end of its
  head, after which the connection is closed: a client that never sends, or sends slowly;
- uvicorn's keep-alive bound (KEEP_ALIVE_SECONDS) for idle connections between requests.

granian is given the same numbers where it has a setting: header_read_timeout and the HTTP/1
buffer size (it answers a head larger than the buffer with 431). Request bodies, slow reads of
responses and connection counts per client need a reverse proxy: docs/deployment.md.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import logging
from collections import Counter
from typing import Any

__all__ = [
    "HEAD_TIMEOUT",
    "KEEP_ALIVE_SECONDS",
    "MAX_HEAD",
    "MAX_REQUEST_LINE",
    "granian_options",
    "limit_protocol",
    "uvicorn_options",
]

log = logging.getLogger("pixelagg.http")

MAX_REQUEST_LINE = 8 * 1024
MAX_HEAD = 16 * 1024
HEAD_TIMEOUT = 10.0
KEEP_ALIVE_SECONDS = 5
REPORT_EVERY = 60.0
"""Refused clients are logged at most this often: a flood must not flood the log too."""
GRANIAN_BUFFER = MAX_HEAD
"""granian's HTTP/1 read buffer: a head that does not fit gets 431."""
GRANIAN_CONNECTIONS = 16_384
"""Connections granian serves at once per worker ("backpressure"; its default, backlog/workers,
is 1,024): beyond it new connections wait unaccepted, so 1,024 silent clients would shut out
every mail client until the head timeout closed them."""
LISTEN_BACKLOG = 4096

_REASONS = {414: "URI Too Long", 431: "Request Header Fields Too Large"}


class _Refusals:
    """Connections closed or refused by the limits, logged in summaries."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.logged_at = float("-inf")

    def add(self, what: str, now: float) -> None:
        self.counts[what] += 1
        if now - self.logged_at >= REPORT_EVERY:
            summary = ", ".join(f"{n} {what}" for what, n in sorted(self.counts.items()))
            log.warning(
                "slow or oversized requests: %s (limits: request line %d bytes, head %d bytes, "
                "%.0f s to send it)",
                summary,
                MAX_REQUEST_LINE,
                MAX_HEAD,
                HEAD_TIMEOUT,
            )
            self.counts.clear()
            self.logged_at = now


REFUSALS = _Refusals()


def limit_protocol(base: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """A subclass of one of uvicorn's HTTP protocols that enforces the limits above."""

    base_data_received = base.data_received
    new_head = object()

    class Limited(base):  # type: ignore[valid-type, misc]  # a uvicorn protocol, typed loosely
        # One timer per connection, re-armed as needed, and a fast path for a whole head in one
        # chunk: a timer or a few more Python lines per request would cost the pixel.
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._head_of: Any = new_head  # the cycle before the head being read
            self._head_since: float | None = self.loop.time()
            self._head_timer: asyncio.TimerHandle | None = self.loop.call_later(
                HEAD_TIMEOUT, self._check_head
            )

        def data_received(self, data: bytes) -> None:
            cycle = self.cycle
            if cycle is None or cycle.response_complete:  # between requests: this is a head
                if cycle is not self._head_of:  # its first bytes
                    self._head_of = cycle
                    if len(data) <= MAX_REQUEST_LINE and b"\r\n\r\n" in data:
                        self._head_since = None  # all of it, within every limit
                    elif self._start_head(data):
                        return
                elif self._head_since is not None and self._over_limit(data):
                    return
            base_data_received(self, data)

        def _start_head(self, data: bytes) -> bool:
            """Begin counting a head that does not fit the fast path; True when refused."""
            if self._head_since is None:
                self._head_since = self.loop.time()
            self._line_bytes = 0
            self._line_done = False
            self._head_bytes = 0
            self._tail = b""
            return self._over_limit(data)

        def _over_limit(self, data: bytes) -> bool:
            """Count the head's bytes in this chunk; refuse (True) when it passes a limit."""
            if not self._line_done:
                end = data.find(b"\n")
                self._line_bytes += len(data) if end < 0 else end
                self._line_done = end >= 0
                if self._line_bytes > MAX_REQUEST_LINE:
                    self._refuse(414)
                    return True
            seen = self._tail + data
            end = seen.find(b"\r\n\r\n")
            if end >= 0:
                self._head_bytes += end - len(self._tail)
                self._head_since = None  # the head is complete
            else:
                self._head_bytes += len(data)
                self._tail = seen[-3:]
            if self._head_bytes > MAX_HEAD:
                self._refuse(431)
                return True
            return False

        def _refuse(self, status: int) -> None:
            REFUSALS.add(f"refused with {status}", self.loop.time())
            if not self.transport.is_closing():
                self.transport.write(
                    f"HTTP/1.1 {status} {_REASONS[status]}\r\n".encode()
                    + b"content-length: 0\r\nconnection: close\r\n\r\n"
                )
                self.transport.close()

        def _check_head(self) -> None:
            """Close the connection if a head has taken HEAD_TIMEOUT so far; else look again later."""
            self._head_timer = None
            if self.transport.is_closing():
                return
            waiting = self.cycle is None or self.cycle.response_complete
            since = self._head_since if waiting else None  # None: no head is being read
            left = HEAD_TIMEOUT if since is None else since + HEAD_TIMEOUT - self.loop.time()
            if left <= 0:
                REFUSALS.add("closed after the head timeout", self.loop.time())
                self.transport.close()
                return
            self._head_timer = self.loop.call_later(left, self._check_head)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            super().connection_lost(exc)

    Limited.__name__ = Limited.__qualname__ = f"Limited{base.__name__}"
    return Limited


@functools.cache
def _limited(name: str) -> type[asyncio.Protocol]:
    if name == "LimitedHttpToolsProtocol":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return limit_protocol(HttpToolsProtocol)
    from uvicorn.protocols.http.h11_impl import H11Protocol

    return limit_protocol(H11Protocol)


def __getattr__(name: str) -> Any:
    """The limited protocols as module attributes, made on first use: uvicorn's worker
    processes get the protocol class by name (pickled), and httptools may be missing."""
    if name in ("LimitedHttpToolsProtocol", "LimitedH11Protocol"):
        return _limited(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _uvicorn_protocol() -> type[asyncio.Protocol]:
    """The protocol uvicorn's "auto" would choose, with the limits."""
    if importlib.util.find_spec("httptools") is not None:
        return _limited("LimitedHttpToolsProtocol")
    return _limited("LimitedH11Protocol")


def uvicorn_options() -> dict[str, Any]:
    """uvicorn.run's arguments for the limits."""
    return {
        "http": _uvicorn_protocol(),
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "backlog": LISTEN_BACKLOG,
        # h11 buffers a head up to this size; the protocol refuses one past MAX_HEAD first.
        "h11_max_incomplete_event_size": MAX_HEAD * 2,
    }


def granian_options() -> dict[str, Any]:
    """granian Server's arguments for the limits it has."""
    from granian.http import HTTP1Settings

    return {
        "http1_settings": HTTP1Settings(
            header_read_timeout=int(HEAD_TIMEOUT * 1000),
            keep_alive=True,
            max_buffer_size=GRANIAN_BUFFER,
        ),
        "backlog": LISTEN_BACKLOG,
        "backpressure": GRANIAN_CONNECTIONS,
    }
