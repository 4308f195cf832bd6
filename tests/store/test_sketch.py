"""Tests for pixelagg.store.sketch: the embedded store's sketches and their saved format."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time

import numpy as np
import pytest

from pixelagg.config import load
from pixelagg.core.campaign import Campaign, new_campaign_id
from pixelagg.exceptions import StoreError
from pixelagg.store import Batch, open_store
from pixelagg.store.sketch import (
    FORMAT,
    REGISTERS,
    SketchFormatError,
    add_elements,
    new_sketch,
    read_sketch,
    save_sketch,
    sketch_registers,
)
from tests.helpers import make_env


def _filled(count: int = 300):
    sketch = new_sketch()
    add_elements(sketch, {os.urandom(16) for _ in range(count)})
    return sketch


def test_saved_sketch_is_the_format_byte_then_one_byte_per_register():
    """A saved sketch is FORMAT (1), then its 16,384 registers, one unsigned byte each."""
    sketch = _filled()
    blob = save_sketch(sketch_registers(sketch))
    assert blob[0] == FORMAT == 1
    assert len(blob) == 1 + REGISTERS == 16385
    assert list(blob[1:]) == sketch.M.tolist()


def test_saved_sketch_reads_back_the_same():
    """Reading a saved sketch gives the same registers and the same estimate."""
    sketch = _filled()
    again = read_sketch(save_sketch(sketch_registers(sketch)))
    assert again.M.tolist() == sketch.M.tolist()
    assert again.card() == sketch.card()


@pytest.mark.parametrize("dtype", [np.int8, np.int64], ids=["numpy2-int8", "numpy1-int64"])
def test_sketch_saved_before_the_format_byte_still_reads(dtype):
    """A blob of the old layout (the package's register array, no format byte) still reads."""
    sketch = _filled()
    old_blob = sketch.M.astype(dtype).tobytes()
    assert read_sketch(old_blob).M.tolist() == sketch.M.tolist()


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (bytes([2]) + bytes(REGISTERS), "format 2"),
        (bytes([FORMAT]) + bytes(100), "101 bytes"),
        (b"", "0 bytes"),
        (bytes([FORMAT]) + bytes([200]) * REGISTERS, "outside 0..51"),
        (bytes([255]) * REGISTERS, "outside 0..51"),
    ],
    ids=["newer-format", "truncated", "empty", "rank-too-high", "old-layout-negative"],
)
def test_blob_it_does_not_understand_is_refused(blob, message):
    """A blob of another format, length or register range raises SketchFormatError, never a guess."""
    with pytest.raises(SketchFormatError, match=message):
        read_sketch(blob)


@pytest.fixture
def saved_store(tmp_path):
    """An embedded store with one campaign's open saved and closed: (config, campaign id, day)."""
    config = load(environ=make_env(tmp_path, None))

    async def write() -> tuple[str, str]:
        store = open_store(config)
        try:
            campaign = Campaign(id=new_campaign_id(), name="c", created_at=time.time())
            await store.create_campaign(campaign)
            now = time.time()
            batch = Batch()
            for n in range(50):
                batch.add_open(campaign.id, now, "human", "NL", n.to_bytes(16, "big"))
            await store.write_batch(batch)
        finally:
            await store.close()
        return campaign.id, time.strftime("%Y%m%d", time.gmtime(now))

    campaign_id, day = asyncio.run(write())
    return config, campaign_id, day


def _rewrite_sketches(config, change) -> int:
    """Apply change(blob) to every saved sketch of the store file; the number changed."""
    with contextlib.closing(sqlite3.connect(config.data_dir / "store.sqlite3")) as db, db:
        rows = db.execute("SELECT key, value FROM keys WHERE kind = 'hll'").fetchall()
        for key, value in rows:
            db.execute("UPDATE keys SET value = ? WHERE key = ?", (change(bytes(value)), key))
    return len(rows)


@pytest.mark.anyio
async def test_store_file_of_the_old_layout_loads(saved_store):
    """A store file whose sketches were saved without the format byte opens and counts as before."""
    config, campaign_id, day = saved_store
    assert _rewrite_sketches(config, lambda blob: np.frombuffer(blob[1:], np.uint8).astype(np.int8).tobytes())
    store = open_store(config)
    try:
        (uniques,) = await store.count_unique(campaign_id, [[("u", day, "human")]])
        assert round(uniques) == 50
    finally:
        await store.close()


def test_store_file_with_an_unreadable_sketch_is_refused(saved_store):
    """A sketch of an unknown format stops the store from opening, naming the file and what to do."""
    config, _, _ = saved_store
    assert _rewrite_sketches(config, lambda blob: bytes([9]) + blob[1:])
    with pytest.raises(StoreError) as info:
        open_store(config)
    message = str(info.value)
    assert str(config.data_dir / "store.sqlite3") in message
    assert "format 9" in message and "restore the data dir from a backup" in message
    # The refused open released the lock: the store opens once the file is restored.
    assert _rewrite_sketches(config, lambda blob: bytes([FORMAT]) + blob[1:])
    asyncio.run(open_store(config).close())
