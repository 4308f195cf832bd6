"""DATA_DIR/serve.json: how the CLI finds the `pixelagg serve` that holds the embedded store.

The process that holds the store's lock writes the file once it has the lock (`advertise`),
so the file never names a service that does not hold the store. Only the process it names, or
the `serve` that supervises it, removes it (`withdraw`). A service killed outright (SIGKILL)
leaves the file behind: `find_service` then sees that nobody holds the lock, or that someone
else does, and calls the file stale, so the CLI never sends its token to whatever listens at
the old address now. `served-url` keeps the last URL served, for snippets made while the
service is stopped.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .exceptions import ConfigError
from .store.embedded_file import LOCK_NAME

__all__ = [
    "LOCKS",
    "SERVED_URL_FILE",
    "SERVE_FILE",
    "Found",
    "advertise",
    "check_advertisable",
    "find_service",
    "http_url",
    "last_served_url",
    "lock_holder",
    "withdraw",
]

SERVE_FILE = "serve.json"
"""In the data dir while `pixelagg serve` runs: its URL, its pid and its supervisor's pid."""
SERVED_URL_FILE = "served-url"
"""The URL the service last served, kept after it stops."""
LOCKS = Path("/proc/locks")
"""Linux lists every file lock here, with the pid that took it."""
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1"}


@dataclass(frozen=True)
class Found:
    """What serve.json says, and whether it still holds: `url` is None when it is stale."""

    path: Path
    url: str | None
    why_stale: str = ""


def http_url(host: str, port: int) -> str:
    """The http:// URL of a host and port; an IPv6 address goes in brackets."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}"
    return f"http://[{host}]:{port}" if literal.version == 6 else f"http://{host}:{port}"


def advertised_url(config: Config) -> str:
    """The URL the CLI can reach the service at: a wildcard bind address becomes loopback."""
    host = config.server.host
    return http_url(_LOOPBACK.get(host, host), config.server.port)


def check_advertisable(data_dir: Path) -> None:
    """Raise ConfigError when serve.json or served-url in the data dir could not be replaced.

    Opening an existing file for writing, without truncating it, changes nothing and fails as
    replacing it would: a directory, an immutable file, a file on a read-only mount.
    """
    for name in (SERVE_FILE, SERVED_URL_FILE):
        path = data_dir / name
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except FileNotFoundError:
            continue
        except OSError as exc:
            # another user's file, which the writable dir lets us replace; a FIFO nobody reads
            if exc.errno in (errno.EACCES, errno.ENXIO):
                continue
            raise ConfigError(_cannot_replace(path, exc)) from None


def _cannot_replace(path: Path, exc: OSError) -> str:
    return (
        f"The data dir {str(path.parent)!r} (store.data_dir, PIXELAGG_DATA_DIR) holds {path.name}, "
        f"which 'pixelagg serve' must replace, and it cannot be replaced ({exc.strerror}). "
        "It only says where the service runs: remove it (or make it a writable file), "
        "or give the service another data dir."
    )


def advertise(config: Config, supervisor: int) -> None:
    """Write serve.json for this process, which holds the store's lock, and served-url."""
    url = advertised_url(config)
    info = {"url": url, "pid": os.getpid(), "supervisor": supervisor}
    _write(config.data_dir / SERVE_FILE, json.dumps(info))
    _write(config.data_dir / SERVED_URL_FILE, url + "\n")


def _write(path: Path, text: str) -> None:
    """Replace the file in one step, so a reader sees the old text or the new, never half."""
    part = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        part.write_text(text, encoding="utf-8")
        part.replace(path)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise ConfigError(_cannot_replace(path, exc)) from None


def withdraw(config: Config) -> None:
    """Remove serve.json if this process wrote it or supervises the one that did."""
    path = config.data_dir / SERVE_FILE
    info = _read(path)
    if info is not None and os.getpid() in (info.get("pid"), info.get("supervisor")):
        path.unlink(missing_ok=True)


def _read(path: Path) -> dict[str, object] | None:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def find_service(config: Config) -> Found | None:
    """serve.json of this data dir, checked against the store's lock; None without the file."""
    path = config.data_dir / SERVE_FILE
    if not path.exists():
        return None
    info = _read(path)
    pid = info.get("pid") if info is not None else None
    if info is None or not isinstance(info.get("url"), str) or not isinstance(pid, int):
        return Found(path, None, "it cannot be read")
    holder = lock_holder(config.data_dir)
    if holder is None:
        return Found(path, None, "no process holds the store: the service that wrote it is gone")
    if holder == -1:  # no lock table to read: the process must at least be alive
        if not _alive(pid):
            return Found(path, None, f"its process {pid} is gone")
    elif holder != pid:
        return Found(path, None, f"the store is held by process {holder}, not by {pid}, which wrote it")
    return Found(path, str(info["url"]))


def lock_holder(data_dir: Path) -> int | None:
    """The pid holding the store's lock, None when nobody does, -1 when it cannot be told."""
    try:
        inode = (data_dir / LOCK_NAME).stat().st_ino
    except OSError:
        return None
    try:
        table = LOCKS.read_text()
    except OSError:
        return -1 if _probe_locked(data_dir) else None
    for line in table.splitlines():
        fields = line.split()
        # "1: FLOCK ADVISORY WRITE 1234 fe:00:5678 0 EOF"; waiters' lines have "->" second
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].rsplit(":", 1)[-1] == str(inode):
            return int(fields[4])
    return None


def _probe_locked(data_dir: Path) -> bool:
    """Without a lock table: try the lock and let go at once (a serve starting now may lose)."""
    with open(data_dir / LOCK_NAME, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


def last_served_url(config: Config) -> str | None:
    """The URL the service of this data dir last served, if it ever did."""
    try:
        url = (config.data_dir / SERVED_URL_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return url or None
