"""Running the HTTP server: uvicorn with uvloop and httptools when present, no client logging."""

from __future__ import annotations

from typing import Any

import uvicorn

from .config import Config

__all__ = ["LOGGING", "run"]

GRACEFUL_SHUTDOWN_SECONDS = 15

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
        # uvicorn's access log prints the client's address: it is never enabled.
        "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
    },
}


def run(config: Config) -> None:
    """Serve until SIGTERM or SIGINT; shutdown drains buffered hits before exit."""
    uvicorn.run(
        "pixelagg.app:app_from_env",
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
