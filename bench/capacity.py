#!/usr/bin/env python3
"""The capacity plan of docs/scaling.md, as arithmetic you can rerun with your own numbers.

    .venv/bin/python bench/capacity.py                       # the measured defaults
    .venv/bin/python bench/capacity.py --hits-per-core 15000 --json /tmp/bench.json

With --json it reads the pixelagg+redis row of one server (--server) from a `bench/run.py --json` result.
"""

from __future__ import annotations

import argparse
import json
import math

TARGETS = (10_000, 100_000, 1_000_000)


def plan(args: argparse.Namespace) -> list[dict[str, float]]:
    rows = []
    for hits in TARGETS:
        cores = hits / (args.hits_per_core * args.headroom)
        replicas = math.ceil(cores / args.cores_per_replica)
        commands = hits * args.commands_per_hit
        round_trips = hits * args.round_trips_per_hit
        shards_cpu = commands / (args.shard_commands_per_s * args.headroom)
        # Campaigns alive at once: a retention's worth of sends. Each has a few heavy days (the
        # burst after the send, every region and class present), a long light tail, and the
        # released cells of every closed day of its life once its report is read (on average
        # half the retention). Seen sets live only while a campaign's salt window is open.
        alive = args.campaigns_per_day * args.retention_days
        per_campaign_kb = (
            args.heavy_days * args.kb_per_campaign_day
            + args.tail_days * args.kb_tail_day
            + args.retention_days / 2 * args.kb_released_day
        )
        seen_kb = args.campaigns_per_day * args.window_days * args.visitors * args.seen_bytes / 1024
        memory_gb = (alive * per_campaign_kb + seen_kb) / 1024 / 1024
        shards_memory = memory_gb / args.shard_memory_gb
        shards = max(1, math.ceil(max(shards_cpu, shards_memory)))
        rows.append(
            {
                "hits_per_s": hits,
                "cores": cores,
                "replicas": replicas,
                "redis_commands_per_s": commands,
                "redis_round_trips_per_s": round_trips,
                "shards_for_cpu": shards_cpu,
                "memory_gb": memory_gb,
                "shards_for_memory": shards_memory,
                "shards": shards,
            }
        )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--hits-per-core", type=float, default=23_000, help="measured req/s of one replica process"
    )
    p.add_argument(
        "--cores-per-replica", type=int, default=2, help="worker processes per replica (--workers)"
    )
    p.add_argument(
        "--commands-per-hit", type=float, default=0.125, help="Redis commands per hit (cmds/1k / 1000)"
    )
    p.add_argument(
        "--round-trips-per-hit", type=float, default=0.0010, help="store round trips per hit, per process"
    )
    p.add_argument(
        "--shard-commands-per-s",
        type=float,
        default=200_000,
        help="Redis commands/s one shard sustains (scripted, pipelined)",
    )
    p.add_argument("--shard-memory-gb", type=float, default=8.0)
    p.add_argument("--campaigns-per-day", type=int, default=100, help="new campaigns sent per day")
    p.add_argument("--retention-days", type=int, default=396, help="privacy.retention_days")
    p.add_argument("--heavy-days", type=int, default=3, help="days of burst traffic after a send")
    p.add_argument(
        "--kb-per-campaign-day",
        type=float,
        default=193.0,
        help="measured Redis memory of a busy campaign-day, kept for the retention",
    )
    p.add_argument("--tail-days", type=int, default=30, help="later days that still see some opens")
    p.add_argument(
        "--kb-tail-day",
        type=float,
        default=10.0,
        help="Redis memory of a quiet campaign-day (sparse sketches)",
    )
    p.add_argument(
        "--kb-released-day",
        type=float,
        default=1.6,
        help="released cells per closed day of a campaign's life (bench/redis_memory.py)",
    )
    p.add_argument("--visitors", type=int, default=30_000, help="distinct addresses per campaign")
    p.add_argument("--seen-bytes", type=float, default=38.4, help="seen-set bytes per address")
    p.add_argument("--window-days", type=int, default=7, help="privacy.salt_window_days")
    p.add_argument("--headroom", type=float, default=0.6, help="plan to this fraction of measured capacity")
    p.add_argument(
        "--json", help="read hits-per-core, commands and round trips from a bench/run.py --json file"
    )
    p.add_argument(
        "--server", default="uvicorn", choices=("uvicorn", "granian"), help="whose numbers --json reads"
    )
    args = p.parse_args()
    if args.json:
        with open(args.json) as f:
            data = json.load(f)
        redis = next(
            (
                r
                for r in data["results"]
                if r.get("kind") == "redis" and r.get("server") == args.server and "error" not in r
            ),
            None,
        )
        if redis is None:
            p.error(f"{args.json} has no pixelagg+redis result on {args.server}")
        args.hits_per_core = redis["saturation"]["rps"]
        args.commands_per_hit = redis["cmds_per_1k"] / 1000
        args.round_trips_per_hit = redis["rt_per_1k"] / 1000
        args.kb_per_campaign_day = redis["memory"]["per_day_kb"]
    print(
        f"inputs: {args.hits_per_core:.0f} hits/s per core, {args.cores_per_replica} cores per replica, "
        f"{args.commands_per_hit * 1000:.0f} Redis commands per 1k hits, "
        f"shard {args.shard_commands_per_s:.0f} cmds/s and {args.shard_memory_gb} GB, "
        f"{args.campaigns_per_day} sends/day kept {args.retention_days} days "
        f"({args.heavy_days} x {args.kb_per_campaign_day:.0f} KB + "
        f"{args.tail_days} x {args.kb_tail_day:.0f} KB + {args.kb_released_day} KB released a day "
        f"of life each; seen sets of {args.visitors} addresses for {args.window_days} days), "
        f"headroom {args.headroom:.0%}"
    )
    print(f"{'hits/s':>10} {'cores':>7} {'replicas':>9} {'redis cmd/s':>12} {'GB':>7} {'shards':>7}")
    for r in plan(args):
        print(
            f"{r['hits_per_s']:>10.0f} {r['cores']:>7.1f} {r['replicas']:>9d} "
            f"{r['redis_commands_per_s']:>12.0f} {r['memory_gb']:>7.1f} {r['shards']:>7d}"
        )


if __name__ == "__main__":
    main()
