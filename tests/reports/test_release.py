"""Tests for pixelagg.reports.release: frozen noisy cells, sums over ranges, the open period."""

from __future__ import annotations

import secrets
import time

import pytest

from pixelagg.config import load
from pixelagg.core.campaign import Campaign, new_campaign_id
from pixelagg.core.regions import REGION_DOMAIN
from pixelagg.reports.cells import DAY, Term, unpack
from pixelagg.reports.noise import Budget
from pixelagg.reports.release import Figure, Policy, Release
from pixelagg.store import Batch, open_store
from tests.helpers import make_env

pytestmark = pytest.mark.anyio

HOUR = 3600
POLICY = Policy(Budget(1.0), period=HOUR, delay=60, retention_seconds=30 * DAY, min_recipients=50)


async def _campaign(store, created_at: float) -> Campaign:
    campaign = Campaign(id=new_campaign_id(), name="c", created_at=created_at, recipients=1000)
    await store.create_campaign(campaign)
    return campaign


async def _open(store, campaign, when: float, n: int = 1, class_: str = "human") -> None:
    batch = Batch()
    for _ in range(n):
        batch.add_open(campaign.id, when, class_, "NL", secrets.token_bytes(16), (0, when + 7 * DAY))
    await store.write_batch(batch)


def _day_start(t: float) -> float:
    return t // DAY * DAY


async def _totals(store, campaign, now, start, end):
    release = Release(store, campaign, POLICY, now)
    release.ask("u", "u", "human", release.terms("u", start, end))
    release.ask("l", "l", "human", release.terms("l", start, end))
    return await release.answer()


async def test_repeated_reads_return_identical_figures(store):
    """Asking twice, from a second Release (another process), gives the same noisy numbers."""
    now = time.time()
    c = await _campaign(store, now - 3 * DAY)
    await _open(store, c, now - 2 * DAY, n=40)
    first = await _totals(store, c, now, c.created_at, now)
    second = await _totals(store, c, now + 1, c.created_at, now)
    assert first == second


async def test_figures_are_near_the_counts(store):
    """Released sums are within a few noise deviations of the exact counts."""
    now = time.time()
    c = await _campaign(store, now - 3 * DAY)
    await _open(store, c, now - 2 * DAY, n=300)
    figures = await _totals(store, c, now, c.created_at, now)
    for figure in figures.values():
        assert abs(figure.value - 300) <= 6 * figure.sd


