"""Who may read /metrics (a token, or loopback only), and per-campaign labels that die with DELETE."""

from __future__ import annotations

import pytest

from pixelagg.config import load
from pixelagg.exceptions import ConfigError
from pixelagg.metrics import loopback_bind
from tests.helpers import AUTH, make_env

TOKEN = "metrics-token-0123456789"


def _client(tmp_path, client_for, **env):
    return client_for(load(environ=make_env(tmp_path, None, **env)))


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.0.2.10", False), ("stats.example.org", False)],
    ids=["v4", "v4-net", "v6", "localhost", "any-v4", "any-v6", "public", "hostname"],
)  # fmt: skip
def test_loopback_bind(host, loopback):
    """Only loopback addresses (and localhost) count as a loopback bind."""
    assert loopback_bind(host) is loopback


def test_open_on_a_loopback_bind(tmp_path, client_for):
    """Without a token, /metrics answers a client of a loopback-bound server."""
    client = _client(tmp_path, client_for, PIXELAGG_SERVER_HOST="127.0.0.1")
    assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"], ids=["any-v4", "any-v6", "public"])
def test_not_found_on_a_public_bind_without_a_token(tmp_path, client_for, host):
    """Bound beyond loopback and without metrics.token, /metrics does not exist (404)."""
    client = _client(tmp_path, client_for, PIXELAGG_SERVER_HOST=host)
    response = client.get("/metrics")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_token_opens_it_on_a_public_bind(tmp_path, client_for):
    """With metrics.token, /metrics answers on any bind to a scraper that sends the token."""
    client = _client(tmp_path, client_for, PIXELAGG_SERVER_HOST="0.0.0.0", PIXELAGG_METRICS_TOKEN=TOKEN)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


@pytest.mark.parametrize(
    "header",
    [{"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}],
    ids=["x-forwarded-for", "forwarded"],
)
def test_not_found_through_a_proxy_without_a_token(tmp_path, client_for, header):
    """On loopback without a token, a request a proxy forwarded gets 404: the proxy would publish it."""
    client = _client(tmp_path, client_for)
    assert client.get("/metrics", headers=header).status_code == 404


def test_campaign_labels_are_refused_while_epsilon_is_on(tmp_path):
    """metrics.campaign_labels with privacy.epsilon on is a config error naming both keys."""
    env = make_env(tmp_path, None, PIXELAGG_PRIVACY_EPSILON="1.0", PIXELAGG_METRICS_CAMPAIGN_LABELS="true")
    with pytest.raises(ConfigError, match=r"'metrics\.campaign_labels'.*'privacy\.epsilon'"):
        load(environ=env)


def test_deleted_campaign_loses_its_label_series(tmp_path, client_for):
    """With campaign labels (epsilon off), DELETE drops the campaign's series from /metrics."""
    client = _client(tmp_path, client_for, PIXELAGG_METRICS_CAMPAIGN_LABELS="true")
    kept, gone = client.create(), client.create()
    for c in (kept, gone):
        client.hit(c["id"])
    assert f'campaign="{gone["id"]}"' in client.get("/metrics").text
    assert client.delete(f"/api/campaigns/{gone['id']}", headers=AUTH).status_code == 204
    text = client.get("/metrics").text
    assert f'campaign="{gone["id"]}"' not in text and f'campaign="{kept["id"]}"' in text
