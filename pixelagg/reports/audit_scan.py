"""The audit's one pass over the keyspace: what each key is, and what is wrong with it.

`Tally.add` looks at one key: its generic pattern and TTL; whether its type is the one its
pattern calls for (a sketch is a sketch, a salt 32 bytes, a seen set 16-byte keyed hashes);
IP-address-like, e-mail-like or user-agent-like text in its name, its text values, strings
that are no sketch and set members that are no keyed hash (in a link's URL, which the sender
registered, such text is a warning: a link made for one recipient?). It keeps what later checks need:
campaign metas, salts, counted opens, and values that could hold a copy of a salt. Problems
are counted per (severity, check, pattern, detail): a finding names those, never a value.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..core.campaign import CAMPAIGN_FIELDS
from ..core.privacy import ELEMENT_BYTES, SALT_BYTES
from ..store.batch import parse_counter_field
from ..store.keys import KeyInfo, Keyspace
from .raw_data import find_raw_data

__all__ = ["FOREIGN", "OUTSIDE", "SLACK_SECONDS", "SaltSeen", "Tally", "generic_part"]

SLACK_SECONDS = 60
"""TTLs may exceed their bound by this much: Redis rounds salt expiry up to the second."""
FOREIGN = "(foreign key)"
OUTSIDE = "(outside the prefix)"

EXPECTED_KINDS = {
    "campaigns": "zset",
    "meta": "hash",
    "w": "hash",
    "d:{YYYYMMDD}": "hash",
    "rel": "hash",
    "salt:{window}": "string",
    "u:{YYYYMMDD}:{class}": "hll",
    "r:{YYYYMMDD}:{region}": "hll",
    "v:{YYYYMMDD}:{class}": "hll",
    "k:{YYYYMMDD}:{link}": "hll",
    "links": "hash",
    "seen:{window}": "set",
}
_USER_TEXT = tuple(f.name for f in CAMPAIGN_FIELDS if f.typed_by_people)
"""Meta fields typed by people: a match there is a warning, not proof of stored raw data."""
_NAME_FIELD = "name"  # e-mail-like names are the per-recipient check's (audit_campaigns.py)
_TOKEN = re.compile(rb"[0-9A-Za-z+/_-]{43}")  # a 64-hex or 43/44-base64 copy contains one
_BINARY = re.compile(rb"[^\t\n\r\x20-\x7e]")  # a raw copy: bytes no text has
_ID = re.compile(r"\{c:[^}]*\}")


def generic_part(pattern: str) -> str:
    """What follows the prefix (and the campaign tag) in a generic pattern: 'meta', 'campaigns'."""
    return pattern.split("}:", 1)[1] if "}:" in pattern else pattern.rsplit(":", 1)[-1]


@dataclass
class SaltSeen:
    """A salt key as the scan saw it (its value is kept in memory only, to find copies)."""

    pattern: str
    key: str
    campaign: str
    window: str
    ttl: float | None
    seen_at: float
    value: bytes


@dataclass
class Tally:
    """Everything one pass over the keyspace collects."""

    keys: Keyspace
    retention: int
    count: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    ttl_min: dict[str, float] = field(default_factory=dict)
    ttl_max: dict[str, float] = field(default_factory=dict)
    metas: dict[str, Mapping[str, str]] = field(default_factory=dict)
    salts: list[SaltSeen] = field(default_factory=list)
    owners: dict[str, set[str]] = field(default_factory=dict)  # campaign -> patterns
    opens: Counter[str] = field(default_factory=Counter)  # campaign -> counted opens
    suspects: list[tuple[str, bytes]] = field(default_factory=list)  # (pattern, value) for copies
    problems: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)

    def problem(self, severity: str, check: str, pattern: str, detail: str = "") -> None:
        self.problems[severity, check, pattern, detail] += 1

    def add(self, info: KeyInfo) -> None:
        """Look at one key under the prefix."""
        self.count += 1
        pattern = self.keys.pattern_of(info.key)
        part = generic_part(pattern)
        self.counts[pattern] += 1
        # The embedded store has no "no expiry": an infinite TTL is its equivalent.
        ttl = info.ttl if info.ttl is not None and math.isfinite(info.ttl) else None
        is_salt = part == "salt:{window}"
        if ttl is None:
            self.problem("error", "ttl", pattern)
        else:
            self.ttl_min[pattern] = min(ttl, self.ttl_min.get(pattern, ttl))
            self.ttl_max[pattern] = max(ttl, self.ttl_max.get(pattern, ttl))
            if not is_salt and ttl > self.retention + SLACK_SECONDS:
                self.problem("error", "retention", pattern)
        if pattern == FOREIGN or pattern.endswith("(unknown)"):
            self.problem("error", "foreign", pattern)
        self._name(info.key, pattern)
        campaign = self.keys.campaign_of(info.key)
        if campaign is not None:
            if part == "meta":
                self.metas[campaign] = info.fields or {}
            elif is_salt:
                window = info.key.rsplit(":", 1)[1]
                self.salts.append(SaltSeen(pattern, info.key, campaign, window, ttl, time.time(), info.value))
            else:
                self.owners.setdefault(campaign, set()).add(pattern)
            if part == "d:{YYYYMMDD}" and info.fields:
                self.opens[campaign] += _opens(info.fields)
        self._type(info, pattern, part)
        if info.fields:
            self._text(pattern, info.fields)
        if not is_salt and info.kind not in ("hll", "set") and _may_hold_a_salt(info.value):
            self.suspects.append((pattern, info.value))

    def outside(self, key: str) -> None:
        """A key outside the prefix: only its name can be seen (an ACL user cannot read it)."""
        self.problem("warning", "outside", f"'{self.keys.prefix}:'")
        self._name(key, OUTSIDE)

    def _name(self, key: str, pattern: str) -> None:
        # The prefix and a campaign id are pixelagg's own; the rest of the name was chosen.
        text = _ID.sub("{c:ID}", key.removeprefix(f"{self.keys.prefix}:"))
        # Each tail after a ':' too: an IPv6 address blends into the separators before it.
        parts = text.split(":")
        kinds = {kind for n in range(len(parts)) for kind in find_raw_data(":".join(parts[n:]))}
        for kind in sorted(kinds):
            self.problem("error", "key-names", pattern, kind)

    def _type(self, info: KeyInfo, pattern: str, part: str) -> None:
        expected = EXPECTED_KINDS.get(part)
        if expected is None:
            return
        if info.kind != expected:
            self.problem("error", "types", pattern, f"{_a(info.kind)}, not {_a(expected)}")
            if info.kind == "string":
                self._raw(pattern, info.value.decode(errors="replace"), "string values")
        elif expected == "string" and len(info.value) != SALT_BYTES:
            self.problem("error", "types", pattern, f"a salt of {len(info.value)} bytes, not {SALT_BYTES}")
            self._raw(pattern, info.value.decode(errors="replace"), "string values")
        if info.kind == "set":
            odd = [m for m in info.members or () if len(m) != ELEMENT_BYTES]
            if odd:
                detail = f"a set with members that are not {ELEMENT_BYTES}-byte keyed hashes"
                self.problem("error", "types", pattern, detail)
                for member in odd:
                    self._raw(pattern, member.decode(errors="replace"), "set members")

    def _raw(self, pattern: str, text: str, where: str) -> None:
        for kind in find_raw_data(text):
            self.problem("error", "raw-data", pattern, f"{kind}-like text in {where}")

    def _text(self, pattern: str, fields: Mapping[str, str]) -> None:
        """Search hash field names and values and zset members (not scores) for raw data."""
        part = generic_part(pattern)
        is_meta, is_index, is_links = part == "meta", part == "campaigns", part == "links"
        found: set[tuple[str, str]] = set()
        for name, value in fields.items():
            texts = [("field names", name)] if is_index else [("field names", name), ("values", value)]
            for where, text in texts:
                for kind in find_raw_data(text):
                    if is_links and where == "values":  # a URL the sender registered
                        found.add(("warning", f"{kind}-like text in a link's URL"))
                    elif is_meta and name in _USER_TEXT:
                        if not (name == _NAME_FIELD and kind == "e-mail address"):
                            found.add(("warning", f"{kind}-like text in the campaign field '{name}'"))
                    else:
                        found.add(("error", f"{kind}-like text in {'members' if is_index else where}"))
        for severity, what in found:
            self.problem(severity, "raw-data", pattern, what)


def _opens(fields: Mapping[str, str]) -> int:
    total = 0
    for name, value in fields.items():
        parsed = parse_counter_field(name)
        if parsed is not None and parsed[0] == "h" and value.isdigit():
            total += int(value)
    return total


def _may_hold_a_salt(value: bytes) -> bool:
    """Whether a value could hold a salt: raw (bytes beyond printable ASCII), hex or base64."""
    return len(value) >= SALT_BYTES and (_BINARY.search(value) or _TOKEN.search(value)) is not None


def _a(kind: str) -> str:
    names = {"hll": "a sketch", "hash": "a hash", "zset": "a sorted set", "set": "a set"}
    return names.get(kind, f"a {kind}")
