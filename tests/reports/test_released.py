"""The release step through the real app: counted opens come back as noisy, frozen figures."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest

from pixelagg.config import load
from pixelagg.core.campaign import Campaign, new_campaign_id
from pixelagg.reports.noise import Budget
from pixelagg.reports.release import Policy
from pixelagg.reports.released import released_report
from tests.helpers import AUTH, BROWSER_UA, make_env, store_url

GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


def _private_app(request, store_kind, tmp_path, client_for, epsilon: str, period: str = "1"):
    env = make_env(
        tmp_path,
        store_url(store_kind, request),
        PIXELAGG_PRIVACY_EPSILON=epsilon,
        PIXELAGG_PRIVACY_RELEASE_PERIOD_SECONDS=period,
    )
    return client_for(load(environ=env))


@pytest.fixture
def private(request, store_kind, tmp_path, client_for):
    """An app with the release step on: ε 1, one-second periods."""
    return _private_app(request, store_kind, tmp_path, client_for, "1.0")


@pytest.fixture
def faint(request, store_kind, tmp_path, client_for):
    """The release step with little noise (ε 8), so a figure's distance from the truth is testable.

    At ε 1 a fresh campaign's total sums some thirty period cells of noise (sd about 40): a
    bound that never fails by chance would say nothing. At ε 8 the sd is about 4.
    """
    return _private_app(request, store_kind, tmp_path, client_for, "8.0")


@pytest.fixture
def hourly(request, store_kind, tmp_path, client_for):
    """The release step with hour-long periods: the period of a hit stays open for the test."""
    return _private_app(request, store_kind, tmp_path, client_for, "1.0", period="3600")


def _wait_for_release(client, seconds: float = 2.2) -> None:
    client.flush()
    time.sleep(seconds)  # the periods of the hits close, then one more period of delay


def _stats(client, campaign_id):
    response = client.get(f"/api/campaigns/{campaign_id}/stats", headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def _two_reads_in_one_period(client, campaign_id):
    """Two reports read in the same release period: a period that closes between two reads
    adds its (noisy) cell to the second, so the pair is read again until none did."""
    for _ in range(50):
        first, again = _stats(client, campaign_id), _stats(client, campaign_id)
        if first["privacy"]["released_until"] == again["privacy"]["released_until"]:
            return first, again
    raise AssertionError("a one-second period closed between every two reads")


def test_figures_are_released_under_the_privacy_mode(private):
    """At ε 1 the report says it is released with differential privacy, and at which ε."""
    campaign = private.create(recipients=1000)
    for n in range(20):
        private.hit(campaign["id"], ip=f"198.51.100.{n + 1}")
    _wait_for_release(private)
    report = _stats(private, campaign["id"])
    assert report["privacy"]["mode"] == "differential_privacy"
    assert report["privacy"]["epsilon"] == 1.0


def test_figures_are_released_with_noise_near_the_truth(faint):
    """200 distinct readers come back as about 200 opens and unique human opens.

    The tolerance is ten noise deviations or more (and the sketch is exact at 200), so this
    fails only if the released sums are wrong, not by chance; the intervals' coverage is
    measured by the seeded simulations (bench/simulate.py, docs/metrics.md).
    """
    campaign = faint.create(recipients=1000)
    for n in range(200):
        faint.hit(campaign["id"], ip=f"198.51.{n // 250}.{n % 250 + 1}")
    _wait_for_release(faint)
    report = _stats(faint, campaign["id"])
    human = report["unique_opens"]["human"]
    assert human["low"] <= human["estimate"] <= human["high"]
    assert abs(human["estimate"] - 200) < 40
    assert abs(report["opens"]["total"] - 200) < 60


def test_returning_reader_is_one_unique(private):
    """One reader opening five times is five opens but one unique (a first open, counted once)."""
    campaign = private.create(recipients=1000)
    before = time.time()
    for _ in range(5):
        private.hit(campaign["id"], ip="198.51.100.9")
    private.flush()
    # The hits' UTC day, or both days if the test ran across midnight.
    days = sorted({time.strftime("%Y%m%d", time.gmtime(t)) for t in (before, time.time())})
    counters = private.portal.call(private.service.store.read_counters, campaign["id"], days)
    fields = [(k, n) for day in counters.values() for k, n in day.items()]
    assert sum(n for k, n in fields if k.startswith("f|")) == 1
    assert sum(n for k, n in fields if k.startswith("h|")) == 5


def test_repeated_reads_are_identical(private):
    """Reading the same figures again gives the same noisy numbers: no averaging attack."""
    campaign = private.create(recipients=1000)
    for n in range(30):
        private.hit(campaign["id"], ip=f"203.0.113.{n + 1}", ua=GMAIL if n % 3 else BROWSER_UA)
    _wait_for_release(private)
    first, again = _two_reads_in_one_period(private, campaign["id"])
    assert first["unique_opens"] == again["unique_opens"] and first["opens"] == again["opens"]


def test_the_open_period_is_not_shown(hourly):
    """A hit in a period that has not closed is in no released figure yet."""
    # The hit's hour is released a minute after it ends: not before the stats below.
    campaign = hourly.create(recipients=1000)
    hit_at = time.time()
    hourly.hit(campaign["id"])
    hourly.flush()
    report = _stats(hourly, campaign["id"])
    assert datetime.fromisoformat(report["privacy"]["released_until"]).timestamp() <= hit_at
    assert report["opens"]["total"] == 0 and report["unique_opens"]["human"]["estimate"] == 0


def test_a_new_campaign_says_when_its_first_figures_come_out(hourly):
    """Until its first release period has closed, a campaign's report names when its first
    figures come out: the end of the hour it was made in, plus the minute of delay."""
    campaign = hourly.create(recipients=1000)
    hourly.hit(campaign["id"])
    hourly.flush()
    report = _stats(hourly, campaign["id"])
    first_close = (int(datetime.fromisoformat(campaign["created_at"]).timestamp()) // 3600 + 1) * 3600
    assert datetime.fromisoformat(report["privacy"]["first_figures_at"]).timestamp() == first_close + 60


# Kolkata's midnight is 18:30 UTC: the first hour-long period of a local day starts at 19:00.
KOLKATA_DAY = date(2026, 6, 1)
KOLKATA_MIDNIGHT = datetime(2026, 5, 31, 18, 30, tzinfo=UTC).timestamp()


@pytest.mark.anyio
@pytest.mark.parametrize(("minutes", "expected"), [(20, "20:01"), (45, "20:01"), (90, "20:01"), (92, None)])
async def test_first_figures_of_a_day_that_starts_mid_period(store, minutes, expected):
    """In a zone whose midnight falls inside a release period, a local day's first period is
    the first that starts in it (19:00 UTC for Kolkata): its figures come at 20:01, and until
    then the day shows none, however long after midnight it is read."""
    campaign = Campaign(
        id=new_campaign_id(), name="c", created_at=KOLKATA_MIDNIGHT - 2 * 86400, recipients=1000
    )
    await store.create_campaign(campaign)
    now = KOLKATA_MIDNIGHT + minutes * 60
    policy = Policy(Budget(1.0), period=3600, delay=60, retention_seconds=30 * 86400, min_recipients=50)
    report = await released_report(store, campaign, KOLKATA_DAY, KOLKATA_DAY, "Asia/Kolkata", 5, policy, now)
    first = report.privacy.first_figures_at
    assert (None if first is None else first.astimezone(UTC).strftime("%H:%M")) == expected


def test_first_figures_at_is_null_once_figures_are_out(private):
    """Once a period of the campaign's life has been released, no first-figures time is given."""
    campaign = private.create(recipients=1000)
    _wait_for_release(private)
    assert _stats(private, campaign["id"])["privacy"]["first_figures_at"] is None


