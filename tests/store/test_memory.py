"""The embedded store's memory and file stay small: sketches are sparse while they hold few
registers, as Redis keeps them (bench/memory.py measures a whole server)."""

from __future__ import annotations

import random
import secrets
import time
import tracemalloc

import pytest

from pixelagg.core.campaign import Campaign, new_campaign_id
from pixelagg.store import Batch, EmbeddedStore
from pixelagg.store.keys import Keyspace
from pixelagg.store.sketch import REGISTERS

pytestmark = pytest.mark.anyio

CAMPAIGNS = 100
HITS = 10_000
REGIONS = [f"R{n}" for n in range(120)]  # addresses from everywhere: a sketch per country


async def _busy_store(tmp_path, trace: bool = True) -> tuple[EmbeddedStore, int]:
    """100 campaigns, 10,000 hits from distinct visitors in 120 regions; and the bytes the
    writes allocated and kept."""
    store = EmbeddedStore(tmp_path, Keyspace("t"), retention_seconds=86400).open()
    ids = []
    for n in range(CAMPAIGNS):
        campaign = Campaign(id=new_campaign_id(), name=f"c{n}", created_at=time.time())
        await store.create_campaign(campaign)
        ids.append(campaign.id)
    rng = random.Random(3)
    if trace:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(HITS // 1000):
            batch = Batch()
            for _ in range(1000):
                batch.add_open(
                    rng.choice(ids), time.time(), "human", rng.choice(REGIONS), secrets.token_bytes(16)
                )
            await store.write_batch(batch)
            await store.persist()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return store, kept if trace else 0


async def test_small_sketches_are_sparse_and_memory_is_bounded(tmp_path):
    """A sketch with few registers set is sparse (4 bytes a register); the store keeps a few KB
    per campaign-day, not 16 KB per sketch."""
    store, kept = await _busy_store(tmp_path)
    try:
        sketches = [e.value for e in store._data.values() if e.kind == "hll"]
        assert len(sketches) > CAMPAIGNS * 50
        assert all(s.is_sparse for s in sketches)
        registers = sum(s.memory() for s in sketches)
        assert registers < len(sketches) * REGISTERS / 100, "under 1 % of dense sketches"
        # Dense, the sketches alone would take len(sketches) * 16 KB (here about 100 MB).
        assert kept < len(sketches) * REGISTERS / 20, f"{kept / 2**20:.1f} MB kept"
        assert kept / CAMPAIGNS < 200_000
    finally:
        await store.close()


async def test_the_file_holds_sparse_sketches(tmp_path):
    """The saved file is a few hundred bytes per sketch, not 16 KB."""
    store, _ = await _busy_store(tmp_path, trace=False)
    sketches = sum(1 for e in store._data.values() if e.kind == "hll")
    await store.close()
    size = sum(p.stat().st_size for p in tmp_path.glob("store.sqlite3*"))
    assert size < sketches * 300, f"{size / sketches:.0f} bytes per sketch"
