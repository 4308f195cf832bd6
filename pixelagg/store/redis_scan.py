"""Reading keys for the Redis store's scan: each key's type, TTL and value as the audit sees it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .keys import KeyInfo

__all__ = ["describe_keys"]


async def describe_keys(
    call: Callable[[Any], Awaitable[Any]], pipe_of: Callable[[], Any], keys: list[str], binary: bool = True
) -> list[KeyInfo]:
    """KeyInfo of each key (those that still exist), in two round trips."""
    pipe = pipe_of()
    for key in keys:
        pipe.type(key)
        pipe.pttl(key)
    head = await call(pipe.execute())
    pipe = pipe_of()
    kinds: list[str] = []
    read: list[int] = []
    for n, key in enumerate(keys):
        kind = head[2 * n].decode()
        kinds.append(kind)
        if kind == "hash":
            pipe.hgetall(key)
        elif kind == "zset":
            pipe.zrange(key, 0, -1, withscores=True)
        elif kind == "string" and binary:
            pipe.get(key)
        elif kind == "set" and binary:  # a seen set: keyed elements of one salt window
            pipe.smembers(key)
        else:  # a list or stream (foreign) would fail GET with WRONGTYPE
            continue
        read.append(n)
    values: list[Any] = [None] * len(keys)
    if read:
        for n, value in zip(read, await call(pipe.execute()), strict=True):
            values[n] = value
    out: list[KeyInfo] = []
    for n, key in enumerate(keys):
        ms = head[2 * n + 1]
        if ms == -2:  # expired between SCAN and PTTL
            continue
        out.append(
            KeyInfo(
                key,
                _kind(key, kinds[n]),
                None if ms < 0 else ms / 1000,
                _flatten(values[n]),
                _text_fields(values[n]),
            )
        )
    return out


def _kind(key: str, redis_type: str) -> str:
    if redis_type == "string" and (":u:" in key or ":r:" in key):
        return "hll"
    return redis_type


def _text_fields(value: Any) -> dict[str, str] | None:
    """Hash fields or zset members (with their scores) as text; None for other values."""
    if isinstance(value, dict):
        return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in value.items()}
    if isinstance(value, list):
        return {m.decode(errors="replace"): repr(score) for m, score in value}
    return None


def _flatten(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, dict):
        return b"\n".join(k + b"=" + v for k, v in value.items())
    if isinstance(value, list):
        return b"\n".join(m if isinstance(m, bytes) else repr(m).encode() for pair in value for m in pair)
    if isinstance(value, set):
        return b"".join(sorted(value))
    return repr(value).encode()
