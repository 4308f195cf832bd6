"""Prometheus metrics: what they count, and that no label carries request data."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from pixelagg.config import load
from pixelagg.core.campaign import Campaign, new_campaign_id
from pixelagg.ingest.aggregator import Aggregator
from pixelagg.metrics import LATENCY_BUCKETS, Metrics
from pixelagg.store import RedisStore
from pixelagg.store.keys import Keyspace
from tests import valkey as vk
from tests.helpers import AUTH, make_env

SENTINEL_IP = "198.51.100.201"
SENTINEL_UA = "MetricsSentinel/1.0"


def _value(text: str, name: str, **labels: str) -> float:
    label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = "^" + re.escape(name) + (r"\{" + re.escape(label_text) + r"\}" if labels else "") + r" (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"{name}{labels} not in metrics"
    return float(match.group(1))


@pytest.fixture
def quiet_client(env, client_for):
    """An app on either store whose background loops stay idle: the test alone flushes."""
    quiet = {"PIXELAGG_STORE_FLUSH_INTERVAL_MS": "10000", "PIXELAGG_STORE_CAMPAIGN_REFRESH_SECONDS": "3600"}
    return client_for(load(environ={**env, **quiet}))


def test_metrics_count_hits_by_result_and_class(quiet_client):
    """Hits are counted by result and by class; one flush is one written batch."""
    client = quiet_client
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
    assert _value(text, "pixelagg_write_batches_total", outcome="written") == 1
    assert _value(text, "pixelagg_write_batches_total", outcome="failed") == 0
    assert _value(text, "pixelagg_buffer_events") == 0
    assert _value(text, "pixelagg_store_errors_total") == 0
    assert "pixelagg_request_seconds_bucket" in text


def test_a_flush_is_one_round_trip(quiet_client):
    """Writing a batch is one round trip on Redis; the embedded store, in the process, makes none."""
    client = quiet_client
    c = client.create()
    client.hit(c["id"])  # the first hit fetches the window's salt from the store
    client.flush()
    before = _value(client.get("/metrics").text, "pixelagg_store_round_trips_total")
    client.hit(c["id"], ip="203.0.113.8")
    client.hit(c["id"], ip="203.0.113.9")
    client.flush()
    after = _value(client.get("/metrics").text, "pixelagg_store_round_trips_total")
    assert after - before == (1 if client.service.store.kind == "redis" else 0)


@pytest.mark.anyio
async def test_round_trips_count_a_read_beside_a_write_once(store):
    """A read that runs while a batch is written is one round trip of its own, not one of the write's."""
    metrics = Metrics(store)
    aggregator = Aggregator(store, metrics, flush_interval=1.0, max_events=100)
    campaign = Campaign(id=new_campaign_id(), name="c", created_at=time.time())
    await store.create_campaign(campaign)
    now = time.time()
    aggregator.add_open(campaign.id, now, "human", "NL", bytes(16))
    day = time.strftime("%Y%m%d", time.gmtime(now))
    await asyncio.gather(aggregator.flush(), store.read_counters(campaign.id, [day]))
    text = metrics.render().decode()
    # create, write, read: three round trips to Redis, none to the embedded store.
    assert _value(text, "pixelagg_store_round_trips_total") == (3 if store.kind == "redis" else 0)
    assert _value(text, "pixelagg_write_batches_total", outcome="written") == 1


@pytest.fixture
def unreachable_client(tmp_path, client_for):
    """An app whose Redis store is a closed port: every store call fails."""
    url = f"redis://127.0.0.1:{vk.free_port()}/0"
    quiet = {"PIXELAGG_STORE_FLUSH_INTERVAL_MS": "10000", "PIXELAGG_STORE_CAMPAIGN_REFRESH_SECONDS": "3600"}
    return client_for(load(environ=make_env(tmp_path, url, **quiet)))


def test_failed_reads_count_as_store_errors(unreachable_client):
    """Reads the store cannot answer (a campaign lookup, an API list) count in store_errors."""
    client = unreachable_client
    # Start-up already tried to load the campaigns once.
    assert _value(client.get("/metrics").text, "pixelagg_store_errors_total") == 1
    # A campaign the store cannot look up is not called unknown: it has a reason of its own.
    assert client.get("/p/AAAAAAAAAAAAAAAA.gif").headers["x-pixelagg"] == "store-unavailable"
    assert client.get("/api/campaigns", headers=AUTH).status_code == 503
    assert _value(client.get("/metrics").text, "pixelagg_store_errors_total") == 3


@pytest.mark.anyio
async def test_a_failed_write_counts_as_a_failed_batch_and_a_failed_call(tmp_path):
    """A batch write that fails is a failed batch (kept for retry) and a failed store call."""
    store = RedisStore(f"redis://127.0.0.1:{vk.free_port()}/0", Keyspace("t"), 86400)
    try:
        metrics = Metrics(store)
        aggregator = Aggregator(store, metrics, flush_interval=1.0, max_events=100)
        aggregator.add_open(new_campaign_id(), time.time(), "human", "NL", bytes(16))
        assert not await aggregator.flush()
        text = metrics.render().decode()
        assert _value(text, "pixelagg_write_batches_total", outcome="failed") == 1
        assert _value(text, "pixelagg_write_batches_total", outcome="written") == 0
        assert _value(text, "pixelagg_store_errors_total") == 1
        assert aggregator.depth == 1
    finally:
        await store.close()


def test_dropped_hits_are_counted_once(tmp_path, client_for):
    """Past buffer_max_events a hit is dropped: it says so and counts once, as result 'dropped'."""
    env = make_env(
        tmp_path, None, PIXELAGG_STORE_BUFFER_MAX_EVENTS="100", PIXELAGG_STORE_FLUSH_INTERVAL_MS="10000"
    )
    client = client_for(load(environ=env))
    c = client.create()
    answers = [client.hit(c["id"]).headers["x-pixelagg"] for _ in range(103)]
    assert answers == ["counted"] * 100 + ["dropped"] * 3
    text = client.get("/metrics").text
    assert _value(text, "pixelagg_hits_total", result="counted") == 100
    assert _value(text, "pixelagg_hits_total", result="dropped") == 3
    assert "pixelagg_dropped_hits" not in text
    assert client.get("/readyz").json()["dropped_hits"] == 3


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
