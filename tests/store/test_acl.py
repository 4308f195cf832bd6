"""The Redis ACL of deploy/redis-acl.conf: the whole service runs through it, nothing else does."""

from __future__ import annotations

import secrets

import pytest
import redis

from pixelagg.config import load
from tests import valkey as vk
from tests.helpers import AUTH, ROOT, make_env

RULE_FILE = ROOT / "deploy" / "redis-acl.conf"
DOC = ROOT / "docs" / "redis-acl.md"
PASSWORD = secrets.token_hex(16)


def acl_line(user: str = "pixelagg") -> str:
    """The one `user <name> ...` line of a user: the rule string, kept in one place."""
    (line,) = [x for x in RULE_FILE.read_text().splitlines() if x.startswith(f"user {user} ")]
    return line


def create_user(node: vk.ValkeyProcess, user: str = "pixelagg") -> None:
    node.command("ACL", "SETUSER", user, *acl_line(user).split()[2:], f">{PASSWORD}")
    node.command("ACL", "LOG", "RESET")


def denials(node: vk.ValkeyProcess) -> list[tuple[str, str]]:
    """(context, command or key) of every refusal the server logged."""
    out = []
    for entry in node.command("ACL", "LOG"):
        fields = dict(zip(entry[::2], entry[1::2], strict=True))
        out.append((fields["context"], fields["object"]))
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # DEBUG enabled, so that only the ACL stands between the user and it.
    node = vk.ValkeyProcess(tmp_path_factory.mktemp("acl"), enable_debug_command="yes").start()
    try:
        create_user(node)
        yield node
    finally:
        node.stop()


@pytest.fixture
def as_user(server):
    """A plain client logged in as the ACL user."""
    client = redis.Redis(port=server.port, username="pixelagg", password=PASSWORD)
    yield client
    client.close()


def run_full_flow(client) -> None:
    """Everything the service does to the store: create, count, read, change, audit, erase."""
    c = client.create(recipients=100, legal_basis="public_task", legal_reference="Wet X art. 3")
    for n in range(5):
        client.hit(c["id"], ip=f"203.0.113.{n}")
    client.hit(c["id"], **{"Sec-GPC": "1"})
    assert client.stats(c["id"])["opens"]["total"] == 5
    paths = [f"/api/campaigns/{c['id']}/stats.csv", f"/api/stats?campaigns={c['id']}", "/api/campaigns"]
    for path in paths:
        assert client.get(path, headers=AUTH).status_code == 200, path
    update = client.patch(f"/api/campaigns/{c['id']}", json={"recipients": None}, headers=AUTH)
    assert update.status_code == 200
    for verb in ("pause", "resume"):
        assert client.post(f"/api/campaigns/{c['id']}/{verb}", headers=AUTH).status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/api/audit", headers=AUTH).json()["ok"] is True
    assert client.delete(f"/api/campaigns/{c['id']}", headers=AUTH).status_code == 204
    # What is left is the store's epoch (pixelagg:epoch), which is no campaign's.
    assert client.get("/api/audit", headers=AUTH).json()["keys"] == 1


@pytest.fixture(scope="module")
def salt_server(tmp_path_factory):
    """The salts' own server, as compose.yaml runs it (nothing written to disk), with its user."""
    node = vk.ValkeyProcess(tmp_path_factory.mktemp("acl-salts"), appendonly="no", save="").start()
    try:
        create_user(node, "pixelagg-salts")
        yield node
    finally:
        node.stop()


@pytest.fixture
def salts_user(salt_server):
    client = redis.Redis(port=salt_server.port, username="pixelagg-salts", password=PASSWORD)
    yield client
    client.close()


@pytest.mark.parametrize("user", ["pixelagg", "pixelagg-salts"], ids=["main", "salts"])
def test_doc_quotes_the_rule_file(user):
    """docs/redis-acl.md quotes each rule line of deploy/redis-acl.conf verbatim."""
    assert acl_line(user) in DOC.read_text()


def test_full_flow_runs_as_the_acl_users(server, salt_server, tmp_path, client_for):
    """Every command of the service is allowed to the ACL users; neither server logs a denial."""
    url = f"redis://pixelagg:{PASSWORD}@127.0.0.1:{server.port}"
    salt_url = f"redis://pixelagg-salts:{PASSWORD}@127.0.0.1:{salt_server.port}"
    env = make_env(tmp_path, url, PIXELAGG_STORE_KEY_PREFIX="pixelagg", PIXELAGG_STORE_SALT_URL=salt_url)
    run_full_flow(client_for(load(environ=env)))
    assert denials(server) == [] and denials(salt_server) == []


