"""Helpers of the fault tests: hits from distinct addresses, totals, /readyz and metrics of a real serve."""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests import valkey as vk
from tests.helpers import AUTH, BROWSER_UA, Served, make_env

LIBFAKETIME = next(iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))), None)
"""Debian's faketime package; scripts/test installs it when it runs as root."""


def faketime_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """The environment that puts a serve's wall clock (not its monotonic one) at the offset
    written in the returned file (`+10d`, `+0s`), read again every second."""
    if LIBFAKETIME is None:
        pytest.skip("faketime is not installed (apt install faketime; scripts/test installs it as root)")
    offset = tmp_path / "faketime"
    offset.write_text("+0s\n")
    env = {
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME_TIMESTAMP_FILE": str(offset),
        "FAKETIME_CACHE_DURATION": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",  # a step of the wall clock leaves the monotonic one
    }
    return env, offset


@contextlib.contextmanager
def revocable_writer(
    serve: Callable[..., Served], tmp_path: Path
) -> Iterator[tuple[vk.ValkeyProcess, Served, Served]]:
    """A real Valkey and two replicas of one keyspace with the release step on (ε 1, 1-second
    periods): `a` on Redis user `a`, whose writes `ACL SETUSER a -@write` takes away (it still
    reads), and `b` on the default user. Valkey stops at the end."""
    redis = vk.ValkeyProcess(tmp_path / "valkey").start()
    try:
        redis.command("ACL", "SETUSER", "a", "on", ">a-password", "~*", "&*", "+@all")
        release = {"PIXELAGG_PRIVACY_EPSILON": "1", "PIXELAGG_PRIVACY_RELEASE_PERIOD_SECONDS": "1"}
        env_b = make_env(tmp_path, redis.url, **release)
        url_a = f"redis://a:a-password@127.0.0.1:{redis.port}"
        prefix = env_b["PIXELAGG_STORE_KEY_PREFIX"]
        a = serve(make_env(tmp_path, url_a, PIXELAGG_STORE_KEY_PREFIX=prefix, **release), name="a")
        b = serve(env_b, name="b")
        yield redis, a, b
    finally:
        redis.stop()


def hits(http: httpx.Client, server: Served, campaign_id: str, n: int, first: int = 0) -> Counter[str]:
    """Send n hits from distinct addresses; the X-Pixelagg answers, counted."""
    answers: Counter[str] = Counter()
    for k in range(first, first + n):
        r = http.get(
            f"{server.url}/p/{campaign_id}.gif",
            headers={
                "X-Forwarded-For": f"81.{k // 62500 % 250}.{k // 250 % 250}.{k % 250 + 1}",
                "User-Agent": BROWSER_UA,
            },
        )
        assert r.status_code == 200 and len(r.content) == 43
        answers[r.headers["x-pixelagg"]] += 1
    return answers


def total(http: httpx.Client, server: Served, campaign_id: str) -> int:
    return int(server.stats(http, campaign_id)["opens"]["total"])


def answered_total(http: httpx.Client, server: Served, campaign_id: str) -> int | None:
    """The campaign's opens, or None while the store does not answer the read (503): a store
    just restarted may refuse a read or two (loading its file, a pool's dead connections)."""
    response = http.get(f"{server.url}/api/campaigns/{campaign_id}/stats", headers=AUTH)
    if response.status_code == 503:
        return None
    assert response.status_code == 200, response.text
    return int(response.json()["opens"]["total"])


def readyz(http: httpx.Client, server: Served) -> httpx.Response:
    return http.get(server.url + "/readyz")


def metric(http: httpx.Client, server: Served, name: str, **labels: str) -> float:
    """One series of the server's /metrics."""
    label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = "^" + re.escape(name) + (r"\{" + re.escape(label_text) + r"\}" if labels else "") + r" (\S+)$"
    match = re.search(pattern, http.get(server.url + "/metrics").text, re.MULTILINE)
    assert match, f"{name}{labels} not in metrics"
    return float(match.group(1))


def lost(http: httpx.Client, server: Served, reason: str) -> int:
    """Hits answered counted that the server counts as lost, for one reason."""
    return int(metric(http, server, "pixelagg_lost_hits_total", reason=reason))


def reconciled(http: httpx.Client, server: Served, campaign_id: str, answered: int) -> bool:
    """Whether the opens stored plus the hits counted as lost by the store are the hits answered
    counted (False while the store does not answer a read)."""
    counted = answered_total(http, server, campaign_id)
    return counted is not None and counted + lost(http, server, "store_lost") == answered
