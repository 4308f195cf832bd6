"""Tests for pixelagg.reports.stats: bounds, small-region merging, classes, hours, and HLL accuracy."""

from __future__ import annotations

import csv
import io
import math
import random
import signal
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from click.testing import CliRunner

from pixelagg.cli import cli
from pixelagg.config import load
from pixelagg.core.campaign import Campaign, new_campaign_id
from pixelagg.core.classify import CLASSES, MACHINE_CLASSES
from pixelagg.reports.report import Bounds, Report
from pixelagg.reports.stats import RELATIVE_ERROR, StatsQuery, bounds, campaign_stats
from pixelagg.reports.stats import merge_small_regions as merge
from pixelagg.store import Batch, open_store
from pixelagg.web.app import create_app
from tests.helpers import BROWSER_UA, AppClient, make_env, wait_for

LOOPBACK = ("127.0.0.1", 50000)
# Addresses that iptocc places in each country, one per unique visitor.
IPS = {
    "US": ["8.8.8.8", "8.8.4.4", "8.8.8.9"],
    "GB": ["81.2.69.160", "212.58.244.20"],
    "NL": ["80.80.80.80", "145.1.1.1"],
}
APPLE_MPP_UA = "Mozilla/5.0"
GMAIL_PROXY_UA = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
TRUTH = 20_000
DAY = date(2025, 3, 3)
NOON = datetime(2025, 3, 3, 12, tzinfo=UTC).timestamp()
OUTPUTS = ["json", "csv", "cli-table", "cli-csv"]
Z_95 = 1.96


# bounds()


@pytest.mark.parametrize("store", ["embedded", "redis"])
@pytest.mark.parametrize(
    "estimate", [1.0, 99.6, 2_500.0, 20_000.0, 1_000_000.0], ids=["1", "99.6", "2.5k", "20k", "1M"]
)
def test_bounds_surround_the_rounded_estimate(estimate, store):
    """The estimate is rounded and lies between its low and high bounds."""
    b = bounds(estimate, store)
    assert b.estimate == round(estimate)
    assert 0 <= b.low <= b.estimate <= b.high


def test_bounds_of_nothing_are_zero():
    """No opens: estimate, low and high are all 0."""
    assert bounds(0.0, "embedded") == Bounds(estimate=0, low=0, high=0)


@pytest.mark.parametrize("store", ["embedded", "redis"])
@pytest.mark.parametrize("estimate", [20_000.0, 1_000_000.0], ids=["20k", "1M"])
def test_bounds_are_at_most_about_1_6_percent_wide(estimate, store):
    """The calibrated 95% interval is at most about the textbook 1.96 x 1.04/128 (+/-1.6%) a side.

    The measured spread is narrower on the embedded store below a million (docs/metrics.md).
    """
    b = bounds(estimate, store)
    assert 0.009 <= (b.high - estimate) / estimate <= 0.017
    assert 0.009 <= (estimate - b.low) / estimate <= 0.017


# merge_small_regions()


@pytest.mark.parametrize(
    ("regions", "k", "kept", "merged"),
    [
        ({"US": (5, 3.0)}, 3, ["US"], []),
        ({"US": (5, 3.0), "GB": (4, 2.0)}, 3, ["US"], ["GB"]),
        ({"GB": (4, 2.0), "NL": (1, 1.0)}, 3, [], ["GB", "NL"]),
        ({"GB": (4, 2.0), "NL": (1, 1.0), "JP": (0, 0.0)}, 0, ["GB", "JP", "NL"], []),
        ({"US": (3, 2.6), "GB": (3, 2.4)}, 3, ["US"], ["GB"]),
        ({"other": (9, 9.0), "US": (3, 3.0)}, 3, ["US"], ["other"]),
        ({}, 3, [], []),
    ],
    ids=[
        "exactly-k-kept",
        "k-minus-1-merged",
        "all-below-k",
        "k-0-keeps-all",
        "rounded-estimate-decides",
        "other-is-never-its-own-region",
        "no-regions",
    ],
)
def test_merge_small_regions(regions, k, kept, merged):
    """Buckets with at least k rounded uniques are kept as they are; the rest are named merged."""
    got_kept, got_merged = merge(regions, k)
    assert sorted(got_kept) == kept
    assert got_merged == merged
    assert all(got_kept[r] == regions[r] for r in got_kept)