def test_small_campaign_is_withheld(private):
    """Below privacy.min_recipients the answer is a reason, not figures."""
    campaign = private.create(recipients=3)
    private.hit(campaign["id"])
    report = _stats(private, campaign["id"])
    assert report["status"] == "too_few_recipients"
    assert "opens" not in report and "min_recipients" in report["message"]


def test_campaign_without_recipients_is_withheld(private):
    """A campaign with no recipients figure reports nothing until one is set."""
    campaign = private.create()
    assert _stats(private, campaign["id"])["status"] == "too_few_recipients"


def test_first_hit_time_is_not_shown(private):
    """The campaign's exact first-open time is withheld under differential privacy."""
    campaign = private.create(recipients=1000)
    private.hit(campaign["id"])
    private.flush()
    shown = private.get(f"/api/campaigns/{campaign['id']}", headers=AUTH).json()
    assert shown["first_hit_at"] is None
    listed = private.get("/api/campaigns", headers=AUTH).json()["campaigns"]
    assert [c["first_hit_at"] for c in listed] == [None]


def test_compare_lists_withheld_campaigns_without_figures(private):
    """The compare endpoint shows a small campaign's status and no figures."""
    small = private.create(recipients=2)
    big = private.create(recipients=500)
    response = private.get(f"/api/stats?campaigns={small['id']},{big['id']}", headers=AUTH)
    rows = response.json()["campaigns"]
    assert [r["status"] for r in rows] == ["too_few_recipients", "ok"]
    assert rows[0]["opens"] is None and rows[0]["unique_opens"] is None


def test_counts_only_mode_creates_no_salt(store_kind, request, tmp_path, client_for):
    """privacy.uniques off: opens are counted, but no salt, seen set or sketch is ever stored."""
    env = make_env(tmp_path, store_url(store_kind, request), PIXELAGG_PRIVACY_UNIQUES="false")
    client = client_for(load(environ=env))
    campaign = client.create(recipients=100)
    for n in range(5):
        client.hit(campaign["id"], ip=f"198.51.100.{n + 1}")
    report = client.stats(campaign["id"])
    assert report["opens"]["total"] == 5
    assert report["unique_opens"]["method"].startswith("Not counted")
    store = client.service.store

    async def patterns():
        keys = store.scan(store.keys.campaign_pattern(campaign["id"]))
        return {store.keys.pattern_of(info.key).rsplit("}:", 1)[1] async for info in keys}

    assert client.portal.call(patterns) == {"meta", "w", "d:{YYYYMMDD}"}
