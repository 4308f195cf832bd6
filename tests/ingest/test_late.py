"""Tests for pixelagg.ingest.late: which hits are checked against frozen cells, and their log."""

from __future__ import annotations

import logging

import pytest

from pixelagg.ingest.late import LateHits, frozen_checks
from pixelagg.reports.cells import Cell
from pixelagg.store import Batch

DAY = 86400
NOW = 20_000 * DAY + 12 * 3600 + 1800  # 12:30 UTC on day 20,000


def _part(*stamps: float, period: int = 3600):
    batch = Batch()
    for stamp in stamps:
        batch.add_open("c", stamp, "human", "NL", None, None, period)
    return batch.campaigns["c"]


def _clicks(*stamps: float, period: int = 3600):
    batch = Batch()
    for stamp in stamps:
        batch.add_click("c", stamp, "human", "Lk3q2-4Wd8", "NL", None, None, period)
    return batch.campaigns["c"]


@pytest.mark.parametrize(("make", "kind"), [(_part, "l"), (_clicks, "k")], ids=["opens", "clicks"])
def test_hits_of_closed_periods_are_checked_against_their_cells(make, kind):
    """Opens (clicks) of an hour that closed are checked against that hour's and that day's
    loads (clicks) cells, as groups and as cells of their own; those of the open hour are not."""
    part = make(NOW - 2 * 3600, NOW - 2 * 3600 + 5, NOW)
    (names, hits), *others = frozen_checks(part, 3600, 60.0, NOW)
    assert others == [] and hits == 2
    hour = int((NOW - 2 * 3600) // 3600)
    assert names == (
        Cell(kind, "p", hour, "human").group,
        Cell(kind, "d", 20_000, "human").group,
        Cell(kind, "p", hour, "human").name,
        Cell(kind, "d", 20_000, "human").name,
    )


def test_a_period_is_checked_only_after_its_release_delay():
    """The hour that ended 30 s ago is not released yet (60 s delay): its hits are not checked."""
    part = _part(NOW - 1800 - 10)
    assert frozen_checks(part, 3600, 60.0, NOW - 1800 + 30) == []
    assert len(frozen_checks(part, 3600, 60.0, NOW - 1800 + 61)) == 1


@pytest.mark.parametrize(("make", "kind"), [(_part, "l"), (_clicks, "k")], ids=["opens", "clicks"])
def test_short_periods_are_checked_per_period(make, kind):
    """With 60-second periods each closed minute's opens (clicks) are checked once, against
    that minute's cells (not once more for their hour field)."""
    part = make(NOW - 300, NOW - 240, NOW - 239, period=60)
    checks = sorted(frozen_checks(part, 60, 60.0, NOW))
    minute = int((NOW - 300) // 60)
    assert [(names[0], hits) for names, hits in checks] == [
        (Cell(kind, "p", minute, "human").group, 1),
        (Cell(kind, "p", minute + 1, "human").group, 2),
    ]


def test_late_hits_are_logged_at_once_then_once_a_minute(caplog):
    """The first late hits are logged at once by campaign; more within the minute wait for the
    next line (or log()), which says how many so far."""
    late = LateHits()
    with caplog.at_level(logging.WARNING, logger="pixelagg.aggregator"):
        late.add({"A": 3})
        late.add({"A": 2, "B": 1})
        assert len(caplog.records) == 1 and "3 hits" in caplog.records[0].getMessage()
        late.log()
    assert late.total == 6
    assert caplog.records[1].getMessage().startswith("3 hits were written after their release period")
    assert "(6 so far; by campaign: A: 2, B: 1)" in caplog.records[1].getMessage()
