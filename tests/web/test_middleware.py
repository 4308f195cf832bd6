"""Tests for pixelagg.web.middleware: the privacy-safe access log, its route names, the headers."""

from __future__ import annotations

import logging

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route, Router
from starlette.testclient import TestClient

from pixelagg.config import load
from pixelagg.web.middleware import AccessLog, RequestLog, route_template
from tests.helpers import AUTH, make_env

ID = "AbCdEfGhIjKlMnOp"
SENTINEL_IP = "198.51.100.77"
SENTINEL_UA = "SentinelMail/9.9 (sentinel-agent)"
SENTINEL_QUERY = "rcpt=sentinel-recipient%40example.org"


@pytest.fixture
def log_client(tmp_path, client_for):
    """An app on the embedded store, for what its access log says."""
    return client_for(load(environ=make_env(tmp_path, None)))


def access_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pixelagg.access"]


@pytest.mark.parametrize(
    ("method", "path", "logged"),
    [
        ("GET", "/api/campaigns", "GET /api/campaigns 200"),
        ("GET", f"/api/campaigns/{ID}", "GET /api/campaigns/{id} 404"),
        ("GET", f"/api/campaigns/{ID}/stats", "GET /api/campaigns/{id}/stats 404"),
        ("GET", f"/api/campaigns/{ID}/stats.csv", "GET /api/campaigns/{id}/stats.csv 404"),
        ("POST", f"/api/campaigns/{ID}/pause", "POST /api/campaigns/{id}/pause 404"),
        ("GET", "/api/campaigns/short", "GET /api/campaigns/{id} 404"),
        ("PUT", "/api/campaigns", "PUT /api/campaigns 405"),
        ("GET", "/api/stats", "GET /api/stats 422"),
        ("GET", f"/dashboard/campaigns/{ID}", "GET /dashboard/campaigns/{id} 303"),
        ("GET", "/dashboard/nope/198.51.100.1", "GET /dashboard/{rest} 303"),
        ("GET", "/static/dashboard.css", "GET /static/{path} 200"),
        ("GET", "/healthz", "GET /healthz 200"),
        ("GET", "/metrics", "GET /metrics 200"),
        ("GET", "/", "GET / 303"),
        ("BREW", "/api/campaigns", "OTHER /api/campaigns 405"),
        ("GET", "/wp-admin/setup.php", "GET (other) 404"),
        ("GET", f"/api/campaigns/{ID}/secret", "GET (other) 404"),
        ("GET", f"/api/campaigns/{ID}/", "GET (other) 307"),
        ("GET", "/api/users/me@example.org", "GET (other) 404"),
    ],
    ids=[
        "campaigns",
        "campaign",
        "stats",
        "stats-csv",
        "pause",
        "short-id",
        "wrong-method",
        "compare",
        "dashboard-campaign",
        "dashboard-other",
        "static",
        "healthz",
        "metrics",
        "root",
        "made-up-method",
        "unknown",
        "unknown-action",
        "trailing-slash",
        "personal-data-path",
    ],
)
def test_access_log_names_the_matched_route(log_client, caplog, method, path, logged):
    """A request is logged by the template of the route Starlette matched; no match is '(other)'."""
    caplog.set_level(logging.INFO, logger="pixelagg.access")
    log_client.request(method, path, headers=AUTH, follow_redirects=False)
    (line,) = access_lines(caplog)
    assert line.startswith(logged + " "), line


def test_a_new_route_is_logged_by_its_template(caplog):
    """A route the middleware was never told about is logged by its own template."""

    async def endpoint(request):
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/reports/{year}/{name}", endpoint)],
        middleware=[Middleware(AccessLog, log=RequestLog())],
    )
    caplog.set_level(logging.INFO, logger="pixelagg.access")
    with TestClient(app) as client:
        client.get("/reports/2026/private-name")
    (line,) = access_lines(caplog)
    assert line.startswith("GET /reports/{year}/{name} 200 "), line


@pytest.mark.parametrize(
    ("path", "method", "template"),
    [
        ("/reports/2026/x", "GET", "/reports/{year}/{name}"),
        ("/reports/2026/x", "POST", "/reports/{year}/{name}"),
        ("/reports", "GET", "(other)"),
    ],
    ids=["full", "wrong-method", "none"],
)
def test_route_template_finds_the_route_when_the_router_left_none(path, method, template):
    """Without scope["route"] (older Starlette) the router's routes are matched the same way."""

    async def endpoint(request):
        return PlainTextResponse("ok")

    router = Router(routes=[Route("/reports/{year}/{name}", endpoint, methods=["GET"])])
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "router": router}
    assert route_template(scope) == template


def pixelagg_log(caplog) -> str:
    """Everything pixelagg's own loggers wrote during the test."""
    ours = [r for r in caplog.records if r.name.startswith("pixelagg")]
    return "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in ours)


def test_access_log_never_shows_client_data(client, caplog):
    """The logs never show the client address, the user agent, the query string or the id (P2)."""
    caplog.set_level(logging.DEBUG)
    c = client.create()
    client.hit(c["id"], ip=SENTINEL_IP, ua=SENTINEL_UA)
    client.get(
        f"/p/{c['id']}.gif?{SENTINEL_QUERY}",
        headers={"X-Forwarded-For": SENTINEL_IP, "User-Agent": SENTINEL_UA},
    )
    client.get(
        f"/api/nothing?{SENTINEL_QUERY}",
        headers={"X-Forwarded-For": SENTINEL_IP, "User-Agent": SENTINEL_UA},
    )
    client.flush()
    client.app.log.summarize()
    text = pixelagg_log(caplog)
    assert "/p/{campaign}.gif" in text
    for secret in (SENTINEL_IP, "198.51.100", SENTINEL_UA, "sentinel", c["id"], "rcpt"):
        assert secret not in text