# every output: API JSON, API CSV, CLI table, CLI CSV


def _from_json(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "regions": {r["region"]: (r["opens"], r["unique_opens"]) for r in report["by_region"]},
        "by_class": dict(report["opens"]["by_class"]),
        "human_uniques": report["unique_opens"]["human"]["estimate"],
        "machine_share": report["machine_share"],
        "by_client": report["by_client"],
    }


def _from_csv(text: str) -> dict[str, Any]:
    """The CSV has no machine share: it is made from the class rows, as a reader would."""
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:2] == ["section", "key"]
    by_class = {key: int(opens) for section, key, opens, *_ in rows if section == "class"}
    total = next(int(r[2]) for r in rows if r[:2] == ["total", "all"])
    return {
        "regions": {r[1]: (int(r[2]), int(r[3])) for r in rows if r[0] == "region"},
        "by_class": by_class,
        "human_uniques": next(int(r[3]) for r in rows if r[:2] == ["total", "human"]),
        "machine_share": sum(by_class[c] for c in MACHINE_CLASSES) / total if total else None,
    }


def _section(lines: list[str], header: str) -> list[list[str]]:
    start = next(n for n, line in enumerate(lines) if line.startswith(header)) + 1
    rows = []
    for line in lines[start:]:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


def _from_table(text: str) -> dict[str, Any]:
    lines = text.splitlines()
    human = next(line for line in lines if line.startswith("Unique human opens"))
    share = next(line for line in lines if line.startswith("Machine share")).split()[-1]
    return {
        "regions": {r: (int(o), int(u)) for r, o, u in _section(lines, "REGION")},
        "by_class": {c: int(o) for c, o, _ in _section(lines, "CLASS")},
        "human_uniques": int(human.split()[3]),
        "machine_share": None if share == "-" else float(share.rstrip("%")) / 100,
    }


def report_in(output: str, env: dict[str, str], hits: list[tuple[str, str]]) -> dict[str, Any]:
    """Send the hits to a new campaign and read its stats back through one output."""
    with AppClient(create_app(load(environ=env)), client=LOOPBACK) as client:
        campaign_id = client.create()["id"]
        for ip, ua in hits:
            client.hit(campaign_id, ip=ip, ua=ua)
        client.flush()
        if output == "json":
            return _from_json(client.stats(campaign_id))
        if output == "csv":
            response = client.get(
                f"/api/campaigns/{campaign_id}/stats.csv", headers={"Authorization": _bearer(env)}
            )
            return _from_csv(response.text)
    # The CLI reads the store itself, once the app has let go of it (and saved it).
    args = ["stats", campaign_id, *(["--csv"] if output == "cli-csv" else [])]
    result = CliRunner().invoke(cli, args, env={**env, "PIXELAGG_CONFIG": None})
    assert result.exit_code == 0, result.output
    return _from_csv(result.stdout) if output == "cli-csv" else _from_table(result.stdout)


def _bearer(env: dict[str, str]) -> str:
    return f"Bearer {env['PIXELAGG_ADMIN_TOKEN']}"


@pytest.fixture
def env_with(store_kind, request, tmp_path):
    """This test's environment on its store, with extra PIXELAGG_* settings."""

    def make(**extra: str) -> dict[str, str]:
        url = request.getfixturevalue("redis_url") if store_kind == "redis" else None
        return make_env(tmp_path, url, **extra)

    return make


@pytest.mark.parametrize(
    ("visitors", "expected"),
    [
        ({"US": 3}, {"US": (6, 3)}),
        ({"US": 3, "GB": 2}, {"US": (6, 3), "other": (4, 2)}),
        ({"GB": 2, "NL": 1}, {"other": (6, 3)}),
    ],
    ids=["exactly-k-kept", "k-minus-1-merged", "all-below-k-only-other"],
)
@pytest.mark.parametrize("output", OUTPUTS)
def test_small_regions_are_merged_in_every_output(env_with, output, visitors, expected):
    """With min_bucket 3, regions of fewer unique visitors show only as 'other' (P6)."""
    env = env_with(PIXELAGG_PRIVACY_MIN_BUCKET="3")
    hits = [(ip, BROWSER_UA) for region, n in visitors.items() for ip in IPS[region][:n]] * 2
    assert report_in(output, env, hits)["regions"] == expected


