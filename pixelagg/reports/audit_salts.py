"""The audit's salt checks: only open windows have salts, none outlives its window plus grace,
and no salt is stored twice, outside the salt store, or copied into another value.

A copy is searched for raw, as hex (either case) and as base64 (standard or URL-safe, with or
without padding) in every value that could hold one. Salts are read for this and kept in
memory during the audit only; no finding shows one.
"""

from __future__ import annotations

import base64
import re
from collections import Counter
from collections.abc import Iterable

from ..core.campaign import campaign_field
from ..core.privacy import SALT_BYTES, SALT_GRACE_SECONDS, salt_window
from .audit_campaigns import decode_field
from .audit_scan import SLACK_SECONDS, Tally

__all__ = ["check_salt_copies", "check_salt_windows"]

_FIRST_HIT = campaign_field("first_hit")
_RUNS = re.compile(rb"(?=([0-9A-Za-z+/_-]{43}))")
_BINARY = re.compile(rb"[^\t\n\r\x20-\x7e]")


def check_salt_windows(tally: Tally, window_seconds: int) -> None:
    """A salt for a window that is not open, or that outlives it, is an error (P4)."""
    for salt in tally.salts:
        meta = tally.metas.get(salt.campaign)
        first = decode_field(_FIRST_HIT, meta) if meta is not None else None
        if not salt.window.isdigit():
            problem = "malformed window number"
        elif meta is None:
            problem = "no campaign"
        elif first is None:
            problem = "a campaign that was never hit"
        else:
            window = int(salt.window)
            current, _ = salt_window(first, salt.seen_at, window_seconds)
            previous_grace = salt.seen_at <= first + current * window_seconds + SALT_GRACE_SECONDS
            if window > current:
                problem = "a window not yet open"
            elif window == current or (window == current - 1 and previous_grace):
                problem = ""
            else:
                problem = "a closed window"
        if problem:
            tally.problem("error", "salt-window", salt.pattern, problem)
        if salt.ttl is None:
            continue
        bound = float(window_seconds + SALT_GRACE_SECONDS)
        if first is not None and not problem:
            end = first + (int(salt.window) + 1) * window_seconds + SALT_GRACE_SECONDS
            bound = min(bound, end - salt.seen_at)
        if salt.ttl > bound + SLACK_SECONDS:
            tally.problem("error", "salt-ttl", salt.pattern)


def check_salt_copies(tally: Tally, salt_store_keys: set[str] | None, where: str) -> None:
    """Salts stored twice, in the store instead of the salt store, or copied into a value.

    `salt_store_keys` are the names the salt store holds when salts live apart from the rest
    (in memory, or on store.salt_url's server); None when they share the store's server."""
    names = Counter(s.key for s in tally.salts)
    doubled: set[str] = set()
    for salt in tally.salts:
        if names[salt.key] > 1:
            if salt.key in doubled:
                continue
            doubled.add(salt.key)
            tally.problem(
                "error",
                "salt-copies",
                salt.pattern,
                f"salt key(s) matching {salt.pattern} are stored twice: in the store and in {where}.",
            )
        elif salt_store_keys is not None and salt.key not in salt_store_keys:
            tally.problem(
                "error",
                "salt-copies",
                salt.pattern,
                f"salt key(s) matching {salt.pattern} are in the store itself, not in {where}: "
                "a store that is saved keeps them in its files (P12).",
            )
    keys_of: dict[bytes, set[str]] = {}
    for salt in tally.salts:
        if len(salt.value) == SALT_BYTES:
            keys_of.setdefault(salt.value, set()).add(salt.key)
    for keys in keys_of.values():
        if len(keys) > 1:
            tally.problem("error", "salt-copies", "", "salt(s) are stored under more than one key.")
    forms = _forms(keys_of)
    for pattern, value in tally.suspects:
        form = _copy_in(value, forms)
        if form is not None:
            tally.problem(
                "error", "salt-copies", pattern, f"key(s) matching {pattern} hold a copy of a salt ({form})."
            )


def _forms(salts: Iterable[bytes]) -> dict[bytes, str]:
    """Each way a salt could be written down, with its name."""
    forms: dict[bytes, str] = {}
    for salt in salts:
        forms[salt] = "raw bytes"
        forms[salt.hex().encode()] = "hex"
        forms[salt.hex().upper().encode()] = "hex"
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            forms[encode(salt).rstrip(b"=")] = "base64"
    return forms


def _copy_in(value: bytes, forms: dict[bytes, str]) -> str | None:
    """The form of a salt that `value` holds, if any: a set lookup per position, not per salt."""
    for match in _RUNS.finditer(value):
        start = match.start()
        for size in (64, 43):  # hex, base64 without its padding
            found = forms.get(value[start : start + size])
            if found is not None and found != "raw bytes":
                return found
    if _BINARY.search(value):
        for start in range(len(value) - SALT_BYTES + 1):
            if forms.get(value[start : start + SALT_BYTES]) == "raw bytes":
                return "raw bytes"
    return None
