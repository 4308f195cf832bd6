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
    DENSE,
    REGISTERS,
    SPARSE,
    SPARSE_MAX,
    Sketch,
    SketchDamagedError,
    SketchFormatError,
    read_sketch,
    save_sketch,
)
from tests.helpers import make_env


def _filled(count: int = 300):
    sketch = Sketch()
    sketch.add({os.urandom(16) for _ in range(count)})
    return sketch


def test_dense_sketch_is_the_format_byte_then_one_byte_per_register():
    """A dense saved sketch is format 1, then its 16,384 registers, one unsigned byte each."""
    sketch = _filled(SPARSE_MAX * 2)
    blob = save_sketch(sketch)
    assert not sketch.is_sparse
    assert blob[0] == DENSE == 1
    assert len(blob) == 1 + REGISTERS == 16385
    assert list(blob[1:]) == sketch.registers().tolist()


def test_sparse_sketch_is_the_format_byte_then_three_bytes_per_set_register():
    """A sparse saved sketch is format 2, then (register, 16-bit little-endian; rank) per set register."""
    sketch = _filled(300)
    blob = save_sketch(sketch)
    registers = sketch.registers()
    set_registers = np.flatnonzero(registers)
    assert sketch.is_sparse and blob[0] == SPARSE == 2
    assert len(blob) == 1 + 3 * len(set_registers)
    entries = np.frombuffer(blob, np.uint8, offset=1).reshape(-1, 3)
    assert (entries[:, 0] + 256 * entries[:, 1].astype(int)).tolist() == set_registers.tolist()
    assert entries[:, 2].tolist() == registers[set_registers].tolist()


def test_sparse_sketch_becomes_dense_past_its_bound():
    """A sketch stays sparse (4 bytes a set register) up to SPARSE_MAX registers, then is dense."""
    sketch = Sketch()
    while sketch.is_sparse:
        sketch.add([os.urandom(16)])
        assert sketch.memory() <= 4 * SPARSE_MAX * 1.2 or not sketch.is_sparse
    assert np.count_nonzero(sketch.registers()) == SPARSE_MAX + 1
    assert sketch.memory() == REGISTERS


@pytest.mark.parametrize("count", [0, 1, 300, 5000], ids=str)
def test_saved_sketch_reads_back_the_same(count):
    """Reading a saved sketch, sparse or dense, gives the same registers and the same estimate."""
    sketch = _filled(count)
    again = read_sketch(save_sketch(sketch))
    assert again.registers().tolist() == sketch.registers().tolist()
    assert again.is_sparse == sketch.is_sparse
    assert again.card() == sketch.card()


@pytest.mark.parametrize("dtype", [np.int8, np.int64], ids=["numpy2-int8", "numpy1-int64"])
def test_sketch_saved_before_the_format_byte_still_reads(dtype):
    """A blob of the old layout (the package's register array, no format byte) still reads."""
    sketch = _filled()
    old_blob = sketch.registers().astype(dtype).tobytes()
    assert read_sketch(old_blob).registers().tolist() == sketch.registers().tolist()


def test_blob_of_a_newer_format_is_refused_as_such():
    """A blob whose format byte is above the ones this release writes is a newer release's."""
    with pytest.raises(SketchFormatError, match="format 3") as info:
        read_sketch(bytes([3]) + bytes(REGISTERS))
    assert not isinstance(info.value, SketchDamagedError)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (bytes([DENSE]) + bytes(100), "101 bytes"),
        (b"", "0 bytes"),
        (bytes([DENSE, 0, 0, 0]), "4 bytes"),
        (bytes([DENSE]) + bytes([200]) * REGISTERS, "outside 0..51"),
        (bytes([255]) * REGISTERS, "outside 0..51"),
        (bytes([SPARSE, 5, 0, 1, 4, 0, 1]), "out of order"),
        (bytes([SPARSE, 5, 0, 0]), "outside 1..51"),
        (bytes([SPARSE, 255, 255, 1]), "register past"),
        (bytes([SPARSE, 5, 0]), "3 bytes"),
    ],
    ids=[
        "truncated",
        "empty",
        "four-bytes",
        "rank-too-high",
        "old-layout-negative",
        "sparse-unordered",
        "sparse-rank-zero",
        "sparse-register-too-high",
        "sparse-truncated",
    ],
)
def test_damaged_blob_is_refused(blob, message):
    """A blob that is no sketch of any format raises SketchDamagedError, never a guess."""
    with pytest.raises(SketchDamagedError, match=message):
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
    old = lambda blob: read_sketch(blob).registers().astype(np.int8).tobytes()  # noqa: E731
    assert _rewrite_sketches(config, old)
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
    assert _rewrite_sketches(config, lambda blob: bytes([SPARSE]) + blob[1:])
    asyncio.run(open_store(config).close())
