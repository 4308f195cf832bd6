"""A batch of pre-aggregated hits: counters summed per field, sketch elements deduplicated per key.

Opens and clicks share a campaign's day hashes under field names of their own: opens `h`, `l`,
`f`, `r`, `c` and `declined`; clicks `k` (per hour), `j` (per shorter release period), `q`
(first clicks), `n` (per link) and `g` (per region).

The aggregator fills one between flushes; the store writes it in one round trip. Two batches
merge, so a batch that failed to write is kept and retried together with newer hits.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

__all__ = [
    "DECLINED_FIELD",
    "Batch",
    "CampaignBatch",
    "ClickField",
    "SketchRef",
    "click_hour_field",
    "click_region_field",
    "click_slot_field",
    "client_field",
    "first_click_field",
    "first_field",
    "hour_field",
    "link_field",
    "parse_click_field",
    "parse_counter_field",
    "region_field",
    "released_name",
    "slot_field",
]

DECLINED_FIELD = "declined"

SketchRef = tuple[str, str, str]
"""(kind, day, dimension) of one HyperLogLog: kind 'u' per class, 'r' per region (openers),
'v' per class and 'k' per link (human clickers). A batch keys its sketch elements by it; the
store's count_unique takes groups of them."""


def sketch_refs(
    seen: Mapping[str, set[tuple[str, str]]], kind: str, dims: Iterable[str], days: Iterable[str]
) -> list[SketchRef]:
    """The sketches of `kind` in these dimensions on these UTC days that exist, as `seen`
    (UTC day -> {(kind, dimension)} of the counters that had hits) tells: the rest were never
    written, and asking for them would cost a key lookup each."""
    wanted = sorted(set(dims))
    return [(kind, d, dim) for d in days for dim in wanted if (kind, dim) in seen.get(d, ())]


@functools.lru_cache(maxsize=1024)  # 24 hours x a handful of classes: formatted once each
def hour_field(hour: int, class_: str) -> str:
    """The day-hash field of opens in one UTC hour and class: h|HH|class."""
    return f"h|{hour:02d}|{class_}"


@functools.lru_cache(maxsize=1024)  # about 250 countries and a few buckets
def region_field(region: str) -> str:
    """The day-hash field of opens in one region over the UTC day: r|region."""
    return f"r|{region}"


@functools.lru_cache(maxsize=16)
def client_field(family: str) -> str:
    """The day-hash field of opens by one mail-client family over the UTC day: c|family."""
    return f"c|{family}"


@functools.lru_cache(maxsize=4096)
def first_field(slot: int, class_: str) -> str:
    """The day-hash field of first opens (a visitor's first in its salt window) in one release
    period of the UTC day and one class: f|slot|class."""
    return f"f|{slot}|{class_}"


@functools.lru_cache(maxsize=4096)
def slot_field(slot: int, class_: str) -> str:
    """The day-hash field of opens in one release period shorter than an hour: l|slot|class.
    Hourly periods read the hour fields instead."""
    return f"l|{slot}|{class_}"


def parse_counter_field(name: str) -> tuple[str, int, str] | None:
    """(kind, slot, dimension) of an opens field: ('h', hour, class), ('f' or 'l', slot, class),
    ('r', -1, region) or ('c', -1, client family); None for others ('declined')."""
    parts = name.split("|")
    if len(parts) == 3 and parts[0] == "h" and len(parts[1]) == 2 and parts[1].isdigit() and parts[2]:
        return "h", int(parts[1]), parts[2]
    if len(parts) == 3 and parts[0] in ("f", "l") and parts[1].isdigit() and parts[2]:
        return parts[0], int(parts[1]), parts[2]
    if len(parts) == 2 and parts[0] in ("r", "c") and parts[1]:
        return parts[0], -1, parts[1]
    return None


@functools.lru_cache(maxsize=1024)
def click_hour_field(hour: int, class_: str) -> str:
    """The day-hash field of clicks in one UTC hour and click class: k|HH|class."""
    return f"k|{hour:02d}|{class_}"


@functools.lru_cache(maxsize=4096)
def click_slot_field(slot: int, class_: str) -> str:
    """The day-hash field of clicks in one release period shorter than an hour: j|slot|class."""
    return f"j|{slot}|{class_}"


