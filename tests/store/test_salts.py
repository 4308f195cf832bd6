"""Salt storage (store/salts.py): memory or a Redis server that writes nothing, TTLs as durations."""

from __future__ import annotations

import secrets
import sqlite3
import time

import pytest

from pixelagg.config import load
from pixelagg.core.campaign import Campaign, new_campaign_id
from pixelagg.core.privacy import SALT_GRACE_SECONDS, new_salt
from pixelagg.exceptions import StoreError
from pixelagg.store import EmbeddedStore, open_store
from pixelagg.store.embedded_file import DB_NAME, StoreFile
from pixelagg.store.keys import Keyspace
from pixelagg.store.salts import Persistence, salt_lifetime, salt_persistence_problem
from tests import valkey as vk
from tests.helpers import make_env

pytestmark = pytest.mark.anyio

WINDOW = 7 * 86400
BOUND = WINDOW + SALT_GRACE_SECONDS
TEN_DAYS = 10 * 86400


@pytest.fixture(params=["embedded", "redis", pytest.param("cluster", marks=pytest.mark.cluster)])
def store_kind(request):
    return request.param


@pytest.fixture(scope="module")
def salt_server(tmp_path_factory):
    """A Valkey that writes nothing to disk: where salts belong."""
    server = vk.ValkeyProcess(tmp_path_factory.mktemp("salts"), save="", appendonly="no").start()
    yield server
    server.stop()


@pytest.fixture
async def split_store(tmp_path, redis_url, salt_server):
    """A Redis store whose salts live on their own server (store.salt_url)."""
    config = load(environ=make_env(tmp_path, redis_url, PIXELAGG_STORE_SALT_URL=salt_server.url))
    store = open_store(config)
    yield store
    await store.close()


async def _campaign(store) -> Campaign:
    campaign = Campaign(id=new_campaign_id(), name="c", created_at=time.time())
    await store.create_campaign(campaign)
    return campaign


async def _salt_keys(store, campaign_id):
    return {i.key: i async for i in store.scan(store.keys.campaign_pattern(campaign_id)) if ":salt:" in i.key}


def test_lifetime_is_capped_at_window_plus_grace():
    """A first hit stamped ten days ahead gives window 0 a TTL of its window plus grace, no more."""
    now = time.time()
    assert salt_lifetime(now + TEN_DAYS, now, WINDOW) == (0, BOUND)


def test_lifetime_ends_with_the_window():
    """Late in a window the TTL is what is left of it plus grace."""
    now = time.time()
    index, ttl = salt_lifetime(now - WINDOW - 3600, now, WINDOW)
    assert index == 1 and ttl == pytest.approx(WINDOW - 3600 + SALT_GRACE_SECONDS)


async def test_first_hit_stamped_in_the_future_gives_no_longer_salt(store):
    """A first hit from a clock ten days fast never makes a salt live beyond its window plus grace."""
    c = await _campaign(store)
    now = time.time()
    await store.window_salt(c.id, now + TEN_DAYS, WINDOW)  # stamps first_hit ten days ahead
    salt = await store.window_salt(c.id, now, WINDOW)
    (info,) = (await _salt_keys(store, c.id)).values()
    assert info.ttl <= BOUND + 1 and salt.expires_at <= now + BOUND + 1


async def test_first_hit_stamped_in_the_past_still_stores_a_shared_salt(store):
    """A first hit from a clock ten days slow stores a salt (no EXAT in the past) that calls share."""
    c = await _campaign(store)
    slow = time.time() - TEN_DAYS
    first = await store.window_salt(c.id, slow, WINDOW)
    again = await store.window_salt(c.id, slow + 60, WINDOW)
    (info,) = (await _salt_keys(store, c.id)).values()
    assert again.key == first.key and BOUND - 60 <= info.ttl <= BOUND + 1


async def test_salt_expiry_is_what_the_salt_store_has_left(store):
    """A salt fetched later expires when its key does, not a full lifetime after the fetch."""
    c = await _campaign(store)
    now = time.time()
    await store.window_salt(c.id, now, WINDOW)
    key = store.keys.salt(c.id, 0)
    value, _ = await store.salts.get_or_create(key, b"", 1)
    await store.salts.delete(key)
    await store.salts.get_or_create(key, value, 120)  # the same salt with two minutes left
    later = await store.window_salt(c.id, now, WINDOW)
    assert later.key == value and later.expires_at == pytest.approx(now + 120, abs=2)


