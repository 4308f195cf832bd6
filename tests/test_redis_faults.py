"""Redis that is not fit for purpose, against a real `pixelagg serve` and real Valkey servers:
an evicting policy, a restart without persistence, a failover that lost writes, a campaign
paused by another replica, a server that hangs at start-up. Every test reconciles the hits
answered `counted` with the opens stored and the hits counted as lost."""

from __future__ import annotations

import shutil
import time

import httpx
import pytest

from tests import valkey as vk
from tests.faults import answered_total, hits, lost, metric, readyz, reconciled, revocable_writer, total
from tests.helpers import AUTH, Stream, make_env, wait_for

pytestmark = pytest.mark.slow


def test_an_evicting_redis_is_not_ready(serve, tmp_path):
    """maxmemory-policy other than noeviction: /readyz answers 503 naming the setting, the log
    says so, and setting noeviction makes the service ready again."""
    redis = vk.ValkeyProcess(tmp_path / "valkey", maxmemory="64mb", maxmemory_policy="allkeys-lru").start()
    try:
        server = serve(make_env(tmp_path, redis.url))
        with httpx.Client() as http:
            ready = wait_for(
                lambda: (
                    (r := readyz(http, server)).status_code == 503
                    and "maxmemory_policy" in r.json()["problems"]
                    and r
                )
            )
            assert ready, "an evicting server is reported"
            problem = ready.json()["problems"]["maxmemory_policy"]
            assert "maxmemory-policy" in problem and "allkeys-lru" in problem and "noeviction" in problem
            campaign = server.create(http)["id"]
            assert hits(http, server, campaign, 10)["counted"] == 10, "pixels are still counted"
            redis.command("CONFIG", "SET", "maxmemory-policy", "noeviction")
            assert wait_for(lambda: readyz(http, server).status_code == 200, timeout=15)
        assert "maxmemory-policy is not 'noeviction'" in server.logs()
    finally:
        redis.stop()


def test_a_full_redis_refuses_writes_and_nothing_is_lost(serve, tmp_path):
    """noeviction and maxmemory reached: the write scripts are refused (OOM), the hits wait and
    /readyz says so; once there is room, every hit answered counted is written."""
    redis = vk.ValkeyProcess(tmp_path / "valkey", maxmemory_policy="noeviction").start()
    try:
        server = serve(make_env(tmp_path, redis.url))
        with httpx.Client() as http:
            campaign = server.create(http)["id"]
            counted = hits(http, server, campaign, 20)["counted"]
            assert wait_for(lambda: total(http, server, campaign) == counted)
            for n in range(200):  # 2 MB outside pixelagg's prefix, then a limit below what is used
                redis.command("SET", f"filler:{n}", "x" * 10_000)
            redis.command("CONFIG", "SET", "maxmemory", "1mb")
            with pytest.raises(vk.ValkeyError, match="OOM"):
                redis.command("SET", "filler:more", "x")
            counted += hits(http, server, campaign, 30, first=20)["counted"]
            ready = wait_for(
                lambda: (
                    (r := readyz(http, server)).status_code == 503
                    and r.json()["failing_campaigns"] == 1
                    and r
                )
            )
            assert ready and "maxmemory" in ready.json()["write_error"]
            redis.command("CONFIG", "SET", "maxmemory", "0")
            assert wait_for(lambda: total(http, server, campaign) == counted == 50, timeout=15)
            assert wait_for(lambda: readyz(http, server).status_code == 200, timeout=10)
    finally:
        redis.stop()


def test_a_redis_restarted_empty_is_noticed_and_nothing_is_lost_silently(serve, tmp_path):
    """Redis restarts without persistence mid-stream: the wipe is logged and in /readyz, the
    campaign is written back so later hits count, and the hits Redis lost are counted as lost:
    answered counted = opens stored + lost."""
    redis = vk.ValkeyProcess(tmp_path / "valkey").start()  # no AOF, no snapshot
    try:
        server = serve(make_env(tmp_path, redis.url, PIXELAGG_STORE_FLUSH_INTERVAL_MS="25"))
        with httpx.Client() as http:
            campaign = server.create(http)["id"]
            with Stream(server.url, campaign) as stream:
                # Stored, not only answered: the wipe must take more than 300 with it.
                assert wait_for(lambda: total(http, server, campaign) > 300, timeout=30)
                redis.restart()
                ready = wait_for(lambda: "data_lost" in (r := readyz(http, server).json())["problems"] and r)
                assert ready, "/readyz reports the lost data"
                time.sleep(1)
            sent = stream.counted
            assert wait_for(lambda: reconciled(http, server, campaign, sent), timeout=30)
            assert lost(http, server, "store_lost") > 300
            assert total(http, server, campaign) > 0, "hits after the wipe count"
            assert readyz(http, server).status_code == 503
        logs = server.logs()
        assert (
            "the store lost its data" in logs
            and f"wrote back the 1 campaigns this process knew ({campaign})" in logs
        )
    finally:
        redis.stop()


