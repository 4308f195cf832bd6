"""The in-process aggregator: hits go into memory, a flush loop writes them in batches.

The pixel handler never waits for the store. Every `store.flush_interval_ms` the hits
gathered since the last flush are written in one round trip, each campaign's part numbered
with this process's writer id and a sequence number of its own. Each campaign has its own
queue: a part that fails (any error, the store's or ours) stays queued and is retried, in
order, with backoff, while the other campaigns' parts are written. The store applies a part
at most once (it remembers the last sequence number per writer), so a retry after an
ambiguous failure never counts twice; and it keeps a running total of each writer's events, so
acknowledged writes the store lost (a failover, a wipe) are noticed and counted.

No hit is lost without a log line and a metric: past `store.buffer_max_events` waiting hits,
or past a tenth of it for a campaign whose writes fail while others succeed, new hits are
dropped (the pixel answers `dropped`); hits the store refused after they were answered
`counted` (the campaign was deleted or paused by another process), or lost, are counted in
`pixelagg_lost_hits_total{reason}`. Hits stamped by a wall clock far off the process's clock
are stamped again by it (`pixelagg_restamped_hits_total`). Shutdown drains the queues and
names what it could not write.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from ..exceptions import StoreError
from ..metrics import Metrics
from ..store import Batch, Store
from ..store.base import MISSING, PAUSED, WriteResult
from ..store.batch import CampaignBatch
from ..store.clock import TrustedClock
from ..tasks import stop_task
from .late import LateHits, frozen_checks

__all__ = ["LOST_REASONS", "Aggregator"]

log = logging.getLogger("pixelagg.aggregator")

MAX_BACKOFF = 2.0
STAMP_SLACK = 60.0
"""A hit stamped more than this far from the process's clock is stamped again by it."""
MISSING_TRIES = 20
"""Tries of a part whose campaign the store lost (after a wipe) before its hits count as lost:
with the backoff, about 40 s for the campaign cache to write the campaign back."""
ISOLATED_SHARE = 10
"""A campaign whose writes fail while others succeed holds at most 1/10 of the buffer."""
LOST_REASONS = ("deleted", "paused", "store_lost", "missing")


@dataclass
class _Queue:
    """One campaign's parts waiting to be written, oldest first, and how its writes go."""

    parts: deque[CampaignBatch] = field(default_factory=deque)
    attempted: int = 0
    """How many of the first parts were tried already (only the last one may still grow)."""
    events: int = 0
    retry_at: float = 0.0
    backoff: float = 0.0
    error: str | None = None
    isolated: bool = False
    missing_tries: int = 0


class _Losses(Collector):
    """The aggregator's lost and restamped hits, read at scrape time."""

    def __init__(self, aggregator: Aggregator) -> None:
        self.aggregator = aggregator

    def collect(self) -> Iterator[Metric]:
        lost = CounterMetricFamily(
            "pixelagg_lost_hits",
            "Hits answered 'counted' that the store did not keep, by reason.",
            labels=["reason"],
        )
        for reason in LOST_REASONS:
            lost.add_metric([reason], self.aggregator.lost[reason])
        yield lost
        yield CounterMetricFamily(
            "pixelagg_restamped_hits",
            "Hits stamped by a wall clock far off the process's clock, stamped again by it.",
            value=self.aggregator.restamped,
        )
        yield CounterMetricFamily(
            "pixelagg_late_hits",
            "Hits (opens and clicks) written after their release period was frozen: counted, "
            "in no released figure.",
            value=self.aggregator.late.total,
        )


