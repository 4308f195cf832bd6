"""The in-process aggregator: hits go into memory, a flush loop writes them in batches.

The pixel handler never waits for the store. Every `store.flush_interval_ms` the hits
gathered since the last flush become one batch, numbered with this process's writer id and a
sequence number, and are written in one round trip. A batch that fails stays queued and is
retried, in order, with backoff. The store applies a batch to a campaign at most once (it
remembers the last sequence number per writer), so a retry after an ambiguous failure (the
connection broke after the server applied it) never counts twice. Past
`store.buffer_max_events` waiting hits, new ones are dropped and counted, never silently.
Shutdown drains the queue.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass

from ..exceptions import StoreError
from ..metrics import Metrics
from ..store import Batch, Store
from ..tasks import stop_task

__all__ = ["Aggregator"]

log = logging.getLogger("pixelagg.aggregator")

MAX_BACKOFF = 2.0


@dataclass
class _Queued:
    batch: Batch
    events: int
    attempted: bool = False


class Aggregator:
    """Buffers hits and writes them to the store in pre-aggregated, numbered batches."""

    def __init__(
        self, store: Store, metrics: Metrics, flush_interval: float, max_events: int, period: int = 3600
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.flush_interval = flush_interval
        self.max_events = max_events
        self.period = period
        """The release period in seconds: first opens are counted per period."""
        self.writer = secrets.token_hex(8)
        self._seq = 0
        self._current = Batch()
        self._current_events = 0
        self._queue: list[_Queued] = []
        self._queued_events = 0
        self._retry_at = 0.0
        self._backoff = flush_interval
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self.last_error: str | None = None
        self.dropped = 0

    @property
    def depth(self) -> int:
        """Hits accepted but not yet written."""
        return self._current_events + self._queued_events

    @property
    def healthy(self) -> bool:
        """False while a write is failing and hits wait for a retry."""
        return self.last_error is None

    def _admit(self) -> bool:
        if self.depth >= self.max_events:
            self.dropped += 1  # the pixel counts it in its metric, as a hit whose result is "dropped"
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.warning("buffer full (%d hits waiting): %d hits dropped so far", self.depth, self.dropped)
            return False
        self._current_events += 1
        return True

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

        `window` is the salt's (index, expiry): the element is then a first-open candidate.
        `family` is the mail-client family (None for scanners and bots).
        """
        if not self._admit():
            return False
        self._current.add_open(campaign_id, timestamp, class_, region, element, window, self.period, family)
        return True

    def add_declined(self, campaign_id: str, timestamp: float) -> bool:
        """Accept one declined request (GPC/DNT); False when dropped."""
        if not self._admit():
            return False
        self._current.add_declined(campaign_id, timestamp)
        return True

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            await self.flush()

    def _enqueue_current(self) -> None:
        """Move the hits gathered so far into the queue, as a new batch or into an unsent one."""
        if not self._current:
            return
        tail = self._queue[-1] if self._queue else None
        if tail is not None and not tail.attempted:
            tail.batch.merge(self._current)
            tail.events += self._current_events
        else:
            self._seq += 1
            self._current.writer, self._current.seq = self.writer, self._seq
            self._queue.append(_Queued(self._current, self._current_events))
        self._queued_events += self._current_events
        self._current = Batch()
        self._current_events = 0

    async def flush(self) -> bool:
        """Write what is waiting, oldest batch first. True when nothing is left waiting."""
        async with self._flush_lock:
            self._enqueue_current()
            self.metrics.buffer_depth.set(self.depth)
            if not self._queue:
                return True
            if time.monotonic() < self._retry_at:
                return False
            while self._queue:
                head = self._queue[0]
                head.attempted = True
                try:
                    await self.store.write_batch(head.batch)
                except StoreError as exc:
                    self._failed(exc)
                    return False
                self._queued_events -= self._queue.pop(0).events
                self.metrics.write_batches.labels("written").inc()
            if self.last_error is not None:
                log.info("store writes recovered; waiting hits written")
            self.last_error = None
            self._backoff = self.flush_interval
            self._retry_at = 0.0
            self.metrics.buffer_depth.set(self.depth)
            return True

    def _failed(self, exc: StoreError) -> None:
        self.metrics.write_batches.labels("failed").inc()
        if self.last_error is None:
            log.warning("store write failed, %d hits kept for retry: %s", self.depth, exc)
        self.last_error = str(exc)
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, MAX_BACKOFF)

    async def drain(self, timeout: float = 10.0) -> bool:
        """Stop the loop and write everything, retrying until `timeout`. True when all was written."""
        await stop_task(self._task)
        self._task = None
        deadline = time.monotonic() + timeout
        while True:
            self._retry_at = 0.0
            if await self.flush():
                return True
            if time.monotonic() >= deadline:
                log.error("shutdown: %d hits could not be written: %s", self.depth, self.last_error)
                return False
            await asyncio.sleep(0.2)
