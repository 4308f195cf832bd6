"""Slow and hostile clients: the pixel's latency for everyone else while 2,000 of them are held.

For each HTTP server (uvicorn, granian) this starts ``pixelagg serve`` (the defaults, embedded
store, differential privacy off so nothing else differs) and measures other clients twice:

  quiet   no hostile connections: the reference
  held    ``--hostile`` connections held open the whole time: half never send a byte, half
          trickle a header line a second and never finish it. Each one the server closes (its
          head timeout) is opened again at once, so the number held stays at ``--hostile``.

The other clients are bench/loadgen.py at a fixed open-loop rate on keep-alive connections
(latency from the scheduled time), and a probe that opens a fresh connection for every request
(as a mail client does): their p50, p99 and max, and their errors. The server runs pinned to
the last CPU, the generators on the others. The table also shows how many hostile connections
were open (lowest while measuring), how many the server closed, and the server's RSS.

    .venv/bin/python bench/slowclients.py [--hostile 2000] [--duration 20] [--rate 200]

See bench/README.md ("Slow clients").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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

from pixelagg.limits import HEAD_TIMEOUT

BENCH = Path(__file__).resolve().parent
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpus() -> tuple[set[int], set[int]]:
    """(server CPUs, client CPUs): the last CPU for the server when there are two or more."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return set(allowed), set(allowed)
    return {allowed[-1]}, set(allowed[:-1])


# ---- the hostile connections (run in a child process: --hold) -----------------------------------


async def _hostile(port: int, trickle: bool, stats: dict[str, Any], stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            stats["connect_errors"] += 1
            await asyncio.sleep(0.1)
            continue
        stats["open"] += 1
        try:
            if trickle:
                writer.write(b"GET /p/AAAAAAAAAAAAAAAA.gif HTTP/1.1\r\nHost: x\r\n")
                while not stop.is_set() and not reader.at_eof():
                    writer.write(b"X-Slow: a\r\n")
                    await writer.drain()
                    try:
                        await asyncio.wait_for(reader.read(1024), 1.0)
                    except TimeoutError:
                        continue
            else:
                while not stop.is_set() and await reader.read(1024):
                    pass
        except OSError:
            pass
        finally:
            stats["open"] -= 1
            if not stop.is_set():
                stats["closed_by_server"] += 1
            writer.close()


async def hold(port: int, count: int, seconds: float, ramp: float) -> dict[str, Any]:
    """Hold `count` hostile connections for `seconds`; report the fewest open once all were.

    They are opened evenly over `ramp` seconds (the server's head timeout), as connections of a
    steady attack arrive, so the server's closing and the reopening are spread out as well.
    """
    stats: dict[str, Any] = {"open": 0, "closed_by_server": 0, "connect_errors": 0}
    stop = asyncio.Event()
    tasks = []
    for n in range(count):
        tasks.append(asyncio.create_task(_hostile(port, n % 2 == 1, stats, stop)))
        if n % 20 == 19:
            await asyncio.sleep(ramp * 20 / count)
    deadline = time.monotonic() + 30
    while stats["open"] < count * 0.99 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    print(json.dumps({"ready": stats["open"]}), flush=True)
    lowest, samples = stats["open"], []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await asyncio.sleep(0.2)
        lowest = min(lowest, stats["open"])
        samples.append(stats["open"])
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "lowest_open": lowest,
        "mean_open": statistics.mean(samples) if samples else 0,
        "closed_by_server": stats["closed_by_server"],
        "connect_errors": stats["connect_errors"],
    }


# ---- the other clients -------------------------------------------------------------------------


def _get_on_a_new_connection(port: int, path: str) -> bool:
    """Connect, send one GET as a mail client would, read the whole answer: True for a 200."""
    with socket.create_connection((HOST, port), timeout=5.0) as s:
        s.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: Mozilla/5.0 (Macintosh) "
            "AppleWebKit/605.1.15 (KHTML, like Gecko)\r\nConnection: close\r\n\r\n".encode()
        )
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
    return answer.startswith(b"HTTP/1.1 200")


def fresh_connection_probe(url: str, seconds: float, every: float = 0.05) -> dict[str, Any]:
    """One GET per fresh connection every `every` seconds: latencies in ms and errors."""
    parts = httpx.URL(url)
    latencies, errors = [], 0
    end = time.monotonic() + seconds
    next_at = time.monotonic()
    while time.monotonic() < end:
        start = time.perf_counter()
        try:
            if _get_on_a_new_connection(int(parts.port or 80), parts.raw_path.decode()):
                latencies.append((time.perf_counter() - start) * 1000)
            else:
                errors += 1
        except OSError:
            errors += 1
        next_at += every
        time.sleep(max(0.0, next_at - time.monotonic()))
    return {"requests": len(latencies) + errors, "errors": errors, "latency_ms": _quantiles(latencies)}


