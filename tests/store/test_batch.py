"""Tests for pixelagg.store.batch: pre-aggregated hits between flushes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pixelagg.store.batch import (
    DECLINED_FIELD,
    Batch,
    hour_field,
    parse_click_field,
    parse_counter_field,
    region_field,
    utc_day,
)

A = "AbCdEfGhIjKlMnOp"
B = "0123456789_-abcd"
# 2025-11-01 09:15 UTC and 2025-11-01 23:59:59 UTC and 2025-11-02 00:00 UTC
T9 = datetime(2025, 11, 1, 9, 15, tzinfo=UTC).timestamp()
T23 = datetime(2025, 11, 1, 23, 59, 59, tzinfo=UTC).timestamp()
NEXT = datetime(2025, 11, 2, 0, 0, tzinfo=UTC).timestamp()
DAY = "20251101"


def test_empty_batch_is_falsy():
    """A new batch is empty and counts no events."""
    batch = Batch()
    assert not batch
    assert batch.events == 0


def test_counters_sum_per_field():
    """Opens in the same hour, class and region add up in one field."""
    batch = Batch()
    for _ in range(3):
        batch.add_open(A, T9, "human", "NL", None)
    batch.add_open(A, T9, "human", "DE", None)
    batch.add_open(A, T9, "apple_mpp", "NL", None)
    batch.add_open(A, T23, "human", "NL", None)
    counters = batch.campaigns[A].counters[DAY]
    assert counters == {
        "h|09|human": 4,
        "h|09|apple_mpp": 1,
        "h|23|human": 1,
        "r|NL": 5,
        "r|DE": 1,
    }


def test_days_are_utc():
    """A hit at midnight UTC lands on the next day."""
    batch = Batch()
    batch.add_open(A, T23, "human", "NL", None)
    batch.add_open(A, NEXT, "human", "NL", None)
    assert set(batch.campaigns[A].counters) == {DAY, "20251102"}
    assert batch.campaigns[A].counters["20251102"] == {"h|00|human": 1, "r|NL": 1}


def test_sketch_elements_dedupe():
    """An element added twice is kept once; the class and the region sketch both get it."""
    batch = Batch()
    batch.add_open(A, T9, "human", "NL", b"e1")
    batch.add_open(A, T9, "human", "NL", b"e1")
    batch.add_open(A, T23, "human", "DE", b"e2")
    sketches = batch.campaigns[A].sketches
    assert sketches == {
        ("u", DAY, "human"): {b"e1", b"e2"},
        ("r", DAY, "NL"): {b"e1"},
        ("r", DAY, "DE"): {b"e2"},
    }


def test_open_without_element_adds_no_sketch():
    """An open without a visitor hash is counted but adds no sketch element."""
    batch = Batch()
    batch.add_open(A, T9, "human", "NL", None)
    assert batch.campaigns[A].sketches == {}
    assert batch.campaigns[A].counters[DAY]["h|09|human"] == 1


def test_declined_field():
    """A declined request increments only the day's 'declined' field and adds no sketch."""
    batch = Batch()
    batch.add_declined(A, T9)
    batch.add_declined(A, T23)
    part = batch.campaigns[A]
    assert part.counters == {DAY: {DECLINED_FIELD: 2}}
    assert part.sketches == {}
    assert part.events == 2


def test_events_count():
    """events counts every open and declined request, over all campaigns."""
    batch = Batch()
    batch.add_open(A, T9, "human", "NL", b"e")
    batch.add_open(A, T9, "human", "NL", b"e")
    batch.add_declined(A, T9)
    batch.add_open(B, T9, "bot", "unknown", None)
    assert batch.campaigns[A].events == 3
    assert batch.campaigns[B].events == 1
    assert batch.events == 4
    assert batch


def test_campaigns_are_kept_apart():
    """Hits of two campaigns go to separate parts."""
    batch = Batch()
    batch.add_open(A, T9, "human", "NL", b"a")
    batch.add_open(B, T9, "human", "NL", b"b")
    assert batch.campaigns[A].sketches[("u", DAY, "human")] == {b"a"}
    assert batch.campaigns[B].sketches[("u", DAY, "human")] == {b"b"}


def test_merge_of_two_batches():
    """Merging sums counters and events and unions sketch elements, per campaign."""
    first, second = Batch(), Batch()
    first.add_open(A, T9, "human", "NL", b"e1")
    first.add_declined(A, T9)
    second.add_open(A, T9, "human", "NL", b"e1")
    second.add_open(A, T9, "human", "NL", b"e2")
    second.add_open(B, T23, "scanner", "unknown", None)
    first.merge(second)
    assert first.campaigns[A].counters[DAY] == {"h|09|human": 3, "r|NL": 3, DECLINED_FIELD: 1}
    assert first.campaigns[A].sketches[("u", DAY, "human")] == {b"e1", b"e2"}
    assert first.campaigns[B].counters[DAY] == {"h|23|scanner": 1, "r|unknown": 1}
    assert first.events == 5


def test_merge_leaves_the_other_batch_alone():
    """Merging does not change the batch merged in."""
    first, second = Batch(), Batch()
    second.add_open(A, T9, "human", "NL", b"e1")
    first.merge(second)
    first.add_open(A, T9, "human", "NL", b"e2")
    assert second.campaigns[A].sketches[("u", DAY, "human")] == {b"e1"}
    assert second.events == 1


