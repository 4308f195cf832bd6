"""How the embedded store applies one campaign's part of a batch, all of it or nothing of it.

First everything that can fail is read and computed without changing anything (a damaged key,
a counter that is not a number: the part is then refused as a whole, and retried); then the
sketch additions, which are idempotent, so a write cancelled in one of their pauses (a
shutdown) is simply redone by the retry; then the changes that cannot fail, without a pause.
The bookkeeping is the Redis store's: the last sequence number and the running total of events
per writer, so a retried part is never counted twice and a lost one is noticed.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from .base import MISSING, PAUSED
from .batch import Batch, CampaignBatch
from .embedded_file import Entry
from .sketch import Sketch

if TYPE_CHECKING:
    from .embedded import EmbeddedStore

__all__ = ["SLICE_SECONDS", "events_field", "write_campaign"]

SLICE_SECONDS = 0.0003
"""Updating sketches costs about 1 µs an element, so a write pauses this often to let the
event loop answer pixels: a flush of a busy second must not hold every request for ms."""


def events_field(writer: str) -> str:
    """The writes-hash field of a writer's running total of events applied."""
    return f"{writer}:n"


async def write_campaign(
    store: EmbeddedStore, batch: Batch, campaign_id: str, part: CampaignBatch
) -> tuple[str | None, int]:
    """Apply a part: (None, the writer's running total of events), or (MISSING or PAUSED, 0)."""
    keys = store.keys
    meta_key = keys.meta(campaign_id)
    meta = store.get(meta_key)
    if meta is None:
        return MISSING, 0
    if meta.value.get("paused") == "1":
        return PAUSED, 0
    expiry = store.expiry()
    writer, seq = batch.writer, batch.seq_of(part)
    writes_key = keys.writes(campaign_id)
    writes = store.get(writes_key) or Entry("hash", {}, expiry)
    total = int(writes.value.get(events_field(writer), 0))
    if seq and int(writes.value.get(writer, 0)) >= seq:
        return None, total  # applied by an earlier try of this part

    # 1. Read and compute; nothing changes yet.
    sketches: list[tuple[str, str, Entry | None, set[bytes]]] = []
    for (kind, day, dimension), elements in part.sketches.items():
        key = keys.sketch(campaign_id, kind, day, dimension)
        entry = store.get(key)
        if entry is not None and not isinstance(entry.value, Sketch):
            raise TypeError(f"{key} holds a {entry.kind}, not a sketch")
        sketches.append((key, day, entry, elements))
    counters = {day: dict(fields) for day, fields in part.counters.items()}
    firsts: list[tuple[str, list[bytes], float]] = []
    for (window, day, name), members in part.first_groups().items():
        seen_key = keys.seen(campaign_id, window)
        seen = store.seen(seen_key)
        new = [m for m in dict.fromkeys(members) if m not in seen]
        firsts.append((seen_key, new, part.window_expiry[window]))
        if new:
            fields = counters.setdefault(day, {})
            fields[name] = fields.get(name, 0) + len(new)
    days: list[tuple[str, str, Entry | None, dict[str, int]]] = []
    for day, fields in counters.items():
        key = keys.day(campaign_id, day)
        entry = store.get(key)
        old = entry.value if entry is not None else {}
        days.append((key, day, entry, {name: int(old.get(name, 0)) + int(n) for name, n in fields.items()}))

    # 2. Sketch additions: idempotent, with pauses for the event loop.
    for key, day, entry, elements in sketches:
        if entry is None:
            entry = Entry("hll", Sketch(), expiry)
            store.hot(day, key)
        entry.value.add(elements)
        entry.expires_at = expiry
        store.put(key, entry)
        if time.perf_counter() - store.slice_start > SLICE_SECONDS:
            await asyncio.sleep(0)
            store.slice_start = time.perf_counter()

    # 3. The rest, which cannot fail, without a pause.
    for seen_key, new, expires_at in firsts:
        store.add_seen(seen_key, new, expires_at)
    for key, day, entry, values in days:
        if entry is None:
            entry = Entry("hash", {}, expiry)
            store.hot(day, key)
        entry.value.update(values)
        entry.expires_at = expiry
        store.put(key, entry)
    total += part.events
    if seq:
        writes.value[writer] = seq
    if writer:
        writes.value[events_field(writer)] = total
    if seq or writer:
        writes.expires_at = expiry
        store.put(writes_key, writes)
    meta.expires_at = expiry
    store.put(meta_key, meta)
    links_key = keys.links(campaign_id)
    links = store.get(links_key)
    if links is not None:  # a link lives as long as its campaign does
        links.expires_at = expiry
        store.put(links_key, links)
    return None, total
