"""The pixel's hot path in-process: Python time per hit, without a server or a network.

Calls each ASGI app directly with prebuilt scopes (a mail client's user agent, an
X-Forwarded-For address from an EU newsletter's audience, loopback as the trusted proxy):

  baseline   bench/baseline_app.py: Starlette routing and a Response with the GIF
  pixelagg   pixelagg's app on the embedded store: parse, classify, region, keyed hash, buffer
  redirect   pixelagg's link redirect (/l/): the same, into the click window, and a 302

and then times the pixel's steps one by one. The flush (writing the buffer) and the click
window's release (classifying and buffering the held clicks) are timed apart, per hit or click.
Prints a table with µs per hit and the ratio to the baseline measured in the same run, and the
redirect's (with its release) to the pixel's.

    .venv/bin/python bench/hotpath.py [--hits 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
UA = b"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"


def scopes(path: str, n: int) -> list[dict[str, Any]]:
    from loadgen import AUDIENCE

    rng = random.Random(7)
    return [
        {
            "type": "http",
            "method": "GET",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "scheme": "http",
            "http_version": "1.1",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
            "headers": [
                (b"host", b"127.0.0.1:8000"),
                (b"user-agent", UA),
                (
                    b"x-forwarded-for",
                    f"{rng.choice(AUDIENCE)}.{rng.randrange(256)}.{rng.randrange(1, 255)}".encode(),
                ),
            ],
        }
        for _ in range(n)
    ]


async def per_call(app: Any, batch: list[dict[str, Any]], repeat: int) -> float:
    """The best of `repeat` passes over the scopes, in µs per call."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for scope in batch:
            await app(scope, receive, send)
        best = min(best, (time.perf_counter() - start) / len(batch) * 1e6)
    return best


def step(fn: Callable[..., Any], args: list[tuple[Any, ...]], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for a in args:
            fn(*a)
        best = min(best, (time.perf_counter() - start) / len(args) * 1e6)
    return best


@contextlib.asynccontextmanager
async def pixel_app(name: str) -> AsyncIterator[tuple[Any, Any]]:
    """pixelagg's app on a fresh embedded store, started, with no access log: (app, service)."""
    sys.path.insert(0, str(BENCH))
    os.environ.update(
        {
            "PIXELAGG_DATA_DIR": tempfile.mkdtemp(prefix=f"pixelagg-{name}-"),
            "PIXELAGG_ADMIN_TOKEN": f"{name}-" + "x" * 24,
            "PIXELAGG_SERVER_ACCESS_LOG": "false",
        }
    )
    from pixelagg.config import load
    from pixelagg.web.app import create_app

    app = create_app(load())
    service = app.app.state.service  # Front wraps the Starlette app
    await service.start()
    try:
        yield app, service
    finally:
        await service.stop()


async def main(hits: int, repeat: int) -> None:
    async with pixel_app("hotpath") as (app, service):
        await _measure(app, service, hits, repeat)


async def _measure(app: Any, service: Any, hits: int, repeat: int) -> None:
    from baseline_app import app as baseline

    from pixelagg import actions
    from pixelagg.core.privacy import bucket_region, client_address, visitor_key
    from pixelagg.web.pixel import read_headers as _headers

    campaign, _ = await actions.create_campaign(service.store, service.config, {"name": "hotpath"})
    batch = scopes(f"/p/{campaign.id}.gif", hits)
    await per_call(app, batch[:2000], 1)  # warm: salt, caches
    await service.aggregator.flush()
    await service.aggregator.drain()  # stop the flush loop: the flush is timed apart below

    rows = [("baseline: Starlette GIF", await per_call(baseline, batch, repeat))]
    rows.append(("pixelagg: the pixel", await per_call(app, batch, repeat)))
    waiting = service.aggregator.depth
    start = time.perf_counter()
    await service.aggregator.flush()
    rows.append(("pixelagg: flush, per hit", (time.perf_counter() - start) / max(1, waiting) * 1e6))

    link, _ = await actions.register_link(
        service.store, service.config, campaign.id, {"url": "https://example.org/"}
    )
    clicks = [{**s, "path": f"/l/{campaign.id}/{link.id}", "raw_path": b""} for s in batch]
    window = service.clicks
    await window.drain()  # stop its loop: the release is timed apart below
    redirect = await per_call(app, clicks, 1)  # one pass: each click is held until released
    start = time.perf_counter()
    released = window.release(everything=True)
    release = (time.perf_counter() - start) / max(1, released) * 1e6
    rows.append(("pixelagg: the redirect", redirect))
    rows.append(("  window release, per click", release))
    await service.aggregator.flush()

    now = time.time()
    trusted = service.trusted
    forwarded = [dict(s["headers"])[b"x-forwarded-for"].decode() for s in batch]
    found = [client_address("127.0.0.1", f, trusted) for f in forwarded]
    salt = service.cache.current_salt(campaign.id, now)
    ua = UA.decode()
    steps = [
        ("  read the headers", _headers, [(s,) for s in batch]),
        ("  client address", client_address, [("127.0.0.1", f, trusted) for f in forwarded]),
        ("  classify", service.classifier.classify, [(ua, c.address) for c in found if c]),
        ("  region", bucket_region, [(c.text,) for c in found if c]),
        ("  keyed hash", visitor_key, [(salt, c.text, ua, campaign.id) for c in found if c]),
    ]
    for name, fn, args in steps:
        rows.append((name, step(fn, args, repeat)))
    await service.aggregator.flush()

    base = rows[0][1]
    print(f"{'':28} {'µs/hit':>8} {'ratio':>6}")
    for name, us in rows:
        print(f"{name:28} {us:8.2f} {us / base:6.2f}")
    times = dict(rows)
    pixel, click = times["pixelagg: the pixel"], times["pixelagg: the redirect"]
    with_release = click + times["  window release, per click"]
    print(f"pixel / redirect: {pixel / click:.2f}; with the window's release: {pixel / with_release:.2f}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hits", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    asyncio.run(main(args.hits, args.repeat))
