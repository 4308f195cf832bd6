"""The embedded store's memory and file size under many campaigns (not part of the service).

Starts a real `pixelagg serve` on the embedded store in a fresh data dir, creates
`--campaigns` campaigns, and sends `--hits` pixel hits over `--seconds` seconds (at most; as
fast as the server answers otherwise), each to a random campaign, from a pool of `--addresses`
distinct client addresses spread over the world (every country is a region, and so a sketch).
It reads the server's resident memory (VmRSS, and the peak VmHWM) every second and, after a
clean SIGTERM, the size of the store's file, and checks that the hits answered `counted`
are the opens of a sample of campaigns. With `--baseline-tree DIR` it runs the same load
against another checkout (the release before this one, say) and prints both; otherwise it
prints the figure measured before sparse sketches (issue #14) beside this run's.

    .venv/bin/python bench/memory.py                       # 2,000 campaigns, 90k addresses, 60 s
    .venv/bin/python bench/memory.py --campaigns 200 --hits 20000 --seconds 10
    .venv/bin/python bench/memory.py --baseline-tree /tmp/pixelagg-0.x
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
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.serving import start_serve

ROOT = Path(__file__).resolve().parent.parent

UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
STATED_BASELINE = {"peak_rss_mb": 1004.0, "note": "issue #14: every sketch a dense 16 KB array"}
_FIRST_OCTETS = [o for o in range(1, 224) if o not in (10, 100, 127, 169, 172, 192)]


def _rss(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> bytes:
    writer.write(data)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    marker = None
    for line in head.split(b"\r\n"):
        lower = line.lower()
        if lower.startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
        if lower.startswith(b"x-pixelagg:"):
            marker = line.split(b":", 1)[1].strip()
    if length:
        await reader.readexactly(length)
    return marker or b""


async def _load(args: argparse.Namespace, port: int, ids: list[str], pid: int) -> dict[str, Any]:
    rng = random.Random(7)
    pool = [
        f"{rng.choice(_FIRST_OCTETS)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        for _ in range(args.addresses)
    ]
    counted: dict[str, int] = {}
    other = 0
    samples: list[float] = []
    latencies: list[float] = []
    start = time.monotonic()
    per_connection = args.hits // args.connections
    interval = args.seconds / per_connection if args.seconds else 0.0

    async def connection(k: int) -> None:
        nonlocal other
        local = random.Random(k)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for n in range(per_connection):
                due = start + n * interval
                if (wait := due - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                campaign = local.choice(ids)
                data = (
                    f"GET /p/{campaign}.gif HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {UA}\r\n"
                    f"X-Forwarded-For: {local.choice(pool)}\r\n\r\n"
                ).encode()
                sent_at = time.perf_counter()
                answer = await _request(reader, writer, data)
                latencies.append(time.perf_counter() - sent_at)
                if answer == b"counted":
                    counted[campaign] = counted.get(campaign, 0) + 1
                else:
                    other += 1
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def sampler() -> None:
        while True:
            samples.append(_rss(pid)[0])
            await asyncio.sleep(1.0)

    watch = asyncio.ensure_future(sampler())
    await asyncio.gather(*(connection(k) for k in range(args.connections)))
    elapsed = time.monotonic() - start
    watch.cancel()
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else 0.0
    return {"counted": counted, "other": other, "seconds": elapsed, "rss_samples": samples, "p99": p99}


def _api(port: int, method: str, path: str, token: str, body: Any = None) -> Any:
    import httpx

    response = httpx.request(
        method, f"http://127.0.0.1:{port}{path}", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    response.raise_for_status()
    return response.json() if response.content else None


def run(args: argparse.Namespace, tree: Path) -> dict[str, Any]:
    """One run against the pixelagg in `tree`: its RSS, file size and reconciliation."""
    token = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="pixelagg-memory-") as tmp:
        data_dir = Path(tmp) / "data"
        env = {
            **os.environ,
            "PYTHONPATH": str(tree),
            "PIXELAGG_DATA_DIR": str(data_dir),
            "PIXELAGG_ADMIN_TOKEN": token,
            "PIXELAGG_SERVER_ACCESS_LOG": "false",
            "PIXELAGG_PRIVACY_EPSILON": "off",
        }
        env.pop("PIXELAGG_STORE_URL", None)
        proc, port = start_serve(env, Path(tmp), Path(tmp) / "serve.log")
        try:
            idle_rss = _rss(proc.pid)[0]
            ids = [
                _api(port, "POST", "/api/campaigns", token, {"name": f"m{n}", "recipients": 1000})["id"]
                for n in range(args.campaigns)
            ]
            load = asyncio.run(_load(args, port, ids, proc.pid))
            time.sleep(2.5)  # the last flush and save
            rss, peak = _rss(proc.pid)
            sample = random.Random(1).sample(ids, min(20, len(ids)))
            opens = {
                c: _api(port, "GET", f"/api/campaigns/{c}/stats", token)["opens"]["total"] for c in sample
            }
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            files = sorted(data_dir.glob("store.sqlite3*"))
            size = sum(f.stat().st_size for f in files)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    mismatched = {
        c: (load["counted"].get(c, 0), n) for c, n in opens.items() if load["counted"].get(c, 0) != n
    }
    return {
        "tree": str(tree),
        "campaigns": args.campaigns,
        "addresses": args.addresses,
        "hits": sum(load["counted"].values()) + load["other"],
        "counted": sum(load["counted"].values()),
        "seconds": round(load["seconds"], 1),
        "idle_rss_mb": round(idle_rss, 1),
        "rss_mb": round(rss, 1),
        "peak_rss_mb": round(max(peak, *load["rss_samples"], 0.0), 1),
        "file_mb": round(size / 2**20, 1),
        "p99_ms": round(load["p99"] * 1000, 1),
        "sample_mismatches": mismatched,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--campaigns", type=int, default=2000)
    parser.add_argument("--addresses", type=int, default=90_000, help="distinct client addresses")
    parser.add_argument("--hits", type=int, default=180_000)
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="spread the hits over this long (0: flat out)"
    )
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--baseline-tree", type=Path, help="another checkout to run the same load against")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    results = [run(args, ROOT)]
    if args.baseline_tree:
        results.append(run(args, args.baseline_tree.resolve()))
    head = ("run", "hits", "counted", "s", "idle MB", "RSS MB", "peak MB", "file MB", "p99 ms")
    print(f"{head[0]:<12} " + " ".join(f"{h:>8}" for h in head[1:]))
    for name, r in zip(("this tree", "baseline"), results, strict=False):
        print(
            f"{name:<12} {r['hits']:>8} {r['counted']:>8} {r['seconds']:>6} {r['idle_rss_mb']:>8} "
            f"{r['rss_mb']:>8} {r['peak_rss_mb']:>8} {r['file_mb']:>8} {r['p99_ms']:>8}"
        )
        if r["sample_mismatches"]:
            print(f"  counted != opens.total for {r['sample_mismatches']}")
    if not args.baseline_tree:
        print(f"{'stated':<12} {'':>8} {'':>8} {'':>6} {'':>8} {'':>8} {STATED_BASELINE['peak_rss_mb']:>8} "
              f"{'':>8}  ({STATED_BASELINE['note']})")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"results": results, "stated_baseline": STATED_BASELINE}, indent=2))


if __name__ == "__main__":
    main()