@functools.lru_cache(maxsize=4096)
def first_click_field(slot: int, class_: str) -> str:
    """The day-hash field of first clicks (a clicker's first in its salt window, on any link)
    in one release period of the UTC day and one class: q|slot|class."""
    return f"q|{slot}|{class_}"


@functools.lru_cache(maxsize=8192)
def link_field(link: str, class_: str) -> str:
    """The day-hash field of clicks on one link by one class over the UTC day: n|link|class."""
    return f"n|{link}|{class_}"


@functools.lru_cache(maxsize=1024)
def click_region_field(region: str) -> str:
    """The day-hash field of clicks from one region over the UTC day: g|region."""
    return f"g|{region}"


class ClickField(NamedTuple):
    """A parsed clicks field: kind ('k', 'j', 'q', 'n' or 'g'), slot (the hour for 'k', the
    period for 'j' and 'q', -1 for the day fields), link ('' but for 'n') and dimension (a
    click class, or the region for 'g')."""

    kind: str
    slot: int
    link: str
    dim: str


def parse_click_field(name: str) -> ClickField | None:
    """The parts of a clicks field; None for fields of opens or of nothing."""
    parts = name.split("|")
    head = parts[0]
    if len(parts) == 3 and parts[2]:
        if head == "k" and len(parts[1]) == 2 and parts[1].isdigit():
            return ClickField("k", int(parts[1]), "", parts[2])
        if head in ("j", "q") and parts[1].isdigit():
            return ClickField(head, int(parts[1]), "", parts[2])
        if head == "n" and parts[1]:
            return ClickField("n", -1, parts[1], parts[2])
    if len(parts) == 2 and head == "g" and parts[1]:
        return ClickField("g", -1, "", parts[1])
    return None


def released_name(kind: str, level: str, number: int, dim: str | None = None) -> str:
    """The release hash's field of a group of released cells (kind, level 'p' or 'd', period
    or day number), or with `dim` of one cell (as releases before groups stored them)."""
    return f"{kind}{level}|{number}" if dim is None else f"{kind}{level}|{number}|{dim}"


