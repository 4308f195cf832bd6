"""Running the HTTP server: uvicorn (uvloop and httptools when present) or granian, no client logging.

`check_can_serve` finds what would stop the server at start-up (a port in use, a data dir it
cannot write, a store another process holds) before anything is printed or created. uvicorn
with one process serves an app built here (`build_app`), so the store's errors come back as
pixelagg's own; worker processes (granian, `--workers N`) build theirs with `serve_app`. Both
write serve.json once the store's lock is theirs. Limits on slow and hostile clients come
from `limits` (see docs/deployment.md for what needs a reverse proxy).
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from . import limits
from .config import Config, load
from .exceptions import ConfigError
from .serve_file import advertise, check_advertisable, find_service, lock_holder, withdraw
from .web.app import Front, create_app
from .workers import SUPERVISOR_ENV, follow_supervisor, mark_supervisor

__all__ = ["GRACEFUL_SHUTDOWN_SECONDS", "LOGGING", "build_app", "check_can_serve", "run", "serve_app"]

GRACEFUL_SHUTDOWN_SECONDS = 15
"""How long open requests may take to finish at shutdown, before the buffered hits are written."""
APP = "pixelagg.server:serve_app"

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


def check_can_serve(config: Config) -> None:
    """Raise ConfigError naming the setting when serving would fail at start-up; change nothing."""
    if config.is_embedded or not config.api.admin_token:  # the store or the token file lives there
        _check_data_dir(config.data_dir)
    if config.is_embedded:
        check_advertisable(config.data_dir)
        holder = lock_holder(config.data_dir)
        if holder is not None:
            found = find_service(config)
            serving = f" ('pixelagg serve' at {found.url})" if found and found.url else ""
            who = "another process" if holder == -1 else f"process {holder}"
            raise ConfigError(
                f"The embedded store in {str(config.data_dir)!r} is in use by {who}{serving}. "
                "Stop it first, use its API (--url), or give this one its own data dir "
                "(PIXELAGG_DATA_DIR)."
            )
    _check_port(config.server.host, config.server.port)


def _check_data_dir(data_dir: Path) -> None:
    where = f"The data dir {str(data_dir)!r} (store.data_dir, PIXELAGG_DATA_DIR)"
    if data_dir.exists():
        if not data_dir.is_dir():
            raise ConfigError(f"{where} is not a directory.")
        if _read_only(data_dir):
            raise ConfigError(
                f"{where} is on a read-only file system. Remount it read-write, or give the "
                "service a writable data dir (PIXELAGG_DATA_DIR)."
            )
        if not os.access(data_dir, os.W_OK | os.X_OK):
            raise ConfigError(
                f"{where} is not writable by this user. Make it writable (chown or chmod), or "
                "give the service a writable data dir (PIXELAGG_DATA_DIR)."
            )
        return
    parent = data_dir.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{where} cannot be created: {str(parent)!r} is not a writable directory.")


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _check_port(host: str, port: int) -> None:
    """Bind the address as the server will (SO_REUSEADDR) and let go at once."""
    where = f"{host}:{port} (server.host, server.port)"
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(
            f"Cannot serve on {where}: {host!r} is not a known address ({exc.strerror})."
        ) from None
    for family, kind, proto, _, address in addresses[:1]:  # the servers bind the first one
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise ConfigError(f"Cannot serve on {where}: {_bind_problem(exc)}") from None


def _bind_problem(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "the port is in use by another program. Stop it, or choose another port (--port)."
    if exc.errno == errno.EACCES:
        return "this user may not use the port (below 1024?). Choose another port (--port)."
    if exc.errno == errno.EADDRNOTAVAIL:
        return "the host is not an address of this machine. Choose another host (--host)."
    return f"{exc.strerror}."


def build_app(config: Config, supervisor: int | None = None) -> Front:
    """The app, its store opened (its lock taken); on the embedded store, serve.json written.

    serve.json goes when the app's lifespan ends, before the buffered hits are written: uvicorn
    ends its process by re-raising the signal, so code after the server's run never runs.
    """
    app = create_app(config)
    if config.is_embedded:
        advertise(config, supervisor=os.getpid() if supervisor is None else supervisor)
        inner = app.app.router.lifespan_context

        @contextlib.asynccontextmanager
        async def lifespan(starlette: Any) -> AsyncIterator[Any]:
            async with inner(starlette) as state:
                try:
                    yield state
                finally:
                    withdraw(config)

        app.app.router.lifespan_context = lifespan
    return app


def serve_app() -> Front:
    """The app of a worker process: the configuration from the environment, then as build_app."""
    follow_supervisor()
    return build_app(load(), supervisor=int(os.environ.get(SUPERVISOR_ENV) or os.getpid()))


def run(config: Config, app: Front | None = None) -> None:
    """Serve until SIGTERM or SIGINT; shutdown drains buffered hits before exit.

    `app` is the one-process uvicorn server's app (from build_app); worker processes build their own.
    """
    mark_supervisor()
    _raise_file_limit()
    if config.server.implementation == "granian":
        _granian(config)
    else:
        _uvicorn(config, app)


def _raise_file_limit() -> None:
    """Every connection is a file: let held-open connections use all the system allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        wanted = min(hard, 1 << 20) if hard != resource.RLIM_INFINITY else 1 << 20
        with contextlib.suppress(ValueError, OSError):  # not allowed here: the soft limit stays
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))


def _uvicorn(config: Config, app: Front | None) -> None:
    import uvicorn

    target: Any = APP if app is None or config.server.workers > 1 else app
    uvicorn.run(
        target,
        factory=isinstance(target, str),
        host=config.server.host,
        port=config.server.port,
        workers=config.server.workers,
        access_log=False,
        log_config=LOGGING,
        # X-Forwarded-For is read by pixelagg itself, from server.trusted_proxies only.
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        **limits.uvicorn_options(),
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
        **limits.granian_options(),
    ).serve()
