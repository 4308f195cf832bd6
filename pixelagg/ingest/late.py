"""Hits (opens and clicks) that reach the store after their release period was frozen:
counted, in no released figure.

The release step freezes the cells of a closed period, and of a closed day, the first time they
are read (reports/release.py). A hit of that period that is written later (it waited in the
buffer for a failing store, or was stamped by a clock far behind) is in the store's counters
but in none of the figures released. Before each write, `frozen_checks` names the cells that
the hits of closed periods belong in; the store counts, atomically with the write, those whose
cells are frozen already; `LateHits` counts them (`pixelagg_late_hits_total`) and logs them, by
campaign, at most once a minute.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime

from ..store.batch import CampaignBatch, parse_click_field, parse_counter_field, released_name

__all__ = ["LOG_SECONDS", "LateHits", "frozen_checks"]

log = logging.getLogger("pixelagg.aggregator")

LOG_SECONDS = 60.0
"""Late hits are logged at once, then at most once in this many seconds (the count meanwhile)."""
DAY = 86400


def frozen_checks(
    part: CampaignBatch, period: int, delay: float, now: float
) -> list[tuple[tuple[str, ...], int]]:
    """(the release hash's names of the cells they belong in, hits) for the part's hits of
    release periods that closed by `now`: their period's and their day's loads cell (opens)
    or clicks cell (clicks), as a group and as a cell of its own (releases before groups froze
    those)."""
    closed = int((now - delay) // period)  # periods with a lower number have closed
    per_day = DAY // period
    checks: list[tuple[tuple[str, ...], int]] = []
    for day, fields in part.counters.items():
        number = _day_number(day)
        if number * per_day >= closed:
            continue
        for name, hits in fields.items():
            found = _period_field(name, period)
            if found is None:
                continue
            kind, slot, class_ = found
            p = number * per_day + slot
            if p < closed:
                names = (
                    released_name(kind, "p", p),
                    released_name(kind, "d", number),
                    released_name(kind, "p", p, class_),
                    released_name(kind, "d", number, class_),
                )
                checks.append((names, hits))
    return checks


def _period_field(name: str, period: int) -> tuple[str, int, str] | None:
    """(released kind, period of the day, class) of a field that counts each open ('l') or
    click ('k') in its release period: the hour's fields for hourly periods, else the
    period's. None for every other field."""
    hourly = period == 3600
    parsed = parse_counter_field(name)
    if parsed is not None:
        return ("l", parsed[1], parsed[2]) if parsed[0] == ("h" if hourly else "l") else None
    click = parse_click_field(name)
    if click is not None and click.kind == ("k" if hourly else "j"):
        return "k", click.slot, click.dim
    return None


@functools.lru_cache(maxsize=1024)
def _day_number(day: str) -> int:
    """Days since 1970-01-01 of a YYYYMMDD day."""
    return int(datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC).timestamp()) // DAY


class LateHits:
    """The late hits written so far, and their log line."""

    def __init__(self) -> None:
        self.total = 0
        self._waiting: Counter[str] = Counter()
        self._logged_at = -math.inf

    def add(self, late: Mapping[str, int]) -> None:
        """Count a write's late hits (campaign -> hits); log what waits if the minute is up."""
        for campaign_id, hits in late.items():
            self.total += hits
            self._waiting[campaign_id] += hits
        if self._waiting and time.monotonic() - self._logged_at >= LOG_SECONDS:
            self.log()

    def log(self) -> None:
        """Log the late hits not logged yet, by campaign."""
        if not self._waiting:
            return
        log.warning(
            "%d hits were written after their release period was frozen: they are in the counts "
            "but in no released figure (%d so far; by campaign: %s)",
            sum(self._waiting.values()),
            self.total,
            ", ".join(f"{c}: {n}" for c, n in sorted(self._waiting.items())),
        )
        self._waiting.clear()
        self._logged_at = time.monotonic()