def test_by_client_merges_small_families_into_other(env_with):
    """Loads per mail-client family, as shares of the counted families: a family with fewer
    than min_bucket loads goes into 'other' like a small region, and bots belong to none."""
    env = env_with(PIXELAGG_PRIVACY_MIN_BUCKET="3")
    outlook = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)"
    thunderbird = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0"
    hits = [
        *((f"66.249.84.{i}", GMAIL_PROXY_UA) for i in (1, 2, 3)),
        *((ip, outlook) for ip in IPS["US"][:2]),
        (IPS["GB"][0], thunderbird),
        *((ip, "python-requests/2.31.0") for ip in IPS["NL"]),
    ]
    assert report_in("json", env, hits)["by_client"] == [
        {"family": "gmail", "opens": 3, "share": 0.5},
        {"family": "other", "opens": 3, "share": 0.5},
    ]


@pytest.mark.parametrize("output", OUTPUTS)
def test_classes_in_every_output(env_with, output):
    """Every output shows the same classes, machine share, human uniques and 'proxy' region."""
    # machine_share = (apple_mpp + scanner + bot) / total; human uniques = human + image_proxy;
    # apple_mpp and image_proxy fetch through a proxy, so their region is 'proxy'.
    env = env_with(PIXELAGG_PRIVACY_MIN_BUCKET="0")
    hits = [
        ("8.8.8.8", BROWSER_UA),
        ("81.2.69.160", BROWSER_UA),
        ("133.1.1.1", BROWSER_UA),
        ("80.80.80.80", APPLE_MPP_UA),
        ("66.249.84.1", GMAIL_PROXY_UA),
        ("1.1.1.1", "python-requests/2.31.0"),
        ("41.1.1.1", "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))"),
    ]
    report = report_in(output, env, hits)
    assert report["by_class"] == {
        "human": 3,
        "apple_mpp": 1,
        "image_proxy": 1,
        "scanner": 1,
        "bot": 1,
    }
    assert list(report["by_class"]) == list(CLASSES)
    assert report["machine_share"] == pytest.approx(3 / 7, abs=5e-4)
    assert report["human_uniques"] == 4
    assert report["regions"] == {
        "proxy": (2, 2),
        "US": (1, 1),
        "GB": (1, 1),
        "JP": (1, 1),
        "AU": (1, 1),
        "ZA": (1, 1),
    }


def test_by_hour_covers_the_first_72_hours(client):
    """Hourly rows cover the 72 hours from the first open's hour, and not the 72nd onwards."""
    store = client.service.store
    campaign_id = client.create()["id"]
    first = datetime(2025, 6, 2, 10, 15, tzinfo=UTC).timestamp()
    client.portal.call(store.window_salt, campaign_id, first, 7 * 86400)
    for hours in (0, 71, 72, 100):
        batch = Batch()
        batch.add_open(campaign_id, first + hours * 3600, "human", "US", random.randbytes(16))
        client.portal.call(store.write_batch, batch)
    stats = client.stats(campaign_id, **{"from": "2025-06-02", "to": "2025-06-07"})
    assert stats["opens"]["total"] == 4
    assert [(row["hour"], row["opens"]) for row in stats["by_hour"]] == [
        ("2025-06-02T10:00:00+00:00", 1),
        ("2025-06-05T09:00:00+00:00", 1),
    ]


