"""The embedded store: the zero-setup default, in one process, saved to SQLite in the data dir.

Values live in memory (sparse or dense sketches from `sketch.py`, counters in dicts) with the
same TTL semantics as Redis, and changed keys are saved at least every
`store.persist_interval_ms` and at shutdown (`embedded_file.py`: SQLite with `secure_delete`,
so an expired key is overwritten in the file, not just unlinked; a lock file keeps a second
process out). Salts and seen sets are never saved (P12): they live in memory only
(`salts.MemorySalts`), so a restart makes new salts and a returning reader counts again.
A save that fails keeps every change in memory and is retried; `health()` says
so, and a shutdown that still cannot save says exactly what it could not write. Keys expire by
the store's own clock (`clock.py`), so a step of the wall clock expires nothing early.
Campaign-days older than yesterday leave memory once saved and are read from the file when
needed. A key that does not load is damaged: its campaign's writes and reads that need it fail
(and wait), the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from ..core.campaign import Campaign, encode_changes
from ..core.privacy import Salt, new_salt
from ..exceptions import StoreError
from ..tasks import stop_task
from .base import LINK_ADDED, LINK_EXISTS, LINK_TAKEN, LINKS_FULL, MISSING, SketchRef, WriteResult
from .batch import Batch, CampaignBatch
from .clock import TrustedClock
from .embedded_file import DB_NAME, Entry, StoreFile, day_of
from .embedded_memory import KeyMemory, utc_day
from .embedded_write import write_campaign
from .keys import KeyInfo, Keyspace
from .salts import MemorySalts, salt_lifetime
from .sketch import count_union

__all__ = ["DB_NAME", "EmbeddedStore"]

log = logging.getLogger("pixelagg.store")

PURGE_SECONDS = 60.0
"""How often expired rows of campaign-days not in memory are deleted from the file."""
CLOSE_TRIES = 3


class EmbeddedStore(KeyMemory):
    """Store in this process's memory, saved to SQLite in the data dir."""

    kind = "embedded"

    def __init__(
        self, data_dir: Path, keys: Keyspace, retention_seconds: int, persist_interval: float = 1.0
    ) -> None:
        super().__init__(data_dir, keys, retention_seconds)
        self.persist_interval = persist_interval
        self.round_trips = 0
        self.errors = 0
        self.data_losses = 0
        self.salts = MemorySalts()
        """Salts live in memory only, never in the file (P12): a restart makes new ones."""
        self.slice_start = 0.0
        self._save_error: str | None = None
        self._save_failing_since = 0.0
        self._last_purge = time.monotonic()
        self._steps_logged = 0
        self._task: asyncio.Task[None] | None = None
        self._io_lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()  # a batch write pauses for requests; a delete waits for it

    # lifecycle

    def open(self) -> EmbeddedStore:
        """Take the lock and load the live keys (campaign-days from yesterday on)."""
        self._file = store_file = StoreFile.open(self.data_dir)
        try:
            self.clock = TrustedClock(not_before=store_file.saved_at)
            now = self.clock.now()
            self._data, self._damaged = store_file.load(now, utc_day(now - 86400))
        except BaseException:
            store_file.close()
            self._file = None
            raise
        # Releases before salts moved to memory saved them in the file: erase them now.
        saved_salts = [key for key in self._data if self.keys.is_salt(key)]
        if saved_salts:
            for key in saved_salts:
                del self._data[key]
            store_file.save([], saved_salts, [], now)
        for key in self._data:
            if (day := day_of(key)) is not None:
                self.hot(day, key)
        if self._damaged:
            log.error("%s", self._damaged_text())
        return self

    def start(self) -> None:
        """Save changes in the background every persist interval."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._persist_loop())

    async def _persist_loop(self) -> None:
        while True:
            await asyncio.sleep(self.persist_interval)
            try:
                await self.persist()
            except StoreError:
                pass  # logged and reported by health(); retried next tick
            except Exception:  # never let the saving stop
                log.exception("embedded store: saving failed unexpectedly; retried next tick")

    async def persist(self) -> None:
        """Drop expired keys and save every change, in one transaction. StoreError when the
        save failed: every change is then kept for the next one."""
        async with self._io_lock:
            saving = self._saving_file()  # before anything is taken from the dirty set
            now = self.clock.now()
            self._note_clock()
            self._expire(now)
            changed: list[tuple[str, str, Any, float]] = []
            gone: list[str] = []
            for key in self._dirty:
                entry = self._data.get(key)
                if entry is None:
                    gone.append(key)
                else:
                    changed.append((key, entry.kind, entry.snapshot(), entry.expires_at))
            erased, self._erased = self._erased, []
            pending = (changed, gone, erased, self._unsaved_hits, self._unsaved_campaigns)
            self._dirty, self._unsaved_hits, self._unsaved_campaigns = set(), Counter(), {}
            purge = now if time.monotonic() - self._last_purge >= PURGE_SECONDS else None
            if not (changed or gone or erased or purge is not None):
                return
            # Encoding and writing happen off the event loop. A cancelled persist (a shutdown)
            # still waits for its thread, holding the lock: otherwise close() would save on a
            # second thread and close the connection while the first still used it (a crash).
            save = asyncio.ensure_future(asyncio.to_thread(saving.save, changed, gone, erased, now, purge))
            try:
                await asyncio.shield(save)
            except asyncio.CancelledError:
                await asyncio.wait([save])
                if save.exception() is not None:
                    self._failed_save(pending, save.exception())
                raise
            except Exception as exc:
                raise self._failed_save(pending, exc) from None
            if purge is not None:
                self._last_purge = time.monotonic()
            if self._save_error is not None:
                log.info("embedded store: saving works again; every change is saved")
                self._save_error = None
            self.evict_cold(now)

    def _failed_save(self, pending: tuple[Any, ...], exc: BaseException | None) -> StoreError:
        """Keep every change of a failed save for the next one; the error to raise."""
        changed, gone, erased, hits, campaigns = pending
        self.errors += 1
        self._dirty.update(gone, (key for key, *_ in changed))
        self._erased[:0] = erased
        self._unsaved_hits.update(hits)
        for campaign_id, change in campaigns.items():
            self._unsaved_campaigns.setdefault(campaign_id, change)
        reason = str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}"
        if self._save_error is None:
            self._save_failing_since = time.time()
            log.error(
                "embedded store: cannot save to %s (%s); %s", self._path(), reason, self._unsaved_text()
            )
        self._save_error = reason
        return StoreError(f"Cannot save the embedded store to {self._path()!r}: {reason}")

    def health(self) -> dict[str, str]:
        problems: dict[str, str] = {}
        if self._save_error is not None:
            since = time.strftime("%H:%M:%S", time.localtime(self._save_failing_since))
            problems["persist"] = (
                f"cannot save to {self._path()} since {since} ({self._save_error}), retried every "
                f"{self.persist_interval:g} s; {self._unsaved_text(limit=0)}"
            )
        if self._damaged:
            problems["damaged"] = self._damaged_text(ids=False)
        if self.clock.step:
            problems["clock"] = (
                f"the wall clock is {self.clock.step:+.0f} s off the store's clock; keys expire by "
                "the store's clock"
            )
        return problems

    async def check(self) -> None:
        """Nothing to check: the store is this process."""

    def _note_clock(self) -> None:
        self.clock.now()
        if self.clock.steps > self._steps_logged:
            self._steps_logged = self.clock.steps
            log.warning(
                "the wall clock stepped by %+.0f s: the embedded store keeps expiring keys by its own "
                "clock (a lasting step of at most a day is taken over after a minute)",
                self.clock.step,
            )

    def _saving_file(self) -> StoreFile:
        if self._file is None:
            raise StoreError("The embedded store is not open.")
        return self._file

    async def close(self) -> None:
        await self.salts.close()
        await stop_task(self._task)
        self._task = None
        if self._file is None:
            return
        for attempt in range(CLOSE_TRIES):
            try:
                await self.persist()
                break
            except StoreError:
                if attempt + 1 < CLOSE_TRIES:
                    await asyncio.sleep(0.5)
        else:
            log.error(
                "shutdown: could not save to %s (%s); lost: %s. A deleted campaign comes back at the "
                "next start: delete it again",
                self._path(),
                self._save_error,
                self._unsaved_text(limit=None).removeprefix("not saved yet: "),
            )
        self._file.close()
        self._file = None

    async def ping(self) -> None:
        self._saving_file()

    # campaigns

    async def create_campaign(self, campaign: Campaign) -> None:
        self.put(self.keys.meta(campaign.id), Entry("hash", campaign.to_fields(), self.expiry()))
        index = self.get(self.keys.campaigns())
        members = dict(index.value) if index else {}
        members[campaign.id] = campaign.created_at
        self.put(self.keys.campaigns(), Entry("zset", members, self.expiry()))
        self._unsaved_campaigns.setdefault(campaign.id, "creation")

    async def get_campaign(self, campaign_id: str) -> Campaign | None:
        entry = self.get(self.keys.meta(campaign_id))
        return Campaign.from_fields(campaign_id, entry.value) if entry else None

    async def list_campaigns(self) -> list[Campaign]:
        index = self.get(self.keys.campaigns())
        if index is None:
            return []
        ordered = sorted(index.value.items(), key=lambda item: (item[1], item[0]))
        campaigns = []
        for campaign_id, _ in ordered:
            if self.keys.meta(campaign_id) in self._damaged:
                continue  # reported by health(); it stays in the index
            campaign = await self.get_campaign(campaign_id)
            if campaign is None:
                del index.value[campaign_id]
                self._dirty.add(self.keys.campaigns())
            else:
                campaigns.append(campaign)
        return campaigns

    async def update_campaign(self, campaign_id: str, changes: dict[str, Any]) -> Campaign | None:
        entry = self.get(self.keys.meta(campaign_id))
        if entry is None:
            return None
        fields = dict(entry.value)
        for key, text in encode_changes(changes).items():
            if text is None:
                fields.pop(key, None)
            else:
                fields[key] = text
        self.put(self.keys.meta(campaign_id), Entry("hash", fields, entry.expires_at))
        return Campaign.from_fields(campaign_id, fields)

    async def delete_campaign(self, campaign_id: str) -> bool:
        async with self._write_lock:  # never in the middle of a batch, which would recreate keys
            return await self._delete_campaign(campaign_id)

    async def _delete_campaign(self, campaign_id: str) -> bool:
        meta = self.keys.meta(campaign_id)
        existed = meta in self._damaged or self.get(meta) is not None
        prefix = self.keys.tag(campaign_id) + ":"
        for key in [k for k in self._data if k.startswith(prefix)]:
            self._delete(key)
        for key in [k for k in self._seen if k.startswith(prefix)]:
            del self._seen[key]
        for key in [k for k in self._damaged if k.startswith(prefix)]:
            del self._damaged[key]
        self._erased.append(prefix)  # the campaign-days that are only in the file, too
        await self.salts.delete(self.keys.campaign_pattern(campaign_id))
        index = self.get(self.keys.campaigns())
        if index is not None and campaign_id in index.value:
            del index.value[campaign_id]
            self._dirty.add(self.keys.campaigns())
        self._unsaved_hits.pop(campaign_id, None)
        if self._unsaved_campaigns.pop(campaign_id, None) != "creation":
            self._unsaved_campaigns[campaign_id] = "deletion"
        # Erasure reaches the disk now, not within a second. When it cannot, it is kept and
        # retried with every other change; health() and the shutdown say so.
        with contextlib.suppress(StoreError):
            await self.persist()
        return existed

    # links

    async def add_link(self, campaign_id: str, link_id: str, url: str, max_links: int) -> str:
        if self.get(self.keys.meta(campaign_id)) is None:
            return MISSING
        key = self.keys.links(campaign_id)
        entry = self.get(key) or Entry("hash", {}, 0.0)
        have = entry.value.get(link_id)
        if have is not None:
            return LINK_EXISTS if have == url else LINK_TAKEN
        if len(entry.value) >= max_links:
            return LINKS_FULL
        entry.value[link_id] = url
        entry.expires_at = self.expiry()
        self.put(key, entry)
        return LINK_ADDED

    async def list_links(self, campaign_id: str) -> dict[str, str]:
        entry = self.get(self.keys.links(campaign_id))
        links = {str(k): str(v) for k, v in entry.value.items()} if entry else {}
        return dict(sorted(links.items(), key=lambda item: (item[1], item[0])))

    async def get_link(self, campaign_id: str, link_id: str) -> str | None:
        entry = self.get(self.keys.links(campaign_id))
        url = entry.value.get(link_id) if entry else None
        return None if url is None else str(url)

    # salts

    async def window_salt(self, campaign_id: str, now: float, window_seconds: int) -> Salt | None:
        meta = self.get(self.keys.meta(campaign_id))
        if meta is None:
            return None
        if "first_hit" not in meta.value:
            meta.value["first_hit"] = repr(now)
            self._dirty.add(self.keys.meta(campaign_id))
        index, ttl = salt_lifetime(float(meta.value["first_hit"]), now, window_seconds)
        salt, left = await self.salts.get_or_create(self.keys.salt(campaign_id, index), new_salt(), ttl)
        return Salt(index, salt, now + left)

    # hits

    async def write_batch(self, batch: Batch) -> WriteResult:
        result = WriteResult()
        async with self._write_lock:
            hot_from = utc_day(self.clock.now() - 86400)
            cold = [  # hits of days before yesterday (a late retry, a clock set back): rare
                key
                for campaign_id, part in batch.campaigns.items()
                for key in (
                    *(self.keys.day(campaign_id, day) for day in part.counters if day < hot_from),
                    *(self.keys.sketch(campaign_id, *ref) for ref in part.sketches if ref[1] < hot_from),
                )
            ]
            if cold:
                await self._cold_entries(cold, keep=True)
            self.slice_start = time.perf_counter()
            for campaign_id, part in batch.campaigns.items():
                try:
                    late = self._late(campaign_id, part)
                    refused, stored = await write_campaign(self, batch, campaign_id, part)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # any error: this campaign waits, the others are written
                    self.errors += 1
                    result.failed[campaign_id] = f"{type(exc).__name__}: {exc}"
                    continue
                if refused:
                    result.refused[campaign_id] = refused
                    continue
                if late:
                    result.late[campaign_id] = late
                result.stored[campaign_id] = stored
                result.written += part.events
                self._unsaved_hits[campaign_id] += part.events
        return result

    def _late(self, campaign_id: str, part: CampaignBatch) -> int:
        """Hits of the part whose released cells are frozen already (part.frozen_checks)."""
        if not part.frozen_checks:
            return 0
        released = self.get(self.keys.released(campaign_id))
        if released is None:
            return 0
        return sum(n for names, n in part.frozen_checks if any(name in released.value for name in names))

    # reads

    async def read_counters(self, campaign_id: str, days: Sequence[str]) -> dict[str, dict[str, int]]:
        keys = {day: self.keys.day(campaign_id, day) for day in days}
        found = await self.entries(list(keys.values()))
        return {
            day: {k: int(v) for k, v in found[key].value.items()} for day, key in keys.items() if key in found
        }

    async def count_unique(self, campaign_id: str, groups: Sequence[Sequence[SketchRef]]) -> list[float]:
        found = await self.entries([self.keys.sketch(campaign_id, *ref) for group in groups for ref in group])
        counts = []
        for group in groups:
            sketches = [e.value for ref in group if (e := found.get(self.keys.sketch(campaign_id, *ref)))]
            counts.append(count_union(sketches) if sketches else 0.0)
        return counts

    async def scan(self, match: str | None = None, *, binary: bool = True) -> AsyncIterator[KeyInfo]:
        async for info in super().scan(match, binary=binary):
            yield info
        async for info in self.salts.scan(match or self.keys.all_pattern()):
            yield info

    async def key_names(self, match: str) -> AsyncIterator[str]:
        async for info in self.scan(match, binary=False):
            yield info.key

    def saved_files(self) -> list[Path]:
        """Files this store writes, for privacy scans."""
        return [p for p in self.data_dir.iterdir() if p.name.startswith(DB_NAME)]
