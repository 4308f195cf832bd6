"""The embedded store's file: a lock file, and the keys saved in SQLite with `secure_delete`.

`StoreFile.open` takes the lock (one process at a time), checks the file and loads the keys
the store keeps in memory: every key but the campaign-days older than yesterday, which are
read when needed. `save` writes changed keys and deletes gone ones in one transaction, on
whatever thread calls it. Values are encoded per kind: sketches in the declared formats of
`sketch.py`, strings as bytes, hashes and sorted sets as JSON. A row that does not decode is
left as it is in the file and reported as damaged. The data dir is made 0700, the files 0600.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import StoreError
from .sketch import SketchDamagedError, SketchFormatError, read_sketch

__all__ = ["DB_NAME", "LOCK_NAME", "Entry", "Row", "StoreFile", "day_of", "decode"]

DB_NAME = "store.sqlite3"
LOCK_NAME = "store.lock"
_DAY = re.compile(r"\}:([dur]):(\d{8})(?::|\Z)")
_KINDS = ("hash", "hll", "string", "zset")

Row = tuple[str, str, bytes, float]
"""(key, kind, encoded value, expiry) as saved."""


def day_of(key: str) -> str | None:
    """The UTC day (YYYYMMDD) of a campaign-day key (counters, sketches); None for others."""
    match = _DAY.search(key)
    return match.group(2) if match else None


@dataclass(slots=True)
class Entry:
    """One key's value as kept in memory, with its expiry."""

    kind: str  # hash, hll, string, zset
    value: Any
    expires_at: float

    def snapshot(self) -> Any:
        """A private copy of the value, cheap to take, to encode away from the event loop."""
        if self.kind == "hll":
            return self.value.snapshot()
        if self.kind == "string":
            return bytes(self.value)
        return dict(self.value)

    def encode(self) -> bytes:
        return encode(self.kind, self.snapshot())


def encode(kind: str, snapshot: Any) -> bytes:
    if kind in ("hll", "string"):
        return bytes(snapshot)
    return json.dumps(snapshot, sort_keys=True).encode()


