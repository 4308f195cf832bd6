"""ASGI middleware: a privacy-safe access log, security headers and request latency.

uvicorn's own access log prints the client address, so `serve` turns it off and this one logs
method, route template, status and duration only: never the address, the user agent, the
query string or the raw path.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.campaign import CAMPAIGN_ID_PATTERN

if TYPE_CHECKING:
    from ..metrics import Metrics

__all__ = ["PIXEL_ROUTE", "PIXEL_SECURITY_HEADERS", "AccessLog", "RequestLog", "route_template"]

log = logging.getLogger("pixelagg.access")

_ID = re.compile(rf"{CAMPAIGN_ID_PATTERN}\Z")
_FIXED = {
    "/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/api/campaigns",
    "/api/stats",
    "/api/audit",
    "/api/privacy-notice",
    "/dashboard",
    "/dashboard/login",
    "/dashboard/logout",
    "/dashboard/privacy",
}

_CAMPAIGN_TAILS = ("stats", "stats.csv", "pause", "resume")

_BASE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"interest-cohort=(), browsing-topics=()"),
]
_API_CSP = b"default-src 'none'; frame-ancestors 'none'"
_PAGE_CSP = (
    b"default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    b"script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PIXEL_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", _API_CSP),
]
"""The pixel's security headers: the ones that mean something on an image. Every header costs
the hot path about a microsecond in the server, and framing, referrer and permissions policies
do nothing on a GIF."""
PIXEL_ROUTE = "/p/{campaign}.gif"


def route_template(path: str) -> str:
    """The route a path belongs to, with ids replaced: what the log may show."""
    if path.startswith("/p/"):
        return PIXEL_ROUTE
    if path in _FIXED or path.startswith("/static/"):
        return path if not path.startswith("/static/") else "/static/*"
    parts = path.split("/")
    campaign_route = len(parts) >= 4 and parts[1] in ("api", "dashboard") and parts[2] == "campaigns"
    if campaign_route and _ID.match(parts[3]) and all(p in _CAMPAIGN_TAILS for p in parts[4:]):
        return "/".join([*parts[:3], "{id}", *parts[4:]])
    if len(parts) > 1 and parts[1] == "dashboard":  # its 404 pages keep the dashboard's styles
        return "/dashboard/(other)"
    return "(other)"


class RequestLog:
    """Records one finished request: its latency in a histogram, and an access-log line."""

    def __init__(self, metrics: Metrics | None = None, enabled: bool = True) -> None:
        self.metrics = metrics
        self.enabled = enabled

    def done(self, method: str, route: str, status: int, start: float) -> None:
        elapsed = time.perf_counter() - start
        if self.metrics is not None:
            self.metrics.latency.observe(route, elapsed)
        if self.enabled:
            log.info("%s %s %d %.1fms", method, route, status, elapsed * 1000)


class AccessLog:
    """Logs each request without client data, adds security headers, observes latency."""

    def __init__(self, app: ASGIApp, log: RequestLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        route = route_template(scope.get("path", ""))
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                for name, value in _BASE_HEADERS:
                    headers.setdefault(name.decode(), value.decode())
                csp = _PAGE_CSP if route.startswith("/dashboard") else _API_CSP
                headers.setdefault("content-security-policy", csp.decode())
                headers.setdefault("cross-origin-resource-policy", "same-origin")
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.log.done(scope.get("method", "-"), route, status, start)