def test_pixel_hits_get_no_line_each(log_client, caplog):
    """A pixel hit writes no access-log line of its own."""
    caplog.set_level(logging.INFO, logger="pixelagg.access")
    for _ in range(3):
        log_client.get(f"/p/{ID}.gif")
    assert access_lines(caplog) == []


def test_pixel_summary_counts_hits_by_result(log_client, caplog):
    """The summary is one line with the hits since the last one, by result."""
    caplog.set_level(logging.INFO, logger="pixelagg.access")
    campaign = log_client.create()
    for _ in range(3):
        log_client.hit(campaign["id"])
    log_client.get(f"/p/{ID}.gif")
    log_client.app.log.summarize()
    lines = [line for line in access_lines(caplog) if "/p/" in line]
    assert len(lines) == 1
    assert lines[0].startswith("GET /p/{campaign}.gif: 4 hits in ")
    assert lines[0].endswith(": counted 3, unknown_campaign 1")


def test_pixel_summary_is_silent_without_hits(log_client, caplog):
    """An interval without pixel hits writes no summary line."""
    caplog.set_level(logging.INFO, logger="pixelagg.access")
    log_client.get(f"/p/{ID}.gif")
    log_client.app.log.summarize()
    log_client.app.log.summarize()
    assert len([line for line in access_lines(caplog) if "/p/" in line]) == 1


def test_the_last_interval_is_summarized_at_shutdown(tmp_path, caplog):
    """Stopping the app writes the summary of the hits since the last one."""
    from pixelagg.web.app import create_app
    from tests.helpers import AppClient

    caplog.set_level(logging.INFO, logger="pixelagg.access")
    with AppClient(create_app(load(environ=make_env(tmp_path, None)))) as client:
        client.get(f"/p/{ID}.gif")
        assert [line for line in access_lines(caplog) if "/p/" in line] == []
    assert next(line for line in access_lines(caplog) if "/p/" in line).endswith(": unknown_campaign 1")


def test_summaries_come_every_interval(caplog):
    """With hits, RequestLog writes a summary every `every` seconds while it runs."""
    import asyncio

    from pixelagg.metrics import Metrics

    metrics = Metrics()
    request_log = RequestLog(metrics, every=0.05)

    async def run() -> None:
        request_log.start()
        for _ in range(3):
            metrics.hits.counts["counted"] += 1
            await asyncio.sleep(0.08)
        await request_log.stop()

    caplog.set_level(logging.INFO, logger="pixelagg.access")
    asyncio.run(run())
    assert len(access_lines(caplog)) >= 2


def test_access_log_can_be_turned_off(client_for, env, caplog):
    """server.access_log: false logs no requests."""
    from pixelagg.config import load

    client = client_for(load(environ={**env, "PIXELAGG_SERVER_ACCESS_LOG": "false"}))
    caplog.set_level(logging.INFO, logger="pixelagg.access")
    client.get("/healthz")
    assert not [r for r in caplog.records if r.name == "pixelagg.access"]


@pytest.mark.parametrize(
    ("path", "auth"),
    [
        ("/api/campaigns", True),
        ("/api/campaigns", False),
        ("/api/nothing", True),
        ("/healthz", False),
    ],
    ids=["api", "api-401", "api-404", "healthz"],
)
def test_security_headers(client, path, auth):
    """API responses carry nosniff, no-referrer, DENY framing, a strict CSP and same-origin CORP."""
    headers = client.get(path, headers=AUTH if auth else {}).headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["cross-origin-resource-policy"] == "same-origin"


@pytest.mark.parametrize("path", [f"/p/{ID}.gif", "/p/odd"], ids=["pixel", "pixel-odd"])
def test_pixel_security_headers(client, path):
    """The pixel carries nosniff and a strict CSP but no CORP, so mail clients anywhere load it."""
    headers = client.get(path).headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert "cross-origin-resource-policy" not in headers


def test_pixel_keeps_its_own_cache_headers(client):
    """The middleware does not overwrite the pixel's no-store headers."""
    c = client.create()
    response = client.hit(c["id"])
    assert "no-store" in response.headers["cache-control"]


@pytest.mark.parametrize(
    ("method", "path", "auth"),
    [
        ("GET", "/api/campaigns", True),
        ("GET", "/api/campaigns", False),
        ("OPTIONS", "/api/campaigns", False),
        ("GET", f"/p/{ID}.gif", False),
        ("GET", "/healthz", False),
    ],
    ids=["api", "api-401", "preflight", "pixel", "healthz"],
)
def test_no_cors_headers(client, method, path, auth):
    """No response allows cross-origin reads, even when an Origin is sent."""
    headers = {
        "Origin": "https://evil.example",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
        **(AUTH if auth else {}),
    }
    response = client.request(method, path, headers=headers)
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]


@pytest.mark.parametrize(
    ("path", "csp"),
    [
        ("/dashboard", "script-src 'self'"),
        ("/dashboard/nope/198.51.100.1", "script-src 'self'"),
        ("/dashboardx", "default-src 'none'; frame-ancestors 'none'"),
        ("/api/nothing", "default-src 'none'; frame-ancestors 'none'"),
    ],
    ids=["dashboard", "dashboard-unknown", "dashboard-lookalike", "api"],
)
def test_dashboard_paths_get_the_page_policy(client, path, csp):
    """Every response under /dashboard, an unknown page's too, gets the page CSP; others the API's."""
    response = client.get(path, follow_redirects=False)
    assert csp in response.headers["content-security-policy"]
