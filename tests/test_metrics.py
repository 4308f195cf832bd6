"""Prometheus metrics: what they count, and that no label carries request data."""

from __future__ import annotations

import re

import pytest

from pixelagg.config import load
from pixelagg.metrics import LATENCY_BUCKETS, Metrics
from tests.helpers import make_env

SENTINEL_IP = "198.51.100.201"
SENTINEL_UA = "MetricsSentinel/1.0"


def _value(text: str, name: str, **labels: str) -> float:
    label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = "^" + re.escape(name) + (r"\{" + re.escape(label_text) + r"\}" if labels else "") + r" (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"{name}{labels} not in metrics"
    return float(match.group(1))


def test_metrics_count_hits_by_result_and_class(client):
    """Hits are counted by result and by class; batches and round trips are counted."""
    c = client.create()
    client.hit(c["id"])
    client.hit(c["id"], ua="Mozilla/5.0")
    client.hit("AAAAAAAAAAAAAAAA")
    client.hit(c["id"], **{"Sec-GPC": "1"})
    client.flush()
    text = client.get("/metrics").text
    assert _value(text, "pixelagg_hits_total", result="counted") == 2
    assert _value(text, "pixelagg_hits_total", result="unknown_campaign") == 1
    assert _value(text, "pixelagg_hits_total", result="declined") == 1
    assert _value(text, "pixelagg_hits_by_class_total", **{"class": "apple_mpp"}) == 1
    assert _value(text, "pixelagg_write_batches_total", outcome="written") >= 1
    assert _value(text, "pixelagg_buffer_events") == 0
    assert "pixelagg_request_seconds_bucket" in text
    # The embedded store lives in the process: it makes no round trips.
    expected_trips = 1 if client.app.state.service.store.kind == "redis" else 0
    assert _value(text, "pixelagg_store_round_trips_total") >= expected_trips


def test_metric_labels_carry_no_request_data(client):
    """No IP address, user agent or campaign id appears in the metrics (P2)."""
    c = client.create()
    client.hit(c["id"], ip=SENTINEL_IP, ua=SENTINEL_UA)
    client.get(f"/p/{c['id']}.gif?ip={SENTINEL_IP}")
    client.flush()
    text = client.get("/metrics").text
    for needle in (SENTINEL_IP, "198.51.100", SENTINEL_UA, c["id"]):
        assert needle not in text


def test_campaign_labels_only_when_enabled(tmp_path, client_for):
    """With metrics.campaign_labels on, counted hits are labelled by campaign id."""
    client = client_for(load(environ=make_env(tmp_path, None, PIXELAGG_METRICS_CAMPAIGN_LABELS="true")))
    c = client.create()
    client.hit(c["id"])
    assert _value(client.get("/metrics").text, "pixelagg_campaign_hits_total", campaign=c["id"]) == 1


@pytest.mark.parametrize(
    "header,status", [(None, 401), ("Bearer wrong-token-xxxxxxxxxx", 401)], ids=["none", "wrong"]
)
def test_metrics_token_required_when_set(tmp_path, client_for, header, status):
    """With metrics.token set, /metrics needs it."""
    token = "metrics-token-0123456789"
    client = client_for(load(environ=make_env(tmp_path, None, PIXELAGG_METRICS_TOKEN=token)))
    headers = {"Authorization": header} if header else {}
    assert client.get("/metrics", headers=headers).status_code == status
    assert client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_metrics_can_be_disabled(tmp_path, client_for):
    """metrics.enabled false removes the endpoint."""
    client = client_for(load(environ=make_env(tmp_path, None, PIXELAGG_METRICS_ENABLED="false")))
    assert client.get("/metrics").status_code == 404


def test_tally_exposes_its_counts():
    """A Tally is exposed as a Prometheus counter with one label, zeros included."""
    metrics = Metrics()
    metrics.hits.counts["counted"] += 3
    text = metrics.render().decode()
    assert _value(text, "pixelagg_hits_total", result="counted") == 3
    assert _value(text, "pixelagg_hits_total", result="paused") == 0


@pytest.mark.parametrize(
    ("seconds", "first_bucket"), [(0.0005, "0.0005"), (0.0006, "0.001"), (3.0, "+Inf")], ids=str
)
def test_timings_buckets_are_inclusive_and_cumulative(seconds, first_bucket):
    """An observation lands in the first bucket whose bound it does not exceed, and every later one."""
    metrics = Metrics()
    metrics.latency.observe("/x", seconds)
    text = metrics.render().decode()
    buckets = re.findall(r'^pixelagg_request_seconds_bucket\{le="([^"]+)",route="/x"\} (\S+)$', text, re.M)
    assert len(buckets) == len(LATENCY_BUCKETS) + 1
    first = [le for le, _ in buckets].index(first_bucket)
    assert [float(n) for _, n in buckets] == [0.0] * first + [1.0] * (len(buckets) - first)
    assert _value(text, "pixelagg_request_seconds_sum", route="/x") == seconds
    assert _value(text, "pixelagg_request_seconds_count", route="/x") == 1
