"""The aggregator: one queue per campaign, so a failing campaign waits alone; refused and lost
hits are counted; a wiped Redis is noticed and its campaigns written back."""

from __future__ import annotations

import re
import secrets
import time

import pytest

from pixelagg.core.campaign import Campaign, new_campaign_id
from pixelagg.ingest.aggregator import ISOLATED_SHARE, Aggregator
from pixelagg.ingest.cache import CampaignCache
from pixelagg.metrics import Metrics
from pixelagg.store import EmbeddedStore, RedisStore
from pixelagg.store.embedded_file import Entry
from pixelagg.store.keys import Keyspace
from pixelagg.store.sketch import Sketch
from tests import valkey as vk

pytestmark = pytest.mark.anyio


def _metric(metrics: Metrics, name: str, **labels: str) -> float:
    label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = "^" + re.escape(name) + (r"\{" + re.escape(label_text) + r"\}" if labels else "") + r" (\S+)$"
    match = re.search(pattern, metrics.render().decode(), re.MULTILINE)
    assert match, name
    return float(match.group(1))


async def _campaign(store) -> str:
    campaign = Campaign(id=new_campaign_id(), name="c", created_at=time.time())
    await store.create_campaign(campaign)
    return campaign.id


def _open(aggregator: Aggregator, campaign_id: str, n: int = 1) -> int:
    return sum(
        aggregator.add_open(campaign_id, time.time(), "human", "NL", secrets.token_bytes(16))
        for _ in range(n)
    )


@pytest.fixture
async def embedded(tmp_path):
    store = EmbeddedStore(tmp_path, Keyspace("t"), retention_seconds=86400).open()
    yield store
    await store.close()


def _break(store: EmbeddedStore, campaign_id: str) -> str:
    """Leave a sketch where the campaign's day hash belongs, as a bug could: its writes raise."""
    day = time.strftime("%Y%m%d", time.gmtime())
    key = store.keys.day(campaign_id, day)
    store.put(key, Entry("hll", Sketch(), time.time() + 3600))
    return key


async def test_a_failing_campaign_waits_alone(embedded):
    """A campaign whose write raises keeps its hits for retry while the others are written,
    and they are written once it works again."""
    bad, good = await _campaign(embedded), await _campaign(embedded)
    aggregator = Aggregator(embedded, Metrics(embedded), flush_interval=0.01, max_events=1000)
    broken = _break(embedded, bad)
    _open(aggregator, bad, 3)
    _open(aggregator, good, 4)
    assert not await aggregator.flush()
    assert aggregator.depth == 3 and set(aggregator.failing) == {bad} and not aggregator.healthy
    day = broken.rsplit(":", 1)[1]
    assert (await embedded.read_counters(good, [day]))[day]["r|NL"] == 4
    _open(aggregator, good, 2)
    assert not await aggregator.flush()
    assert (await embedded.read_counters(good, [day]))[day]["r|NL"] == 6, "the good one is not held up"
    del embedded._data[broken]
    await aggregator.drain(timeout=5)
    assert aggregator.healthy and aggregator.depth == 0
    assert (await embedded.read_counters(bad, [day]))[day]["r|NL"] == 3


async def test_a_failing_campaign_holds_a_tenth_of_the_buffer_at_most(embedded):
    """While others are written, a failing campaign's hits past a tenth of the buffer are
    dropped (the pixel says so); the others still have the rest."""
    bad, good = await _campaign(embedded), await _campaign(embedded)
    aggregator = Aggregator(embedded, Metrics(embedded), flush_interval=0.01, max_events=100)
    _break(embedded, bad)
    _open(aggregator, bad)
    _open(aggregator, good)
    await aggregator.flush()
    assert _open(aggregator, bad, 20) == 100 // ISOLATED_SHARE - 1
    assert aggregator.dropped == 20 - (100 // ISOLATED_SHARE - 1)
    assert _open(aggregator, good, 50) == 50


async def test_hits_refused_as_paused_are_counted_as_lost(embedded):
    """Hits answered counted for a campaign another process paused are refused by the store:
    lost, counted by reason, never silently."""
    campaign_id = await _campaign(embedded)
    metrics = Metrics(embedded)
    aggregator = Aggregator(embedded, metrics, flush_interval=0.01, max_events=100)
    await embedded.update_campaign(campaign_id, {"paused": True})
    _open(aggregator, campaign_id, 7)
    assert await aggregator.flush()
    assert aggregator.lost["paused"] == 7 and aggregator.depth == 0
    assert _metric(metrics, "pixelagg_lost_hits_total", reason="paused") == 7
    assert _metric(metrics, "pixelagg_lost_hits_total", reason="deleted") == 0


@pytest.mark.slow
async def test_a_wiped_redis_is_noticed_and_its_campaigns_written_back(tmp_path):
    """After FLUSHALL the store's epoch is gone: the loss is reported, the campaign is written
    back, new hits are written, and the acknowledged hits Redis lost are counted as lost."""
    server = vk.ValkeyProcess(tmp_path / "valkey").start()
    store = RedisStore(server.url, Keyspace("t"), 86400)
    try:
        metrics = Metrics(store)
        aggregator = Aggregator(store, metrics, flush_interval=0.01, max_events=1000)
        cache = CampaignCache(store, 7 * 86400, 60)
        await store.check()
        campaign_id = await _campaign(store)
        await cache.load()
        _open(aggregator, campaign_id, 10)
        assert await aggregator.flush()
        server.command("FLUSHALL")
        before = time.time()
        _open(aggregator, campaign_id, 5)
        assert not await aggregator.flush(), "the part waits for the campaign to be written back"
        assert store.data_losses == 1 and "data_lost" in store.health()
        await cache.load()
        assert [c.id for c in await store.list_campaigns()] == [campaign_id]
        await aggregator.drain(timeout=5)
        days = sorted({time.strftime("%Y%m%d", time.gmtime(t)) for t in (before, time.time())})  # midnight
        counters = await store.read_counters(campaign_id, days)
        assert sum(fields.get("r|NL", 0) for fields in counters.values()) == 5
        assert aggregator.lost["store_lost"] == 10
        assert _metric(metrics, "pixelagg_lost_hits_total", reason="store_lost") == 10
    finally:
        await store.close()
        server.stop()
