"""Scale out: stateless replicas on a real Valkey cluster, and multi-worker serving on Redis."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.faults import answered_total
from tests.helpers import AUTH, BROWSER_UA, Stream, child_pids, make_env, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


def _hit(http: httpx.Client, url: str, campaign_id: str, visitor: int) -> None:
    r = http.get(
        f"{url}/p/{campaign_id}.gif",
        headers={"X-Forwarded-For": f"84.{visitor // 250}.{visitor % 250}.9", "User-Agent": BROWSER_UA},
    )
    assert r.status_code == 200 and r.headers["x-pixelagg"] == "counted"


def test_two_replicas_count_like_one(serve, cluster, tmp_path):
    """500 visitors hitting two replicas alternately: totals exact, uniques ~500 (not ~1000)."""
    env = make_env(tmp_path, cluster.url)
    a = serve(env, name="a")
    b = serve(env, name="b")
    with httpx.Client() as http:
        campaign = a.create(http, recipients=2000)
        for visitor in range(500):
            first, second = (a, b) if visitor % 2 else (b, a)
            _hit(http, first.url, campaign["id"], visitor)
            _hit(http, second.url, campaign["id"], visitor)
        report = wait_for(lambda: (s := b.stats(http, campaign["id"]))["opens"]["total"] == 1000 and s)
        assert report, "both replicas' hits were written"
        assert a.stats(http, campaign["id"]) == report
    assert abs(report["unique_opens"]["estimate"] - 500) <= 25


def test_lost_shard_is_survived(serve, cluster, tmp_path):
    """A master of the campaign's slot dies mid-stream: the GIF is served, /readyz says degraded,
    and after it returns every buffered hit is written."""
    server = serve(make_env(tmp_path, cluster.url))
    with httpx.Client() as http:
        campaign = server.create(http)
        meta_key = f"{server.env['PIXELAGG_STORE_KEY_PREFIX']}:{{c:{campaign['id']}}}:meta"
        node = cluster.node_for_key(meta_key)
        try:
            with Stream(server.url, campaign["id"]) as stream:
                assert wait_for(lambda: stream.counted > 200, timeout=30)
                node.stop()
                during = stream.counted
                ready = wait_for(
                    lambda: (
                        (r := http.get(server.url + "/readyz")).status_code == 503
                        and r.json()["writes"] == "retrying"
                        and r
                    ),
                    timeout=30,
                )
                assert ready, "readyz reports the degraded store and the waiting writes"
                answered = wait_for(lambda: stream.counted > during + 100, timeout=30)
                assert answered, "pixels were answered while the shard was down"
                cluster.restart_node(cluster.nodes.index(node))
                time.sleep(0.5)
        finally:  # the cluster is shared by the session: leave it whole
            if not node.is_running():
                cluster.restart_node(cluster.nodes.index(node))
        sent = stream.counted
        assert stream.slowest < 1.0
        counted = wait_for(lambda: answered_total(http, server, campaign["id"]) == sent, timeout=60)
        assert counted, f"all {sent} answered hits are counted"
        assert wait_for(lambda: http.get(server.url + "/readyz").status_code == 200, timeout=30)


def test_workers_on_redis(serve, redis_url, tmp_path):
    """`serve --workers 2` on Redis runs two worker processes whose counts add up."""
    server = serve(make_env(tmp_path, redis_url), "--workers", "2")
    children = wait_for(lambda: len(child_pids(server.proc.pid)) >= 2, timeout=10)
    assert children
    with httpx.Client() as http:
        campaign = server.create(http)
        for visitor in range(300):
            # A new connection per hit, so the kernel spreads them over both workers.
            with httpx.Client() as fresh:
                _hit(fresh, server.url, campaign["id"], visitor)
        report = wait_for(lambda: (s := server.stats(http, campaign["id"]))["opens"]["total"] == 300 and s)
        assert report
        assert abs(report["unique_opens"]["estimate"] - 300) <= 15
        assert http.get(server.url + "/api/campaigns", headers=AUTH).status_code == 200


def test_a_dead_master_stalls_only_its_own_campaigns(serve, cluster, tmp_path):
    """With one master down, campaigns on the other masters are written as before; the dead
    master's campaign waits, and counts every hit once the master is back."""
    server = serve(make_env(tmp_path, cluster.url))
    prefix = server.env["PIXELAGG_STORE_KEY_PREFIX"]
    with httpx.Client() as http:
        by_node: dict[int, str] = {}
        while len(by_node) < 2:  # two campaigns on two different masters
            campaign = server.create(http)["id"]
            node = cluster.nodes.index(cluster.node_for_key(f"{prefix}:{{c:{campaign}}}:meta"))
            by_node.setdefault(node, campaign)
        (dead, stalled), (_, healthy) = sorted(by_node.items())[:2]
        node = cluster.nodes[dead]
        try:
            node.stop()
            healthy_counted = stalled_counted = 0
            for visitor in range(200):
                _hit(http, server.url, healthy, visitor)
                _hit(http, server.url, stalled, visitor)
                healthy_counted += 1
                stalled_counted += 1
            # A read may meet the dead master once (the client refreshing its slot map): a 503.
            written = wait_for(lambda: answered_total(http, server, healthy) == healthy_counted, timeout=30)
            assert written, "the healthy master's campaign is written while the other master is down"
            assert http.get(server.url + "/readyz").json()["failing_campaigns"] == 1
            assert f"campaign {stalled} kept for retry" in server.logs()
            assert f"campaign {healthy} kept" not in server.logs()
            cluster.restart_node(dead)
        finally:  # the cluster is shared by the session: leave it whole
            if not node.is_running():
                cluster.restart_node(dead)
        assert wait_for(lambda: answered_total(http, server, stalled) == stalled_counted, timeout=60)


@pytest.mark.anyio
async def test_the_cluster_clients_own_errors_are_store_errors(cluster):
    """The cluster client raises some errors that are no RedisError (a slot it cannot place while
    a master is down): they are a StoreError too, so the API answers 503, never 500."""
    from redis.exceptions import SlotNotCoveredError

    from pixelagg.exceptions import StoreError
    from pixelagg.store import RedisStore
    from pixelagg.store.keys import Keyspace

    store = RedisStore(cluster.url, Keyspace("tcluster"), 86400)

    async def uncovered() -> None:
        raise SlotNotCoveredError("Slot 42 is not covered by the cluster.")

    try:
        with pytest.raises(StoreError, match="SlotNotCoveredError"):
            await store._call(uncovered())
        assert store.errors == 1
    finally:
        await store.close()
