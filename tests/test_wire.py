"""P3 on the wire: what pixelagg sends to Redis, watched with MONITOR on a real server."""

from __future__ import annotations

import threading

import pytest
import redis

from pixelagg.config import load
from pixelagg.core.privacy import visitor_key
from tests import valkey as vk
from tests.helpers import make_env

IP = "198.51.100.143"
UA = "WireSentinel/3.1 (monitor-canary)"


@pytest.fixture
def monitored(tmp_path):
    """A Valkey server and every command it executes (scripts' inner commands included)."""
    server = vk.ValkeyProcess(tmp_path / "valkey").start()
    seen: list[str] = []
    client = redis.Redis.from_url(server.url)
    ready = threading.Event()

    def watch() -> None:
        with client.monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                seen.append(command["command"])
                if "monitor-stop" in command["command"]:
                    return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    ready.wait(5)
    yield server, seen
    with redis.Redis.from_url(server.url) as other:
        other.echo("monitor-stop")
    thread.join(5)
    client.close()
    server.stop()


def test_raw_values_never_reach_pfadd(monitored, tmp_path, client_for):
    """Sketch elements sent to PFADD are 16-byte keyed hashes; no IP or user agent is ever sent."""
    server, seen = monitored
    client = client_for(load(environ=make_env(tmp_path, server.url)))
    c = client.create()
    for _ in range(3):
        client.hit(c["id"], ip=IP, ua=UA)
    client.flush()
    assert client.stats(c["id"])["opens"]["total"] == 3
    pfadds = [line for line in seen if line.startswith("PFADD ")]
    # One class sketch and one region sketch per flush that carried the hits (inside the script).
    assert pfadds and len(pfadds) % 2 == 0
    for line in seen:
        assert IP not in line and "198.51.100" not in line and "WireSentinel" not in line, line
    salt_key = client.service.store.keys.salt(c["id"], 0)
    with redis.Redis.from_url(server.url) as plain:
        salt = plain.get(salt_key)
    element = visitor_key(salt, IP, UA, c["id"])
    for line in pfadds:
        assert line.endswith(" " + _monitor_repr(element)), line


def _monitor_repr(data: bytes) -> str:
    """An argument as redis-py's monitor gives it: Redis's sdscatrepr escapes, quotes unescaped."""
    escapes = {0x5C: "\\\\", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x07: "\\a", 0x08: "\\b"}
    return "".join(escapes.get(b) or (chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}") for b in data)