def utc_day(timestamp: float) -> tuple[str, int]:
    """The UTC day as YYYYMMDD and the UTC hour of a timestamp."""
    return _utc_hour(int(timestamp // 3600))


@functools.lru_cache(maxsize=256)
def _utc_hour(hours: int) -> tuple[str, int]:
    moment = datetime.fromtimestamp(hours * 3600, UTC)
    return moment.strftime("%Y%m%d"), moment.hour


@dataclass
class CampaignBatch:
    """One campaign's part of a batch."""

    counters: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    """day -> field -> increment"""
    sketches: dict[SketchRef, set[bytes]] = field(default_factory=lambda: defaultdict(set))
    """(kind, day, dimension) -> elements"""
    firsts: dict[int, dict[bytes, tuple[float, str, str]]] = field(default_factory=lambda: defaultdict(dict))
    """salt window -> element -> (its earliest time, day, first-open field): the store adds each
    element to the window's seen set and counts it in that field if it was not there yet."""
    window_expiry: dict[int, float] = field(default_factory=dict)
    """salt window -> when its salt (and so its seen set) expires"""
    events: int = 0
    clicks: int = 0
    """Of the events, clicks."""
    seq: int = 0
    """This part's position in its writer's sequence for the campaign; 0: the batch's `seq`."""
    acked: int = 0
    """Events of the campaign the store had acknowledged from this writer before this part."""
    frozen_checks: list[tuple[tuple[str, ...], int]] = field(default_factory=list)
    """Hits of release periods that closed before this write: (the release hash's names of
    the cells they belong in, hits). The store counts those whose cells are frozen already:
    late, in the counts but in no released figure. Set by the writer before each try."""

    def merge(self, other: CampaignBatch) -> None:
        for day, fields in other.counters.items():
            self.counters[day].update(fields)
        for key, elements in other.sketches.items():
            self.sketches[key] |= elements
        self.window_expiry.update(other.window_expiry)
        for window, seen in other.firsts.items():
            mine = self.firsts[window]
            for element, first in seen.items():
                if element not in mine or first[0] < mine[element][0]:
                    mine[element] = first
        self.events += other.events
        self.clicks += other.clicks

    def first_groups(self) -> dict[tuple[int, str, str], list[bytes]]:
        """The first-open candidates grouped by (window, day, field), in a stable order."""
        groups: dict[tuple[int, str, str], list[bytes]] = defaultdict(list)
        for window, seen in sorted(self.firsts.items()):
            for element, (_, day, name) in sorted(seen.items()):
                groups[(window, day, name)].append(element)
        return groups


@dataclass
class Batch:
    """Hits of many campaigns, waiting to be written."""

    campaigns: dict[str, CampaignBatch] = field(default_factory=lambda: defaultdict(CampaignBatch))
    writer: str = ""
    """The writing process's random id; with `seq` it makes a retried write idempotent."""
    seq: int = 0
    """Position of this batch in its writer's sequence; 0 means unnumbered (applied as is)."""

    @property
    def events(self) -> int:
        return sum(c.events for c in self.campaigns.values())

    def seq_of(self, part: CampaignBatch) -> int:
        """The sequence number a campaign's part is written with."""
        return part.seq or self.seq

    def __bool__(self) -> bool:
        return bool(self.campaigns)

    def add_open(
        self,
        campaign_id: str,
        timestamp: float,
        class_: str,
        region: str,
        element: bytes | None,
        window: tuple[int, float] | None = None,
        period: int = 3600,
        family: str | None = None,
    ) -> None:
        """Count one open; `element` is the keyed visitor hash (None when no salt could be had).

        With the salt's `window` (its index and expiry), the element is also a first-open
        candidate, counted in the
        release period (of `period` seconds) it falls in; periods shorter than an hour also
        count opens per period. `family` is the mail-client family, counted per UTC day.
        """
        # The pixel's hot path: utc_day's cached lookup is called directly, saving a frame.
        day, hour = _utc_hour(int(timestamp // 3600))
        part = self.campaigns[campaign_id]
        counters = part.counters[day]
        counters[hour_field(hour, class_)] += 1
        counters[region_field(region)] += 1
        if family is not None:
            counters[client_field(family)] += 1
        slot = hour
        if period != 3600:
            slot = int(timestamp % 86400 // period)
            counters[slot_field(slot, class_)] += 1
        if element is not None:
            sketches = part.sketches
            sketches[("u", day, class_)].add(element)
            sketches[("r", day, region)].add(element)
            if window is not None:
                seen = part.firsts.get(window[0])
                if seen is None:
                    seen = part.firsts[window[0]] = {}
                    part.window_expiry[window[0]] = window[1]
                # Hits arrive in time order within a batch: the first one seen is the earliest
                # (merging batches compares times).
                if element not in seen:
                    seen[element] = (timestamp, day, first_field(slot, class_))
        part.events += 1

    def add_click(
        self,
        campaign_id: str,
        timestamp: float,
        class_: str,
        link: str,
        region: str,
        element: bytes | None,
        window: tuple[int, float] | None = None,
        period: int = 3600,
    ) -> None:
        """Count one click on a link; `element` is the keyed clicker hash (None without a salt).

        As with opens: with the salt's `window` the element is also a first-click candidate,
        counted in its release period; clicks are kept per hour (and per shorter period),
        per link and per region over the UTC day, and human clickers per link in a sketch.
        """
        day, hour = utc_day(timestamp)
        part = self.campaigns[campaign_id]
        counters = part.counters[day]
        counters[click_hour_field(hour, class_)] += 1
        slot = hour if period == 3600 else int(timestamp % 86400 // period)
        if period != 3600:
            counters[click_slot_field(slot, class_)] += 1
        counters[link_field(link, class_)] += 1
        counters[click_region_field(region)] += 1
        if element is not None:
            part.sketches[("v", day, class_)].add(element)
            if class_ == "human":
                part.sketches[("k", day, link)].add(element)
            if window is not None:
                seen = part.firsts.get(window[0])
                if seen is None:
                    seen = part.firsts[window[0]] = {}
                    part.window_expiry[window[0]] = window[1]
                first = seen.get(element)
                if first is None or timestamp < first[0]:  # held clicks may come out of order
                    seen[element] = (timestamp, day, first_click_field(slot, class_))
        part.events += 1
        part.clicks += 1

    def add_declined(self, campaign_id: str, timestamp: float) -> None:
        """Count one request that asked not to be counted (Sec-GPC / DNT)."""
        day, _ = utc_day(timestamp)
        part = self.campaigns[campaign_id]
        part.counters[day][DECLINED_FIELD] += 1
        part.events += 1

    def merge(self, other: Batch) -> None:
        for campaign_id, part in other.campaigns.items():
            self.campaigns[campaign_id].merge(part)
