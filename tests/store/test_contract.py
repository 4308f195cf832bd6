"""The store contract: the same tests on the embedded store and on a real Redis-protocol server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sqlite3
import time

import pytest
from hyperloglog import HyperLogLog

from pixelagg.config import load
from pixelagg.core.campaign import Campaign, new_campaign_id
from pixelagg.core.privacy import SALT_GRACE_SECONDS, new_salt
from pixelagg.exceptions import StoreError
from pixelagg.store import Batch, EmbeddedStore, open_store
from pixelagg.store.sketch import Sketch
from tests.helpers import STORES, make_env

pytestmark = pytest.mark.anyio

WINDOW = 7 * 86400
NOW = time.time()
"""When the test batches' hits happen: pinned, so a test running across midnight UTC reads the day
it wrote."""
DAY = time.strftime("%Y%m%d", time.gmtime(NOW))


@pytest.fixture(params=[*STORES, pytest.param("cluster", marks=pytest.mark.cluster)])
def store_kind(request):
    """The contract runs on the embedded store, one Valkey, and a 3-master Valkey cluster."""
    return request.param


async def _campaign(store, **fields) -> Campaign:
    campaign = Campaign(id=new_campaign_id(), name="c", created_at=time.time(), **fields)
    await store.create_campaign(campaign)
    return campaign


async def _keys(store, campaign_id=None):
    match = store.keys.campaign_pattern(campaign_id) if campaign_id else None
    return {info.key: info async for info in store.scan(match)}


def _opens(fields: dict[str, int]) -> int:
    """Opens in a day hash: the per-hour fields (each open is also in one region field)."""
    return sum(n for name, n in fields.items() if name.startswith("h|"))


def _batch(campaign_id: str, n: int, *, when: float | None = None, class_="human", region="NL") -> Batch:
    batch = Batch()
    for _ in range(n):
        batch.add_open(campaign_id, when or NOW, class_, region, secrets.token_bytes(16))
    return batch


async def test_campaign_round_trip(store):
    """A created campaign reads back with every field."""
    c = await _campaign(store, recipients=10, legal_basis="public_task", legal_reference="Art. 1")
    assert await store.get_campaign(c.id) == c


async def test_list_campaigns_in_creation_order(store):
    """list_campaigns returns every campaign, oldest first."""
    a = await _campaign(store)
    b = await _campaign(store)
    assert [c.id for c in await store.list_campaigns()] == [a.id, b.id]


async def test_update_changes_and_clears_fields(store):
    """update_campaign sets given fields and removes those set to None."""
    c = await _campaign(store, recipients=10)
    updated = await store.update_campaign(c.id, {"name": "new", "recipients": None, "paused": True})
    assert (updated.name, updated.recipients, updated.paused) == ("new", None, True)
    assert await store.get_campaign(c.id) == updated


async def test_update_of_missing_campaign_creates_nothing(store):
    """Updating an unknown campaign returns None and stores no key."""
    campaign_id = new_campaign_id()
    assert await store.update_campaign(campaign_id, {"name": "x"}) is None
    assert await _keys(store, campaign_id) == {}


async def test_counts_add_up(store):
    """Counters sum exactly and the sketch counts distinct elements."""
    c = await _campaign(store)
    await store.write_batch(_batch(c.id, 30))
    await store.write_batch(_batch(c.id, 20))
    day = DAY
    counters = await store.read_counters(c.id, [day])
    assert _opens(counters[day]) == 50
    (uniques,) = await store.count_unique(c.id, [[("u", day, "human")]])
    # 50 random elements in 16,384 registers share one about 0.08 times on average, and each
    # shared register costs one: two or more happen 0.3 % of runs, four or more 1e-6.
    assert uniques == pytest.approx(50, abs=3)


async def test_sketch_union_deduplicates(store):
    """The same element in two sketches counts once in their union."""
    c = await _campaign(store)
    element = secrets.token_bytes(16)
    batch = Batch()
    batch.add_open(c.id, NOW, "human", "NL", element)
    batch.add_open(c.id, NOW, "bot", "DE", element)
    await store.write_batch(batch)
    day = DAY
    union, empty = await store.count_unique(c.id, [[("u", day, "human"), ("u", day, "bot")], []])
    assert (round(union), empty) == (1, 0)


async def test_write_to_deleted_campaign_stores_nothing(store):
    """A batch for a deleted or unknown campaign creates no key."""
    c = await _campaign(store)
    assert await store.delete_campaign(c.id)
    assert (await store.write_batch(_batch(c.id, 5))).written == 0
    assert await _keys(store, c.id) == {}


async def test_write_to_paused_campaign_counts_nothing(store):
    """A paused campaign's hits are not written."""
    c = await _campaign(store)
    await store.update_campaign(c.id, {"paused": True})
    assert (await store.write_batch(_batch(c.id, 5))).written == 0
    day = DAY
    assert await store.read_counters(c.id, [day]) == {}