async def test_salt_without_ttl_gets_one(redis_url, tmp_path):
    """A salt key written without a TTL (by hand) gets one when it is next fetched."""
    store = open_store(load(environ=make_env(tmp_path, redis_url)))
    try:
        key = store.keys.salt(new_campaign_id(), 0)
        await store.redis.set(key, b"x" * 32)
        _, left = await store.salts.get_or_create(key, new_salt(), 60)
        assert left == 60 and 0 < await store.redis.ttl(key) <= 60
    finally:
        await store.close()


async def test_salts_live_only_on_the_salt_server(split_store, redis_url, salt_server):
    """With store.salt_url the salt key is on the salt server, and the main server has none."""
    c = await _campaign(split_store)
    await split_store.window_salt(c.id, time.time(), WINDOW)
    key = split_store.keys.salt(c.id, 0)
    assert salt_server.command("EXISTS", key) == 1
    assert await split_store.redis.exists(key) == 0


async def test_scan_lists_the_salt_servers_salts(split_store):
    """The store's scan (the audit's view) includes the salts on the salt server, with TTLs."""
    c = await _campaign(split_store)
    salt = await split_store.window_salt(c.id, time.time(), WINDOW)
    (info,) = (await _salt_keys(split_store, c.id)).values()
    assert info.value == salt.key and WINDOW < info.ttl <= BOUND + 1


async def test_delete_erases_the_salt_on_the_salt_server(split_store, salt_server):
    """Deleting a campaign deletes its salt on the salt server too (P9)."""
    c = await _campaign(split_store)
    await split_store.window_salt(c.id, time.time(), WINDOW)
    assert await split_store.delete_campaign(c.id)
    assert salt_server.command("EXISTS", split_store.keys.salt(c.id, 0)) == 0


async def test_embedded_store_saves_no_salt(tmp_path):
    """The embedded store's file never holds a salt, even after a save (P12)."""
    store = EmbeddedStore(tmp_path, Keyspace("t"), retention_seconds=3600).open()
    try:
        c = await _campaign(store)
        salt = await store.window_salt(c.id, time.time(), WINDOW)
        await store.persist()
        assert salt.key not in (tmp_path / DB_NAME).read_bytes()
    finally:
        await store.close()


async def test_embedded_restart_makes_a_new_salt(tmp_path):
    """A restart forgets the salts: the same window gets a new one (a returning reader counts again)."""
    keys = Keyspace("t")
    store = EmbeddedStore(tmp_path, keys, retention_seconds=3600).open()
    c = await _campaign(store)
    now = time.time()
    before = await store.window_salt(c.id, now, WINDOW)
    await store.close()
    store = EmbeddedStore(tmp_path, keys, retention_seconds=3600).open()
    try:
        after = await store.window_salt(c.id, now, WINDOW)
        assert after.window == before.window and after.key != before.key
    finally:
        await store.close()


async def test_embedded_store_erases_salts_saved_by_older_releases(tmp_path):
    """A salt row in the file (saved before salts moved to memory) is deleted when the store opens."""
    keys = Keyspace("t")
    key = keys.salt(new_campaign_id(), 0)
    old = secrets.token_bytes(32)
    store_file = StoreFile.open(tmp_path)
    store_file.save([(key, "string", old, time.time() + 3600)], [], [], time.time())
    store_file.close()
    store = EmbeddedStore(tmp_path, keys, retention_seconds=3600).open()
    try:
        with sqlite3.connect(tmp_path / DB_NAME) as db:
            assert db.execute("SELECT COUNT(*) FROM keys").fetchone() == (0,)
        assert old not in (tmp_path / DB_NAME).read_bytes()
        assert [i async for i in store.scan()] == []
    finally:
        await store.close()


# where salts live, as the server says


async def _persistence(tmp_path, url, salt_url=None):
    store = open_store(load(environ=make_env(tmp_path, url, PIXELAGG_STORE_SALT_URL=salt_url or "")))
    try:
        return await store.salts.persistence()
    finally:
        await store.close()


