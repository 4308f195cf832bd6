"""HTTP/1.1 load generator for the pixelagg benchmark (not part of the service).

Two modes, both over persistent keep-alive connections to one http:// URL on 127.0.0.1:

* open loop (``--rate R``): request *i* is scheduled at ``t0 + i / R`` whatever the server does.
  A scheduled request goes out on an idle connection, or waits in a FIFO queue for the next
  connection that becomes free.  Latency is measured from the **scheduled** time to the last
  byte of the response, so time spent queued behind a slow server is counted (no coordinated
  omission).  The generator's own lateness (dispatch time minus scheduled time) is reported
  separately as ``gen_lag`` so you can tell when the generator, not the server, fell behind.
* closed loop (no ``--rate``): every connection sends its next request as soon as the previous
  response is complete; used for saturation when wrk is not installed.

Both modes stop scheduling at the end of ``--duration`` and then wait for every request already
sent (``--drain-timeout``), so ``sent``, ``status`` counts and ``unanswered`` add up exactly.

Each request can carry a different ``X-Forwarded-For`` address (``--xff random``, the default),
a fixed set of 256 addresses (``--xff fixed``) or none (``--xff none``).

Prints one JSON object on stdout (and a human summary on stderr).

    python bench/loadgen.py http://127.0.0.1:8000/p/abc.gif --rate 5000 --duration 8
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import random
import sys
import time
from collections import Counter, deque
from typing import Any
from urllib.parse import urlsplit

perf = time.perf_counter  # CLOCK_MONOTONIC on Linux: comparable across processes

DEFAULT_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"

# First octets of unicast space, minus 0/8, 10/8, 100/8 (CGNAT part), 127/8 and 169/8, 172/8, 192/8
# (which hold private ranges): every address generated is a public unicast address.
_FIRST_OCTETS = [o for o in range(1, 224) if o not in (10, 100, 127, 169, 172, 192)]


# An EU newsletter's audience: /16s in NL, DE, BE, FR and GB (85% of hits), as in bench/run.py.
AUDIENCE = (
    "2.21",
    "31.21",
    "31.161",
    "62.126",
    "2.28",
    "2.161",
    "2.168",
    "2.175",
    "57.238",
    "78.21",
    "81.245",
    "84.196",
    "2.7",
    "2.14",
    "5.49",
    "5.196",
    "2.98",
    "2.126",
    "2.217",
    "5.70",
)


def random_ip(rng: random.Random) -> str:
    n = rng.getrandbits(24)
    return f"{rng.choice(_FIRST_OCTETS)}.{n >> 16}.{(n >> 8) & 255}.{(n & 255) or 1}"


class RequestFactory:
    def __init__(self, url: str, xff: str, headers: list[str], user_agent: str, seed: int) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise SystemExit("loadgen: only http:// URLs are supported")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        extra = "".join(f"{h}\r\n" for h in headers)
        self.head = (
            f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: {user_agent}\r\n{extra}"
        ).encode()
        self.xff = xff
        self.rng = random.Random(seed)
        self.fixed = [random_ip(self.rng).encode() for _ in range(256)]
        self.n = 0
        self.static = self.head + b"\r\n"

    def __call__(self) -> bytes:
        if self.xff == "newsletter":
            if self.rng.random() < 0.85:
                prefix = self.rng.choice(AUDIENCE)
                ip = f"{prefix}.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}"
            else:
                ip = random_ip(self.rng)
            return self.head + b"X-Forwarded-For: " + ip.encode() + b"\r\n\r\n"
        if self.xff == "random":
            return self.head + b"X-Forwarded-For: " + random_ip(self.rng).encode() + b"\r\n\r\n"
        if self.xff == "fixed":
            self.n += 1
            return self.head + b"X-Forwarded-For: " + self.fixed[self.n & 255] + b"\r\n\r\n"
        return self.static


class Conn(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.sched = 0.0  # when the request in flight was scheduled (open) or sent (closed)
        self.busy = False
        self.ready = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if not self.ready.done():
            self.ready.set_result(None)

    def send(self, sched: float, data: bytes) -> None:
        self.sched = sched
        self.busy = True
        assert self.transport is not None
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).lower()
            try:
                status = int(head[9:12])
            except ValueError:
                status = 0
            i = head.find(b"\r\ncontent-length:")
            if i >= 0:
                j = head.find(b"\r\n", i + 2)
                length = int(head[i + 17 : j if j >= 0 else len(head)])
            elif b"transfer-encoding: chunked" in head:
                # Not produced by the servers we test; fail loudly rather than mis-count.
                raise RuntimeError("loadgen: chunked responses are not supported")
            else:
                length = 0
            total = end + 4 + length
            if len(buf) < total:
                return
            del buf[:total]
            self.busy = False
            close = b"\r\nconnection: close" in head
            self.gen.on_response(self, status, perf())
            if close:
                self.gen.on_lost(self, None)
                return

    def connection_lost(self, exc: Exception | None) -> None:
        self.gen.on_lost(self, exc)


class Generator:
    def __init__(self, args: argparse.Namespace, factory: RequestFactory) -> None:
        self.args = args
        self.make = factory
        self.idle: list[Conn] = []
        self.queue: deque[float] = deque()
        self.latencies: list[float] = []
        self.lags: list[float] = []
        self.status: Counter[int] = Counter()
        self.warm_status: Counter[int] = Counter()
        self.warm_sent = 0
        self.sent = 0
        self.errors = 0  # requests whose connection failed before a response
        self.reconnects = 0
        self.stopping = False
        self.inflight = 0
        self.last_response = 0.0
        self.drained: asyncio.Future[None] | None = None
        self.conns: set[Conn] = set()
        self.record = True

    async def connect(self) -> Conn:
        loop = asyncio.get_running_loop()
        conn = Conn(self)
        await loop.create_connection(lambda: conn, self.make.host, self.make.port)
        self.conns.add(conn)
        return conn

    # ---- events -----------------------------------------------------------------------------
    def dispatch(self, sched: float) -> None:
        """Open loop: a request is due."""
        if self.idle:
            self._send(self.idle.pop(), sched)
        else:
            self.queue.append(sched)

    def _send(self, conn: Conn, sched: float) -> None:
        self.sent += 1
        self.inflight += 1
        conn.send(sched, self.make())

    def on_response(self, conn: Conn, status: int, now: float) -> None:
        self.inflight -= 1
        if self.record:
            self.latencies.append(now - conn.sched)
            self.status[status] += 1
        else:
            self.warm_status[status] += 1
        self.last_response = now
        if self.args.rate:  # open loop
            if self.queue:
                self._send(conn, self.queue.popleft())
            else:
                self.idle.append(conn)
        elif not self.stopping:  # closed loop: next request right away
            self._send(conn, perf())
        self._check_drained()

    def on_lost(self, conn: Conn, exc: Exception | None) -> None:
        if conn not in self.conns:
            return
        self.conns.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        if conn.busy:
            conn.busy = False
            self.inflight -= 1
            self.errors += 1
        if conn.transport is not None:
            conn.transport.close()
        if not self.stopping or self.queue:
            self.reconnects += 1
            asyncio.get_running_loop().create_task(self._replace())
        self._check_drained()

    async def _replace(self) -> None:
        try:
            conn = await self.connect()
        except OSError:
            await asyncio.sleep(0.05)
            if not self.stopping:
                asyncio.get_running_loop().create_task(self._replace())
            return
        if self.args.rate:
            if self.queue:
                self._send(conn, self.queue.popleft())
            else:
                self.idle.append(conn)
        elif not self.stopping:
            self._send(conn, perf())

    def _check_drained(self) -> None:
        if (
            self.stopping
            and self.inflight == 0
            and not self.queue
            and self.drained is not None
            and not self.drained.done()
        ):
            self.drained.set_result(None)

    # ---- runs -------------------------------------------------------------------------------
    async def open_loop(self, start: float, duration: float, rate: float, phase: float) -> float:
        interval = 1.0 / rate
        total = int(duration * rate)
        spin = self.args.timer == "spin"
        i = 0
        while i < total:
            now = perf()
            due = start + phase + i * interval
            while due <= now:
                if self.record:
                    self.lags.append(now - due)
                self.dispatch(due)
                i += 1
                if i >= total:
                    break
                due = start + phase + i * interval
            if i >= total:
                break
            wait = due - perf()
            if spin:
                if wait > 0.002:
                    # Timers have ~1 ms granularity: wake a little early and spin the rest.
                    await asyncio.sleep(wait - 0.001)
                else:
                    await asyncio.sleep(0)  # yields to the loop, which polls the sockets
            else:
                # Tick: block in the event loop until the next request is due, rounded up to
                # the timer's 1 ms granularity (uvloop truncates shorter timers to 0, which
                # would spin), then send everything that is due.  Lateness counts as latency.
                await asyncio.sleep(max(0.001, math.ceil(wait * 1000) / 1000))
        return start + phase + total * interval

    async def closed_loop(self, start: float, duration: float) -> float:
        while perf() < start:
            await asyncio.sleep(0)
        for conn in list(self.idle):
            self._send(conn, perf())
        self.idle.clear()
        await asyncio.sleep(max(0.0, start + duration - perf()))
        return start + duration

    async def run(self, start: float, phase: float) -> dict[str, Any]:
        a = self.args
        conns = await asyncio.gather(*(self.connect() for _ in range(a.connections)))
        self.idle.extend(conns)
        loop = asyncio.get_running_loop()
        while perf() < start - 0.002:
            await asyncio.sleep(0.001)
        if a.warmup > 0:
            self.record = False
            if a.rate:
                await self.open_loop(start, a.warmup, a.rate, phase)
            else:
                await self.closed_loop(start, a.warmup)
            self.stopping = True
            await self._drain(loop)
            self.stopping = False
            self.record = True
            self.warm_sent = self.sent
            self.sent = self.errors = 0
            start = perf() + 0.05
            self.idle = [c for c in self.conns if not c.busy]
        if a.rate:
            end = await self.open_loop(start, a.duration, a.rate, phase)
        else:
            end = await self.closed_loop(start, a.duration)
        self.stopping = True
        unanswered = await self._drain(loop)
        for conn in list(self.conns):
            if conn.transport is not None:
                conn.transport.close()
        return {
            "start": start,
            "end": end,
            "last_response": self.last_response,
            "sent": self.sent,
            "status": dict(self.status),
            "warmup_sent": self.warm_sent,
            "warmup_status": dict(self.warm_status),
            "errors": self.errors,
            "unanswered": unanswered,
            "reconnects": self.reconnects,
            "latencies": self.latencies,
            "lags": self.lags,
        }

    async def _drain(self, loop: asyncio.AbstractEventLoop) -> int:
        self.stopping = True
        self.drained = loop.create_future()
        self._check_drained()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.drained), self.args.drain_timeout)
        return self.inflight + len(self.queue)


def _child(args: argparse.Namespace, index: int, start: float) -> dict[str, Any]:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    factory = RequestFactory(args.url, args.xff, args.header, args.user_agent, args.seed + index)
    gen = Generator(args, factory)
    phase = index / (args.rate * max(1, args.procs)) if args.rate else 0.0
    return asyncio.run(gen.run(start, phase))


def _child_to_queue(
    args: argparse.Namespace, index: int, start: float, out: multiprocessing.Queue[dict[str, Any]]
) -> None:
    out.put(_child(args, index, start))


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def run(args: argparse.Namespace) -> dict[str, Any]:
    procs = max(1, args.procs)
    per = argparse.Namespace(**vars(args))
    per.connections = max(1, args.connections // procs)
    if args.rate:
        per.rate = args.rate / procs
    start = perf() + 0.5 + 0.1 * procs
    if procs == 1:
        parts = [_child(per, 0, start)]
    else:
        ctx = multiprocessing.get_context("fork")
        out: multiprocessing.Queue[dict[str, Any]] = ctx.Queue()
        # phases interleave the schedules: process k sends at k/rate + i*procs/rate
        workers = [ctx.Process(target=_child_to_queue, args=(per, k, start, out)) for k in range(procs)]
        for w in workers:
            w.start()
        parts = [out.get() for _ in workers]
        for w in workers:
            w.join()
    lat = sorted(x for p in parts for x in p["latencies"])
    lags = sorted(x for p in parts for x in p["lags"])
    status: Counter[int] = Counter()
    for p in parts:
        status.update({int(k): v for k, v in p["status"].items()})
    t0 = min(p["start"] for p in parts)
    t_end = max(p["end"] for p in parts)
    t_last = max(p["last_response"] for p in parts)
    sent = sum(p["sent"] for p in parts)
    warm: Counter[int] = Counter()
    for p in parts:
        warm.update(p["warmup_status"])
    answered = sum(status.values())
    ms = 1000.0
    return {
        "mode": "open" if args.rate else "closed",
        "url": args.url,
        "target_rate": args.rate,
        "duration_s": args.duration,
        "connections": args.connections,
        "procs": procs,
        "xff": args.xff,
        "sent": sent,
        "answered": answered,
        "ok": status.get(200, 0),
        "status": {str(k): v for k, v in sorted(status.items())},
        "errors": sum(p["errors"] for p in parts),
        # the warm-up is not measured, but the server saw it: needed to reconcile server counters
        "warmup_sent": sum(p["warmup_sent"] for p in parts),
        "warmup_ok": warm.get(200, 0),
        "unanswered": sum(p["unanswered"] for p in parts),
        "reconnects": sum(p["reconnects"] for p in parts),
        # sending rate over the schedule, and completion rate up to the last response
        "sent_rate": sent / max(1e-9, t_end - t0),
        "achieved_rate": answered / max(1e-9, max(t_end, t_last) - t0),
        "latency_ms": {
            "p50": percentile(lat, 50) * ms,
            "p90": percentile(lat, 90) * ms,
            "p99": percentile(lat, 99) * ms,
            "p999": percentile(lat, 99.9) * ms,
            "max": (lat[-1] * ms) if lat else float("nan"),
            "mean": (sum(lat) / len(lat) * ms) if lat else float("nan"),
        },
        "gen_lag_ms": {
            "p50": percentile(lags, 50) * ms,
            "p99": percentile(lags, 99) * ms,
            "max": (lags[-1] * ms) if lags else float("nan"),
        },
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("url", help="http://127.0.0.1:PORT/path")
    p.add_argument("--rate", type=float, default=None, help="open loop at this many req/s")
    p.add_argument("--duration", type=float, default=8.0, help="seconds of measured load")
    p.add_argument("--warmup", type=float, default=0.0, help="seconds of unmeasured load first")
    p.add_argument("--connections", "-c", type=int, default=64)
    p.add_argument("--procs", type=int, default=1, help="generator processes (rate is split)")
    p.add_argument("--xff", choices=("newsletter", "random", "fixed", "none"), default="newsletter")
    p.add_argument("--header", "-H", action="append", default=[], help="extra 'Name: value'")
    p.add_argument("--user-agent", default=DEFAULT_UA)
    p.add_argument(
        "--timer",
        choices=("tick", "spin"),
        default="tick",
        help="open loop: tick = sleep in the event loop until due (1 ms timer "
        "granularity, little CPU; default); spin = busy-wait (precise, burns a core)",
    )
    p.add_argument("--drain-timeout", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if args.rate is not None and args.rate <= 0:
        p.error("--rate must be positive")
    host = urlsplit(args.url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        p.error("loadgen only sends traffic to the loopback interface")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = run(args)
    lat, lag = result["latency_ms"], result["gen_lag_ms"]
    print(
        f"{result['mode']} loop: sent {result['sent']} answered {result['answered']} "
        f"(200: {result['ok']}, errors {result['errors']}, unanswered {result['unanswered']}) "
        f"rate {result['achieved_rate']:.0f}/s; latency p50 {lat['p50']:.2f} p99 {lat['p99']:.2f} "
        f"max {lat['max']:.2f} ms; generator lag p99 {lag['p99']:.2f} ms",
        file=sys.stderr,
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
