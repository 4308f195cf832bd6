"""The click window: clicks wait here briefly, so that a burst no person produces is seen whole.

Mail security scanners (Microsoft Safe Links, Proofpoint, Mimecast, Barracuda) follow every
link of a mail within a second or two of delivery, from one address, often with an ordinary
browser's user agent. A person follows one link, or a few, seconds apart. So each click is
held for `BURST_SECONDS` before it is counted: a click with `BURST_LINKS` or more distinct
links of the same campaign followed from the same address within `BURST_SECONDS` of it (before
or after) is a scanner's, whatever its user agent said (docs/metrics.md, "Machine clicks").

Nothing of the address is kept: clicks are grouped under a keyed hash of address and campaign
(BLAKE2b with a random key made at start-up, never written anywhere), and a held click carries
only what the pixel hands on (class, region, link, the salted clicker hash). The window is
bounded (`MAX_HELD`): past it, the held clicks are counted at once with what is known, in a
log line and a metric. Shutdown counts every held click (`drain`) before the buffer is written.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..tasks import stop_task
from .aggregator import Aggregator

__all__ = ["BURST_LINKS", "BURST_SECONDS", "MAX_HELD", "ClickWindow", "HeldClick"]

log = logging.getLogger("pixelagg.clicks")

BURST_SECONDS = 2.0
"""How close in time clicks of one address on distinct links of a campaign are a burst."""
BURST_LINKS = 3
"""Distinct links within BURST_SECONDS that make a burst: a person does not follow three."""
MAX_HELD = 50_000
"""Clicks kept in memory at most (held or remembered for a later click's look-back)."""
TICK_SECONDS = 0.25


@dataclass(slots=True)
class HeldClick:
    """One click waiting in the window: nothing in it is raw request data."""

    campaign_id: str
    timestamp: float
    class_: str
    link: str
    region: str
    element: bytes | None
    window: tuple[int, float] | None


class ClickWindow:
    """Holds clicks for BURST_SECONDS, classifies bursts as scanners, then hands them on."""

    def __init__(
        self,
        aggregator: Aggregator,
        on_counted: Callable[[str, bool], None],
        clock: Callable[[], float] = time.time,
        max_held: int = MAX_HELD,
    ) -> None:
        self.aggregator = aggregator
        self.on_counted = on_counted
        """Told of each click as it leaves the window: its class, and whether the buffer took it."""
        self.clock = clock
        """Where click times come from (tests set a clock of their own)."""
        self.max_held = max_held
        self._hasher = hashlib.blake2b(key=secrets.token_bytes(32), digest_size=16)
        self._groups: dict[bytes, deque[HeldClick]] = {}
        """group -> its clicks in memory, in the order they came (held, then counted)."""
        self._pending: deque[tuple[bytes, HeldClick]] = deque()
        """Held clicks in the order they came: the next to be counted first."""
        self._counted: deque[tuple[bytes, HeldClick]] = deque()
        """Counted clicks kept for look-back, in the order they came: the next to go first."""
        self._kept = 0
        self.held = 0
        """Clicks waiting to be counted."""
        self.early = 0
        """Clicks counted before their window closed, because the window was full."""
        self.bursts = 0
        """Clicks made scanners by the timing rule."""
        self._task: asyncio.Task[None] | None = None

    @property
    def remembered(self) -> int:
        """Clicks in memory: held, or counted and kept for a later click's look-back."""
        return self._kept

    def group(self, address: str, campaign_id: str) -> bytes:
        """The key clicks of one address on one campaign are grouped under (a keyed hash)."""
        h = self._hasher.copy()
        h.update(b"%s\x00%s" % (address.encode("ascii"), campaign_id.encode("ascii")))
        return h.digest()

    def add(self, group: bytes, click: HeldClick) -> None:
        """Hold a click; it is counted once BURST_SECONDS have passed."""
        if self._kept >= self.max_held:
            self._overflow()
        clicks = self._groups.get(group)
        if clicks is None:
            clicks = self._groups[group] = deque()
        clicks.append(click)
        self._pending.append((group, click))
        self._kept += 1
        self.held += 1

    def _overflow(self) -> None:
        before = self.held
        self.release(everything=True)
        self.early += before
        log.warning(
            "click window full (%d clicks): %d clicks counted before their %.0f s window closed so far",
            self.max_held,
            self.early,
            BURST_SECONDS,
        )

    def release(self, everything: bool = False) -> int:
        """Count the clicks whose window has closed (all of them with `everything`); how many.

        Clicks leave in the order they came (a queue): only the due ones are looked at. A
        counted click stays in its group another BURST_SECONDS, for later clicks' look-back.
        """
        now = self.clock()
        due = now - BURST_SECONDS
        forget = now - 2 * BURST_SECONDS
        pending, counted, groups = self._pending, self._counted, self._groups
        released = 0
        while pending and (everything or pending[0][1].timestamp <= due):
            group, click = pending.popleft()
            self._count(click, groups[group])
            counted.append((group, click))
            released += 1
        while counted and (everything or counted[0][1].timestamp <= forget):
            group, _ = counted.popleft()
            clicks = groups[group]
            clicks.popleft()  # the group's oldest: clicks are counted in the order they came
            if not clicks:
                del groups[group]
            self._kept -= 1
        return released

    def _count(self, click: HeldClick, clicks: deque[HeldClick]) -> None:
        # Fewer clicks in the group than a burst needs (nearly always): no look at their links.
        if click.class_ == "human" and len(clicks) >= BURST_LINKS:
            start, end = click.timestamp - BURST_SECONDS, click.timestamp + BURST_SECONDS
            links = {c.link for c in clicks if start <= c.timestamp <= end}
            if len(links) >= BURST_LINKS:
                click.class_ = "scanner"
                self.bursts += 1
        self.held -= 1
        taken = self.aggregator.add_click(
            click.campaign_id,
            click.timestamp,
            click.class_,
            click.link,
            click.region,
            click.element,
            click.window,
        )
        click.element = None  # the look-back needs the link and the time only
        self.on_counted(click.class_, taken)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self.release()
            except Exception:  # never let the window stop; the clicks stay held
                log.exception("click window: counting held clicks failed unexpectedly")

    async def drain(self) -> int:
        """Stop the loop and count every held click now (at shutdown); how many."""
        await stop_task(self._task)
        self._task = None
        return self.release(everything=True)