def _quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    ordered = sorted(values)
    return {
        "p50": ordered[len(ordered) // 2],
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max": ordered[-1],
    }


def measure_others(url: str, args: argparse.Namespace, client_cpus: set[int]) -> dict[str, Any]:
    """loadgen (keep-alive, open loop) and the fresh-connection probe, at the same time."""
    loadgen = subprocess.Popen(
        [
            *(sys.executable, str(BENCH / "loadgen.py"), url, "--rate", str(args.rate)),
            *("--duration", str(args.duration), "--connections", "16", "--warmup", "1"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: os.sched_setaffinity(0, client_cpus),
    )
    time.sleep(1)  # its warm-up
    probe = fresh_connection_probe(url, args.duration)
    out, _ = loadgen.communicate(timeout=args.duration + 60)
    try:
        kept = json.loads(out)
    except ValueError:  # the generator itself could not connect: every request failed
        return {"keep_alive": {"sent": 0, "errors": "all", "latency_ms": _quantiles([])}, "fresh": probe}
    return {
        "keep_alive": {
            "sent": kept["sent"],
            "errors": max(kept["errors"] + kept["unanswered"], kept["sent"] - kept["ok"]),
            "latency_ms": kept["latency_ms"],
        },
        "fresh": probe,
    }


def rss_mb(pid: int) -> float:
    """The resident memory of a process and its children, in MB."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo += [int(c) for c in children]
    return total / 1024


def run_server(server_name: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    server_cpus, client_cpus = cpus()
    port = free_port()
    token = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXELAGG_")}
    env.update(
        PIXELAGG_DATA_DIR=str(tmp / f"data-{server_name}"),
        PIXELAGG_ADMIN_TOKEN=token,
        PIXELAGG_PRIVACY_EPSILON="off",
    )
    log_path = tmp / f"{server_name}.log"

    def server_process() -> None:
        os.sched_setaffinity(0, server_cpus)
        if args.server_file_limit:  # as a service manager would start it (systemd: 1,024)
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (args.server_file_limit, hard))

    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "pixelagg"),
                "serve",
                "--port",
                str(port),
                "--server",
                server_name,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=server_process,
        )
    base = f"http://{HOST}:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(base + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        auth = {"Authorization": f"Bearer {token}"}
        campaign = httpx.post(base + "/api/campaigns", json={"name": "slow"}, headers=auth).json()["id"]
        url = f"{base}/p/{campaign}.gif"
        result: dict[str, Any] = {"server": server_name, "quiet": measure_others(url, args, client_cpus)}
        holder = subprocess.Popen(
            [
                *(sys.executable, __file__, "--hold", str(port), str(args.hostile)),
                *(str(args.duration + 2), str(args.ramp)),
            ],
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: os.sched_setaffinity(0, client_cpus),
        )
        assert holder.stdout is not None
        result["ready"] = json.loads(holder.stdout.readline())["ready"]
        result["held"] = measure_others(url, args, client_cpus)
        result["rss_mb"] = rss_mb(server.pid)
        result["hostile"] = json.loads(holder.stdout.read())
        holder.wait(timeout=30)
        result["server_log_tail"] = log_path.read_text(errors="replace").splitlines()[-5:]
        return result
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def table(results: list[dict[str, Any]]) -> str:
    head = ["server", "", "p50 ms", "p99 ms", "max ms", "errors", "hostile held", "closed", "RSS MB"]
    rows = []
    for r in results:
        h = r["hostile"]
        for phase in ("quiet", "held"):
            for kind in ("keep_alive", "fresh"):
                m = r[phase][kind]
                lat = m["latency_ms"]
                held = f"{h['lowest_open']}-{r['ready']}" if phase == "held" else "0"
                rows.append(
                    [
                        r["server"],
                        f"{phase}, {kind.replace('_', '-')}",
                        f"{lat['p50']:.1f}",
                        f"{lat['p99']:.1f}",
                        f"{lat['max']:.1f}",
                        str(m["errors"]),
                        held,
                        str(h["closed_by_server"]) if phase == "held" else "",
                        f"{r['rss_mb']:.0f}" if phase == "held" else "",
                    ]
                )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [head, *rows]
    )


def main() -> int:
    raise_file_limit()
    if len(sys.argv) > 1 and sys.argv[1] == "--hold":
        port, count, seconds, ramp = (
            int(sys.argv[2]),
            int(sys.argv[3]),
            float(sys.argv[4]),
            float(sys.argv[5]),
        )
        print(json.dumps(asyncio.run(hold(port, count, seconds, ramp))))
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hostile", type=int, default=2000, help="hostile connections held (default 2000)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds each measurement runs")
    p.add_argument("--rate", type=float, default=200.0, help="other clients' keep-alive requests per second")
    p.add_argument("--servers", default="uvicorn,granian")
    p.add_argument(
        "--ramp",
        type=float,
        default=HEAD_TIMEOUT,
        help="seconds over which the hostile connections are opened (default: the head timeout)",
    )
    p.add_argument(
        "--server-file-limit",
        type=int,
        default=1024,
        help="the soft file limit the server starts with (default 1024, systemd's; 0: this one's)",
    )
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pixelagg-slow-"))
    results = []
    try:
        for server_name in [s.strip() for s in args.servers.split(",") if s.strip()]:
            print(
                f"[slowclients] {server_name}: quiet, then {args.hostile} hostile connections",
                file=sys.stderr,
            )
            results.append(run_server(server_name, args, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = table(results)
    print(text)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"args": vars(args), "results": results, "table": text}, indent=2)
        )
    worst = max(r["held"][k]["latency_ms"]["p99"] for r in results for k in ("keep_alive", "fresh"))
    return 0 if worst < 100 else 1


if __name__ == "__main__":
    sys.exit(main())
