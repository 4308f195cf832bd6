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
GRANIAN_MIN_BUFFER = MAX_HEAD
"""granian (hyper) needs a larger read buffer than MAX_HEAD; heads beyond it get 431."""

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

    class Limited(base):  # type: ignore[valid-type, misc]  # a uvicorn protocol, typed loosely
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._head_timer: asyncio.TimerHandle | None = None
            self._head_of: Any = object()  # the cycle before the head being read
            self._start_head()

        def _start_head(self) -> None:
            self._head_of = self.cycle
            self._line_bytes = 0
            self._line_done = False
            self._head_bytes = 0
            self._head_done = False
            self._tail = b""
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(HEAD_TIMEOUT, self._too_slow)

        def _stop_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def data_received(self, data: bytes) -> None:
            if self.cycle is None or self.cycle.response_complete:  # between requests
                if self.cycle is not self._head_of:
                    self._start_head()
                if not self._head_done and self._over_limit(data):
                    return
            super().data_received(data)

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
                self._head_done = True
                self._stop_timer()
            else:
                self._head_bytes += len(data)
                self._tail = seen[-3:]
            if self._head_bytes > MAX_HEAD:
                self._refuse(431)
                return True
            return False

        def _refuse(self, status: int) -> None:
            self._stop_timer()
            REFUSALS.add(f"refused with {status}", self.loop.time())
            if not self.transport.is_closing():
                self.transport.write(
                    f"HTTP/1.1 {status} {_REASONS[status]}\r\n".encode()
                    + b"content-length: 0\r\nconnection: close\r\n\r\n"
                )
                self.transport.close()

        def _too_slow(self) -> None:
            self._head_timer = None
            waiting = self.cycle is None or self.cycle.response_complete
            if waiting and not self.transport.is_closing():
                REFUSALS.add("closed after the head timeout", self.loop.time())
                self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_timer()
            super().connection_lost(exc)

    Limited.__name__ = Limited.__qualname__ = f"Limited{base.__name__}"
    return Limited


def _uvicorn_protocol() -> type[asyncio.Protocol]:
    """The protocol uvicorn's "auto" would choose, with the limits."""
    if importlib.util.find_spec("httptools") is not None:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return limit_protocol(HttpToolsProtocol)
    from uvicorn.protocols.http.h11_impl import H11Protocol

    return limit_protocol(H11Protocol)


def uvicorn_options() -> dict[str, Any]:
    """uvicorn.run's arguments for the limits."""
    return {
        "http": _uvicorn_protocol(),
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
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
            max_buffer_size=GRANIAN_MIN_BUFFER,
        )
    }
