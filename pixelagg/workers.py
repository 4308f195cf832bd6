"""Worker processes of `pixelagg serve` follow their supervisor: when it dies, they drain and exit.

granian always runs the app in worker processes, uvicorn does with `--workers`. Neither stops
its workers when the supervising process is killed outright (SIGKILL, the OOM killer), so they
would go on holding the port and the embedded store. On Linux a worker asks the kernel for
SIGTERM when its parent dies (PR_SET_PDEATHSIG), which runs the normal drain.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys

__all__ = ["SUPERVISOR_ENV", "follow_supervisor", "mark_supervisor"]

log = logging.getLogger("pixelagg.workers")

SUPERVISOR_ENV = "PIXELAGG_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1


def mark_supervisor() -> None:
    """In `serve`'s own process, before the server starts its workers."""
    os.environ[SUPERVISOR_ENV] = str(os.getpid())


def follow_supervisor() -> None:
    """In a worker: get SIGTERM when the supervisor dies. Does nothing outside a worker or Linux."""
    supervisor = os.environ.get(SUPERVISOR_ENV, "")
    parent = multiprocessing.parent_process()  # keeps the parent's pid even once orphaned
    if not sys.platform.startswith("linux") or parent is None or str(parent.pid) != supervisor:
        return
    if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        log.warning("cannot follow the supervisor: prctl failed with errno %d", ctypes.get_errno())
        return
    if os.getppid() != parent.pid:  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)