async def test_delete_erases_every_key(store):
    """delete_campaign removes every key of the campaign (P9)."""
    c = await _campaign(store)
    await store.window_salt(c.id, time.time(), WINDOW)
    await store.write_batch(_batch(c.id, 5))
    assert len(await _keys(store, c.id)) >= 4
    assert await store.delete_campaign(c.id)
    assert await _keys(store, c.id) == {}
    assert c.id not in [x.id for x in await store.list_campaigns()]


def _wide_batch(campaign_id: str, regions: int = 200, per_region: int = 40) -> Batch:
    """A batch with many sketches (one per region): long enough for the embedded store to pause."""
    batch = Batch()
    for n in range(regions):
        for _ in range(per_region):
            batch.add_open(campaign_id, NOW, "human", f"R{n}", secrets.token_bytes(16))
    return batch


async def test_delete_during_a_write_leaves_no_key(store):
    """A delete that arrives while a batch is being written erases the batch's keys too."""
    c = await _campaign(store)
    write = asyncio.ensure_future(store.write_batch(_wide_batch(c.id)))
    await asyncio.sleep(0)
    assert await store.delete_campaign(c.id)
    await write
    assert await _keys(store, c.id) == {}


async def test_embedded_write_lets_requests_run(embedded_store):
    """A long embedded write pauses for the event loop: other tasks run before it ends."""
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    c = await _campaign(embedded_store)
    batch = _wide_batch(c.id)
    ticker = asyncio.ensure_future(tick())
    await asyncio.sleep(0)
    before = ticks
    assert (await embedded_store.write_batch(batch)).written == 200 * 40
    during = ticks - before
    ticker.cancel()
    assert during > 5


async def test_embedded_write_cancelled_in_a_pause_is_redone_by_the_retry(embedded_store):
    """A shutdown that cancels a write in one of its pauses loses nothing: the retry completes it."""
    store = embedded_store
    c = await _campaign(store)
    batch = _wide_batch(c.id)
    batch.writer, batch.seq = "w", 1
    write = asyncio.ensure_future(store.write_batch(batch))
    for _ in range(3):
        await asyncio.sleep(0)
    write.cancel()
    with pytest.raises(asyncio.CancelledError):
        await write
    assert (await store.write_batch(batch)).written == 200 * 40
    day = DAY
    regions = [("r", day, f"R{n}") for n in range(200)]
    counts = await store.count_unique(c.id, [[ref] for ref in regions])
    assert _opens((await store.read_counters(c.id, [day]))[day]) == 200 * 40
    # Each region's sketch holds all of its elements: the same estimate as a sketch built in one go.
    expected = []
    for ref in regions:
        sketch = HyperLogLog(0.0082)
        sketch.add_bulk(list(batch.campaigns[c.id].sketches[ref]))
        expected.append(float(sketch.card()))
    assert counts == expected


async def test_every_key_has_a_ttl_within_retention(store, config):
    """Every stored key has a TTL, and none exceeds the retention (P5)."""
    c = await _campaign(store)
    await store.window_salt(c.id, time.time(), WINDOW)
    await store.write_batch(_batch(c.id, 5))
    batch = Batch()
    batch.add_declined(c.id, time.time())
    await store.write_batch(batch)
    keys = await _keys(store)
    assert keys
    retention = config.privacy.retention_days * 86400
    for info in keys.values():
        assert info.ttl is not None and 0 < info.ttl <= retention, info.key


async def test_salt_is_created_once_and_shared(store):
    """Two calls in one window get the same random 32-byte salt."""
    c = await _campaign(store)
    now = time.time()
    first = await store.window_salt(c.id, now, WINDOW)
    second = await store.window_salt(c.id, now + 60, WINDOW)
    assert first.key == second.key and len(first.key) == 32
    assert first.window == second.window == 0


