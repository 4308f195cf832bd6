"""Where salts live: never anywhere that writes them to disk (P12).

A salt store keeps each campaign window's salt under its key name for a TTL given as a
duration, never as an absolute time from a clock that may be wrong (`salt_lifetime`).
`MemorySalts` is the embedded store's: this process's memory only, so a restart makes new
salts. `RedisSalts` runs on a Redis client: the main store's server, or the server of
`store.salt_url`. `persistence()` says whether the place writes anything to disk, as
`CONFIG GET appendonly` and `CONFIG GET save` tell; `salt_persistence_problem` words it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from redis.exceptions import NoPermissionError, RedisClusterException, RedisError, ResponseError

from ..core.privacy import SALT_GRACE_SECONDS, salt_window
from ..exceptions import StoreError
from .keys import KeyInfo

__all__ = [
    "MemorySalts",
    "Persistence",
    "RedisSalts",
    "SaltStore",
    "salt_lifetime",
    "salt_persistence_problem",
    "server_name",
]

CLOSE_TIMEOUT = 5.0
FIX = (
    'Run that server with --appendonly no --save "", or set store.salt_url to a server that '
    "runs so, or set store.allow_persistent_salts: true to accept salts on disk (docs/privacy.md)."
)


def salt_lifetime(first_hit: float, now: float, window_seconds: int) -> tuple[int, float]:
    """The window `now` is in and its salt's TTL in seconds: never above window plus grace.

    A first hit stamped by a clock far ahead would otherwise give a salt that lives longer
    than its window (window 0 ends a window after that future time)."""
    index, expires_at = salt_window(first_hit, now, window_seconds)
    return index, min(expires_at - now, float(window_seconds + SALT_GRACE_SECONDS))


@dataclass(frozen=True)
class Persistence:
    """Whether the place where salts live writes them to disk."""

    where: str
    """'process memory', 'the store's server' or 'the salt server (host:port)'."""
    writes: tuple[str, ...] = ()
    """The settings that write to disk, e.g. ('appendonly yes', 'save 3600 1')."""
    unknown: str | None = None
    """Why persistence could not be checked (CONFIG refused, server unreachable)."""
    reachable: bool = True

    @property
    def safe(self) -> bool:
        """True when nothing is written to disk, as far as the server says."""
        return not self.writes and self.unknown is None


def salt_persistence_problem(persistence: Persistence) -> str | None:
    """What is wrong with where salts live, in words for an operator; None when nothing is."""
    if persistence.writes:
        return (
            f"Salts live on {persistence.where}, which writes to disk "
            f"({', '.join(persistence.writes)}): a salt's SET survives in the AOF or RDB file "
            f"after the salt has expired, and reopens its window for whoever reads the file. {FIX}"
        )
    if persistence.unknown is not None:
        return (
            f"Cannot tell whether {persistence.where} writes salts to disk: {persistence.unknown}. "
            "Allow CONFIG GET to pixelagg's Redis user (docs/redis-acl.md), or " + FIX[0].lower() + FIX[1:]
        )
    return None


def server_name(url: str) -> str:
    """host:port (or the socket path) of a Redis URL, without its user or password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return parts.netloc.rsplit("@", 1)[-1]


class SaltStore(Protocol):
    """The salts of open windows, each under its key name, with a TTL."""

    separate: bool
    """True when salts live apart from the store's other keys (memory, or store.salt_url)."""

    async def get_or_create(self, key: str, candidate: bytes, ttl: float) -> tuple[bytes, float]:
        """The salt under `key`, set to `candidate` for `ttl` seconds if there is none yet
        (once for all processes), and the seconds it has left."""
        ...

    async def delete(self, pattern: str) -> None:
        """Delete the salts whose key names match a glob (a campaign's)."""
        ...

    def scan(self, pattern: str) -> AsyncIterator[KeyInfo]:
        """Every salt key matching the glob, with its TTL and its value (32 bytes)."""
        ...

    def key_names(self, pattern: str) -> AsyncIterator[str]:
        """The names of every key the salt store holds matching the glob."""
        ...

    async def persistence(self) -> Persistence: ...

    async def close(self) -> None: ...


class MemorySalts:
    """Salts in this process's memory, never saved: they die with their window or the process."""

    separate = True

    def __init__(self) -> None:
        self._salts: dict[str, tuple[bytes, float]] = {}
        """key -> (salt, deadline on the monotonic clock, which wall-clock steps never move)."""

    def _live(self) -> dict[str, tuple[bytes, float]]:
        now = time.monotonic()
        for key in [k for k, (_, deadline) in self._salts.items() if deadline <= now]:
            del self._salts[key]
        return self._salts

    async def get_or_create(self, key: str, candidate: bytes, ttl: float) -> tuple[bytes, float]:
        salts = self._live()
        if key not in salts:
            salts[key] = (candidate, time.monotonic() + ttl)
            return candidate, ttl
        value, deadline = salts[key]
        return value, deadline - time.monotonic()

    async def delete(self, pattern: str) -> None:
        for key in [k for k in self._salts if fnmatch.fnmatchcase(k, pattern)]:
            del self._salts[key]

    async def scan(self, pattern: str) -> AsyncIterator[KeyInfo]:
        now = time.monotonic()
        for key, (value, deadline) in list(self._live().items()):
            if fnmatch.fnmatchcase(key, pattern):
                yield KeyInfo(key, "string", deadline - now, value)

    async def key_names(self, pattern: str) -> AsyncIterator[str]:
        for key in list(self._live()):
            if fnmatch.fnmatchcase(key, pattern):
                yield key

    async def persistence(self) -> Persistence:
        return Persistence("process memory")

    async def close(self) -> None:
        self._salts.clear()


