"""ASGI middleware: a privacy-safe access log with request latency, and security headers.

uvicorn's own access log prints the client address, so `serve` turns it off and this one logs
method, route template, status and duration only: never the address, the user agent, the
query string or the raw path. The route template is the one Starlette's router matched, so a
new route is logged by its own name; a path no route matches is logged as "(other)". A method
outside the standard set (granian passes any token a client sends) is logged as "OTHER".

Pixel hits and link clicks are too many for a line each (a line cost a third of the
throughput): every PIXEL_SUMMARY_SECONDS one line counts each by result, from the hits and
clicks metrics, and the last partial interval is logged at shutdown. API and dashboard
requests keep a line each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from starlette.datastructures import MutableHeaders
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from ..metrics import Metrics

__all__ = [
    "LINK_ROUTE",
    "METHODS",
    "PIXEL_ROUTE",
    "PIXEL_SECURITY_HEADERS",
    "PIXEL_SUMMARY_SECONDS",
    "UNMATCHED_ROUTE",
    "AccessLog",
    "RequestLog",
    "SecurityHeaders",
    "route_template",
]

log = logging.getLogger("pixelagg.access")

_BASE_HEADERS = [
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("permissions-policy", "interest-cohort=(), browsing-topics=()"),
    ("cross-origin-resource-policy", "same-origin"),
]
_API_CSP = "default-src 'none'; frame-ancestors 'none'"
_PAGE_CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PIXEL_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", _API_CSP.encode()),
]
"""The pixel's security headers: the ones that mean something on an image. Every header costs
the hot path about a microsecond in the server, and framing, referrer and permissions policies
do nothing on a GIF."""
PIXEL_ROUTE = "/p/{campaign}.gif"
LINK_ROUTE = "/l/{campaign}/{link}"
UNMATCHED_ROUTE = "(other)"
PIXEL_SUMMARY_SECONDS = 10.0
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
"""The methods the log writes as they are; any other is "OTHER"."""


def route_template(scope: Scope) -> str:
    """The template of the route Starlette's router matched for a request (its parameters left
    as placeholders, e.g. /api/campaigns/{id}/stats), or "(other)": what the log may show."""
    route = scope.get("route")
    if route is None:
        route = _match_route(scope)
    template = getattr(route, "path_format", None)
    return template if isinstance(template, str) else UNMATCHED_ROUTE


def _match_route(scope: Scope) -> Any:
    """The route the router in the scope matches, as it chooses one: the first full match, else
    the first partial one (a 405). Older Starlette releases do not record it in the scope."""
    partial = None
    for route in getattr(scope.get("router"), "routes", ()):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial


class RequestLog:
    """Records one finished request: its latency in a histogram, and an access-log line.

    Pixel hits get no line of their own: `summarize` writes one line per interval for them.
    """

    def __init__(
        self, metrics: Metrics | None = None, enabled: bool = True, every: float = PIXEL_SUMMARY_SECONDS
    ) -> None:
        self.metrics = metrics
        self.enabled = enabled
        self.every = every
        self._summarized: dict[str, int] = {}
        self._clicks_summarized: dict[str, int] = {}
        self._since = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def done(self, method: str, route: str, status: int, start: float) -> None:
        elapsed = time.perf_counter() - start
        if self.metrics is not None:
            self.metrics.latency.observe(route, elapsed)
        if self.enabled and route != PIXEL_ROUTE and route != LINK_ROUTE:
            log.info(
                "%s %s %d %.1fms", method if method in METHODS else "OTHER", route, status, elapsed * 1000
            )

    def summarize(self) -> None:
        """Log the pixel hits and the link clicks since the last summary, by result; nothing
        when there were none."""
        if self.metrics is None:
            return
        now = time.monotonic()
        seconds, self._since = now - self._since, now
        counts = dict(self.metrics.hits.counts)
        new = {r: n - self._summarized.get(r, 0) for r, n in counts.items()}
        self._summarized = counts
        total = sum(new.values())
        if total:
            results = ", ".join(f"{r} {n}" for r, n in new.items() if n)
            log.info("GET %s: %d hits in %.0f s: %s", PIXEL_ROUTE, total, seconds, results)
        clicks = dict(self.metrics.clicks.counts)
        new = {r: n - self._clicks_summarized.get(r, 0) for r, n in clicks.items()}
        self._clicks_summarized = clicks
        total = sum(new.values())
        if total:
            results = ", ".join(f"{r} {n}" for r, n in new.items() if n)
            log.info("GET %s: %d requests in %.0f s: %s", LINK_ROUTE, total, seconds, results)

    def start(self) -> None:
        """Start writing summaries (inside the event loop)."""
        if self.enabled and self._task is None:
            self._summarized = dict(self.metrics.hits.counts) if self.metrics is not None else {}
            self._clicks_summarized = dict(self.metrics.clicks.counts) if self.metrics is not None else {}
            self._since = time.monotonic()
            self._task = asyncio.get_running_loop().create_task(self._every_interval())

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            self.summarize()

    async def stop(self) -> None:
        """Stop, and log the last interval's hits."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            self.summarize()


class AccessLog:
    """Logs each request by its route template, never its client data, and observes its latency.

    It follows the app's lifespan to start and stop the pixel's summaries.
    """

    def __init__(self, app: ASGIApp, log: RequestLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:  # the router has chosen the route by now
            self.log.done(scope.get("method", "-"), route_template(scope), status, start)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def receive_wrapper() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await self.log.stop()
            return message

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                self.log.start()
            await send(message)

        await self.app(scope, receive_wrapper, send_wrapper)


class SecurityHeaders:
    """Adds the security headers a response does not set itself; dashboard pages get their CSP."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        csp = _PAGE_CSP if path == "/dashboard" or path.startswith("/dashboard/") else _API_CSP

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _BASE_HEADERS:
                    headers.setdefault(name, value)
                headers.setdefault("content-security-policy", csp)
            await send(message)

        await self.app(scope, receive, send_wrapper)
