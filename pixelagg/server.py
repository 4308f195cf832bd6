"""Running the HTTP server: uvicorn (uvloop and httptools when present) or granian, no client logging."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Any

from .config import Config

__all__ = ["LOGGING", "die_with_supervisor", "run"]

GRACEFUL_SHUTDOWN_SECONDS = 15
APP = "pixelagg.app:app_from_env"
SUPERVISOR_ENV = "PIXELAGG_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stderr",
        },
    },
    "loggers": {
        "pixelagg": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "_granian": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        # The servers' access logs print the client's address: they are never enabled.
        "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        "granian.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
    },
}


def run(config: Config) -> None:
    """Serve until SIGTERM or SIGINT; shutdown drains buffered hits before exit."""
    # Worker processes (granian's always, uvicorn's with --workers) find their supervisor here.
    os.environ[SUPERVISOR_ENV] = str(os.getpid())
    if config.server.implementation == "granian":
        _granian(config)
    else:
        _uvicorn(config)


def _uvicorn(config: Config) -> None:
    import uvicorn

    uvicorn.run(
        APP,
        factory=True,
        host=config.server.host,
        port=config.server.port,
        workers=config.server.workers,
        access_log=False,
        log_config=LOGGING,
        # X-Forwarded-For is read by pixelagg itself, from server.trusted_proxies only.
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def _granian(config: Config) -> None:
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.server import Server

    Server(
        APP,
        factory=True,
        address=config.server.host,
        port=config.server.port,
        interface=Interfaces.ASGI,
        workers=config.server.workers,
        http=HTTPModes.http1,
        websockets=False,
        loop=Loops.auto,
        log_access=False,
        log_dictconfig=LOGGING,
        workers_kill_timeout=GRACEFUL_SHUTDOWN_SECONDS,
    ).serve()


def die_with_supervisor() -> None:
    """In a worker process of `pixelagg serve`: get SIGTERM, and so drain the buffered hits,
    when the supervising process dies. Neither server does this by itself, so a SIGKILLed
    supervisor would leave its workers holding the port and the embedded store. Linux only."""
    supervisor = os.environ.get(SUPERVISOR_ENV, "")
    if not sys.platform.startswith("linux") or not supervisor.isdigit() or os.getpid() == int(supervisor):
        return
    if os.getppid() != int(supervisor):  # started by something else that copied the environment
        return
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(supervisor):  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)
