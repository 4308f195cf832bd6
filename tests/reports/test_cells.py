"""Tests for pixelagg.reports.cells: cell names and covering a range with the least noise."""

from __future__ import annotations

import pytest

from pixelagg.reports.cells import Cell, Clock, Term, cover, pack, unpack

HOUR = 3600


def _clock(created_hour: int, closed_hour: int) -> Clock:
    return Clock(period=HOUR, created=created_hour, closed=closed_hour)


def test_cell_name_is_kind_level_index_dimension():
    """The store's field name of a cell spells out all four parts."""
    assert Cell("u", "p", 480_000, "human").name == "up|480000|human"


def test_cell_group_is_kind_level_index():
    """A cell is frozen in the group named by its kind, level and index."""
    assert Cell("r", "d", 20_000, "NL").group == "rd|20000"


@pytest.mark.parametrize(
    "values",
    [{"NL": 3, "DE": -2, "FR": 0}, {"": 5}, {"human": 0}],
    ids=["regions", "declined", "all-zero"],
)
def test_pack_and_unpack_keep_every_value(values):
    """A packed group unpacks to its values; a zero is left out and reads back as absent."""
    assert unpack(pack(values)) == {dim: n for dim, n in values.items() if n}


def test_pack_leaves_zeros_out():
    """The packed text names only the dimensions that are not zero."""
    assert pack({"NL": 3, "DE": 0, "BE": -1}) == "BE=-1,NL=3"


def test_whole_closed_day_is_one_day_cell():
    """A closed day inside the range is its day cell, not 24 period cells."""
    terms = cover(24, 48, _clock(0, 100), var_period=89.0, var_day=32.0)
    assert terms == [Term(1, "d", 1)]


def test_open_day_uses_closed_periods_only():
    """Today (not closed) is summed from its closed periods; the open period is left out."""
    terms = cover(48, 72, _clock(0, 50), var_period=89.0, var_day=32.0)
    assert terms == [Term(1, "p", 48), Term(1, "p", 49)]


def test_periods_before_creation_are_exact_zeros():
    """The creation day is its day cell alone: the periods before creation hold no opens."""
    terms = cover(0, 24, _clock(14, 100), var_period=89.0, var_day=32.0)
    assert terms == [Term(1, "d", 0)]


def test_nearly_whole_day_is_day_minus_the_rest():
    """A day covered but for one period is the day cell minus that period's cell."""
    terms = cover(24, 47, _clock(0, 100), var_period=89.0, var_day=32.0)
    assert terms == [Term(1, "d", 1), Term(-1, "p", 47)]


def test_short_stretch_of_a_day_is_its_periods():
    """Two periods of a closed day are their own cells: cheaper than the day minus 22."""
    terms = cover(30, 32, _clock(0, 100), var_period=89.0, var_day=32.0)
    assert terms == [Term(1, "p", 30), Term(1, "p", 31)]


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 100), (5, 77), (23, 25), (30, 31), (0, 1)],
    ids=["all", "ragged", "midnight", "one", "first"],
)
def test_cover_counts_every_period_once(start, end):
    """Summing the terms' periods counts each period of the range exactly once."""
    clock = _clock(3, 90)
    counts: dict[int, int] = {}
    for term in cover(start, end, clock, var_period=89.0, var_day=32.0):
        periods = range(term.number * 24, term.number * 24 + 24) if term.level == "d" else [term.number]
        for p in periods:
            if p >= clock.created:
                counts[p] = counts.get(p, 0) + term.sign
    expected = {p: 1 for p in range(max(start, 3), min(end, 90))}
    assert {p: n for p, n in counts.items() if n} == expected


def test_clock_closes_periods_after_the_delay():
    """A period is closed only `delay` seconds after it ended."""
    assert Clock.at(HOUR, created_at=0, now=2 * HOUR + 10, delay=30).closed == 1
    assert Clock.at(HOUR, created_at=0, now=2 * HOUR + 40, delay=30).closed == 2