def test_merge_into_empty_batch():
    """Merging into an empty batch copies the other one."""
    empty, full = Batch(), Batch()
    full.add_open(A, T9, "human", "NL", b"e1")
    empty.merge(full)
    assert empty.campaigns[A].counters == full.campaigns[A].counters
    assert empty.events == 1


@pytest.mark.parametrize(
    ("hour", "class_"),
    [(0, "human"), (9, "apple_mpp"), (23, "image_proxy")],
    ids=["midnight", "morning", "last-hour"],
)
def test_hour_field_round_trip(hour, class_):
    """parse_counter_field(hour_field(h, c)) gives back ('h', h, c); the hour has two digits."""
    name = hour_field(hour, class_)
    assert name.split("|")[1] == f"{hour:02d}"
    assert parse_counter_field(name) == ("h", hour, class_)


@pytest.mark.parametrize("region", ["NL", "unknown", "proxy"], ids=str)
def test_region_field_round_trip(region):
    """parse_counter_field(region_field(r)) gives back ('r', -1, r)."""
    assert parse_counter_field(region_field(region)) == ("r", -1, region)


@pytest.mark.parametrize(
    "name",
    [DECLINED_FIELD, "h|09", "h|09|human|x", "h|xx|human", "h|9|human", "r|", "09|human|NL", ""],
    ids=[
        "declined",
        "two-parts",
        "four-parts",
        "hour-not-digits",
        "one-digit",
        "empty-region",
        "old",
        "empty",
    ],
)
def test_parse_counter_field_rejects_other_fields(name):
    """Fields that are not opens fields parse to None."""
    assert parse_counter_field(name) is None


def test_utc_day():
    """utc_day gives the UTC day as YYYYMMDD and the UTC hour."""
    assert utc_day(T9) == (DAY, 9)
    assert utc_day(T23) == (DAY, 23)
    assert utc_day(NEXT) == ("20251102", 0)


def test_click_counters_per_hour_link_and_region():
    """A click is counted in its hour and class, its link and class, and its region."""
    batch = Batch()
    batch.add_click(A, T9, "human", "LinkAAAAAA", "NL", None)
    batch.add_click(A, T9, "scanner", "LinkAAAAAA", "NL", None)
    batch.add_click(A, T9, "human", "LinkBBBBBB", "DE", None)
    assert batch.campaigns[A].counters[DAY] == {
        "k|09|human": 2,
        "k|09|scanner": 1,
        "n|LinkAAAAAA|human": 1,
        "n|LinkAAAAAA|scanner": 1,
        "n|LinkBBBBBB|human": 1,
        "g|NL": 2,
        "g|DE": 1,
    }
    assert (batch.campaigns[A].events, batch.campaigns[A].clicks) == (3, 3)


def test_click_sketches_per_class_and_human_link():
    """A clicker's hash goes into its class's sketch, and a person's into the link's too."""
    batch = Batch()
    batch.add_click(A, T9, "human", "LinkAAAAAA", "NL", b"h" * 16)
    batch.add_click(A, T9, "bot", "LinkAAAAAA", "NL", b"b" * 16)
    assert batch.campaigns[A].sketches == {
        ("v", DAY, "human"): {b"h" * 16},
        ("v", DAY, "bot"): {b"b" * 16},
        ("k", DAY, "LinkAAAAAA"): {b"h" * 16},
    }


def test_first_click_is_the_earliest_even_out_of_order():
    """Held clicks may reach the batch late: the first click is the earliest, in its period."""
    batch = Batch()
    window = (0, T23 + 86400)
    batch.add_click(A, T23, "human", "LinkAAAAAA", "NL", b"e" * 16, window)
    batch.add_click(A, T9, "human", "LinkAAAAAA", "NL", b"e" * 16, window)
    assert batch.campaigns[A].firsts[0][b"e" * 16] == (T9, DAY, "q|9|human")


def test_clicks_in_short_periods_get_slot_fields():
    """With release periods under an hour, clicks are also counted per period."""
    batch = Batch()
    batch.add_click(A, T9, "human", "LinkAAAAAA", "NL", None, period=900)
    assert batch.campaigns[A].counters[DAY]["j|37|human"] == 1


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("k|09|human", ("k", 9, "", "human")),
        ("j|37|bot", ("j", 37, "", "bot")),
        ("q|9|scanner", ("q", 9, "", "scanner")),
        ("n|LinkAAAAAA|human", ("n", -1, "LinkAAAAAA", "human")),
        ("g|NL", ("g", -1, "", "NL")),
        ("h|09|human", None),
        ("r|NL", None),
        ("k|9|human", None),
        ("n||human", None),
    ],
    ids=["hour", "slot", "first", "link", "region", "open-hour", "open-region", "short-hour", "no-link"],
)
def test_parse_click_field(name, parsed):
    """Click fields parse to their parts; fields of opens and malformed ones do not."""
    assert parse_click_field(name) == parsed


def test_open_fields_are_no_click_fields():
    """Click fields are not taken for opens' fields (reports read both from one hash)."""
    for name in ("k|09|human", "j|37|bot", "q|9|scanner", "n|LinkAAAAAA|human", "g|NL"):
        assert parse_counter_field(name) is None