@pytest.mark.slow
def test_cli_prints_the_same_report_through_the_api(tmp_path, serve):
    """The CLI's table, JSON and CSV read through the API equal those read from the store."""
    env = make_env(tmp_path, None, PIXELAGG_PRIVACY_MIN_BUCKET="2")
    served = serve(env)
    with httpx.Client(timeout=5) as http:
        campaign = served.create(http, recipients=9)
        for ip, ua in [
            *((ip, BROWSER_UA) for ips in IPS.values() for ip in ips),
            ("80.80.80.80", APPLE_MPP_UA),
        ]:
            http.get(
                f"{served.url}/p/{campaign['id']}.gif", headers={"X-Forwarded-For": ip, "User-Agent": ua}
            )
        wait_for(lambda: served.stats(http, campaign["id"])["opens"]["total"] == 8)
    outputs = [[], ["--json"], ["--csv"]]

    def run_all() -> list[str]:
        results = []
        for extra in outputs:
            args = ["stats", campaign["id"], "--tz", "Europe/Amsterdam", *extra]
            result = CliRunner().invoke(cli, args, env={**env, "PIXELAGG_CONFIG": None})
            assert result.exit_code == 0, result.output
            results.append(result.stdout)
        return results

    asked = served.logs().count("GET /api/campaigns/{id}/stats 200")
    through_api = run_all()
    wait_for(lambda: served.logs().count("GET /api/campaigns/{id}/stats 200") == asked + len(outputs))
    assert served.stop() in (0, -signal.SIGTERM)
    from_store = run_all()
    assert through_api == from_store
    assert "  observed           77.8%" in through_api[0]  # 7 unique human opens of 9


# HyperLogLog accuracy, with synthetic visitors written straight into the store


def _visitors(seed: int, n: int = TRUTH) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(16) for _ in range(n)]


async def _feed(store, elements: list[bytes]) -> Campaign:
    campaign = Campaign(id=new_campaign_id(), name="synthetic", created_at=NOON)
    await store.create_campaign(campaign)
    batch = Batch()
    for element in elements:
        batch.add_open(campaign.id, NOON, "human", "US", element)
    assert (await store.write_batch(batch)).written == len(elements)
    return campaign


async def _report(store, campaign: Campaign) -> Report:
    return await campaign_stats(store, campaign, StatsQuery(DAY, DAY, ZoneInfo("UTC"), 0))


@pytest.mark.anyio
async def test_bounds_contain_the_true_count(config):
    """20,000 distinct visitors: every unique figure's 95% bounds contain 20,000."""
    store = open_store(config)
    try:
        campaign = await _feed(store, _visitors(seed=2025))
        report = await _report(store, campaign)
    finally:
        await store.close()
    u = report.unique_opens
    assert report.opens.total == TRUTH
    for figure in (u, u.human, u.by_class["human"]):
        assert figure.low <= TRUTH <= figure.high
    (day,) = report.by_day
    (region,) = report.by_region
    for estimate in (u.estimate, day.unique_opens, region.unique_opens):
        assert abs(estimate - TRUTH) <= Z_95 * RELATIVE_ERROR * TRUTH


@pytest.mark.anyio
async def test_bounds_cover_the_truth_across_seeds(config):
    """The 95% bounds contain the truth for 8 of 10 seeds (Redis: 4 of 5), and are < 5% wide.

    Threshold: if each interval covers with probability 0.95, the chance of fewer than 8
    covers in 10 is 1.2% (fewer than 4 in 5: 2.3%), so a failure means the bounds are too
    narrow or the sketch is biased, not bad luck. The seeds are fixed, so the run is
    deterministic; the threshold says how much slack a change of seeds may need.
    """
    seeds, needed = (range(10), 8) if config.is_embedded else (range(5), 4)
    store = open_store(config)
    covered = 0
    try:
        for seed in seeds:
            u = (await _report(store, await _feed(store, _visitors(seed)))).unique_opens
            covered += u.low <= TRUTH <= u.high
            assert u.high - u.low < 0.05 * TRUTH
    finally:
        await store.close()
    assert covered >= needed


@pytest.mark.anyio
async def test_stores_agree_within_hll_error(tmp_path, redis_url):
    """The same 20,000 elements give estimates on both stores that agree within HLL error."""
    # Two independent estimates differ by at most 1.96 x sqrt(2) x 0.81% at 95%.
    estimates = []
    for name, url in (("embedded", None), ("redis", redis_url)):
        store = open_store(load(environ=make_env(tmp_path / name, url)))
        try:
            report = await _report(store, await _feed(store, _visitors(seed=7)))
        finally:
            await store.close()
        estimates.append(report.unique_opens.estimate)
    embedded, redis = estimates
    assert abs(embedded - redis) <= Z_95 * math.sqrt(2) * RELATIVE_ERROR * TRUTH
