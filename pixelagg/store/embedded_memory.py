"""The embedded store's keys in memory, with Redis's TTL semantics by the store's own clock.

What is in memory is authoritative; what changed since the last save is `_dirty`. Saved
campaign-days older than yesterday leave memory (`evict_cold`) and are read back from the file
when a write or a read needs them. A key whose saved value does not read is damaged: it stays
as it is in the file, and any use of it raises StoreError naming it.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from ..exceptions import StoreError
from .clock import TrustedClock
from .embedded_file import DB_NAME, Entry, StoreFile, day_of, decode
from .keys import KeyInfo, Keyspace
from .sketch import SketchFormatError

__all__ = ["EVICT_SECONDS", "KeyMemory", "utc_day"]

log = logging.getLogger("pixelagg.store")

EVICT_SECONDS = 60.0
"""How often saved campaign-days older than yesterday leave memory."""


def utc_day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y%m%d")


class KeyMemory:
    """Keys in memory, the saved ones read back when needed, and the seen sets."""

    def __init__(self, data_dir: Path, keys: Keyspace, retention_seconds: int) -> None:
        self.data_dir = Path(data_dir)
        self.keys = keys
        self.retention = retention_seconds
        self.clock = TrustedClock()
        self._file: StoreFile | None = None
        self._data: dict[str, Entry] = {}
        self._dirty: set[str] = set()
        self._unsaved_hits: Counter[str] = Counter()
        """campaign -> hits written to memory since the last save"""
        self._unsaved_campaigns: dict[str, str] = {}
        """campaign -> 'creation' or 'deletion' not saved yet"""
        self._erased: list[str] = []
        """Key prefixes of deleted campaigns, to erase from the file at the next save."""
        self._damaged: dict[str, tuple[str, float]] = {}
        """Keys whose saved value does not read: key -> (why, expiry). Left as they are in the file."""
        self._hot_days: dict[str, set[str]] = {}
        self._last_evict = time.monotonic()
        self._seen: dict[str, tuple[set[bytes], float]] = {}
        """Seen sets (key -> elements, expiry) for first opens: in memory only, never saved, so
        they die with their salt window or with the process."""

    def _path(self) -> str:
        return str(self.data_dir / DB_NAME)

    def _damaged_text(self, ids: bool = True) -> str:
        """The damaged keys, for the log (with campaign ids) or /readyz (without)."""
        campaigns = sorted({self.keys.campaign_of(k) or k for k in self._damaged})
        key, (reason, _) = next(iter(self._damaged.items()))
        which = f"campaigns {', '.join(campaigns)}" if ids else f"{len(campaigns)} campaigns"
        first = key if ids else self.keys.pattern_of(key)
        return (
            f"embedded store: {len(self._damaged)} keys in {self._path()} cannot be read (first: "
            f"{first}: {reason}); {which} do not count until the file is restored from a backup "
            "or they are deleted; the others count"
        )

    def _unsaved_text(self, limit: int | None = 10) -> str:
        """What waits to be saved; with campaign ids (at most `limit` of them) unless limit is 0."""
        hits = sum(self._unsaved_hits.values())
        parts = [f"{hits} hits of {len(self._unsaved_hits)} campaigns"]
        if self._unsaved_hits and limit != 0:
            shown = self._unsaved_hits.most_common(limit)
            more = len(self._unsaved_hits) - len(shown)
            parts[0] += (
                " (" + ", ".join(f"{c}: {n}" for c, n in shown) + (f", {more} more" if more else "") + ")"
            )
        if limit == 0:
            changes = Counter(self._unsaved_campaigns.values())
            parts += [f"{n} campaign {change}s" for change, n in sorted(changes.items())]
        else:
            for campaign_id, change in sorted(self._unsaved_campaigns.items()):
                parts.append(f"the {change} of campaign {campaign_id}")
        parts.append(f"{len(self._dirty)} changed keys in all")
        return "not saved yet: " + ", ".join(parts)

    def _expire(self, now: float) -> None:
        for key in [k for k, e in self._data.items() if e.expires_at <= now]:
            del self._data[key]
            self._dirty.add(key)
        for key in [k for k, (_, at) in self._damaged.items() if at <= now]:
            del self._damaged[key]  # the file's row goes with the next purge

    def get(self, key: str) -> Entry | None:
        if self._damaged and key in self._damaged:
            raise StoreError(f"The key {key} in {self._path()} is damaged ({self._damaged[key][0]}).")
        entry = self._data.get(key)
        if entry is not None and entry.expires_at <= self.clock.now():
            del self._data[key]
            self._dirty.add(key)
            return None
        return entry

    def put(self, key: str, entry: Entry) -> None:
        self._data[key] = entry
        self._dirty.add(key)

    def hot(self, day: str, key: str) -> None:
        """Note a campaign-day key in memory, so that it leaves memory once cold and saved."""
        self._hot_days.setdefault(day, set()).add(key)

    def _delete(self, key: str) -> None:
        if self._data.pop(key, None) is not None:
            self._dirty.add(key)

    def expiry(self) -> float:
        return self.clock.now() + self.retention

    def evict_cold(self, now: float, force: bool = False) -> int:
        """Drop saved campaign-days older than yesterday from memory; how many left."""
        if not force and time.monotonic() - self._last_evict < EVICT_SECONDS:
            return 0
        self._last_evict = time.monotonic()
        hot_from = utc_day(now - 86400)
        evicted = 0
        for day in [d for d in self._hot_days if d < hot_from]:
            keys = self._hot_days.pop(day)
            kept = {k for k in keys if k in self._dirty}
            for key in keys - kept:
                evicted += self._data.pop(key, None) is not None
            if kept:
                self._hot_days[day] = kept
        return evicted

    async def _cold_entries(self, keys: Sequence[str], keep: bool) -> dict[str, Entry]:
        """Entries of these keys that are saved but not in memory (campaign-days before
        yesterday); kept in memory when `keep` (a write), else only returned (a read)."""
        now = self.clock.now()
        hot_from = utc_day(now - 86400)
        wanted = [
            key
            for key in keys
            if key not in self._data
            and key not in self._dirty
            and (day := day_of(key)) is not None
            and day < hot_from
            and not any(key.startswith(prefix) for prefix in self._erased)
        ]
        if not wanted or self._file is None:
            return {}
        found: dict[str, Entry] = {}
        for key, kind, value, expires_at in await asyncio.to_thread(self._file.read, wanted, now):
            try:
                found[key] = decode(kind, value, expires_at, key)
            except SketchFormatError as exc:
                self._damaged[key] = (str(exc), expires_at)
                log.error("%s", self._damaged_text())
                raise StoreError(f"The key {key} in {self._path()} is damaged ({exc}).") from None
            if keep and key not in self._data:
                self._data[key] = found[key]
                self.hot(day_of(key) or "", key)
        return found

    async def entries(self, keys: Sequence[str]) -> dict[str, Entry]:
        """The live entries of these keys, in memory or saved (saved ones are not kept)."""
        found = {key: entry for key in keys if (entry := self.get(key)) is not None}
        found.update(await self._cold_entries(keys, keep=False))
        return found

    # released cells

    async def read_released(self, campaign_id: str, names: Sequence[str]) -> dict[str, str]:
        entry = self.get(self.keys.released(campaign_id))
        if entry is None:
            return {}
        # Cells of releases before groups were saved as numbers in the file's JSON.
        return {name: str(entry.value[name]) for name in names if name in entry.value}

    async def release_cells(
        self, campaign_id: str, values: Mapping[str, str], ttl_seconds: int
    ) -> dict[str, str]:
        key = self.keys.released(campaign_id)
        entry = self.get(key) or Entry("hash", {}, 0.0)
        for name, value in values.items():
            entry.value.setdefault(name, str(value))
        entry.expires_at = self.clock.now() + ttl_seconds
        self.put(key, entry)
        return {name: str(entry.value[name]) for name in values}

    # seen sets

    def add_seen(self, key: str, elements: Sequence[bytes], expires_at: float) -> None:
        """Add elements to a seen set (in memory only)."""
        now = self.clock.now()
        for gone in [k for k, (_, at) in self._seen.items() if at <= now]:
            del self._seen[gone]
        members, _ = self._seen.setdefault(key, (set(), float(int(expires_at) + 1)))
        members.update(elements)

    def seen(self, key: str) -> set[bytes]:
        found = self._seen.get(key)
        return found[0] if found is not None and found[1] > self.clock.now() else set()

    # keyspace

    async def scan(self, match: str | None = None, *, binary: bool = True) -> AsyncIterator[KeyInfo]:
        now = self.clock.now()
        pattern = match or self.keys.all_pattern()
        for key in list(self._data):
            entry = self._data.get(key)
            if entry is None or entry.expires_at <= now or not fnmatch.fnmatchcase(key, pattern):
                continue
            yield _info(key, entry, now, binary)
        for key, (members, expires_at) in list(self._seen.items()):
            if expires_at > now and fnmatch.fnmatchcase(key, pattern):
                ordered = tuple(sorted(members))
                yield KeyInfo(key, "set", expires_at - now, b"".join(ordered), members=ordered)
        prefix = self.keys.prefix + ":"
        after = prefix
        while self._file is not None:  # saved only: cold campaign-days, damaged keys
            rows = await asyncio.to_thread(self._file.rows_after, after, now)
            for key, kind, value, expires_at in rows:
                if not key.startswith(prefix):
                    return
                after = key
                if key in self._data or key in self._dirty or not fnmatch.fnmatchcase(key, pattern):
                    continue
                if any(key.startswith(erased) for erased in self._erased):
                    continue
                try:
                    yield _info(key, decode(kind, value, expires_at, key), now, binary)
                except SketchFormatError:
                    yield KeyInfo(key, kind, expires_at - now, bytes(value) if binary else b"")
            if not rows:
                return


def _info(key: str, entry: Entry, now: float, binary: bool) -> KeyInfo:
    text = entry.kind in ("hash", "zset")
    return KeyInfo(
        key,
        entry.kind,
        entry.expires_at - now,
        entry.encode() if entry.kind != "hll" or binary else b"",
        {str(k): str(v) for k, v in entry.value.items()} if text else None,
    )