def test_a_failover_that_lost_writes_counts_them_as_lost(serve, tmp_path):
    """The master is replaced by a replica that had not seen its last writes (its data is
    copied back into the master's place): the writes it lost are noticed from the writer's
    running totals and counted, exactly."""
    master = vk.ValkeyProcess(tmp_path / "master").start()
    replica = vk.ValkeyProcess(tmp_path / "replica").start()
    try:
        replica.command("REPLICAOF", vk.HOST, str(master.port))
        server = serve(make_env(tmp_path, master.url))
        with httpx.Client() as http:
            campaign = server.create(http)["id"]
            counted = hits(http, server, campaign, 100)["counted"]
            assert wait_for(lambda: total(http, server, campaign) == counted)
            assert wait_for(lambda: replica.info("replication").get("master_link_status") == "up")
            replica.command("REPLICAOF", "NO", "ONE")  # a replica that lags: it sees nothing more
            counted += hits(http, server, campaign, 50, first=100)["counted"]
            assert wait_for(lambda: total(http, server, campaign) == counted)
            master.kill()
            replica.command("SAVE")
            shutil.copy(replica.directory / "dump.rdb", master.directory / "dump.rdb")
            master.start()  # the failed-over data, where pixelagg looks for it
            counted += hits(http, server, campaign, 20, first=150)["counted"]
            assert wait_for(lambda: lost(http, server, "store_lost") > 0)
            assert wait_for(lambda: reconciled(http, server, campaign, counted), timeout=30)
            assert lost(http, server, "store_lost") == 50
        assert "the store lost them after acknowledging them" in server.logs()
    finally:
        master.stop()
        replica.stop()


def test_hits_for_a_campaign_paused_elsewhere_are_counted_as_lost(serve, redis_url, tmp_path):
    """Replica b still counts a campaign that a paused: the write script refuses the hits, and
    b counts them as lost; answered counted = opens stored + lost."""
    env = make_env(tmp_path, redis_url, PIXELAGG_STORE_CAMPAIGN_REFRESH_SECONDS="60")
    a, b = serve(env, name="a"), serve(env, name="b")
    with httpx.Client() as http:
        campaign = a.create(http)["id"]
        before = hits(http, b, campaign, 20)["counted"]
        assert wait_for(lambda: total(http, a, campaign) == before == 20)
        assert http.post(f"{a.url}/api/campaigns/{campaign}/pause", headers=AUTH).status_code == 200
        after = hits(http, b, campaign, 30, first=20)["counted"]
        assert after == 30, "b does not know yet"
        assert wait_for(lambda: lost(http, b, "paused") == 30)
        assert total(http, a, campaign) == before
    assert "answered 'counted' are lost (paused)" in b.logs()


def test_serve_started_while_redis_hangs_answers_without_waiting(serve, tmp_path):
    """Redis hangs (SIGSTOP) when serve starts: every hit is answered at once with
    store-unavailable (never unknown-campaign), with at most a probe at a time sent to the
    store; once Redis answers, the campaign counts again."""
    redis = vk.ValkeyProcess(tmp_path / "valkey").start()
    try:
        env = make_env(tmp_path, redis.url)
        first = serve(env, name="first")
        with httpx.Client() as http:
            campaign = first.create(http)["id"]
        first.stop()
        redis.pause()
        server = serve(env, name="hung")
        with httpx.Client() as http:
            before = metric(http, server, "pixelagg_store_round_trips_total")
            answers = hits(http, server, campaign, 300)
            assert answers == {"store-unavailable": 300}
            assert metric(http, server, "pixelagg_store_round_trips_total") - before <= 10, (
                "no lookup per hit"
            )
            assert metric(http, server, "pixelagg_hits_total", result="store_unavailable") == 300
            assert readyz(http, server).status_code == 503
            redis.resume()
            assert wait_for(lambda: hits(http, server, campaign, 1, first=300)["counted"] == 1, timeout=15)
            counted = 1 + hits(http, server, campaign, 50, first=301)["counted"]
            assert wait_for(lambda: answered_total(http, server, campaign) == counted == 51, timeout=30)
    finally:
        redis.stop()


def _stored_hits(redis: vk.ValkeyProcess, prefix: str, campaign: str) -> int:
    """Hits the store holds for a campaign: its writers' running totals."""
    fields = redis.command("HGETALL", f"{prefix}:{{c:{campaign}}}:w")
    pairs = dict(zip(fields[::2], fields[1::2], strict=True))
    return sum(int(v) for k, v in pairs.items() if str(k).endswith(":n"))


def test_hits_written_after_their_period_was_frozen_are_counted_as_late(serve, tmp_path):
    """Replica a cannot write (its Redis user loses @write) while b reads the report, which
    freezes the 1-second periods a's hits belong in; once a writes them, exactly those hits are
    counted as late (metric, /readyz, log lines by campaign, at most one a minute and the rest at
    shutdown) and are in the store's counts."""
    with revocable_writer(serve, tmp_path) as (redis, a, b):
        prefix = a.env["PIXELAGG_STORE_KEY_PREFIX"]
        with httpx.Client() as http:
            campaign = b.create(http, recipients=1000)["id"]
            assert hits(http, a, campaign, 10)["counted"] == 10
            assert wait_for(lambda: _stored_hits(redis, prefix, campaign) == 10)
            redis.command("ACL", "SETUSER", "a", "-@write")
            assert hits(http, a, campaign, 30, first=10)["counted"] == 30
            written_by = time.time()
            assert wait_for(lambda: readyz(http, a).json()["writes"] == "retrying")
            time.sleep(max(0.0, written_by + 3 - time.time()))  # their periods closed (1 s + 1 s)
            b.stats(http, campaign)  # freezes every closed period
            redis.command("ACL", "SETUSER", "a", "+@write")
            assert wait_for(lambda: _stored_hits(redis, prefix, campaign) == 40)
            assert wait_for(lambda: metric(http, a, "pixelagg_late_hits_total") == 30)
            assert readyz(http, a).json()["late_hits"] == 30
            assert metric(http, b, "pixelagg_late_hits_total") == 0
        a.stop()  # the log line is rate-limited: the shutdown logs what waits
        late_lines = [line for line in a.logs().splitlines() if "release period was frozen" in line]
        assert late_lines and all(campaign in line for line in late_lines)
        assert "(30 so far;" in late_lines[-1]
