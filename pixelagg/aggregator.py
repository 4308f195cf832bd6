"""The in-process aggregator: hits go into memory, a flush loop writes them in batches.

The pixel handler never waits for the store. Every `store.flush_interval_ms` the current
batch is written in one round trip; if that fails it is kept, merged with newer hits, and
retried with backoff. Past `store.buffer_max_events` waiting hits, new ones are dropped and
counted, never silently. Shutdown drains the buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from .exceptions import StoreError
from .metrics import Metrics
from .store import Batch, Store

__all__ = ["Aggregator"]

log = logging.getLogger("pixelagg.aggregator")

MAX_BACKOFF = 2.0


class Aggregator:
    """Buffers hits and writes them to the store in pre-aggregated batches."""

    def __init__(
        self, store: Store, metrics: Metrics, flush_interval: float, max_events: int
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.flush_interval = flush_interval
        self.max_events = max_events
        self._current = Batch()
        self._current_events = 0
        self._pending: Batch | None = None
        self._pending_events = 0
        self._retry_at = 0.0
        self._backoff = flush_interval
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self.last_error: str | None = None
        self.dropped = 0

    @property
    def depth(self) -> int:
        """Hits accepted but not yet written."""
        return self._current_events + self._pending_events

    @property
    def healthy(self) -> bool:
        """False while a write is failing and hits wait for a retry."""
        return self._pending is None

    def _admit(self) -> bool:
        if self.depth >= self.max_events:
            self.dropped += 1
            self.metrics.dropped.inc()
            self.metrics.hit("dropped")
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.warning(
                    "buffer full (%d hits waiting): %d hits dropped so far",
                    self.depth,
                    self.dropped,
                )
            return False
        self._current_events += 1
        return True

    def add_open(
        self, campaign_id: str, timestamp: float, class_: str, region: str, element: bytes | None
    ) -> bool:
        if not self._admit():
            return False
        self._current.add_open(campaign_id, timestamp, class_, region, element)
        return True

    def add_declined(self, campaign_id: str, timestamp: float) -> bool:
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

    async def flush(self) -> bool:
        """Write what is waiting. True when nothing is left waiting."""
        async with self._flush_lock:
            if self._current:
                if self._pending is None:
                    self._pending = self._current
                else:
                    self._pending.merge(self._current)
                self._pending_events += self._current_events
                self._current = Batch()
                self._current_events = 0
            self.metrics.buffer_depth.set(self.depth)
            if self._pending is None:
                return True
            if time.monotonic() < self._retry_at:
                return False
            before = self.store.round_trips
            try:
                await self.store.write_batch(self._pending)
            except StoreError as exc:
                self.metrics.round_trips.inc(self.store.round_trips - before)
                self.metrics.write_batches.labels("failed").inc()
                self.metrics.store_errors.inc()
                if self.last_error is None:
                    log.warning(
                        "store write failed, %d hits kept for retry: %s", self._pending_events, exc
                    )
                self.last_error = str(exc)
                self._retry_at = time.monotonic() + self._backoff
                self._backoff = min(self._backoff * 2, MAX_BACKOFF)
                return False
            self.metrics.round_trips.inc(self.store.round_trips - before)
            self.metrics.write_batches.labels("written").inc()
            if self.last_error is not None:
                log.info("store writes recovered; %d waiting hits written", self._pending_events)
            self._pending = None
            self._pending_events = 0
            self.last_error = None
            self._backoff = self.flush_interval
            self._retry_at = 0.0
            self.metrics.buffer_depth.set(self.depth)
            return True

    async def drain(self, timeout: float = 10.0) -> bool:
        """Stop the loop and write everything, retrying until `timeout`. True when all was written."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
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
