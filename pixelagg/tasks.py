"""Stopping background tasks without ever hanging a shutdown."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

__all__ = ["stop_task"]

log = logging.getLogger("pixelagg.tasks")


async def stop_task(task: asyncio.Task[Any] | None, timeout: float = 5.0) -> None:
    """Cancel a background task and wait for it to end, for at most `timeout` seconds.

    A single cancel() is not enough: client code interrupted mid-request may swallow the
    CancelledError, and the task's loop then goes on. So cancel again until it is done.
    """
    if task is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not task.done() and loop.time() < deadline:
        task.cancel()
        await asyncio.wait({task}, timeout=0.2)
    if not task.done():
        log.error("background task %s did not stop within %.0f s", task.get_name(), timeout)
    elif not task.cancelled() and task.exception() is not None:
        log.error("background task %s failed: %r", task.get_name(), task.exception())
