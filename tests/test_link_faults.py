"""Links while Redis hangs, against a real `pixelagg serve` and a real Valkey: the redirect never
waits longer than the lookup budget, never guesses a target, and counts again afterwards."""

from __future__ import annotations

import time

import httpx
import pytest

from tests import valkey as vk
from tests.faults import metric, readyz, revocable_writer
from tests.helpers import AUTH, BROWSER_UA, make_env, wait_for

pytestmark = pytest.mark.slow

URL = "https://example.org/spring"


def _follow(http: httpx.Client, tracking_url: str, k: int = 0) -> httpx.Response:
    headers = {"X-Forwarded-For": f"81.2.{k // 250 % 250}.{k % 250 + 1}", "User-Agent": BROWSER_UA}
    return http.get(tracking_url, headers=headers, follow_redirects=False)


def _link(http: httpx.Client, url: str) -> tuple[str, str]:
    campaign = http.post(
        url + "/api/campaigns", json={"name": "Links", "recipients": 100}, headers=AUTH
    ).json()
    link = http.post(f"{url}/api/campaigns/{campaign['id']}/links", json={"url": URL}, headers=AUTH).json()
    return campaign["id"], link["tracking_url"]


def test_unknown_link_while_redis_hangs_is_a_page_at_once(serve, tmp_path):
    """A process that does not know the link, on a hung Redis, answers a 503 page without a
    redirect, sending at most a probe at a time; once Redis answers, the link redirects."""
    redis = vk.ValkeyProcess(tmp_path / "valkey").start()
    try:
        env = make_env(tmp_path, redis.url, PIXELAGG_SERVER_PUBLIC_URL="http://placeholder")
        first = serve(env, name="first")
        with httpx.Client() as http:
            _, tracking = _link(http, first.url)
        first.stop()
        redis.pause()
        server = serve(env, name="hung")
        path = tracking.removeprefix("http://placeholder")
        with httpx.Client() as http:
            before = metric(http, server, "pixelagg_store_round_trips_total")
            answers = [_follow(http, server.url + path, k) for k in range(100)]
            assert {(r.status_code, r.headers["x-pixelagg"]) for r in answers} == {(503, "store-unavailable")}
            assert not any("location" in r.headers for r in answers)
            assert metric(http, server, "pixelagg_store_round_trips_total") - before <= 10, (
                "no lookup per click"
            )
            redis.resume()
            assert wait_for(lambda: _follow(http, server.url + path).status_code == 302, timeout=15)
            assert _follow(http, server.url + path).headers["location"] == URL
    finally:
        redis.stop()


def test_known_link_while_redis_hangs_still_redirects(serve, tmp_path):
    """A process that knows the link redirects while Redis hangs, and the clicks it answered
    counted are written once Redis answers again."""
    redis = vk.ValkeyProcess(tmp_path / "valkey").start()
    try:
        server = serve(make_env(tmp_path, redis.url))
        with httpx.Client() as http:
            campaign_id, tracking = _link(http, server.url)
            redis.pause()
            answers = [_follow(http, tracking, k) for k in range(20)]
            assert {(r.status_code, r.headers["location"]) for r in answers} == {(302, URL)}
            counted = sum(r.headers["x-pixelagg"] == "counted" for r in answers)
            redis.resume()

            def clicks() -> int:
                stats = http.get(f"{server.url}/api/campaigns/{campaign_id}/stats", headers=AUTH).json()
                return int(stats["clicks"]["total"])

            assert counted == 20
            assert wait_for(lambda: clicks() == counted, timeout=20)
    finally:
        redis.stop()


def test_clicks_written_after_their_period_was_frozen_are_counted_as_late(serve, tmp_path):
    """Replica a cannot write (it still reads, so it finds the link) while b reads the report,
    which freezes the 1-second periods a's clicks belong in; once a writes them, exactly those
    clicks are counted as late hits (metric and /readyz), as late opens are."""
    with revocable_writer(serve, tmp_path) as (redis, a, b), httpx.Client() as http:
        campaign, tracking = _link(http, b.url)
        path = "/l/" + tracking.split("/l/", 1)[1]
        redis.command("ACL", "SETUSER", "a", "-@write")  # a still reads: it finds the link
        answers = [_follow(http, a.url + path, k) for k in range(1, 21)]
        assert {r.status_code for r in answers} == {302}
        # The click window holds clicks 2 s, then a's writes fail and wait for a retry.
        assert wait_for(lambda: readyz(http, a).json()["writes"] == "retrying", timeout=30)
        time.sleep(3)  # the clicks' periods closed (1 s) and their release delay passed (1 s)
        b.stats(http, campaign)  # freezes every closed period
        redis.command("ACL", "SETUSER", "a", "+@write")
        assert wait_for(lambda: metric(http, a, "pixelagg_late_hits_total") == 20, timeout=30)
        assert readyz(http, a).json()["late_hits"] == 20
