"""The embedded store: the zero-setup default, in one process, saved to SQLite in the data dir.

Values live in memory (sketches from the `hyperloglog` package, counters in dicts) with the
same TTL semantics as Redis, and changed keys are saved at least every
`store.persist_interval_ms` and at shutdown (`embedded_file.py`: SQLite with `secure_delete`,
so an expired key is overwritten in the file, not just unlinked; a lock file keeps a second
process out). Salts and seen sets are never saved (P12): they live in memory only
(`salts.MemorySalts`), so a restart makes new salts and a returning reader counts again.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.campaign import Campaign, encode_changes
from ..core.privacy import Salt, new_salt
from ..exceptions import StoreError
from ..tasks import stop_task
from .base import SketchRef
from .batch import Batch
from .embedded_file import DB_NAME, Entry, StoreFile
from .keys import KeyInfo, Keyspace
from .salts import MemorySalts, salt_lifetime
from .sketch import add_elements, new_sketch

__all__ = ["DB_NAME", "EmbeddedStore"]

_SLICE_SECONDS = 0.0003


class EmbeddedStore:
    """Store in this process's memory, saved to SQLite in the data dir."""

    kind = "embedded"

    def __init__(
        self, data_dir: Path, keys: Keyspace, retention_seconds: int, persist_interval: float = 1.0
    ) -> None:
        self.data_dir = Path(data_dir)
        self.keys = keys
        self.retention = retention_seconds
        self.persist_interval = persist_interval
        self.round_trips = 0
        self.errors = 0
        self._data: dict[str, Entry] = {}
        self._seen: dict[str, tuple[set[bytes], float]] = {}
        """Seen sets (key -> elements, expiry) for first opens: in memory only, never saved, so
        they die with their salt window or with the process."""
        self.salts = MemorySalts()
        """Salts live in memory only, never in the file (P12): a restart makes new ones."""
        self._dirty: set[str] = set()
        self._file: StoreFile | None = None
        self._task: asyncio.Task[None] | None = None
        self._io_lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()  # a batch write pauses for requests; a delete waits for it

    # lifecycle

    def open(self) -> EmbeddedStore:
        """Take the lock, load the saved keys and drop the expired ones."""
        self._file, self._data = StoreFile.open(self.data_dir)
        # Releases before salts moved to memory saved them in the file: erase them now.
        saved_salts = [key for key in self._data if self.keys.is_salt(key)]
        if saved_salts:
            for key in saved_salts:
                del self._data[key]
            self._file.save([], saved_salts)
        return self

    def start(self) -> None:
        """Save changes in the background every persist interval."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._persist_loop())

    async def _persist_loop(self) -> None:
        while True:
            await asyncio.sleep(self.persist_interval)
            with contextlib.suppress(Exception):  # a full disk must not stop counting; retried next tick
                await self.persist()

    async def persist(self) -> None:
        """Drop expired keys and save every changed key, in one transaction."""
        async with self._io_lock:
            self._expire(time.time())
            changed: list[tuple[str, str, Any, float]] = []
            gone: list[str] = []
            for key in self._dirty:
                entry = self._data.get(key)
                if entry is None:
                    gone.append(key)
                else:
                    changed.append((key, entry.kind, entry.snapshot(), entry.expires_at))
            self._dirty = set()
            if not (changed or gone):
                return
            # Encoding and writing happen off the event loop. A cancelled persist (a shutdown)
            # still waits for its thread, holding the lock: otherwise close() would save on a
            # second thread and close the connection while the first still used it (a crash).
            save = asyncio.ensure_future(asyncio.to_thread(self._saving_file().save, changed, gone))
            try:
                await asyncio.shield(save)
            except asyncio.CancelledError:
                await asyncio.wait([save])
                if save.exception() is not None:
                    self._failed_save(changed, gone)
                raise
            except Exception:
                self._failed_save(changed, gone)
                raise

    def _failed_save(self, changed: list[tuple[str, str, Any, float]], gone: list[str]) -> None:
        self.errors += 1
        self._dirty.update(gone, (key for key, *_ in changed))  # the next save tries again

    def _saving_file(self) -> StoreFile:
        if self._file is None:
            raise StoreError("The embedded store is not open.")
        return self._file

    async def close(self) -> None:
        await stop_task(self._task)
        self._task = None
        await self.salts.close()
        if self._file is not None:
            await self.persist()
            self._file.close()
            self._file = None

    async def ping(self) -> None:
        self._saving_file()

    # key primitives, with Redis's TTL semantics

    def _expire(self, now: float) -> None:
        for key in [k for k, e in self._data.items() if e.expires_at <= now]:
            del self._data[key]
            self._dirty.add(key)

    def _get(self, key: str) -> Entry | None:
        entry = self._data.get(key)
        if entry is not None and entry.expires_at <= time.time():
            del self._data[key]
            self._dirty.add(key)
            return None
        return entry

    def _put(self, key: str, entry: Entry) -> None:
        self._data[key] = entry
        self._dirty.add(key)

    def _delete(self, key: str) -> None:
        if self._data.pop(key, None) is not None:
            self._dirty.add(key)

    def _expiry(self) -> float:
        return time.time() + self.retention

    # campaigns

    async def create_campaign(self, campaign: Campaign) -> None:
        self._put(self.keys.meta(campaign.id), Entry("hash", campaign.to_fields(), self._expiry()))
        index = self._get(self.keys.campaigns())
        members = dict(index.value) if index else {}
        members[campaign.id] = campaign.created_at
        self._put(self.keys.campaigns(), Entry("zset", members, self._expiry()))

    async def get_campaign(self, campaign_id: str) -> Campaign | None:
        entry = self._get(self.keys.meta(campaign_id))
        return Campaign.from_fields(campaign_id, entry.value) if entry else None

    async def list_campaigns(self) -> list[Campaign]:
        index = self._get(self.keys.campaigns())
        if index is None:
            return []
        ordered = sorted(index.value.items(), key=lambda item: (item[1], item[0]))
        campaigns = []
        for campaign_id, _ in ordered:
            campaign = await self.get_campaign(campaign_id)
            if campaign is None:
                del index.value[campaign_id]
                self._dirty.add(self.keys.campaigns())
            else:
                campaigns.append(campaign)
        return campaigns

    async def update_campaign(self, campaign_id: str, changes: dict[str, Any]) -> Campaign | None:
        entry = self._get(self.keys.meta(campaign_id))
        if entry is None:
            return None
        fields = dict(entry.value)
        for key, text in encode_changes(changes).items():
            if text is None:
                fields.pop(key, None)
            else:
                fields[key] = text
        self._put(self.keys.meta(campaign_id), Entry("hash", fields, entry.expires_at))
        return Campaign.from_fields(campaign_id, fields)

    async def delete_campaign(self, campaign_id: str) -> bool:
        async with self._write_lock:  # never in the middle of a batch, which would recreate keys
            return await self._delete_campaign(campaign_id)

    async def _delete_campaign(self, campaign_id: str) -> bool:
        existed = self._get(self.keys.meta(campaign_id)) is not None
        pattern = self.keys.campaign_pattern(campaign_id)
        for key in [k for k in self._data if fnmatch.fnmatchcase(k, pattern)]:
            self._delete(key)
        for key in [k for k in self._seen if fnmatch.fnmatchcase(k, pattern)]:
            del self._seen[key]
        await self.salts.delete(pattern)
        index = self._get(self.keys.campaigns())
        if index is not None and campaign_id in index.value:
            del index.value[campaign_id]
            self._dirty.add(self.keys.campaigns())
        await self.persist()  # erasure reaches the disk now, not within a second
        return existed

    # salts

    async def window_salt(self, campaign_id: str, now: float, window_seconds: int) -> Salt | None:
        meta = self._get(self.keys.meta(campaign_id))
        if meta is None:
            return None
        if "first_hit" not in meta.value:
            meta.value["first_hit"] = repr(now)
            self._dirty.add(self.keys.meta(campaign_id))
        index, ttl = salt_lifetime(float(meta.value["first_hit"]), now, window_seconds)
        salt, left = await self.salts.get_or_create(self.keys.salt(campaign_id, index), new_salt(), ttl)
        return Salt(index, salt, now + left)

    # hits

    async def write_batch(self, batch: Batch) -> int:
        async with self._write_lock:
            return await self._write_batch(batch)

    async def _write_batch(self, batch: Batch) -> int:
        """Apply a batch. Updating sketches costs about 1 µs an element here, so the write pauses
        every `_SLICE_SECONDS` to let the event loop answer pixels: a flush of a busy second
        must not hold every request for milliseconds."""
        written = 0
        expiry = self._expiry()
        slice_start = time.perf_counter()
        for campaign_id, part in batch.campaigns.items():
            meta_key = self.keys.meta(campaign_id)
            meta = self._get(meta_key)
            if meta is None or meta.value.get("paused") == "1":
                continue
            writes_key = self.keys.writes(campaign_id)
            writes = self._get(writes_key) or Entry("hash", {}, expiry)
            # The same bookkeeping as the Redis store, so both honour retries alike.
            if batch.seq and int(writes.value.get(batch.writer, 0)) >= batch.seq:
                written += part.events
                continue
            # Sketch additions come first: they are idempotent, so a write cancelled in one of its
            # pauses (a shutdown) is simply redone by the retry. The rest follows without a pause.
            for (kind, day, dimension), elements in part.sketches.items():
                key = self.keys.sketch(campaign_id, kind, day, dimension)
                entry = self._get(key) or Entry("hll", new_sketch(), expiry)
                add_elements(entry.value, elements)
                entry.expires_at = expiry
                self._put(key, entry)
                if time.perf_counter() - slice_start > _SLICE_SECONDS:
                    await asyncio.sleep(0)
                    slice_start = time.perf_counter()
            if batch.seq:
                writes.value[batch.writer] = batch.seq
                writes.expires_at = expiry
                self._put(writes_key, writes)
            meta.expires_at = expiry
            self._dirty.add(meta_key)
            counters = {day: dict(fields) for day, fields in part.counters.items()}
            for (window, day, name), members in part.first_groups().items():
                added = self._add_seen(
                    self.keys.seen(campaign_id, window), members, part.window_expiry[window]
                )
                if added:
                    fields = counters.setdefault(day, {})
                    fields[name] = fields.get(name, 0) + added
            for day, fields in counters.items():
                key = self.keys.day(campaign_id, day)
                entry = self._get(key) or Entry("hash", {}, expiry)
                for name, count in fields.items():
                    entry.value[name] = entry.value.get(name, 0) + count
                entry.expires_at = expiry
                self._put(key, entry)
            written += part.events
        return written

    def _add_seen(self, key: str, elements: Sequence[bytes], expires_at: float) -> int:
        """Add elements to a seen set (in memory only); the number that were not in it yet."""
        now = time.time()
        for gone in [k for k, (_, at) in self._seen.items() if at <= now]:
            del self._seen[gone]
        members, _ = self._seen.setdefault(key, (set(), float(int(expires_at) + 1)))
        before = len(members)
        members.update(elements)
        return len(members) - before

    # released cells

    async def read_released(self, campaign_id: str, names: Sequence[str]) -> dict[str, int]:
        entry = self._get(self.keys.released(campaign_id))
        if entry is None:
            return {}
        return {name: int(entry.value[name]) for name in names if name in entry.value}

    async def release_cells(
        self, campaign_id: str, values: Mapping[str, int], ttl_seconds: int
    ) -> dict[str, int]:
        key = self.keys.released(campaign_id)
        entry = self._get(key) or Entry("hash", {}, 0.0)
        for name, value in values.items():
            entry.value.setdefault(name, int(value))
        entry.expires_at = time.time() + ttl_seconds
        self._put(key, entry)
        return {name: int(entry.value[name]) for name in values}

    # reads

    async def read_counters(self, campaign_id: str, days: Sequence[str]) -> dict[str, dict[str, int]]:
        out = {}
        for day in days:
            entry = self._get(self.keys.day(campaign_id, day))
            if entry is not None:
                out[day] = {k: int(v) for k, v in entry.value.items()}
        return out

    async def count_unique(self, campaign_id: str, groups: Sequence[Sequence[SketchRef]]) -> list[float]:
        counts = []
        for group in groups:
            sketches = [
                e.value for ref in group if (e := self._get(self.keys.sketch(campaign_id, *ref))) is not None
            ]
            if not sketches:
                counts.append(0.0)
                continue
            union = new_sketch()
            union.update(*sketches)
            counts.append(float(union.card()))
        return counts

    # keyspace

    async def scan(self, match: str | None = None, *, binary: bool = True) -> AsyncIterator[KeyInfo]:
        now = time.time()
        pattern = match or self.keys.all_pattern()
        for key in list(self._data):
            entry = self._get(key)
            if entry is None or not fnmatch.fnmatchcase(key, pattern):
                continue
            text = entry.kind in ("hash", "zset")
            yield KeyInfo(
                key,
                entry.kind,
                entry.expires_at - now,
                entry.encode() if entry.kind != "hll" or binary else b"",
                {str(k): str(v) for k, v in entry.value.items()} if text else None,
            )
        for key, (members, expires_at) in list(self._seen.items()):
            if expires_at > now and fnmatch.fnmatchcase(key, pattern):
                ordered = tuple(sorted(members))
                yield KeyInfo(key, "set", expires_at - now, b"".join(ordered), members=ordered)
        async for info in self.salts.scan(pattern):
            yield info

    async def key_names(self, match: str) -> AsyncIterator[str]:
        for key in [*self._data, *self._seen]:
            if fnmatch.fnmatchcase(key, match):
                yield key
        async for key in self.salts.key_names(match):
            yield key

    def saved_files(self) -> list[Path]:
        """Files this store writes, for privacy scans."""
        return [p for p in self.data_dir.iterdir() if p.name.startswith(DB_NAME)]
