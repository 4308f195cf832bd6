"""The pixel's hot path counted in Python bytecodes per hit: a figure no noisy machine moves.

hotpath.py times the pixel; on a shared or busy machine two runs of the same tree can differ
by 20 %, more than most changes to the pixel. This counts the bytecodes the interpreter runs
per hit instead (sys.settrace's opcode events), for the bare Starlette GIF (baseline) and
pixelagg's pixel on the embedded store, with the same prebuilt scopes as hotpath.py, and
lists the pixel's functions by bytecodes per hit. The count is the same on every run of one
tree (C code, such as the keyed hash or a cache lookup, counts as the one bytecode calling it),
so two trees compare exactly: run it in each.

    .venv/bin/python bench/opcodes.py [--hits 2000] [--top 25]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
from pathlib import Path
from types import FrameType
from typing import Any

BENCH = Path(__file__).resolve().parent


def _where(frame: FrameType) -> str:
    code = frame.f_code
    path = Path(code.co_filename)
    return f"{path.parent.name}/{path.name}:{code.co_name}"


async def count(app: Any, batch: list[dict[str, Any]]) -> collections.Counter[str]:
    """Bytecodes run by the app over the scopes, by function."""
    from hotpath import per_call

    counts: collections.Counter[str] = collections.Counter()

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        if event == "opcode":
            counts[_where(frame)] += 1
        return tracer

    sys.settrace(tracer)
    try:
        await per_call(app, batch, 1)
    finally:
        sys.settrace(None)
    del counts["bench/hotpath.py:per_call"]  # the loop that calls the app, not the app
    return counts


async def main(hits: int, top: int) -> None:
    sys.path.insert(0, str(BENCH))
    from baseline_app import app as baseline
    from hotpath import per_call, pixel_app, scopes

    from pixelagg import actions

    async with pixel_app("opcodes") as (app, service):
        campaign, _ = await actions.create_campaign(service.store, service.config, {"name": "opcodes"})
        batch = scopes(f"/p/{campaign.id}.gif", 2 * hits)
        await per_call(app, batch[:hits], 1)  # warm: salt, caches, the interpreter's specialising
        await service.aggregator.flush()
        await service.aggregator.drain()  # no flush loop between the counted hits
        base = await count(baseline, batch[hits:])
        pixel = await count(app, batch[hits:])
        await service.aggregator.flush()

    base_total, pixel_total = sum(base.values()) / hits, sum(pixel.values()) / hits
    print(f"{'':44} {'bytecodes/hit':>13} {'ratio':>6}")
    print(f"{'baseline: Starlette GIF':44} {base_total:13.1f} {1:6.2f}")
    print(f"{'pixelagg: the pixel':44} {pixel_total:13.1f} {pixel_total / base_total:6.2f}")
    print()
    for where, n in pixel.most_common(top):
        print(f"  {where:42} {n / hits:13.1f}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hits", type=int, default=2000)
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    asyncio.run(main(args.hits, args.top))
