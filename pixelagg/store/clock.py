"""A wall clock that follows the system clock's slewing but not its steps.

The system clock can step (a bad NTP server, a VM restored from a snapshot, an operator's
`date -s`) by days, either way. Expiring keys by it would drop a whole store in a second, so
what expires keys and stamps hits runs on the monotonic clock, anchored to the wall clock:
while the two agree within `TOLERANCE`, it is the wall clock; when the wall clock steps, it
goes on from where it was. A step that lasts `CONFIRM_SECONDS` and is at most
`MAX_ACCEPTED_STEP` is a correction and is taken over; a larger one is not (restart the process
to take it), so a clock that is wrong by months never expires what it should keep.
"""

from __future__ import annotations

import time

__all__ = ["CONFIRM_SECONDS", "MAX_ACCEPTED_STEP", "TOLERANCE", "TrustedClock"]

TOLERANCE = 2.0
CONFIRM_SECONDS = 60.0
MAX_ACCEPTED_STEP = 86400.0


class TrustedClock:
    """Unix time from the monotonic clock, anchored to the wall clock (never before `not_before`)."""

    def __init__(self, not_before: float = 0.0) -> None:
        mono = time.monotonic()
        self._offset = max(time.time(), not_before) - mono
        self._step_seen_at: float | None = None
        self.step = 0.0
        """The wall clock minus this clock while they disagree (seconds), else 0."""
        self.steps = 0
        """Steps of the wall clock seen so far."""

    def now(self) -> float:
        mono = time.monotonic()
        wall = time.time()
        trusted = mono + self._offset
        off = wall - trusted
        if -TOLERANCE <= off <= TOLERANCE:
            self._offset = wall - mono  # follow the wall clock's slewing
            self._step_seen_at = None
            self.step = 0.0
            return wall
        if self._step_seen_at is None:
            self._step_seen_at = mono
            self.steps += 1
        self.step = off
        if abs(off) <= MAX_ACCEPTED_STEP and mono - self._step_seen_at >= CONFIRM_SECONDS:
            self._offset = wall - mono  # a lasting correction of at most a day
            self._step_seen_at = None
            self.step = 0.0
            return wall
        return trusted
