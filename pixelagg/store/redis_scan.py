"""Reading keys for the Redis store's scan: each key's type, TTL and value as the audit sees it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .keys import KeyInfo

__all__ = ["HLL_MAGIC", "describe_keys"]


HLL_MAGIC = b"HYLL"
"""The first bytes of a Redis HyperLogLog: a string that starts so is a sketch."""


async def describe_keys(
    call: Callable[[Any], Awaitable[Any]], pipe_of: Callable[[], Any], keys: list[str], binary: bool = True
) -> list[KeyInfo]:
    """KeyInfo of each key (those that still exist). Without `binary`, a sketch's value is left
    unread (its header says it is one); salts and other strings are read whole for the audit."""
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
        elif kind == "string":  # without binary, a sketch's header only: it says "HYLL"
            pipe.get(key) if binary else pipe.getrange(key, 0, len(HLL_MAGIC) - 1)
        elif kind == "set":  # a seen set: the audit checks that it holds keyed hashes only
            pipe.smembers(key)
        else:  # a list or stream (foreign) would fail GET with WRONGTYPE
            continue
        read.append(n)
    values: list[Any] = [None] * len(keys)
    if read:
        for n, value in zip(read, await call(pipe.execute()), strict=True):
            values[n] = value
    # Strings that are no sketch (salts, or what should not be there) are read whole.
    others = [n for n in read if not binary and kinds[n] == "string" and values[n] != HLL_MAGIC]
    if others:
        pipe = pipe_of()
        for n in others:
            pipe.get(keys[n])
        for n, value in zip(others, await call(pipe.execute()), strict=True):
            values[n] = value
    for n in read:
        if kinds[n] == "string" and (values[n] or b"").startswith(HLL_MAGIC):
            kinds[n] = "hll"
            if not binary:
                values[n] = None
    out: list[KeyInfo] = []
    for n, key in enumerate(keys):
        ms = head[2 * n + 1]
        if ms == -2:  # expired between SCAN and PTTL
            continue
        out.append(
            KeyInfo(
                key,
                kinds[n],
                None if ms < 0 else ms / 1000,
                _flatten(values[n]),
                _text_fields(values[n]),
                tuple(sorted(values[n])) if isinstance(values[n], set) else None,
            )
        )
    return out


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