async def test_next_window_gets_a_new_salt(store):
    """A hit after the window ends gets a new salt with the next index."""
    c = await _campaign(store)
    now = time.time()
    first = await store.window_salt(c.id, now, WINDOW)
    later = await store.window_salt(c.id, now + WINDOW + 1, WINDOW)
    assert later.window == 1 and later.key != first.key


async def test_a_salt_is_derived_from_nothing(store):
    """A campaign erased and made again, same id, same first hit, same window, gets a new salt (P4)."""
    c = await _campaign(store)
    now = time.time()
    first = await store.window_salt(c.id, now, WINDOW)
    assert await store.delete_campaign(c.id)
    await store.create_campaign(c)
    again = await store.window_salt(c.id, now, WINDOW)
    assert (again.window, again.expires_at) == (first.window, first.expires_at)
    assert again.key != first.key


async def test_salt_ttl_is_its_window_plus_grace(store):
    """The salt key expires at the end of its window plus the grace period (P4)."""
    c = await _campaign(store)
    now = time.time()
    await store.window_salt(c.id, now, WINDOW)
    (info,) = [i for i in (await _keys(store, c.id)).values() if ":salt:" in i.key]
    assert WINDOW <= info.ttl <= WINDOW + SALT_GRACE_SECONDS + 2


async def test_salt_is_gone_after_its_window(store):
    """When its TTL (its window plus grace) is over, the salt is gone from where salts live (P4)."""
    c = await _campaign(store)
    # Windows last a day at least and grace is 10 minutes: the salt store is given a short TTL.
    await store.salts.get_or_create(store.keys.salt(c.id, 0), new_salt(), 1.5)
    assert any(":salt:" in k for k in await _keys(store, c.id))
    await asyncio.sleep(2.6)
    assert not any(":salt:" in k for k in await _keys(store, c.id))


async def test_salt_of_missing_campaign_is_none(store):
    """No salt (and no key) is made for a campaign that does not exist."""
    campaign_id = new_campaign_id()
    assert await store.window_salt(campaign_id, time.time(), WINDOW) is None
    assert await _keys(store, campaign_id) == {}


@pytest.fixture
def embedded_config(tmp_path):
    return load(environ=make_env(tmp_path, None))


@pytest.fixture
async def embedded_store(embedded_config):
    """An embedded store in the test's data dir, closed after the test."""
    store = open_store(embedded_config)
    try:
        yield store
    finally:
        await store.close()


async def test_embedded_store_survives_restart(embedded_config):
    """The embedded store saves its keys and loads them after a restart."""
    config = embedded_config
    store = open_store(config)
    c = await _campaign(store)
    await store.write_batch(_batch(c.id, 7))
    await store.close()
    store = open_store(config)
    try:
        day = DAY
        assert _opens((await store.read_counters(c.id, [day]))[day]) == 7
    finally:
        await store.close()


async def test_embedded_store_has_one_writer(embedded_config, embedded_store):
    """A second open of the same embedded store is refused with a clear error."""
    with pytest.raises(StoreError, match="in use by another process"):
        EmbeddedStore(embedded_config.data_dir, embedded_store.keys, 86400).open()


async def test_embedded_file_is_private(embedded_config, embedded_store):
    """The embedded store's file is secure_delete and lives in the data dir."""
    assert embedded_store._file._db.execute("PRAGMA secure_delete").fetchone()[0] == 1
    saved = map(str, embedded_store.saved_files())
    assert all(os.path.dirname(p) == str(embedded_config.data_dir) for p in saved)


async def test_embedded_failed_save_is_counted_and_redone(embedded_config, embedded_store):
    """A save that fails counts as a store error, and the next save writes what it held."""
    c = await _campaign(embedded_store)
    obstacle = embedded_config.data_dir / "store.sqlite3-journal"  # SQLite cannot create its journal
    obstacle.mkdir()
    with pytest.raises(StoreError, match="Cannot save the embedded store"):
        await embedded_store.persist()
    assert embedded_store.errors == 1
    obstacle.rmdir()
    await embedded_store.persist()
    with contextlib.closing(sqlite3.connect(embedded_config.data_dir / "store.sqlite3")) as db:
        saved = {key for (key,) in db.execute("SELECT key FROM keys")}
    assert embedded_store.keys.meta(c.id) in saved
    assert embedded_store.errors == 1


