"""The report's clicks part through the real app: exact (ε off) and released (ε on), with links
folded into 'other' when too few people clicked them.

Released figures are tested at ε 8 on closed days, where each cell's noise has a standard
deviation of 2 to 6: every tolerance below is ten deviations or more, so a test fails only if
a sum is wrong, never by chance.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

import pytest

from pixelagg.config import load
from pixelagg.core.campaign import Campaign, new_campaign_id
from pixelagg.core.links import link_id
from pixelagg.reports.clicks import COUNTS_ONLY_METHOD
from pixelagg.store import Batch
from tests.helpers import AUTH, make_env, store_url

DAY = 86400
RECIPIENTS = 10_000


def _app(request, store_kind, tmp_path, client_for, **settings: str):
    env = make_env(tmp_path, store_url(store_kind, request), **settings)
    return client_for(load(environ=env))


def _campaign(client, created: float) -> str:
    campaign = Campaign(id=new_campaign_id(), name="clicks", created_at=created, recipients=RECIPIENTS)
    client.portal.call(client.service.store.create_campaign, campaign)
    return campaign.id


def _link(client, campaign_id: str, url: str) -> str:
    link = link_id(campaign_id, url)
    client.portal.call(client.service.store.add_link, campaign_id, link, url, 200)
    return link


def _clicks(client, campaign_id: str, link: str, n: int, when: float, class_: str = "human") -> None:
    """n distinct clickers, one click each, written as the aggregator would."""
    batch = Batch()
    for _ in range(n):
        batch.add_click(campaign_id, when, class_, link, "NL", secrets.token_bytes(16), (0, when + 7 * DAY))
    client.portal.call(client.service.store.write_batch, batch)


def _opens(client, campaign_id: str, n: int, when: float) -> None:
    batch = Batch()
    for _ in range(n):
        batch.add_open(campaign_id, when, "human", "NL", secrets.token_bytes(16), (0, when + 7 * DAY), 3600)
    client.portal.call(client.service.store.write_batch, batch)


def _report(client, campaign_id: str, **params: str) -> dict:
    response = client.get(f"/api/campaigns/{campaign_id}/stats", params=params, headers=AUTH)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _two_days_ago() -> tuple[float, str]:
    """10:00 UTC two days ago (every cell of that day is closed), and that day as YYYY-MM-DD."""
    when = (time.time() // DAY - 2) * DAY + 10 * 3600
    return when, time.strftime("%Y-%m-%d", time.gmtime(when))


@pytest.fixture
def faint(request, store_kind, tmp_path, client_for):
    """The release step with little noise (ε 8), min_bucket 40."""
    return _app(
        request,
        store_kind,
        tmp_path,
        client_for,
        PIXELAGG_PRIVACY_EPSILON="8",
        PIXELAGG_PRIVACY_MIN_BUCKET="40",
    )


@pytest.fixture
def clicked(faint):
    """A campaign two days old: 400 people clicked its offer, a scanner 100 times its other link,
    and five recipients once each their own link (a sender's link per recipient)."""
    when, day = _two_days_ago()
    campaign_id = _campaign(faint, when - DAY)
    offer = _link(faint, campaign_id, "https://example.org/offer")
    other = _link(faint, campaign_id, "https://example.org/other")
    own = [_link(faint, campaign_id, f"https://example.org/r/{n}") for n in range(5)]
    _clicks(faint, campaign_id, offer, 400, when)
    _clicks(faint, campaign_id, other, 100, when, "scanner")
    for link in own:
        _clicks(faint, campaign_id, link, 1, when)
    return campaign_id, day, offer, other, own


# released


def test_released_clicks_are_near_the_truth(faint, clicked):
    """405 people's clicks and 100 scanner clicks come back, by class, within the noise."""
    campaign_id, day, *_ = clicked
    clicks = _report(faint, campaign_id, **{"from": day, "to": day})["clicks"]
    assert abs(clicks["by_class"]["human"] - 405) < 60
    assert abs(clicks["by_class"]["scanner"] - 100) < 60
    assert abs(clicks["unique_clickers"]["human"]["estimate"] - 405) < 45
    assert clicks["links"] == 7


def test_released_link_rows_are_near_the_truth(faint, clicked):
    """The two links many clicked have rows of their own, with their URL and their clicks by class."""
    campaign_id, day, offer, other, _ = clicked
    rows = {r["id"]: r for r in _report(faint, campaign_id, **{"from": day, "to": day})["clicks"]["by_link"]}
    assert rows[offer]["url"] == "https://example.org/offer"
    assert abs(rows[offer]["by_class"]["human"] - 400) < 20
    assert abs(rows[other]["by_class"]["scanner"] - 100) < 20
    assert rows[offer]["unique_human_clickers"] is None  # links are released as clicks only


def test_a_link_per_recipient_is_never_shown_alone(faint, clicked):
    """Links clicked once each stay below the threshold: no row names them, they are in 'other'."""
    campaign_id, day, _, _, own = clicked
    rows = _report(faint, campaign_id, **{"from": day, "to": day})["clicks"]["by_link"]
    assert not {r["id"] for r in rows} & set(own)
    assert all(r["url"] is None for r in rows if r["id"] == "other")


def test_released_click_rate_is_clickers_over_recipients(faint, clicked):
    """The click rate is about 405 / 10,000, its interval the clickers' over the recipients."""
    campaign_id, day, *_ = clicked
    clicks = _report(faint, campaign_id, **{"from": day, "to": day})["clicks"]
    rate, human = clicks["click_rate"], clicks["unique_clickers"]["human"]
    assert abs(rate["estimate"] - 0.0405) < 0.0045
    assert rate["low"] == pytest.approx(human["low"] / RECIPIENTS, abs=1e-4)
    assert rate["high"] == pytest.approx(human["high"] / RECIPIENTS, abs=1e-4)


def test_released_click_to_open_rate_is_clickers_over_readers(faint, clicked):
    """With readers, the click-to-open rate is human clickers over open rate x recipients."""
    campaign_id, day, *_ = clicked
    when, _ = _two_days_ago()
    _opens(faint, campaign_id, 2000, when)
    report = _report(faint, campaign_id, **{"from": day, "to": day})
    ctor, clickers = report["clicks"]["click_to_open_rate"], report["clicks"]["unique_clickers"]["human"]
    readers = report["open_rate"]["estimate"] * RECIPIENTS
    assert ctor["estimate"] == pytest.approx(clickers["estimate"] / readers, abs=2e-4)
    assert ctor["low"] <= ctor["estimate"] <= ctor["high"]


def test_released_clicks_are_frozen(faint, clicked):
    """Asking again gives the same clicks: the cells are frozen once released."""
    campaign_id, day, *_ = clicked
    first = _report(faint, campaign_id, **{"from": day, "to": day})["clicks"]
    assert _report(faint, campaign_id, **{"from": day, "to": day})["clicks"] == first


def test_clicks_of_the_open_period_are_not_shown(request, store_kind, tmp_path, client_for):
    """A fresh campaign's clicks, still in the open period, show as nothing at all."""
    client = _app(request, store_kind, tmp_path, client_for, PIXELAGG_PRIVACY_EPSILON="1")
    campaign_id = _campaign(client, time.time())
    _clicks(client, campaign_id, _link(client, campaign_id, "https://example.org/"), 50, time.time())
    clicks = _report(client, campaign_id)["clicks"]
    assert (clicks["total"], clicks["by_link"], clicks["by_region"]) == (0, [], [])


def test_counts_only_releases_no_clickers(request, store_kind, tmp_path, client_for):
    """With privacy.uniques off there are clicks but no clickers, so no click rates."""
    client = _app(
        request,
        store_kind,
        tmp_path,
        client_for,
        PIXELAGG_PRIVACY_EPSILON="8",
        PIXELAGG_PRIVACY_UNIQUES="false",
    )
    when, day = _two_days_ago()
    campaign_id = _campaign(client, when - DAY)
    _clicks(client, campaign_id, _link(client, campaign_id, "https://example.org/"), 300, when)
    clicks = _report(client, campaign_id, **{"from": day, "to": day})["clicks"]
    assert abs(clicks["by_class"]["human"] - 300) < 60
    assert clicks["unique_clickers"]["method"] == COUNTS_ONLY_METHOD
    assert (clicks["click_rate"], clicks["click_to_open_rate"]) == (None, None)


# exact


@pytest.fixture
def exact(request, store_kind, tmp_path, client_for):
    return _app(request, store_kind, tmp_path, client_for, PIXELAGG_PRIVACY_MIN_BUCKET="2")


def test_exact_clicks_fall_on_local_days(exact):
    """A click at 23:30 UTC is on the next local day in Amsterdam."""
    late = datetime(2025, 3, 3, 23, 30, tzinfo=UTC).timestamp()
    campaign_id = _campaign(exact, late - DAY)
    _clicks(exact, campaign_id, _link(exact, campaign_id, "https://example.org/"), 1, late)
    days = _report(exact, campaign_id, **{"from": "2025-03-03", "to": "2025-03-04", "tz": "Europe/Amsterdam"})
    assert [(d["date"], d["clicks"]) for d in days["clicks"]["by_day"]] == [
        ("2025-03-03", 0),
        ("2025-03-04", 1),
    ]


def test_exact_regions_below_min_bucket_are_other(exact):
    """Countries with fewer clicks than min_bucket are summed in 'other'."""
    now = time.time()
    campaign_id = _campaign(exact, now)
    link = _link(exact, campaign_id, "https://example.org/")
    batch = Batch()
    for region in ("NL", "NL", "DE"):
        batch.add_click(campaign_id, now, "human", link, region, secrets.token_bytes(16))
    exact.portal.call(exact.service.store.write_batch, batch)
    regions = _report(exact, campaign_id)["clicks"]["by_region"]
    assert regions == [{"region": "NL", "clicks": 2}, {"region": "other", "clicks": 1}]


def test_exact_unique_clickers_count_each_clicker_once(exact):
    """Three clicks of one clicker on two links are one clicker, on each link one person."""
    now = time.time()
    campaign_id = _campaign(exact, now)
    links = [_link(exact, campaign_id, f"https://example.org/{n}") for n in range(2)]
    batch = Batch()
    element = secrets.token_bytes(16)
    for link in (*links, links[0]):
        batch.add_click(campaign_id, now, "human", link, "NL", element)
    batch.add_click(campaign_id, now, "human", links[0], "NL", secrets.token_bytes(16))
    exact.portal.call(exact.service.store.write_batch, batch)
    clicks = _report(exact, campaign_id)["clicks"]
    assert clicks["unique_clickers"]["human"]["estimate"] == 2
    people = {
        r["id"]: r["unique_human_clickers"]["estimate"] for r in clicks["by_link"] if r["id"] != "other"
    }
    assert people == {links[0]: 2}  # the second link's one person is below min_bucket (2)
