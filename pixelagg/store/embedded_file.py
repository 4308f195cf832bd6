"""The embedded store's file: a lock file, and the keys saved in SQLite with `secure_delete`.

`StoreFile.open` takes the lock (one process at a time) and loads every live key; `save`
writes changed keys and deletes gone ones in one transaction, on whatever thread calls it.
Values are encoded per kind: sketches in the declared format of `sketch.py`, strings as bytes,
hashes and sorted sets as JSON.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..exceptions import StoreError
from .sketch import SketchFormatError, read_sketch, save_sketch, sketch_registers

__all__ = ["DB_NAME", "LOCK_NAME", "Entry", "StoreFile"]

DB_NAME = "store.sqlite3"
LOCK_NAME = "store.lock"


@dataclass
class Entry:
    """One key's value as kept in memory, with its expiry."""

    kind: str  # hash, hll, string, zset
    value: Any
    expires_at: float

    def encode(self) -> bytes:
        return encode(self.kind, self.snapshot())

    def snapshot(self) -> Any:
        """A private copy of the value, cheap to take, to encode away from the event loop."""
        if self.kind == "hll":
            return sketch_registers(self.value)
        if self.kind == "string":
            return bytes(self.value)
        return dict(self.value)

    @classmethod
    def decode(cls, kind: str, data: bytes, expires_at: float) -> Entry:
        if kind == "hll":
            return cls(kind, read_sketch(data), expires_at)
        if kind == "string":
            return cls(kind, bytes(data), expires_at)
        return cls(kind, json.loads(data), expires_at)


def encode(kind: str, snapshot: Any) -> bytes:
    if kind == "hll":
        return save_sketch(snapshot)
    if kind == "string":
        return bytes(snapshot)
    return json.dumps(snapshot, sort_keys=True).encode()


class StoreFile:
    """The open, locked SQLite file of one data dir."""

    def __init__(self, data_dir: Path, lock: IO[str], db: sqlite3.Connection) -> None:
        self.data_dir = data_dir
        self._lock: IO[str] | None = lock
        self._db: sqlite3.Connection | None = db

    @classmethod
    def open(cls, data_dir: Path) -> tuple[StoreFile, dict[str, Entry]]:
        """Take the lock, drop expired keys and load the others."""
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create the data dir {str(data_dir)!r}: {exc.strerror}.") from None
        lock = open(data_dir / LOCK_NAME, "a+")  # noqa: SIM115 - held open while the store is open
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise StoreError(
                f"The embedded store in {str(data_dir)!r} is in use by another process "
                "(a running 'pixelagg serve'?). Use that service's API with --url, or configure "
                "Redis (store.url) to run more than one process."
            ) from None
        db = sqlite3.connect(data_dir / DB_NAME, check_same_thread=False)
        store_file = cls(data_dir, lock, db)
        try:
            return store_file, store_file._load()
        except BaseException:  # let the next open (once the file is mended) take the lock
            store_file.close()
            raise

    def _load(self) -> dict[str, Entry]:
        assert self._db is not None
        db = self._db
        db.execute("PRAGMA secure_delete = ON")
        db.execute("PRAGMA journal_mode = DELETE")
        db.execute(
            "CREATE TABLE IF NOT EXISTS keys ("
            " key TEXT PRIMARY KEY, kind TEXT NOT NULL, value BLOB NOT NULL, expires_at REAL NOT NULL)"
        )
        with db:
            db.execute("DELETE FROM keys WHERE expires_at <= ?", (time.time(),))
        data: dict[str, Entry] = {}
        for key, kind, value, expires_at in db.execute("SELECT key, kind, value, expires_at FROM keys"):
            try:
                data[key] = Entry.decode(kind, value, expires_at)
            except SketchFormatError as exc:
                raise StoreError(
                    f"The embedded store {str(self.data_dir / DB_NAME)!r} holds a sketch this release "
                    f"cannot read ({key}: {exc}). A newer pixelagg wrote it, or the file is damaged: "
                    "run the release that wrote it, or restore the data dir from a backup."
                ) from None
        return data

    def save(self, changed: list[tuple[str, str, Any, float]], gone: list[str]) -> None:
        """Write changed keys (key, kind, snapshot, expiry) and delete gone ones, in one transaction."""
        assert self._db is not None
        rows = [(key, kind, encode(kind, snapshot), expires) for key, kind, snapshot, expires in changed]
        with self._db:
            self._db.executemany("DELETE FROM keys WHERE key = ?", [(k,) for k in gone])
            self._db.executemany("INSERT OR REPLACE INTO keys VALUES (?, ?, ?, ?)", rows)

    def close(self) -> None:
        """Close the database and release the lock."""
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def saved_files(self) -> list[Path]:
        """Files this store writes, for privacy scans."""
        return [p for p in self.data_dir.iterdir() if p.name.startswith(DB_NAME)]
