"""The real-server helpers in tests/valkey.py: standalone restart, cluster, lost master."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.valkey import ValkeyCluster, ValkeyProcess

pytestmark = pytest.mark.slow


def cluster_client(cluster: ValkeyCluster) -> RedisCluster:
    """A client that fails fast on a lost master (see docs/notes-redis-cluster.md)."""
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in cluster.startup_nodes],
        decode_responses=True,
        retry=Retry(NoBackoff(), 1),
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
    )


def keys_on_each_master(cluster: ValkeyCluster) -> dict[int, str]:
    """One pixelagg-style key per master, by node index."""
    found: dict[int, str] = {}
    for i in range(1000):
        key = f"pixelagg:{{c:{i}}}:meta"
        found.setdefault(cluster.nodes.index(cluster.node_for_key(key)), key)
        if len(found) == len(cluster.nodes):
            return found
    raise AssertionError("no key found for some master")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyCluster]:
    directory = tmp_path_factory.mktemp("cluster")
    with ValkeyCluster(directory, appendonly="yes", appendfsync="always") as c:
        yield c


@pytest.fixture
def fresh_cluster(cluster: ValkeyCluster) -> ValkeyCluster:
    """The module cluster, empty, every node up and the cluster healthy."""
    for i, node in enumerate(cluster.nodes):
        if not node.is_running():
            cluster.restart_node(i)
    cluster.wait_ok()
    cluster.flushall()
    return cluster


def test_standalone_answers_ping_and_keeps_aof_data_across_restart(tmp_path: Path) -> None:
    """A standalone server answers PING and a crash+restart keeps its port and AOF data."""

    async def write_then_read_after_crash(server: ValkeyProcess) -> None:
        # retry=1: from_url's default is no retry, so the pooled connection the crash
        # broke would fail the first command after the restart.
        client = Redis.from_url(server.unix_url, decode_responses=True, retry=Retry(NoBackoff(), 1))
        try:
            assert await client.ping()
            await client.set("pixelagg:k", "v")
            server.kill()
            server.start()
            assert await client.get("pixelagg:k") == "v"
        finally:
            await client.aclose()

    with ValkeyProcess(tmp_path, appendonly="yes", appendfsync="always") as server:
        port, pid = server.port, server.pid
        asyncio.run(write_then_read_after_crash(server))
        assert (server.port, server.url) == (port, f"redis://127.0.0.1:{port}")
        assert server.pid != pid
        assert (tmp_path / "appendonlydir").is_dir()
    assert not server.is_running()


@pytest.mark.cluster
def test_cluster_is_ok_and_each_master_takes_writes(fresh_cluster: ValkeyCluster) -> None:
    """The cluster reaches cluster_state:ok and a write to each master's slots succeeds."""
    cluster = fresh_cluster
    assert cluster.is_ok()
    assert cluster.url == "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in cluster.nodes)
    keys = keys_on_each_master(cluster)

    async def write_all() -> None:
        client = cluster_client(cluster)
        try:
            for key in keys.values():
                assert await client.set(key, "v")
        finally:
            await client.aclose()

    asyncio.run(write_all())
    for index, key in keys.items():  # each key really landed on its own master
        assert cluster.nodes[index].command("GET", key) == "v"


@pytest.mark.cluster
def test_write_to_lost_master_fails_fast_while_others_serve(
    fresh_cluster: ValkeyCluster,
) -> None:
    """With one master SIGKILLed, writes to its slots fail in under a second; others work."""
    cluster = fresh_cluster
    keys = keys_on_each_master(cluster)

    async def write_with_master_lost() -> float:
        client = cluster_client(cluster)
        try:
            await client.set(keys[1], "before")
            cluster.nodes[1].kill()
            start = time.monotonic()
            with pytest.raises(RedisConnectionError):
                await client.set(keys[1], "lost")
            elapsed = time.monotonic() - start
            assert await client.set(keys[0], "still served")
            assert await client.set(keys[2], "still served")
            return elapsed
        finally:
            await client.aclose()

    assert asyncio.run(write_with_master_lost()) < 1.0


@pytest.mark.cluster
def test_killed_master_rejoins_with_its_slots_and_data(fresh_cluster: ValkeyCluster) -> None:
    """A SIGKILLed master restarted on its port and dir rejoins with its slots and AOF data."""
    cluster = fresh_cluster
    key = keys_on_each_master(cluster)[1]
    node = cluster.nodes[1]
    node.command("SET", key, "before crash")
    node.kill()
    deadline = time.monotonic() + 30
    while cluster.is_ok(healthy=True):  # until the others notice (PFAIL, then FAIL)
        assert time.monotonic() < deadline
        time.sleep(0.1)

    cluster.restart_node(1)

    async def read_then_write() -> None:
        client = cluster_client(cluster)
        try:
            assert await client.get(key) == "before crash"
            assert await client.set(key, "after restart")
        finally:
            await client.aclose()

    asyncio.run(read_then_write())
    assert cluster.node_for_key(key) is node
    cluster.wait_ok(healthy=True)