@pytest.mark.parametrize("count", [1, 63, 1000, 1200, 5000], ids=str)
def test_embedded_sketch_agrees_with_the_package(count):
    """A sketch, sparse or dense, has the registers the hyperloglog package gives the elements."""
    elements = {os.urandom(16) for _ in range(count)}
    ours, bulk = Sketch(), HyperLogLog(0.0082)
    ours.add(elements)
    bulk.add_bulk(list(elements))
    assert ours.registers().tolist() == bulk.M.tolist()
    assert ours.is_sparse == (sum(1 for r in bulk.M if r) <= 1024)
    assert ours.card() == bulk.card()


async def test_retried_batch_counts_once(store):
    """A numbered batch written twice (a retry after an ambiguous failure) is applied once."""
    c = await _campaign(store)
    batch = _batch(c.id, 10)
    batch.writer, batch.seq = "writer-a", 1
    assert (await store.write_batch(batch)).written == 10
    assert (await store.write_batch(batch)).written == 10  # reported written, not applied again
    later = _batch(c.id, 5)
    later.writer, later.seq = "writer-a", 2
    await store.write_batch(later)
    other = _batch(c.id, 3)
    other.writer, other.seq = "writer-b", 1
    await store.write_batch(other)
    day = DAY
    assert _opens((await store.read_counters(c.id, [day]))[day]) == 18


# links

LINK_URL = "https://example.org/a"


async def test_add_link_once_then_it_exists(store):
    """A new link is added; the same id and URL again exists; another URL under it is taken."""
    c = await _campaign(store)
    assert await store.add_link(c.id, "LinkAAAAAA", LINK_URL, 10) == "added"
    assert await store.add_link(c.id, "LinkAAAAAA", LINK_URL, 10) == "exists"
    assert await store.add_link(c.id, "LinkAAAAAA", "https://example.org/b", 10) == "taken"
    assert await store.get_link(c.id, "LinkAAAAAA") == LINK_URL
    assert await store.list_links(c.id) == {"LinkAAAAAA": LINK_URL}


async def test_add_link_stops_at_the_limit(store):
    """Past max_links a new link is refused as full; the stored ones stay."""
    c = await _campaign(store)
    assert await store.add_link(c.id, "LinkAAAAAA", LINK_URL, 1) == "added"
    assert await store.add_link(c.id, "LinkBBBBBB", "https://example.org/b", 1) == "full"
    assert await store.list_links(c.id) == {"LinkAAAAAA": LINK_URL}


async def test_add_link_to_missing_campaign_stores_nothing(store):
    """A link of a campaign that does not exist is refused and creates no key."""
    campaign_id = new_campaign_id()
    assert await store.add_link(campaign_id, "LinkAAAAAA", LINK_URL, 10) == "missing"
    assert await _keys(store, campaign_id) == {}


async def test_links_are_listed_by_url(store):
    """list_links answers every link, sorted by URL."""
    c = await _campaign(store)
    for link, url in (("LinkBBBBBB", "https://b.example/"), ("LinkAAAAAA", "https://c.example/")):
        await store.add_link(c.id, link, url, 10)
    await store.add_link(c.id, "LinkCCCCCC", "https://a.example/", 10)
    assert list((await store.list_links(c.id)).values()) == [
        "https://a.example/",
        "https://b.example/",
        "https://c.example/",
    ]


async def test_writes_refresh_the_links_ttl(store, config):
    """A batch written to a campaign gives its links' key the retention TTL again, as its meta."""
    c = await _campaign(store)
    await store.add_link(c.id, "LinkAAAAAA", LINK_URL, 10)
    key = store.keys.links(c.id)
    if store.kind == "embedded":
        store.get(key).expires_at = store.clock.now() + 60
    else:
        await store.redis.expire(key, 60)
    batch = Batch()
    batch.add_click(c.id, NOW, "human", "LinkAAAAAA", "NL", secrets.token_bytes(16))
    await store.write_batch(batch)
    retention = config.privacy.retention_days * 86400
    assert (await _keys(store, c.id))[key].ttl > retention - 60


async def test_delete_erases_the_links(store):
    """A deleted campaign's links and click keys are gone with it (P9)."""
    c = await _campaign(store)
    await store.add_link(c.id, "LinkAAAAAA", LINK_URL, 10)
    batch = Batch()
    batch.add_click(c.id, NOW, "human", "LinkAAAAAA", "NL", secrets.token_bytes(16))
    await store.write_batch(batch)
    assert await store.delete_campaign(c.id)
    assert await _keys(store, c.id) == {}
    assert await store.get_link(c.id, "LinkAAAAAA") is None