class RedisSalts:
    """Salts on a Redis server (standalone or cluster).

    Redis errors of fetching and deleting reach the caller as they are (the store counts and
    words them); a scan's errors are a StoreError, as the store's own scans' are."""

    def __init__(self, client: Any, where: str, *, separate: bool, cluster: bool) -> None:
        self.redis = client
        self.where = where
        self.separate = separate
        self.cluster = cluster

    def _pipe(self) -> Any:
        return self.redis.pipeline() if self.cluster else self.redis.pipeline(transaction=False)

    async def get_or_create(self, key: str, candidate: bytes, ttl: float) -> tuple[bytes, float]:
        ms = max(1, int(ttl * 1000))
        for _ in range(2):  # again only if the key expired between the two commands
            pipe = self._pipe()
            pipe.set(key, candidate, nx=True, get=True, px=ms)
            pipe.pttl(key)
            try:
                previous, left = await pipe.execute()
                if left == -1:  # a salt without a TTL (written by hand): give it one
                    await self.redis.pexpire(key, ms)
                    left = ms
            except RedisClusterException as exc:  # no node reachable: a Redis error like the others
                raise RedisError(str(exc)) from None
            if previous is None:  # ours, set with this TTL: PTTL may read a millisecond later
                return candidate, ms / 1000
            if left > 0:
                return previous, left / 1000
        raise RedisError(f"salt {key} expired while it was read")

    async def delete(self, pattern: str) -> None:
        doomed = [key async for key in self.key_names(pattern)]
        for key in doomed:  # a campaign has a salt or two: one command each suits a cluster too
            await self.redis.unlink(key)

    async def scan(self, pattern: str) -> AsyncIterator[KeyInfo]:
        async for key in self.key_names(pattern):
            try:
                pipe = self._pipe()
                pipe.type(key)
                pipe.pttl(key)
                kind, ms = await pipe.execute()
                kind = kind.decode()
                value = await self.redis.get(key) if kind == "string" else b""
            except (RedisError, OSError) as exc:
                raise StoreError(f"Salt server error during SCAN: {exc}") from None
            if ms != -2:  # -2: expired meanwhile
                yield KeyInfo(key, kind, None if ms < 0 else ms / 1000, value or b"")

    async def key_names(self, pattern: str) -> AsyncIterator[str]:
        try:
            async for key in self.redis.scan_iter(match=pattern, count=1000):
                yield key.decode()
        except (RedisError, RedisClusterException, OSError) as exc:
            raise StoreError(f"Salt server error during SCAN: {exc}") from None

    async def persistence(self) -> Persistence:
        try:
            replies = await self._config("appendonly", "save")
        except NoPermissionError:
            return Persistence(self.where, unknown="the server refuses CONFIG GET to this user")
        except ResponseError as exc:  # managed services rename or disable CONFIG
            return Persistence(self.where, unknown=f"CONFIG GET failed ({exc})")
        except (RedisError, RedisClusterException, OSError) as exc:
            return Persistence(self.where, unknown=f"the server is unreachable ({exc})", reachable=False)
        writes: list[str] = []
        for reply in replies:
            appendonly = _text(reply.get("appendonly", reply.get(b"appendonly")))
            save = _text(reply.get("save", reply.get(b"save")))
            if appendonly == "yes" and "appendonly yes" not in writes:
                writes.append("appendonly yes")
            if save and f"save {save}" not in writes:
                writes.append(f"save {save}")
        return Persistence(self.where, tuple(writes))

    async def _config(self, *names: str) -> list[dict[Any, Any]]:
        """CONFIG GET of every node (a cluster's primaries and replicas alike)."""
        if not self.cluster:
            return [await self.redis.config_get(*names)]
        await self.redis.initialize()  # the node list is empty until the client has connected
        replies: list[dict[Any, Any]] = []
        for node in self.redis.get_nodes():
            replies.append(await self.redis.config_get(*names, target_nodes=node))
        return replies

    async def close(self) -> None:
        """Close the client if it is the salts' own (store.salt_url); never hold up a shutdown."""
        if self.separate:
            with contextlib.suppress(TimeoutError, RedisError, OSError):
                await asyncio.wait_for(self.redis.aclose(), CLOSE_TIMEOUT)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)