class Aggregator:
    """Buffers hits and writes them to the store in pre-aggregated, numbered parts."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        flush_interval: float,
        max_events: int,
        period: int = 3600,
        release_delay: float | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.flush_interval = flush_interval
        self.max_events = max_events
        self.period = period
        """The release period in seconds: first opens are counted per period."""
        self.release_delay = release_delay
        """How long after its end a period is released; None when nothing is (exact figures)."""
        self.late = LateHits()
        self.writer = secrets.token_hex(8)
        self._seq = 0
        self._current = Batch()
        self._current_events = 0
        self._queues: dict[str, _Queue] = {}
        self._queued_events = 0
        self._acked: dict[str, int] = {}
        """campaign -> the store's running total of this writer's events, as last answered"""
        self._isolated: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self._earliest = self._latest = 0.0
        self._stamp_bounds()
        self.last_error: str | None = None
        self.dropped = 0
        self.lost: Counter[str] = Counter()
        self.restamped = 0
        metrics.registry.register(_Losses(self))

    @property
    def depth(self) -> int:
        """Hits accepted but not yet written."""
        return self._current_events + self._queued_events

    @property
    def healthy(self) -> bool:
        """False while a write is failing and hits wait for a retry."""
        return not self.failing

    @property
    def failing(self) -> dict[str, str]:
        """campaign -> the error its waiting hits are retried after."""
        return {cid: q.error for cid, q in self._queues.items() if q.error is not None}

    def _admit(self, campaign_id: str) -> bool:
        full = self.depth >= self.max_events
        if not full and not (self._isolated and campaign_id in self._isolated):
            self._current_events += 1
            return True
        queue = self._queues.get(campaign_id)
        current = self._current.campaigns.get(campaign_id)
        held = (queue.events if queue is not None else 0) + (current.events if current is not None else 0)
        if not full and held < max(1, self.max_events // ISOLATED_SHARE):
            self._current_events += 1
            return True
        self.dropped += 1  # the pixel counts it in its metric, as a hit whose result is "dropped"
        if self.dropped == 1 or self.dropped % 10_000 == 0:
            why = "buffer full" if full else f"writes of campaign {campaign_id} fail"
            log.warning("%s (%d hits waiting): %d hits dropped so far", why, self.depth, self.dropped)
        return False

    def add_open(
        self,
        campaign_id: str,
        timestamp: float,
        class_: str,
        region: str,
        element: bytes | None,
        window: tuple[int, float] | None = None,
        family: str | None = None,
    ) -> bool:
        """Accept one open; False when the buffer is full and it was dropped.

        `timestamp` comes from `stamp()`: the pixel takes the salt window by the same time.
        `window` is the salt's (index, expiry): the element is then a first-open candidate.
        `family` is the mail-client family (None for scanners and bots).
        """
        if not self._admit(campaign_id):
            return False
        self._current.add_open(campaign_id, timestamp, class_, region, element, window, self.period, family)
        return True

    def add_click(
        self,
        campaign_id: str,
        timestamp: float,
        class_: str,
        link: str,
        region: str,
        element: bytes | None,
        window: tuple[int, float] | None = None,
    ) -> bool:
        """Accept one click on a link (classified already); False when dropped."""
        if not self._admit(campaign_id):
            return False
        timestamp = self.stamp(timestamp)
        self._current.add_click(campaign_id, timestamp, class_, link, region, element, window, self.period)
        return True

    @property
    def clock(self) -> TrustedClock:
        """The store's clock, which the pixel's stamps and salt windows share with its expiry."""
        return self.store.clock

    def stamp(self, timestamp: float) -> float:
        """The time to stamp a hit with: the wall clock's, or the process's clock when the wall
        clock has stepped (counted in `restamped`). Salt windows are taken at the same time."""
        if self._earliest <= timestamp <= self._latest:
            return timestamp
        return self._restamp(timestamp)

    def add_declined(self, campaign_id: str, timestamp: float) -> bool:
        """Accept one declined request (GPC/DNT); False when dropped."""
        if not self._admit(campaign_id):
            return False
        timestamp = self.stamp(timestamp)
        self._current.add_declined(campaign_id, timestamp)
        return True

    def _stamp_bounds(self) -> None:
        now = self.clock.now()
        self._earliest, self._latest = now - STAMP_SLACK, now + 2 * STAMP_SLACK

    def _restamp(self, timestamp: float) -> float:
        self._stamp_bounds()
        if self._earliest <= timestamp <= self._latest:
            return timestamp  # the bounds were only old
        self.restamped += 1
        now = self.clock.now()
        if self.restamped == 1 or self.restamped % 10_000 == 0:
            log.warning(
                "a hit was stamped %+.0f s off this process's clock (the wall clock stepped): "
                "%d hits stamped again by the process's clock so far",
                timestamp - now,
                self.restamped,
            )
        return now

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
            except Exception:  # never let the flushing stop; the hits stay queued
                log.exception("flush failed unexpectedly; retried")

    def _enqueue_current(self) -> None:
        """Move the hits gathered so far into the campaigns' queues."""
        if not self._current:
            return
        for campaign_id, part in self._current.campaigns.items():
            queue = self._queues.get(campaign_id)
            if queue is None:
                queue = self._queues[campaign_id] = _Queue(backoff=self.flush_interval)
            if len(queue.parts) > queue.attempted:
                queue.parts[-1].merge(part)  # not tried yet: it can still grow
            else:
                self._seq += 1
                part.seq = self._seq
                queue.parts.append(part)
            queue.events += part.events
        self._queued_events += self._current_events
        self._current = Batch()
        self._current_events = 0

    async def flush(self) -> bool:
        """Write what is due, oldest part of each campaign first. True when nothing waits."""
        async with self._flush_lock:
            self._stamp_bounds()
            self._enqueue_current()
            self.metrics.buffer_depth.set(self.depth)
            tried: set[str] = set()
            while True:
                now = time.monotonic()
                due = [c for c, q in self._queues.items() if c not in tried and q.retry_at <= now]
                if not due:
                    break
                batch = Batch(writer=self.writer)
                for campaign_id in due:
                    queue = self._queues[campaign_id]
                    part = queue.parts[0]
                    part.acked = self._acked.get(campaign_id, 0)
                    if self.release_delay is not None:
                        part.frozen_checks = frozen_checks(
                            part, self.period, self.release_delay, self.clock.now()
                        )
                    queue.attempted = max(queue.attempted, 1)
                    batch.campaigns[campaign_id] = part
                result = await self._write(batch)
                self.late.add(result.late)
                tried.update(result.failed, result.refused)
                self._settle(batch, result)
            self.last_error = next(iter(self.failing.values()), None)
            self.metrics.buffer_depth.set(self.depth)
            self.late.add({})  # what waited for the minute to end
            return not self._queues

    async def _write(self, batch: Batch) -> WriteResult:
        try:
            result = await self.store.write_batch(batch)
        except StoreError as exc:
            result = WriteResult(failed=dict.fromkeys(batch.campaigns, str(exc)))
        except Exception as exc:  # a bug must not lose the batch: it waits like any failure
            log.exception("store write raised %s; the batch is kept for retry", type(exc).__name__)
            result = WriteResult(failed=dict.fromkeys(batch.campaigns, f"{type(exc).__name__}: {exc}"))
        self.metrics.write_batches.labels("failed" if result.failed else "written").inc()
        return result

    def _settle(self, batch: Batch, result: WriteResult) -> None:
        """Take each campaign's outcome: written, refused (dropped and counted) or failed (kept)."""
        for campaign_id, stored in result.stored.items():
            part = batch.campaigns[campaign_id]
            queue = self._pop(campaign_id)
            expected = part.acked + part.events
            if stored < expected:
                self._lose(
                    "store_lost",
                    campaign_id,
                    expected - stored,
                    "the store lost them after acknowledging them",
                )
            self._acked[campaign_id] = stored
            if queue is not None and queue.error is not None:
                log.info("writes of campaign %s work again; its waiting hits are written", campaign_id)
                queue.error = None
            self._isolated.discard(campaign_id)
        for campaign_id, reason in result.refused.items():
            queue = self._queues[campaign_id]
            lost_data = result.data_lost or "data_lost" in self.store.health()
            if reason == MISSING and lost_data and queue.missing_tries < MISSING_TRIES:
                queue.missing_tries += 1  # the campaign cache writes it back: wait for it
                self._failed(
                    campaign_id, "the store lost this campaign; waiting for it to be written back", False
                )
                continue
            events = queue.events
            del self._queues[campaign_id]
            self._queued_events -= events
            self._acked.pop(campaign_id, None)
            self._isolated.discard(campaign_id)
            why = {PAUSED: "paused", MISSING: "deleted"}.get(reason, reason)
            if reason == MISSING and queue.missing_tries:
                why = "missing"
            self._lose(why, campaign_id, events, f"the store refused them: campaign {reason}")
        for campaign_id, error in result.failed.items():
            self._failed(campaign_id, error, bool(result.stored))

    def _pop(self, campaign_id: str) -> _Queue | None:
        queue = self._queues[campaign_id]
        part = queue.parts.popleft()
        queue.attempted -= 1
        queue.events -= part.events
        self._queued_events -= part.events
        queue.missing_tries = 0
        queue.backoff = self.flush_interval
        queue.retry_at = 0.0
        if not queue.parts:
            del self._queues[campaign_id]
            return queue
        return queue

    def _failed(self, campaign_id: str, error: str, others_written: bool) -> None:
        queue = self._queues[campaign_id]
        if queue.error is None:
            log.warning(
                "store write failed, %d hits of campaign %s kept for retry: %s",
                queue.events,
                campaign_id,
                error,
            )
        queue.error = error
        queue.isolated = queue.isolated or others_written
        if queue.isolated:
            self._isolated.add(campaign_id)
        queue.retry_at = time.monotonic() + queue.backoff
        queue.backoff = min(queue.backoff * 2, MAX_BACKOFF)

    def _lose(self, reason: str, campaign_id: str, hits: int, why: str) -> None:
        self.lost[reason] += hits
        log.error(
            "%d hits of campaign %s answered 'counted' are lost (%s): %s", hits, campaign_id, reason, why
        )

    async def drain(self, timeout: float = 10.0) -> bool:
        """Stop the loop and write everything, retrying until `timeout`. True when all was written."""
        await stop_task(self._task)
        self._task = None
        deadline = time.monotonic() + timeout
        while True:
            for queue in self._queues.values():
                queue.retry_at = 0.0
            if await self.flush():
                self.late.log()
                return True
            if time.monotonic() >= deadline:
                waiting = ", ".join(
                    f"{cid}: {q.events} ({q.error})" for cid, q in sorted(self._queues.items())
                )
                log.error("shutdown: %d hits could not be written, by campaign: %s", self.depth, waiting)
                return False
            await asyncio.sleep(0.2)
