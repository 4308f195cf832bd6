"""The release step: every figure about opens and clicks that leaves pixelagg is a sum of
released cells.

A cell (reports/cells.py) is a count over one closed release period or one closed UTC day, in
one class, region or link. The first time a cell is asked for, its exact count is read from the
store's counters, discrete Laplace noise is added (reports/noise.py) and the noisy value is
frozen in the store with set-if-absent: every later read, by any process, gets the same
number. Sums over ranges, days in any time zone and campaign totals are computed from frozen
cells, so asking again, asking overlapping ranges or sweeping time zones reveals nothing new.
The open period is never shown. The cells of one histogram, level and number are frozen
together, for every dimension of `DOMAINS`, as one group (cells.py).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Generic, TypeVar

from ..core.campaign import Campaign
from ..core.classify import CLASSES, CLICK_CLASSES
from ..core.clients import CLIENT_FAMILIES
from ..core.regions import REGION_DOMAIN, UNKNOWN_REGION
from ..store.batch import (
    DECLINED_FIELD,
    click_hour_field,
    click_slot_field,
    first_click_field,
    first_field,
    hour_field,
    parse_click_field,
    parse_counter_field,
    slot_field,
)
from .cells import DAY, Cell, Clock, Term, cover, pack, unpack
from .noise import Budget, add_noise

if TYPE_CHECKING:
    from ..config import Config
    from ..store import Store

__all__ = ["DOMAINS", "Figure", "Policy", "Release", "day_key", "link_dim"]

K = TypeVar("K")
Z_95 = 1.96
RELEASE_DELAY_SECONDS = 60.0
"""A period is released this long after it ends, so hits still buffered when it ends are in it."""
DOMAINS: dict[str, tuple[str, ...]] = {
    "l": CLASSES,
    "u": CLASSES,
    "r": tuple(sorted(REGION_DOMAIN)),
    "c": CLIENT_FAMILIES,
    "x": ("",),
    "k": CLICK_CLASSES,
    "q": CLICK_CLASSES,
    "g": tuple(sorted(REGION_DOMAIN)),
}
"""Every dimension of each histogram (loads, first opens, regions, clients, declined; clicks,
first clicks and clicks' regions): a group of cells holds them all. Clicks by link ('n') have
no fixed domain (a campaign's links): their cells are frozen one field each."""


@dataclass(frozen=True)
class Policy:
    """How figures are released: the budget (None when exact), the period, the minimum size."""

    budget: Budget | None
    period: int
    delay: float
    retention_seconds: int
    min_recipients: int
    uniques: bool = True
    """Whether unique opens are counted at all (privacy.uniques)."""

    @classmethod
    def from_config(cls, config: Config) -> Policy:
        privacy = config.privacy
        budget = Budget(privacy.epsilon, privacy.uniques) if privacy.epsilon is not None else None
        return cls(
            budget=budget,
            period=privacy.release_period_seconds,
            delay=min(RELEASE_DELAY_SECONDS, float(privacy.release_period_seconds)),
            retention_seconds=privacy.retention_days * 86400,
            min_recipients=privacy.min_recipients,
            uniques=privacy.uniques,
        )

    def reportable(self, campaign: Campaign) -> bool:
        """Whether a campaign is large enough to report: always when exact."""
        if self.budget is None:
            return True
        return campaign.recipients is not None and campaign.recipients >= self.min_recipients


@dataclass(frozen=True)
class Figure:
    """A released sum: its value (noisy, may be below zero) and its noise variance."""

    value: int
    variance: float = 0.0

    @property
    def shown(self) -> int:
        """The value as shown: never below zero."""
        return max(0, self.value)

    @property
    def sd(self) -> float:
        return math.sqrt(self.variance)

    def bounds(self, z: float = Z_95) -> tuple[int, int]:
        """A 95% interval for the exact count, from the noise alone, never below zero."""
        spread = z * self.sd
        return max(0, math.floor(self.value - spread)), max(0, math.ceil(self.value + spread))

    def __add__(self, other: Figure) -> Figure:
        return Figure(self.value + other.value, self.variance + other.variance)


ZERO = Figure(0)


def link_dim(link: str, class_: str) -> str:
    """The dimension of a per-link cell: the link id and the click class."""
    return f"{link}.{class_}"


def day_key(day: int) -> str:
    """The store's name of UTC day number `day` (days since 1970-01-01): YYYYMMDD."""
    return datetime.fromtimestamp(day * DAY, UTC).strftime("%Y%m%d")


class Release(Generic[K]):
    """The released cells of one campaign as of `now`: ask for sums, get frozen noisy figures."""

    def __init__(self, store: Store, campaign: Campaign, policy: Policy, now: float) -> None:
        if policy.budget is None:
            raise ValueError("an exact policy releases counts as they are")
        self.store = store
        self.campaign = campaign
        self.policy = policy
        self.budget = policy.budget
        self.clock = Clock.at(policy.period, campaign.created_at, now, policy.delay)
        self._requests: dict[K, tuple[str, str, list[Term]]] = {}

    # what to release

    def terms(self, kind: str, start: float, end: float) -> list[Term]:
        """The cells whose sum is the count of `kind` over [start, end) in seconds."""
        period = self.policy.period
        return cover(
            math.ceil(start / period),
            math.ceil(end / period),
            self.clock,
            self.budget.variance(kind, "p"),
            self.budget.variance(kind, "d") if (kind, "d") in self.budget.shares else math.inf,
        )

    def closed_days(self, start: float, end: float) -> list[Term]:
        """Day cells of the closed UTC days that overlap [start, end) and the campaign's life."""
        first = max(int(start // DAY), self.clock.created * self.policy.period // DAY)
        last_closed = self.clock.closed * self.policy.period // DAY  # days before this are closed
        last = min(math.ceil(end / DAY), last_closed)
        return [Term(1, "d", day) for day in range(first, last)]

    def ask(self, key: K, kind: str, dim: str, terms: Sequence[Term]) -> None:
        """Ask for the sum of `terms` of histogram `kind` in dimension `dim`, under `key`."""
        self._requests[key] = (kind, dim, list(terms))

    async def answer(self) -> dict[K, Figure]:
        """Every asked-for figure, from cells frozen now or before."""
        # Cells are plain (kind, level, number, dim) tuples here: a report sums tens of
        # thousands of terms (about 250 countries a day), so each one must cost little.
        cells = {
            (kind, t.level, t.number, dim) for kind, dim, terms in self._requests.values() for t in terms
        }
        values = await self._values(cells)
        variances = {h: self.budget.variance(*h) for h in self.budget.shares}
        out: dict[K, Figure] = {}
        for key, (kind, dim, terms) in self._requests.items():
            value = 0
            variance = 0.0
            for sign, level, number in terms:
                value += sign * values[(kind, level, number, dim)]
                variance += variances[(kind, level)]
            out[key] = Figure(value, variance)
        self._requests.clear()
        return out

    # frozen cells

    async def _values(
        self, cells: Iterable[tuple[str, str, int, str]]
    ) -> dict[tuple[str, str, int, str], int]:
        wanted = {cell: Cell(*cell) for cell in cells}
        if not wanted:
            return {}
        campaign_id = self.campaign.id
        groups = {c.group for c in wanted.values() if c.dim in DOMAINS.get(c.kind, ())}
        names = [c.name for c in wanted.values()] + sorted(groups)
        frozen = await self.store.read_released(campaign_id, names)
        values = _frozen_values(wanted, frozen)
        missing = [wanted[key] for key in wanted if key not in values]
        if missing:
            # Every cell of a missing group is released with it; a cell outside the domains
            # (none today) on its own, under its own name.
            todo: dict[str, list[Cell]] = {}
            for cell in missing:
                domain = DOMAINS.get(cell.kind, ())
                if cell.dim in domain:
                    todo.setdefault(cell.group, [cell._replace(dim=dim) for dim in domain])
                else:
                    todo[cell.name] = [cell]
            noisy = await self._noisy([c for group in todo.values() for c in group])
            texts = {
                name: str(noisy[group[0]])
                if name == group[0].name
                else pack({c.dim: noisy[c] for c in group})
                for name, group in todo.items()
            }
            frozen.update(await self.store.release_cells(campaign_id, texts, self.policy.retention_seconds))
            values = _frozen_values(wanted, frozen)
        return values

    async def _noisy(self, cells: list[Cell]) -> dict[Cell, int]:
        """Each cell's exact count from the store's counters, with its noise."""
        days = sorted({self._utc_day(c) for c in cells})
        counters = await self.store.read_counters(self.campaign.id, [day_key(d) for d in days])
        sums = {d: _day_sums(counters.get(day_key(d), {})) for d in days}
        groups: dict[tuple[str, str], list[Cell]] = defaultdict(list)
        for cell in sorted(cells):
            groups[(cell.kind, cell.level)].append(cell)
        noisy: dict[Cell, int] = {}
        for (kind, level), group in groups.items():
            raw = [self._raw(c, counters, sums) for c in group]
            noisy.update(zip(group, add_noise(raw, self.budget.scale(kind, level)), strict=True))
        return noisy

    def _utc_day(self, cell: Cell) -> int:
        return cell.number if cell.level == "d" else cell.number * self.policy.period // DAY

    def _raw(
        self,
        cell: Cell,
        counters: Mapping[str, Mapping[str, int]],
        sums: Mapping[int, Mapping[tuple[str, str], int]],
    ) -> int:
        """The exact count of a cell, from the counters of its UTC day."""
        if cell.level == "d":
            return sums[cell.number].get((cell.kind, cell.dim), 0)
        period = self.policy.period
        seconds = cell.number * period
        fields = counters.get(day_key(seconds // DAY), {})
        slot = seconds % DAY // period
        if cell.kind == "u":
            return fields.get(first_field(slot, cell.dim), 0)
        if cell.kind == "l":
            name = hour_field(slot, cell.dim) if period == 3600 else slot_field(slot, cell.dim)
            return fields.get(name, 0)
        if cell.kind == "q":
            return fields.get(first_click_field(slot, cell.dim), 0)
        if cell.kind == "k":
            name = click_hour_field(slot, cell.dim) if period == 3600 else click_slot_field(slot, cell.dim)
            return fields.get(name, 0)
        raise ValueError(f"no period cells of kind {cell.kind!r}")


def _frozen_values(
    wanted: Mapping[tuple[str, str, int, str], Cell], frozen: Mapping[str, str]
) -> dict[tuple[str, str, int, str], int]:
    """The frozen value of each wanted cell that has one: its own field (frozen by a release
    before groups), else its group's (a dimension absent from the group is a frozen zero)."""
    groups: dict[str, dict[str, int]] = {}
    out: dict[tuple[str, str, int, str], int] = {}
    for key, cell in wanted.items():
        if cell.name in frozen:
            out[key] = int(frozen[cell.name])
        elif cell.group in frozen and cell.dim in DOMAINS.get(cell.kind, ()):
            if cell.group not in groups:
                groups[cell.group] = unpack(frozen[cell.group])
            out[key] = groups[cell.group].get(cell.dim, 0)
    return out


def _day_sums(fields: Mapping[str, int]) -> dict[tuple[str, str], int]:
    """A UTC day's exact counts per (kind, dimension): loads and first opens by class, regions,
    clients, declined; clicks and first clicks by class, clicks by link and class, by region."""
    sums: dict[tuple[str, str], int] = defaultdict(int)
    for name, count in fields.items():
        if name == DECLINED_FIELD:
            sums[("x", "")] += count
            continue
        parsed = parse_counter_field(name)
        if parsed is None:
            click = parse_click_field(name)
            if click is None or click.kind == "j":  # sub-hour clicks repeat the hours'
                continue
            if click.kind == "n":
                sums[("n", link_dim(click.link, click.dim))] += count
            elif click.kind == "g":
                sums[("g", click.dim if click.dim in REGION_DOMAIN else UNKNOWN_REGION)] += count
            else:
                sums[(click.kind, click.dim)] += count
            continue
        kind, _, dim = parsed
        if kind == "h":
            sums[("l", dim)] += count
        elif kind == "f":
            sums[("u", dim)] += count
        elif kind == "r":
            sums[("r", dim if dim in REGION_DOMAIN else UNKNOWN_REGION)] += count
        elif kind == "c":
            sums[("c", dim)] += count
    return sums
