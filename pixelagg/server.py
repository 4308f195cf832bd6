"""Running the HTTP server: uvicorn (uvloop and httptools when present) or granian, no client logging."""

from __future__ import annotations

from typing import Any

from .config import Config
from .workers import mark_supervisor

__all__ = ["LOGGING", "run"]

GRACEFUL_SHUTDOWN_SECONDS = 15
APP = "pixelagg.web.app:app_from_env"

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
    mark_supervisor()
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
        respawn_failed_workers=True,  # as uvicorn does
    ).serve()
