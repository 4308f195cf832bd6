"""Faults against real processes: the store goes away, crashes, comes back; the wall clock
steps by days. No count is lost, and no salt window moves."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx
import pytest

from pixelagg.core.privacy import SALT_GRACE_SECONDS
from tests import valkey as vk
from tests.faults import answered_total, faketime_env, hits, metric, reconciled, total
from tests.helpers import AUTH, Served, Stream, make_env, store_url, wait_for

pytestmark = pytest.mark.slow


def test_store_down_loses_no_hit(serve, tmp_path):
    """Redis stopped mid-stream: every hit still gets the GIF fast, and all are written after restart."""
    redis = vk.ValkeyProcess(tmp_path / "valkey", appendonly="yes").start()
    try:
        server = serve(make_env(tmp_path, redis.url, PIXELAGG_STORE_FLUSH_INTERVAL_MS="25"))
        with httpx.Client() as http:
            campaign = server.create(http)
            with Stream(server.url, campaign["id"]) as stream:
                assert wait_for(lambda: stream.counted > 200, timeout=30)
                redis.stop()
                before = stream.counted
                ready = wait_for(lambda: (r := http.get(server.url + "/readyz")).status_code == 503 and r)
                assert ready and ready.json()["status"] == "degraded"
                answered = wait_for(lambda: stream.counted > before + 200, timeout=30)
                assert answered, "hits were answered and buffered while Redis was down"
                redis.restart()
                time.sleep(1)  # hits after the restart too
            sent = stream.counted
            counted = wait_for(lambda: answered_total(http, server, campaign["id"]) == sent, timeout=30)
            assert counted, f"expected {sent} opens"
            assert stream.slowest < 1.0, "the pixel never waited for the store"
            assert http.get(server.url + "/readyz").status_code == 200
    finally:
        redis.stop()


def test_store_crash_loses_at_most_one_second(serve, tmp_path):
    """Redis SIGKILLed with appendfsync everysec: at most the last ~1 s of writes is lost, and
    what is lost is counted as lost.

    Bound checked: hits counted after the restart >= hits answered more than 3 s before the kill
    (one fsync second, which Valkey stretches to two while an fsync is slow on a loaded disk by
    postponing its AOF writes, plus flush intervals and scheduling slack), and the hits counted
    plus those counted as lost are the hits answered.
    """
    redis = vk.ValkeyProcess(tmp_path / "valkey", appendonly="yes", appendfsync="everysec").start()
    try:
        server = serve(make_env(tmp_path, redis.url, PIXELAGG_STORE_FLUSH_INTERVAL_MS="25"))
        with httpx.Client() as http:
            campaign = server.create(http)
            with Stream(server.url, campaign["id"]) as stream:
                # Enough hits older than the bound that it says something, however slow the machine.
                assert wait_for(
                    lambda: _answered_before(stream, time.monotonic() - LOSS_BOUND) > 300, timeout=60
                )
                killed_at = time.monotonic()
                safe = _answered_before(stream, killed_at - LOSS_BOUND)
                redis.kill()
                time.sleep(0.5)
                redis.restart()
                time.sleep(0.5)  # hits after the restart show the server what the store lost
            sent = stream.counted
            settled = wait_for(lambda: reconciled(http, server, campaign["id"], sent), timeout=60)
            assert settled, f"{sent} answered, {total(http, server, campaign['id'])} counted"
            assert total(http, server, campaign["id"]) >= safe
    finally:
        redis.stop()


def _server_date(http: httpx.Client, server: Served) -> float:
    """The server's wall clock, from its Date header."""
    return parsedate_to_datetime(http.get(server.url + "/healthz").headers["date"]).timestamp()


def _uniques(http: httpx.Client, server: Served, campaign_id: str) -> int:
    return int(server.stats(http, campaign_id)["unique_opens"]["estimate"])


def _salt_patterns(http: httpx.Client, server: Served) -> dict[str, dict[str, float]]:
    """The audit's salt and seen-set patterns (count and TTLs), by kind."""
    audit = http.get(server.url + "/api/audit", headers=AUTH).json()
    return {
        kind: p
        for p in audit["patterns"]
        for kind in ("salt", "seen")
        if p["pattern"].endswith(f":{kind}:{{window}}")
    }


@pytest.mark.parametrize("kind", ["embedded", "redis"])
def test_a_wall_clock_step_of_days_moves_no_salt_window(serve, tmp_path, request, kind):
    """The wall clock steps ten days ahead (past the 7-day window) and back: the same 100
    visitors are one window's 100 uniques throughout, one salt and one seen set exist, neither
    with a TTL above the window plus grace, and no count expires."""
    faked, offset = faketime_env(tmp_path)
    server = serve(make_env(tmp_path, store_url(kind, request), **faked))
    bound = 7 * 86400 + SALT_GRACE_SECONDS
    with httpx.Client() as http:
        campaign = server.create(http)["id"]
        assert hits(http, server, campaign, 100)["counted"] == 100
        offset.write_text("+10d\n")
        assert wait_for(lambda: _server_date(http, server) > time.time() + 9 * 86400)
        assert hits(http, server, campaign, 100)["counted"] == 100, "the same 100 visitors"
        assert wait_for(lambda: total(http, server, campaign) == 200)
        assert metric(http, server, "pixelagg_restamped_hits_total") >= 100
        assert _uniques(http, server, campaign) < 110, "no new window opened: not counted twice"
        patterns = _salt_patterns(http, server)
        assert patterns["salt"]["count"] == 1 and patterns["salt"]["ttl_max"] <= bound
        assert patterns["seen"]["count"] == 1 and patterns["seen"]["ttl_max"] <= bound + 1
        offset.write_text("+0s\n")
        assert wait_for(lambda: abs(_server_date(http, server) - time.time()) < 5)
        assert hits(http, server, campaign, 100)["counted"] == 100, "the same 100 once more"
        assert wait_for(lambda: total(http, server, campaign) == 300), "no count expired"
        assert _uniques(http, server, campaign) < 110
        assert _salt_patterns(http, server)["salt"]["count"] == 1


LOSS_BOUND = 3.0
"""Seconds before a crash after which answered hits may be lost (see the test above)."""


def _answered_before(stream: Stream, moment: float) -> int:
    return sum(1 for t in list(stream.answered_at) if t < moment)