async def test_memory_salts_write_nothing(tmp_path):
    """The embedded store's salts are in process memory: nothing is written to disk."""
    store = open_store(load(environ=make_env(tmp_path, None)))
    try:
        assert await store.salts.persistence() == Persistence("process memory")
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("settings", "writes"),
    [
        ({"appendonly": "no", "save": ""}, ()),
        ({"appendonly": "yes", "save": ""}, ("appendonly yes",)),
        ({"appendonly": "no", "save": "3600 1"}, ("save 3600 1",)),
        ({"appendonly": "yes", "save": "60 10"}, ("appendonly yes", "save 60 10")),
    ],
    ids=["nothing", "aof", "rdb", "both"],
)
async def test_persistence_names_what_writes_to_disk(tmp_path, redis_url, settings, writes):
    """CONFIG GET appendonly and save of the salt server say what writes salts to disk."""
    with vk.ValkeyProcess(tmp_path / "salts", **settings) as server:
        found = await _persistence(tmp_path, redis_url, server.url)
    assert found.writes == writes and found.unknown is None
    assert found.where == f"the salt server (127.0.0.1:{server.port})"


async def test_persistence_of_the_main_server_when_no_salt_url(tmp_path):
    """Without store.salt_url the main server is checked, and named as the store's server."""
    with vk.ValkeyProcess(tmp_path / "main", appendonly="yes") as server:
        found = await _persistence(tmp_path, server.url)
    assert found.writes == ("appendonly yes",) and found.where.startswith("the store's server")


async def test_persistence_unknown_when_config_is_refused(tmp_path, redis_url):
    """A server that refuses CONFIG GET to pixelagg's user leaves persistence unknown."""
    password = secrets.token_hex(8)
    with vk.ValkeyProcess(tmp_path / "salts") as server:
        server.command("ACL", "SETUSER", "limited", "on", f">{password}", "~*", "+@all", "-config")
        found = await _persistence(tmp_path, redis_url, f"redis://limited:{password}@127.0.0.1:{server.port}")
    assert found.unknown == "the server refuses CONFIG GET to this user" and found.reachable
    assert password not in found.where


@pytest.mark.parametrize("scheme", ["redis", "redis+cluster"], ids=["standalone", "cluster"])
async def test_persistence_unknown_when_unreachable(tmp_path, redis_url, scheme):
    """A salt server that does not answer leaves persistence unknown, and says it was unreachable."""
    found = await _persistence(tmp_path, redis_url, f"{scheme}://127.0.0.1:{vk.free_port()}")
    assert found.unknown is not None and not found.reachable


@pytest.mark.cluster
async def test_persistence_of_a_cluster_reads_every_node(tmp_path, cluster):
    """On a cluster every node is asked; the test cluster's AOF is found."""
    found = await _persistence(tmp_path, cluster.url)
    assert found.writes == ("appendonly yes",)


@pytest.mark.parametrize(
    ("persistence", "words"),
    [
        (Persistence("the salt server (h:1)", ("appendonly yes",)), ["appendonly yes", '--save ""']),
        (Persistence("the salt server (h:1)", unknown="refused"), ["refused", "CONFIG GET"]),
    ],
    ids=["writes", "unknown"],
)
def test_problem_names_the_setting_and_the_fix(persistence, words):
    """The message names the place, the setting, and how to fix it or accept it."""
    problem = salt_persistence_problem(persistence)
    assert problem is not None and "the salt server (h:1)" in problem
    assert all(w in problem for w in [*words, "store.salt_url", "store.allow_persistent_salts"])


def test_no_problem_where_nothing_is_written():
    """A place that writes nothing has no problem."""
    assert salt_persistence_problem(Persistence("process memory")) is None


async def test_unreachable_salt_server_fails_a_scan_as_a_store_error(tmp_path, redis_url):
    """A scan (the audit's) with the salt server down is a StoreError, never a raw Redis error."""
    config = load(
        environ=make_env(tmp_path, redis_url, PIXELAGG_STORE_SALT_URL=f"redis://127.0.0.1:{vk.free_port()}")
    )
    store = open_store(config)
    try:
        with pytest.raises(StoreError, match="Salt server error"):
            [i async for i in store.scan()]
    finally:
        await store.close()


async def test_unreachable_cluster_salt_server_is_a_store_error(tmp_path, redis_url):
    """A salt cluster that cannot be reached makes window_salt a StoreError (the cache then waits)."""
    url = f"redis+cluster://127.0.0.1:{vk.free_port()}"
    store = open_store(load(environ=make_env(tmp_path, redis_url, PIXELAGG_STORE_SALT_URL=url)))
    try:
        c = await _campaign(store)
        with pytest.raises(StoreError):
            await store.window_salt(c.id, time.time(), WINDOW)
    finally:
        await store.close()