def decode(kind: str, data: bytes, expires_at: float, key: str = "") -> Entry:
    """The entry a saved row holds; SketchFormatError (a newer release's sketch) or
    SketchDamagedError (anything else that does not read, or not as its key says: a sketch
    key holds a sketch, a day key a hash of whole numbers)."""
    match = _DAY.search(key)
    wanted = None if match is None else "hash" if match.group(1) == "d" else "hll"
    if wanted is not None and kind != wanted:
        raise SketchDamagedError(f"a {kind} where a {wanted} belongs")
    if kind == "hll":
        return Entry(kind, read_sketch(bytes(data)), expires_at)
    if kind == "string":
        return Entry(kind, bytes(data), expires_at)
    if kind not in _KINDS:
        raise SketchDamagedError(f"unknown kind {kind!r}")
    try:
        value = json.loads(data)
    except (ValueError, TypeError) as exc:
        raise SketchDamagedError(f"not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise SketchDamagedError("not a JSON object")
    if wanted == "hash" and not all(_whole(v) for v in value.values()):
        raise SketchDamagedError("a counter that is not a whole number")
    return Entry(kind, value, expires_at)


def _whole(value: Any) -> bool:
    return type(value) is int or (isinstance(value, str) and value.removeprefix("-").isdigit())


def _what_to_do(path: Path) -> str:
    return (
        f"Restore it from a backup, or move it away (mv {str(path)!r} {str(path) + '.damaged'!r}) "
        "to start with an empty store."
    )


class StoreFile:
    """The open, locked SQLite file of one data dir."""

    def __init__(self, data_dir: Path, lock: int, db: sqlite3.Connection) -> None:
        self.data_dir = data_dir
        self.path = data_dir / DB_NAME
        self._lock: int | None = lock
        self._db: sqlite3.Connection | None = db
        self._thread_lock = threading.Lock()  # one statement sequence at a time, whatever the thread
        self.saved_at = 0.0
        """When the file was last saved (the store's clock), 0 for a new file."""

    @classmethod
    def open(cls, data_dir: Path) -> StoreFile:
        """Take the lock and check the file; raise StoreError naming the file and what to do."""
        try:
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(PermissionError):  # a dir someone else owns keeps its mode
                os.chmod(data_dir, 0o700)
            lock = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(
                f"Cannot write to the data dir {str(data_dir)!r}: {exc.strerror}. Make it writable, "
                "or set store.data_dir (PIXELAGG_DATA_DIR) to a writable directory."
            ) from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(lock)
            raise StoreError(
                f"The embedded store in {str(data_dir)!r} is in use by another process "
                "(a running 'pixelagg serve'?). Use that service's API with --url, or configure "
                "Redis (store.url) to run more than one process."
            ) from None
        path = data_dir / DB_NAME
        try:
            if path.exists() and path.stat().st_size == 0:
                raise StoreError(
                    f"The embedded store file {str(path)!r} is empty (0 bytes): it was truncated, "
                    f"or a copy of it failed. {_what_to_do(path)}"
                )
            db = sqlite3.connect(path, check_same_thread=False)
        except BaseException:
            fcntl.flock(lock, fcntl.LOCK_UN)
            os.close(lock)
            raise
        store_file = cls(data_dir, lock, db)
        try:
            store_file._prepare()
        except BaseException:  # let the next open (once the file is mended) take the lock
            store_file.close()
            raise
        return store_file

    def _prepare(self) -> None:
        assert self._db is not None
        db = self._db
        try:
            db.execute("PRAGMA secure_delete = ON")
            db.execute("PRAGMA journal_mode = DELETE")
            (check,) = db.execute("PRAGMA quick_check(1)").fetchone()
            if check != "ok":
                raise sqlite3.DatabaseError(check)
            with db:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY, kind TEXT NOT NULL,"
                    " value BLOB NOT NULL, expires_at REAL NOT NULL)"
                )
                db.execute("CREATE TABLE IF NOT EXISTS info (name TEXT PRIMARY KEY, value REAL NOT NULL)")
            row = db.execute("SELECT value FROM info WHERE name = 'saved_at'").fetchone()
        except sqlite3.DatabaseError as exc:
            text = str(exc)
            if isinstance(exc, sqlite3.OperationalError) and ("readonly" in text or "unable to open" in text):
                raise StoreError(
                    f"Cannot write the embedded store file {str(self.path)!r}: {exc}. Make the data "
                    "dir writable, or set store.data_dir (PIXELAGG_DATA_DIR) to a writable directory."
                ) from None
            raise StoreError(
                f"The embedded store file {str(self.path)!r} is damaged ({exc}). {_what_to_do(self.path)}"
            ) from None
        self.saved_at = float(row[0]) if row else 0.0
        with contextlib.suppress(OSError):
            os.chmod(self.path, 0o600)

    def load(self, now: float, hot_from: str) -> tuple[dict[str, Entry], dict[str, tuple[str, float]]]:
        """Live keys (all but campaign-days before `hot_from`), and the damaged ones with why.

        SketchFormatError (a sketch of a newer release) stops the load: the whole file is then
        of that release."""
        data: dict[str, Entry] = {}
        damaged: dict[str, tuple[str, float]] = {}
        rows = self._query("SELECT key, kind, value, expires_at FROM keys WHERE expires_at > ?", (now,))
        for key, kind, value, expires_at in rows:
            day = day_of(key)
            if day is not None and day < hot_from:
                continue
            try:
                data[key] = decode(kind, value, expires_at, key)
            except SketchDamagedError as exc:
                damaged[key] = (str(exc), expires_at)
            except SketchFormatError as exc:
                raise StoreError(
                    f"The embedded store {str(self.path)!r} holds a sketch this release cannot read "
                    f"({key}: {exc}). A newer pixelagg wrote it: run the release that wrote it, or "
                    "restore the data dir from a backup."
                ) from None
        return data, damaged

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> Iterator[Row]:
        if self._db is None:
            raise StoreError("The embedded store is closed.")
        with self._thread_lock:
            try:
                rows = self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"Cannot read the embedded store file {str(self.path)!r}: {exc}") from None
        return iter(rows)

    def read(self, keys: Iterable[str], now: float) -> list[Row]:
        """The live saved rows of these keys (those saved, that is)."""
        wanted = list(keys)
        found: list[Row] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT key, kind, value, expires_at FROM keys WHERE expires_at > ? AND key IN ({marks})"
            found += self._query(sql, (now, *chunk))
        return found

    def rows_after(self, after: str, now: float, limit: int = 500) -> list[Row]:
        """Live saved rows in key order after the key `after`, at most `limit` of them."""
        return list(
            self._query(
                "SELECT key, kind, value, expires_at FROM keys WHERE key > ? AND expires_at > ?"
                " ORDER BY key LIMIT ?",
                (after, now, limit),
            )
        )

    def save(
        self,
        changed: list[tuple[str, str, Any, float]],
        gone: list[str],
        erased: list[str],
        saved_at: float,
        purge_before: float | None = None,
    ) -> None:
        """Write changed keys (key, kind, snapshot, expiry), delete gone ones and every key under
        the erased prefixes, and drop rows expired before `purge_before`, in one transaction."""
        rows = [(key, kind, encode(kind, snapshot), expires) for key, kind, snapshot, expires in changed]
        if self._db is None:
            raise StoreError("The embedded store is closed.")
        with self._thread_lock, self._db:
            db = self._db
            for prefix in erased:
                db.execute("DELETE FROM keys WHERE substr(key, 1, ?) = ?", (len(prefix), prefix))
            if purge_before is not None:
                db.execute("DELETE FROM keys WHERE expires_at <= ?", (purge_before,))
            db.executemany("DELETE FROM keys WHERE key = ?", [(k,) for k in gone])
            db.executemany("INSERT OR REPLACE INTO keys VALUES (?, ?, ?, ?)", rows)
            db.execute("INSERT OR REPLACE INTO info VALUES ('saved_at', ?)", (saved_at,))
        self.saved_at = saved_at

    def close(self) -> None:
        """Close the database and release the lock."""
        if self._db is not None:
            with self._thread_lock:
                self._db.close()
            self._db = None
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            os.close(self._lock)
            self._lock = None

    def saved_files(self) -> list[Path]:
        """Files this store writes, for privacy scans."""
        return [p for p in self.data_dir.iterdir() if p.name.startswith(DB_NAME)]
