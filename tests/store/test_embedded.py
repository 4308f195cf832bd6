"""The embedded store: saving, isolating a failing campaign, campaign-days on disk, private files."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest

from pixelagg.core.campaign import Campaign, new_campaign_id
from pixelagg.store import Batch, EmbeddedStore
from pixelagg.store.embedded_file import Entry
from pixelagg.store.keys import Keyspace
from pixelagg.store.sketch import Sketch

pytestmark = pytest.mark.anyio


async def test_cancelled_persist_then_close_saves_everything(tmp_path):
    """close() after a persist cancelled while its thread writes waits for it, and every key is saved."""
    store = EmbeddedStore(tmp_path, Keyspace("t"), retention_seconds=3600).open()
    campaigns = [Campaign(id=new_campaign_id(), name=f"c{n}", created_at=time.time()) for n in range(3000)]
    for campaign in campaigns:
        await store.create_campaign(campaign)
    saving = asyncio.ensure_future(store.persist())
    for _ in range(2):  # two steps of the loop: persist starts its save thread and waits for it
        await asyncio.sleep(0)
    saving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await saving
    await store.close()
    reopened = EmbeddedStore(tmp_path, Keyspace("t"), retention_seconds=3600).open()
    try:
        assert {c.id for c in await reopened.list_campaigns()} == {c.id for c in campaigns}
    finally:
        await reopened.close()


def _opens(campaign_id: str, n: int, day_offset: float = 0.0, region: str = "NL") -> Batch:
    batch = Batch()
    for _ in range(n):
        batch.add_open(campaign_id, time.time() - day_offset, "human", region, secrets.token_bytes(16))
    return batch


async def _new(store: EmbeddedStore) -> str:
    campaign = Campaign(id=new_campaign_id(), name="c", created_at=time.time())
    await store.create_campaign(campaign)
    return campaign.id


async def test_a_write_that_raises_leaves_its_campaign_unapplied_and_writes_the_others(tmp_path):
    """Any error in one campaign's part (here a counter key holding a sketch, as a bug could
    leave it) fails that part alone, with nothing of it applied; the other parts are written."""
    store = EmbeddedStore(tmp_path, Keyspace("t"), retention_seconds=3600).open()
    try:
        bad, good = await _new(store), await _new(store)
        batch = _opens(bad, 3)
        batch.merge(_opens(good, 4))
        day = next(iter(batch.campaigns[bad].counters))
        store.put(store.keys.day(bad, day), Entry("hll", Sketch(), time.time() + 3600))
        result = await store.write_batch(batch)
        assert result.written == 4 and set(result.stored) == {good}
        assert "AttributeError" in result.failed[bad] or "TypeError" in result.failed[bad]
        assert (await store.read_counters(good, [day]))[day]["r|NL"] == 4
        assert await store.count_unique(bad, [[("u", day, "human")]]) == [0.0]
    finally:
        await store.close()


async def test_cold_campaign_days_leave_memory_and_are_read_back(tmp_path):
    """Saved campaign-days older than yesterday leave memory; reads and writes find them in the
    file, a write adds to them (never replaces them), and a restart does not load them."""
    keys = Keyspace("t")
    store = EmbeddedStore(tmp_path, keys, retention_seconds=30 * 86400).open()
    campaign_id = await _new(store)
    old = _opens(campaign_id, 5, day_offset=3 * 86400)
    (day,) = old.campaigns[campaign_id].counters
    await store.write_batch(old)
    await store.write_batch(_opens(campaign_id, 2))
    await store.persist()
    assert store.evict_cold(store.clock.now(), force=True) == 3  # the day hash and its two sketches
    assert keys.day(campaign_id, day) not in store._data
    assert (await store.read_counters(campaign_id, [day]))[day]["r|NL"] == 5
    assert keys.day(campaign_id, day) not in store._data, "a read does not bring it back into memory"
    await store.write_batch(_opens(campaign_id, 1, day_offset=3 * 86400))
    (uniques,) = await store.count_unique(campaign_id, [[("u", day, "human")]])
    assert (await store.read_counters(campaign_id, [day]))[day]["r|NL"] == 6 and round(uniques) == 6
    await store.close()
    again = EmbeddedStore(tmp_path, keys, retention_seconds=30 * 86400).open()
    try:
        assert keys.day(campaign_id, day) not in again._data
        assert (await again.read_counters(campaign_id, [day]))[day]["r|NL"] == 6
        assert keys.day(campaign_id, day) in {info.key async for info in again.scan()}
        assert await again.delete_campaign(campaign_id)
        assert [info.key async for info in again.scan(keys.campaign_pattern(campaign_id))] == []
    finally:
        await again.close()


async def test_store_files_are_private(tmp_path):
    """The data dir is 0700, the store's file and lock 0600."""
    data = tmp_path / "data"
    store = EmbeddedStore(data, Keyspace("t"), retention_seconds=3600).open()
    try:
        await _new(store)
        await store.persist()
        assert data.stat().st_mode & 0o777 == 0o700
        for path in (data / "store.sqlite3", data / "store.lock"):
            assert path.stat().st_mode & 0o777 == 0o600, path
    finally:
        await store.close()
