"""Tests for pixelagg.web.middleware: route templates, the privacy-safe access log, headers."""

from __future__ import annotations

import logging

import pytest

from pixelagg.web.middleware import route_template
from tests.helpers import AUTH

ID = "AbCdEfGhIjKlMnOp"
SENTINEL_IP = "198.51.100.77"
SENTINEL_UA = "SentinelMail/9.9 (sentinel-agent)"
SENTINEL_QUERY = "rcpt=sentinel-recipient%40example.org"


@pytest.mark.parametrize(
    ("path", "template"),
    [
        (f"/p/{ID}.gif", "/p/{campaign}.gif"),
        ("/p/whatever/else.gif", "/p/{campaign}.gif"),
        ("/api/campaigns", "/api/campaigns"),
        (f"/api/campaigns/{ID}", "/api/campaigns/{id}"),
        (f"/api/campaigns/{ID}/stats", "/api/campaigns/{id}/stats"),
        (f"/api/campaigns/{ID}/stats.csv", "/api/campaigns/{id}/stats.csv"),
        (f"/api/campaigns/{ID}/pause", "/api/campaigns/{id}/pause"),
        (f"/api/campaigns/{ID}/resume", "/api/campaigns/{id}/resume"),
        (f"/dashboard/campaigns/{ID}", "/dashboard/campaigns/{id}"),
        ("/api/stats", "/api/stats"),
        ("/healthz", "/healthz"),
        ("/metrics", "/metrics"),
        ("/static/app.css", "/static/*"),
        ("/", "/"),
        ("/wp-admin/setup.php", "(other)"),
        ("/api/campaigns/short", "(other)"),
        (f"/api/campaigns/{ID}/secret", "(other)"),
        (f"/api/campaigns/{ID}/", "(other)"),
        ("/api/users/me@example.org", "(other)"),
        ("", "(other)"),
    ],
    ids=[
        "pixel",
        "pixel-odd",
        "campaigns",
        "campaign",
        "stats",
        "stats-csv",
        "pause",
        "resume",
        "dashboard-campaign",
        "compare",
        "healthz",
        "metrics",
        "static",
        "root",
        "unknown",
        "bad-id",
        "unknown-action",
        "trailing-slash",
        "personal-data-path",
        "empty",
    ],
)
def test_route_template(path, template):
    """Paths map to route templates with ids replaced; anything else is '(other)'."""
    assert route_template(path) == template


def pixelagg_log(caplog) -> str:
    """Everything pixelagg's own loggers wrote during the test."""
    ours = [r for r in caplog.records if r.name.startswith("pixelagg")]
    return "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in ours)


def test_access_log_has_method_route_and_status(client, caplog):
    """Each request is logged with its method, route template and status."""
    caplog.set_level(logging.INFO, logger="pixelagg.access")
    c = client.create()
    client.hit(c["id"])
    client.get(f"/api/campaigns/{c['id']}", headers=AUTH)
    client.get("/api/nothing")
    lines = [r.getMessage() for r in caplog.records if r.name == "pixelagg.access"]
    assert any(line.startswith("POST /api/campaigns 201 ") for line in lines), lines
    assert any(line.startswith("GET /p/{campaign}.gif 200 ") for line in lines), lines
    assert any(line.startswith("GET /api/campaigns/{id} 200 ") for line in lines), lines
    assert any(line.startswith("GET (other) 404 ") for line in lines), lines


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
    text = pixelagg_log(caplog)
    assert "/p/{campaign}.gif" in text
    for secret in (SENTINEL_IP, "198.51.100", SENTINEL_UA, "sentinel", c["id"], "rcpt"):
        assert secret not in text


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
    """The pixel carries the security headers that mean something on an image, and no CORP
    restriction, so mail clients on any origin can load it."""
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


def test_unknown_dashboard_path_keeps_the_page_policy():
    """An unknown dashboard path logs as /dashboard/(other), so its 404 page gets the page CSP."""
    assert route_template("/dashboard/nope/198.51.100.1") == "/dashboard/(other)"
