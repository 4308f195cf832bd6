"""P12: salts never reach anything written to disk, and `serve` refuses a salt server that writes.

Real servers: a main Valkey with an AOF (fsync always) and an RDB snapshot taken while the
window is open, a salt Valkey with `--appendonly no --save ""`, and the real `pixelagg serve`.
The salts are read from the salt server and searched, raw and as hex, in the main server's
files and in the dump of every key it holds.
"""

from __future__ import annotations

import secrets

import httpx
import pytest
import redis
from click.testing import CliRunner

from pixelagg.cli import cli
from pixelagg.config import load
from pixelagg.web.app import create_app
from tests import valkey as vk
from tests.helpers import AppClient, make_env, wait_for

pytestmark = pytest.mark.slow

IPS = [f"198.51.100.{n}" for n in range(1, 21)]


def _refusing_env(tmp_path, url, **extra):
    """The production default: salts that would persist stop `serve`."""
    return make_env(tmp_path, url, PIXELAGG_STORE_ALLOW_PERSISTENT_SALTS="false", **extra)


def _salts(server: vk.ValkeyProcess) -> dict[bytes, bytes]:
    """Every salt key on a server, with its 32 raw bytes (redis-py: the RESP helper decodes text)."""
    with redis.Redis(port=server.port) as client:
        return {key: client.get(key) for key in client.scan_iter(match="*:salt:*")}


def _every_value(server: vk.ValkeyProcess) -> bytes:
    """Each key of a server and its DUMP, all in one haystack."""
    with redis.Redis(port=server.port) as client:
        return b"\n".join(key + b"\n" + (client.dump(key) or b"") for key in client.scan_iter(count=1000))


def _files(server: vk.ValkeyProcess) -> dict[str, bytes]:
    return {
        str(p): p.read_bytes()
        for p in server.directory.rglob("*")
        if p.is_file() and p.name not in ("valkey.log", "valkey.out")
    }


def test_no_salt_in_the_main_servers_aof_rdb_or_keys(serve, tmp_path):
    """Hits in an open window leave no salt in the persisting main server's AOF, RDB or keys."""
    main = vk.ValkeyProcess(tmp_path / "main", appendonly="yes", appendfsync="always", rdbcompression="no")
    salts = vk.ValkeyProcess(tmp_path / "salts", appendonly="no", save="")
    with main, salts:
        server = serve(_refusing_env(tmp_path, main.url, PIXELAGG_STORE_SALT_URL=salts.url))
        with httpx.Client() as http:
            ids = [server.create(http, recipients=100)["id"] for _ in range(3)]
            for cid in ids:
                for ip in IPS:
                    http.get(f"{server.url}/p/{cid}.gif", headers={"X-Forwarded-For": ip})
            assert wait_for(lambda: server.stats(http, ids[-1])["opens"]["total"] == len(IPS))
        found = _salts(salts)
        assert len(found) == len(ids) and all(len(v) == 32 for v in found.values())
        main.snapshot()
        files = _files(main)
        assert any("appendonly" in f for f in files) and any(f.endswith("dump.rdb") for f in files)
        haystacks = {**files, "keys": _every_value(main)}
        for salt in found.values():
            for form in (salt, salt.hex().encode()):
                assert not [where for where, data in haystacks.items() if form in data]
        assert _salts(main) == {}
        assert _files(salts) == {}, "the salt server wrote no file"


def test_embedded_store_file_holds_no_salt(tmp_path):
    """Embedded store: after hits and a save, no salt is in any file of the data dir."""
    config = load(environ=make_env(tmp_path, None))
    with AppClient(create_app(config), client=("127.0.0.1", 50000)) as client:
        campaign = client.create(recipients=100)
        for ip in IPS:
            client.hit(campaign["id"], ip=ip)
        client.flush()
        store = client.service.store
        client.portal.call(store.persist)
        salts = [value for key, (value, _) in store.salts._salts.items()]
        files = [p.read_bytes() for p in config.data_dir.rglob("*") if p.is_file()]
        assert salts and files
        assert not [s for s in salts for data in files if s in data or s.hex().encode() in data]


# serve refuses a salt server that writes to disk


def _serve(env):
    return CliRunner().invoke(cli, ["serve", "--port", str(vk.free_port())], env=env)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"appendonly": "yes", "save": ""}, "appendonly yes"),
        ({"appendonly": "no", "save": "3600 1"}, "save 3600 1"),
    ],
    ids=["aof", "rdb"],
)
def test_serve_refuses_a_persisting_salt_server(tmp_path, redis_url, settings, named):
    """A salt server that writes to disk stops `serve`: exit 1, the setting and the fix named."""
    with vk.ValkeyProcess(tmp_path / "salts", **settings) as salts:
        result = _serve(_refusing_env(tmp_path, redis_url, PIXELAGG_STORE_SALT_URL=salts.url))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: Salts live on the salt server (127.0.0.1:{salts.port})")
    assert named in result.stderr and '--appendonly no --save ""' in result.stderr


def test_serve_refuses_salts_on_a_persisting_main_server(tmp_path):
    """Without store.salt_url the main server is checked: with an AOF, `serve` refuses."""
    with vk.ValkeyProcess(tmp_path / "main", appendonly="yes") as main:
        result = _serve(_refusing_env(tmp_path, main.url))
    assert result.exit_code == 1
    assert "Error: Salts live on the store's server" in result.stderr
    assert "store.salt_url" in result.stderr


def test_serve_refuses_when_config_get_is_refused(tmp_path, redis_url):
    """A salt server that refuses CONFIG GET (managed Redis, ACL) stops `serve` the same way."""
    password = secrets.token_hex(8)
    with vk.ValkeyProcess(tmp_path / "salts") as salts:
        salts.command("ACL", "SETUSER", "limited", "on", f">{password}", "~*", "+@all", "-config")
        url = f"redis://limited:{password}@127.0.0.1:{salts.port}"
        result = _serve(_refusing_env(tmp_path, redis_url, PIXELAGG_STORE_SALT_URL=url))
    assert result.exit_code == 1
    assert "Error: Cannot tell whether the salt server" in result.stderr
    assert password not in result.output


def test_serve_starts_with_a_warning_when_allowed(serve, tmp_path):
    """store.allow_persistent_salts: true lets `serve` start on an AOF server, with a warning."""
    with vk.ValkeyProcess(tmp_path / "main", appendonly="yes") as main:
        env = make_env(tmp_path, main.url, PIXELAGG_STORE_ALLOW_PERSISTENT_SALTS="true")
        server = serve(env)
        logs = server.logs()
    assert "Warning: Salts live on the store's server" in logs and "appendonly yes" in logs


def test_serve_starts_when_salts_cannot_be_checked_yet(serve, tmp_path, redis_url):
    """A salt server that does not answer yet is a warning, not a refusal: the audit checks later."""
    env = _refusing_env(tmp_path, redis_url, PIXELAGG_STORE_SALT_URL=f"redis://127.0.0.1:{vk.free_port()}")
    server = serve(env)
    assert "Warning: cannot check now whether the salt server" in server.logs()
