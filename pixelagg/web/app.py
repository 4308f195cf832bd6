"""create_app(config): routes, lifespan and middleware of the service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..config import Config, load
from ..exceptions import StoreError
from ..metrics import metrics_served
from ..store import Store
from ..tokens import bearer_token, matches
from ..workers import follow_supervisor
from . import api, dashboard
from .error_responses import error_response, exception_handlers
from .middleware import PIXEL_ROUTE, AccessLog, RequestLog, SecurityHeaders
from .openapi import openapi_spec
from .pixel import Pixel
from .redirect import LINK_ROUTE, Redirect
from .service import Service

__all__ = ["Front", "app_from_env", "create_app"]

log = logging.getLogger("pixelagg.app")

READY_TIMEOUT = 1.0
_CAMPAIGN_TAG = re.compile(r"\{c:[^}]*\}")


async def root(request: Request) -> Response:
    """/ leads to the dashboard, where people look first."""
    return RedirectResponse("/dashboard", status_code=303)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when the store answers, no write waits for a retry, and the store reports no
    problem (a failing save, damaged keys, an evicting Redis, lost data, a stepped clock).

    `proxy` says whether the hits look as if a proxy not in server.trusted_proxies is in front;
    that makes figures wrong but the service still ready, so it never makes the answer 503.
    """
    service: Service = request.app.state.service
    store = "ok"
    try:
        await asyncio.wait_for(service.store.ping(), READY_TIMEOUT)
    except (StoreError, TimeoutError):
        store = "unreachable"
    aggregator = service.aggregator
    failing = aggregator.failing
    problems = service.store.health()
    ready = store == "ok" and not failing and not problems
    body = {
        "status": "ready" if ready else "degraded",
        "store": store,
        "writes": "retrying" if failing else "ok",
        "buffered_hits": aggregator.depth,
        "dropped_hits": aggregator.dropped,
        "lost_hits": sum(aggregator.lost.values()),
        "restamped_hits": aggregator.restamped,
        "late_hits": aggregator.late.total,
        "problems": problems,
        # Counts and texts only: /readyz needs no token, so it names no campaign (the log does).
        "failing_campaigns": len(failing),
        "write_error": _CAMPAIGN_TAG.sub("{c:ID}", next(iter(failing.values()))) if failing else None,
        "proxy": request.app.state.proxy_check.status(),
    }
    return JSONResponse(body, status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    """Prometheus metrics: with metrics.token, or without one to loopback clients only.

    Without a token, a request a proxy forwarded (X-Forwarded-For, Forwarded) is answered as if
    /metrics did not exist: a reverse proxy on the same host would otherwise publish it."""
    service: Service = request.app.state.service
    token = service.config.metrics.token
    if token:
        given = bearer_token(request.headers.get("authorization", ""))
        if given is None or not matches(given, token):
            return error_response(401, "Send 'Authorization: Bearer <token>' with the metrics token.")
    elif "x-forwarded-for" in request.headers or "forwarded" in request.headers:
        return error_response(404, "No such resource.")
    service.metrics.buffer_depth.set(service.aggregator.depth)
    return Response(service.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_spec())


class Front:
    """The service's ASGI entry: the pixel and the links first, everything else through Starlette.

    The pixel and the link redirects are the hot paths, so they are answered here, before
    Starlette's middleware and routing; each builds its own complete response (see pixel.py
    and redirect.py).
    """

    def __init__(self, app: Starlette, pixel: Pixel, log: RequestLog, redirect: Redirect) -> None:
        self.app = app
        self.pixel = pixel
        self.log = log
        self.redirect = redirect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith("/p/"):
                start = time.perf_counter()
                try:
                    await self.pixel(scope, receive, send)
                finally:
                    self.log.done(scope["method"], PIXEL_ROUTE, 200, start)
                return
            if path.startswith("/l/"):
                start = time.perf_counter()
                status = 500
                try:
                    status = await self.redirect(scope, receive, send)
                finally:
                    self.log.done(scope["method"], LINK_ROUTE, status, start)
                return
        await self.app(scope, receive, send)


def create_app(config: Config, store: Store | None = None) -> Front:
    """The ASGI app. The store is opened here unless given."""
    service = Service.build(config, store)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    routes = [
        Route("/", root, methods=["GET", "HEAD"]),
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *api.routes,
        *dashboard.routes,
    ]
    if metrics_served(config):  # without a token, only on a loopback bind
        routes.append(Route("/metrics", metrics, methods=["GET"]))
    request_log = RequestLog(service.metrics, config.server.access_log)
    app = Starlette(
        routes=routes,
        exception_handlers=exception_handlers,
        middleware=[Middleware(AccessLog, log=request_log), Middleware(SecurityHeaders)],
        lifespan=lifespan,
    )
    app.state.service = service
    pixel = Pixel(service)
    app.state.proxy_check = pixel.proxy_check
    return Front(app, pixel, request_log, Redirect(service))


def app_from_env() -> Front:
    """The app for `pixelagg serve`: each worker loads the configuration from the environment."""
    follow_supervisor()
    return create_app(load())