def test_salt_user_may_read_the_persistence_settings(salts_user):
    """The salts' user may run CONFIG GET, which pixelagg needs to check that nothing is saved."""
    assert salts_user.config_get("appendonly") == {"appendonly": "no"}


@pytest.mark.parametrize(
    "command",
    [
        ("CONFIG", "SET", "appendonly", "yes"),
        ("CONFIG", "REWRITE"),
        ("FLUSHALL",),
        ("HSET", "pixelagg:x", "a", "b"),
        ("EVAL", "return 1", "0"),
        ("KEYS", "*"),
        ("MONITOR",),
        ("SAVE",),
        ("BGSAVE",),
    ],
    ids=["config-set", "config-rewrite", "flushall", "hset", "eval", "keys", "monitor", "save", "bgsave"],
)
def test_salt_user_may_do_nothing_else(salts_user, command):
    """The salts' user can write salts and read the settings: no other write, no snapshot."""
    with pytest.raises(redis.exceptions.ResponseError, match=r"(?i)permission"):
        salts_user.execute_command(*command)


def test_key_outside_the_prefix_is_refused(server, as_user):
    """The ACL user can neither read nor write a key outside pixelagg:*."""
    server.command("SET", "other:key", "kept")
    with pytest.raises(redis.exceptions.NoPermissionError):
        as_user.set("other:key", "x")
    with pytest.raises(redis.exceptions.NoPermissionError):
        as_user.get("other:key")
    assert server.command("GET", "other:key") == "kept"


def test_flushall_is_refused(server, as_user):
    """FLUSHALL is refused and the data survives."""
    server.command("SET", "other:canary", "kept")
    with pytest.raises(redis.exceptions.NoPermissionError):
        as_user.execute_command("FLUSHALL")
    assert server.command("GET", "other:canary") == "kept"


@pytest.mark.parametrize(
    "command",
    [
        ("EVAL", "return redis.call('SET', KEYS[1], 'x')", "1", "other:key"),
        ("FLUSHDB",),
        ("KEYS", "*"),
        ("CONFIG", "GET", "*"),
        ("DEBUG", "SLEEP", "0"),
        ("SLOWLOG", "GET"),
        ("MONITOR",),
        ("ACL", "LIST"),
        ("CLIENT", "LIST"),
        ("SCRIPT", "FLUSH"),
        ("PUBLISH", "pixelagg:x", "y"),
        ("SELECT", "1"),
        ("SHUTDOWN", "NOSAVE"),
    ],
    ids=[
        "script-outside-prefix",
        "flushdb",
        "keys",
        "config",
        "debug",
        "slowlog",
        "monitor",
        "acl",
        "client-list",
        "script-flush",
        "publish",
        "select",
        "shutdown",
    ],
)
def test_other_commands_are_refused(as_user, command):
    """Commands pixelagg does not run are refused, scripts included."""
    with pytest.raises(redis.exceptions.ResponseError, match=r"(?i)permission"):
        as_user.execute_command(*command)


@pytest.mark.slow
@pytest.mark.cluster
def test_full_flow_runs_as_the_acl_user_on_a_cluster(tmp_path, salt_server, client_for):
    """On a Redis Cluster the same rules suffice (the client also reads slots and commands)."""
    with vk.ValkeyCluster(tmp_path / "cluster") as cluster:
        for node in cluster.nodes:
            create_user(node)
        nodes = ",".join(f"127.0.0.1:{n.port}" for n in cluster.nodes)
        url = f"redis+cluster://pixelagg:{PASSWORD}@{nodes}"
        salt_url = f"redis://pixelagg-salts:{PASSWORD}@127.0.0.1:{salt_server.port}"
        env = make_env(tmp_path, url, PIXELAGG_STORE_KEY_PREFIX="pixelagg", PIXELAGG_STORE_SALT_URL=salt_url)
        salt_server.command("ACL", "LOG", "RESET")
        run_full_flow(client_for(load(environ=env)))
        assert [d for node in [*cluster.nodes, salt_server] for d in denials(node)] == []
