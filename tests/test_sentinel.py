"""P2: no IP address, user agent or salt escapes into the store, its files or the logs.

Sentinel hits and clicks go through the real `pixelagg serve`; then every key and value of the store, the
embedded store's files, Redis's AOF and RDB files and the server's captured output (its access
log included) are searched for the sentinels as text and as packed bytes, and for their
network prefixes. The salt may appear only in its own salt record.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import time
from pathlib import Path

import httpx
import pytest

from pixelagg.config import load
from pixelagg.core.privacy import new_salt
from pixelagg.store import open_store
from tests import valkey as vk
from tests.helpers import AUTH, make_env, wait_for

pytestmark = pytest.mark.slow

IPS = ["198.51.100.77", "2001:db8:cafe:77::9", "::ffff:203.0.113.99"]


def _needles(canary: str) -> dict[str, bytes]:
    """Every form the sentinels could take in storage or logs."""
    needles: dict[str, bytes] = {"canary": canary.encode()}
    for ip in IPS:
        address = ipaddress.ip_address(ip)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        needles[f"{ip} text"] = str(address).encode()
        needles[f"{ip} exploded"] = address.exploded.encode()
        needles[f"{ip} packed"] = address.packed
        if address.version == 4:
            needles[f"{ip} /24"] = str(address).rsplit(".", 1)[0].encode() + b"."
        else:
            needles[f"{ip} /48"] = address.exploded[:14].encode()
    return needles


def _find(needles: dict[str, bytes], haystacks: dict[str, bytes]) -> list[str]:
    return [
        f"{name} in {where}" for where, data in haystacks.items() for name, n in needles.items() if n in data
    ]


def _send_sentinels(server, canary: str) -> str:
    with httpx.Client() as http:
        campaign = server.create(http, recipients=100)
        cid = campaign["id"]
        ua = f"Mozilla/5.0 (X11; Linux x86_64) Sentinel/{canary}"
        for ip in IPS:
            for headers in (
                {"X-Forwarded-For": ip, "User-Agent": ua},
                {"X-Forwarded-For": f"{ip}, 127.0.0.1", "User-Agent": ua},
                {"X-Forwarded-For": ip, "User-Agent": ua, "Sec-GPC": "1"},
                {"X-Forwarded-For": ip, "User-Agent": ua, "Referer": f"https://mail.example/{canary}"},
            ):
                r = http.get(f"{server.url}/p/{cid}.gif?email={canary}&ip={ip}", headers=headers)
                assert r.status_code == 200
        for path in (f"/p/{canary}.gif", f"/p/{cid}.gif/{canary}", f"/api/{canary}"):
            http.get(server.url + path, headers={"X-Forwarded-For": IPS[0], "User-Agent": ua})
        http.get(f"{server.url}/api/campaigns?x={canary}", headers={"User-Agent": ua})
        assert wait_for(lambda: server.stats(http, cid)["opens"]["total"] == len(IPS) * 3)
        _send_click_sentinels(http, server, cid, canary, ua)
    return cid


def _send_click_sentinels(http: httpx.Client, server, cid: str, canary: str, ua: str) -> None:
    """The same sentinels through a link: followed, checked with HEAD, declined, with a referrer
    and a query; then paths that are no link. The clicks pass the click window, then the store."""
    body = {"url": "https://example.org/offer"}
    link = http.post(f"{server.url}/api/campaigns/{cid}/links", json=body, headers=AUTH).json()
    path = f"/l/{cid}/{link['id']}"
    for ip in IPS:
        for method, headers in (
            ("GET", {"X-Forwarded-For": ip, "User-Agent": ua}),
            ("GET", {"X-Forwarded-For": f"{ip}, 127.0.0.1", "User-Agent": ua}),
            ("GET", {"X-Forwarded-For": ip, "User-Agent": ua, "Sec-GPC": "1"}),
            ("GET", {"X-Forwarded-For": ip, "User-Agent": ua, "Referer": f"https://mail.example/{canary}"}),
            ("HEAD", {"X-Forwarded-For": ip, "User-Agent": ua}),
        ):
            r = http.request(method, f"{server.url}{path}?email={canary}&ip={ip}", headers=headers)
            assert r.status_code == 302 and r.headers["location"] == body["url"]
    for bad in (f"/l/{canary}/x", f"/l/{cid}/{canary}", f"{path}/{canary}"):
        http.get(server.url + bad, headers={"X-Forwarded-For": IPS[0], "User-Agent": ua})
    assert wait_for(lambda: server.stats(http, cid)["clicks"]["total"] == len(IPS) * 4)


async def _dump_store(config) -> dict[str, bytes]:
    store = open_store(config)
    try:
        return {f"key {info.key}": info.key.encode() + b"\n" + info.value async for info in store.scan()}
    finally:
        await store.close()


def _salts(dump: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v.split(b"\n", 1)[1] for k, v in dump.items() if ":salt:" in k}


def _check_salt_only_in_its_record(dump, logs: bytes) -> None:
    salts = _salts(dump)
    assert salts, "the hits created a salt"
    for name, salt in salts.items():
        assert len(salt) == 32
        elsewhere = {k: v for k, v in dump.items() if k != name}
        assert not _find({"salt": salt, "salt hex": salt.hex().encode()}, {**elsewhere, "logs": logs})


def test_no_raw_data_in_embedded_store_or_logs(serve, tmp_path, implementation):
    """Embedded store: sentinels appear in no key, value, store file or log line, on either server."""
    canary = "cnry" + secrets.token_hex(6)
    env = make_env(tmp_path, None)
    server = serve(env, "--server", implementation)
    _send_sentinels(server, canary)
    server.stop()
    logs = server.logs().encode()
    assert b"GET /p/{campaign}.gif: " in logs, "the access log (its pixel summary) is on and was captured"
    assert b"GET /l/{campaign}/{link}: " in logs, "and its clicks summary"
    config = load(environ=env)
    dump = asyncio.run(_dump_store(config))
    files = {str(p): p.read_bytes() for p in Path(config.data_dir).rglob("*") if p.is_file()}
    assert not _find(_needles(canary), {**dump, **files, "logs": logs})
    assert not _salts(dump), "the embedded store's salts lived in memory only and died with it"


def test_no_raw_data_in_redis_keys_aof_rdb_or_logs(serve, tmp_path):
    """Redis with AOF: sentinels appear in no key, value, AOF or RDB file, or log line."""
    canary = "cnry" + secrets.token_hex(6)
    # rdbcompression off, so LZF cannot hide a string from the search.
    redis = vk.ValkeyProcess(tmp_path / "valkey", appendonly="yes", appendfsync="always", rdbcompression="no")
    redis.start()
    try:
        env = make_env(tmp_path, redis.url)
        server = serve(env)
        _send_sentinels(server, canary)
        server.stop()
        logs = server.logs().encode()
        dump = asyncio.run(_dump_store(load(environ=env)))
        redis.rewrite_aof()
        redis.snapshot()
        files = {
            str(p): p.read_bytes()
            for p in redis.directory.rglob("*")
            if p.is_file() and "valkey.log" not in p.name
        }
        assert any("appendonly" in f for f in files) and any(f.endswith("dump.rdb") for f in files)
        assert not _find(_needles(canary), {**dump, **files, "logs": logs})
        _check_salt_only_in_its_record(dump, logs)
    finally:
        redis.stop()


def test_closed_window_salt_absent_after_aof_rewrite(tmp_path):
    """A salt whose window has closed is gone from the AOF and RDB after a rewrite (P4)."""
    redis = vk.ValkeyProcess(tmp_path / "valkey", appendonly="yes", appendfsync="always", rdbcompression="no")
    redis.start()
    try:
        config = load(environ=make_env(tmp_path, redis.url))

        async def make_salt() -> tuple[bytes, str]:
            from pixelagg.core.campaign import Campaign, new_campaign_id

            store = open_store(config)
            try:
                c = Campaign(id=new_campaign_id(), name="s", created_at=time.time())
                await store.create_campaign(c)
                # As a salt at the end of its window plus grace: one second left.
                key = store.keys.salt(c.id, 0)
                salt, _ = await store.salts.get_or_create(key, new_salt(), 1.0)
                return salt, key
            finally:
                await store.close()

        salt, salt_key = asyncio.run(make_salt())
        aof = b"".join(p.read_bytes() for p in redis.directory.rglob("*.aof*"))
        assert salt in aof, "while its window is open the salt is in the AOF (documented)"
        # EXISTS on an expired key deletes it at once (lazy expiry), as Valkey's active expiry
        # cycle does on its own within moments in production.
        assert wait_for(lambda: redis.command("EXISTS", salt_key) == 0, timeout=5)
        redis.rewrite_aof()
        redis.snapshot()

        def files() -> bytes:
            return b"".join(
                p.read_bytes() for p in redis.directory.rglob("*") if p.is_file() and p.name != "valkey.log"
            )

        # Valkey deletes the AOF files the rewrite replaced in a background thread, soon after.
        assert wait_for(lambda: salt not in files(), timeout=10)
    finally:
        redis.stop()