async def test_the_open_period_is_not_released(store):
    """Opens in the period that has not closed yet are in no released figure."""
    now = time.time()
    c = await _campaign(store, now - 3 * DAY)
    release = Release(store, c, POLICY, now)
    terms = release.terms("l", c.created_at, now + HOUR)
    assert all(t.number < release.clock.closed for t in terms if t.level == "p")
    this_period = int(now // HOUR)
    assert all(t.number != this_period for t in terms if t.level == "p")


async def test_overlapping_ranges_reuse_frozen_cells(store):
    """Two overlapping ranges are sums of the same frozen cells: their difference is a cell sum."""
    now = time.time()
    created = _day_start(now) - 3 * DAY
    c = await _campaign(store, created)
    await _open(store, c, created + DAY + 5 * HOUR, n=25)
    long = await _totals(store, c, now, created, created + 3 * DAY)
    short = await _totals(store, c, now, created, created + 2 * DAY)
    day3 = await _totals(store, c, now, created + 2 * DAY, created + 3 * DAY)
    assert long["u"].value == short["u"].value + day3["u"].value


async def test_periods_before_creation_cost_no_noise(store):
    """The creation day is one day cell: the hours before creation are exact zeros."""
    now = time.time()
    created = _day_start(now) - 2 * DAY + 20 * HOUR
    c = await _campaign(store, created)
    release = Release(store, c, POLICY, now)
    terms = release.terms("u", _day_start(created), _day_start(created) + DAY)
    assert [(t.level, t.sign) for t in terms] == [("d", 1)]


async def test_variance_is_the_sum_of_the_cells(store):
    """A figure's variance adds its cells' noise variances."""
    now = time.time()
    created = _day_start(now) - 3 * DAY
    c = await _campaign(store, created)
    figures = await _totals(store, c, now, created, created + 3 * DAY)
    assert figures["u"].variance == pytest.approx(3 * POLICY.budget.variance("u", "d"))


def test_figure_bounds_never_go_below_zero():
    """A noisy figure near zero has a lower bound of zero, and its shown value is never negative."""
    figure = Figure(-3, 32.0)
    assert figure.shown == 0
    low, high = figure.bounds()
    assert low == 0 and high >= 8


def test_exact_policy_has_no_release():
    """With epsilon off there is nothing to release: counts are reported as they are."""
    exact = Policy(None, period=HOUR, delay=60, retention_seconds=DAY, min_recipients=50)
    campaign = Campaign(id=new_campaign_id(), name="c", created_at=0.0)
    with pytest.raises(ValueError):
        Release(None, campaign, exact, 0.0)  # type: ignore[arg-type]
    assert exact.reportable(campaign)


@pytest.mark.parametrize(
    ("recipients", "reportable"), [(None, False), (49, False), (50, True)], ids=["unset", "49", "50"]
)
def test_small_campaigns_are_not_reportable(recipients, reportable):
    """Under the release step a campaign needs min_recipients recipients to report figures."""
    campaign = Campaign(id=new_campaign_id(), name="c", created_at=0.0, recipients=recipients)
    assert POLICY.reportable(campaign) is reportable


async def test_a_days_regions_are_frozen_as_one_group(store):
    """Asking one country of a closed day freezes every country of it in one field; asking
    another later reads it from there."""
    now = time.time()
    c = await _campaign(store, _day_start(now) - 3 * DAY)
    day = int(now // DAY) - 2
    release = Release(store, c, POLICY, now)
    release.ask("NL", "r", "NL", [Term(1, "d", day)])
    await release.answer()
    frozen = await store.read_released(c.id, [f"rd|{day}", f"rd|{day}|NL", f"rd|{day}|DE"])
    assert list(frozen) == [f"rd|{day}"]
    release.ask("DE", "r", "DE", [Term(1, "d", day)])
    de = (await release.answer())["DE"].value
    assert de == unpack(frozen[f"rd|{day}"]).get("DE", 0)


async def test_a_cell_frozen_before_groups_keeps_its_value(store):
    """A cell an older release froze in a field of its own keeps that value; its group's other
    cells are frozen beside it."""
    now = time.time()
    c = await _campaign(store, _day_start(now) - 3 * DAY)
    day = int(now // DAY) - 2
    await store.release_cells(c.id, {f"ld|{day}|human": "1234"}, 3600)
    release = Release(store, c, POLICY, now)
    for class_ in ("human", "bot"):
        release.ask(class_, "l", class_, [Term(1, "d", day)])
    got = await release.answer()
    assert got["human"].value == 1234
    assert f"ld|{day}" in await store.read_released(c.id, [f"ld|{day}"])


async def test_a_closed_day_of_regions_takes_under_3_kb_on_redis(redis_url, tmp_path):
    """Every country of 30 closed days released: Redis keeps under 3 KB a day (a field per cell
    took 10.6 KB)."""
    store = open_store(load(environ=make_env(tmp_path, redis_url)))
    try:
        now = time.time()
        c = await _campaign(store, _day_start(now) - 31 * DAY)
        release = Release(store, c, POLICY, now)
        closed = release.closed_days(c.created_at, now)
        assert len(closed) == 31
        for region in REGION_DOMAIN:
            release.ask(region, "r", region, closed)
        await release.answer()
        used = await store.redis.memory_usage(store.keys.released(c.id), samples=0)
        assert used < 3 * 1024 * len(closed)
    finally:
        await store.close()
