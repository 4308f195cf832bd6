"""The store's key names. Every key of a campaign carries the hash tag {c:ID}.

The tag puts all of a campaign's keys in one Redis Cluster slot, so multi-key commands
(PFCOUNT over many days) and the per-campaign write script run on one node.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..core.campaign import CAMPAIGN_ID_CHARS

__all__ = ["KeyInfo", "Keyspace"]


@dataclass(frozen=True)
class KeyInfo:
    """One stored key as the audit and the tests see it."""

    key: str
    kind: str  # hash, hll, set, string, zset (a Redis string is 'hll' when it holds a sketch)
    ttl: float | None  # seconds left; None means no expiry (never allowed)
    value: bytes  # a serialised view of the value, for scans of raw data
    # Hash fields (name -> value) and zset members (member -> score) as text, so the audit
    # reads them without parsing `value`; None for strings and sketches.
    fields: Mapping[str, str] | None = None
    members: tuple[bytes, ...] | None = None  # a set's members (seen sets); None for the rest


class Keyspace:
    """Names of pixelagg's keys under one prefix."""

    def __init__(self, prefix: str = "pixelagg") -> None:
        self.prefix = prefix
        self._pattern = re.compile(
            rf"{re.escape(prefix)}:(?:campaigns|epoch|\{{c:(?P<id>[{CAMPAIGN_ID_CHARS}]+)\}}:(?P<rest>.+))\Z"
        )

    def campaigns(self) -> str:
        return f"{self.prefix}:campaigns"

    def epoch(self) -> str:
        """A random value written once per store (Redis), to notice that it lost its data."""
        return f"{self.prefix}:epoch"

    def tag(self, campaign_id: str) -> str:
        return f"{self.prefix}:{{c:{campaign_id}}}"

    def meta(self, campaign_id: str) -> str:
        return f"{self.tag(campaign_id)}:meta"

    def salt(self, campaign_id: str, window: int) -> str:
        """A window's salt: kept by the salt store (memory, or a server that writes no file)."""
        return f"{self.tag(campaign_id)}:salt:{window}"

    def salt_pattern(self, campaign_id: str) -> str:
        return f"{self.tag(campaign_id)}:salt:*"

    def is_salt(self, key: str) -> bool:
        """Whether a key under this prefix is named as a salt."""
        match = self._pattern.match(key)
        return match is not None and (match.group("rest") or "").startswith("salt:")

    def writes(self, campaign_id: str) -> str:
        """The last batch sequence number applied per writer process (random ids), for retries."""
        return f"{self.tag(campaign_id)}:w"

    def day(self, campaign_id: str, day: str) -> str:
        """Opens per UTC hour, class and region of one UTC day (YYYYMMDD)."""
        return f"{self.tag(campaign_id)}:d:{day}"

    def sketch(self, campaign_id: str, kind: str, day: str, dimension: str) -> str:
        """A HyperLogLog: kind 'u' is per class, kind 'r' per region (opens); kind 'v' per
        class and kind 'k' per link (clickers of the class human)."""
        return f"{self.tag(campaign_id)}:{kind}:{day}:{dimension}"

    def links(self, campaign_id: str) -> str:
        """The campaign's registered links: field = link id, value = the URL it leads to."""
        return f"{self.tag(campaign_id)}:links"

    def released(self, campaign_id: str) -> str:
        """Released (noisy, frozen) cells: field = cell name, value = its released count."""
        return f"{self.tag(campaign_id)}:rel"

    def seen(self, campaign_id: str, window: int) -> str:
        """The keyed visitor elements seen in one salt window, for first opens; dies with the salt."""
        return f"{self.tag(campaign_id)}:seen:{window}"

    def campaign_pattern(self, campaign_id: str) -> str:
        return f"{self.tag(campaign_id)}:*"

    def all_pattern(self) -> str:
        return f"{self.prefix}:*"

    def pattern_of(self, key: str) -> str:
        """The generic pattern of a key, for the audit: ids, days and windows become placeholders."""
        match = self._pattern.match(key)
        if match is None:
            return "(foreign key)"
        if match.group("id") is None:
            return key
        parts = match.group("rest").split(":")
        head = parts[0]
        generic = {
            "meta": "meta",
            "w": "w",
            "salt": "salt:{window}",
            "d": "d:{YYYYMMDD}",
            "u": "u:{YYYYMMDD}:{class}",
            "r": "r:{YYYYMMDD}:{region}",
            "v": "v:{YYYYMMDD}:{class}",
            "k": "k:{YYYYMMDD}:{link}",
            "links": "links",
            "rel": "rel",
            "seen": "seen:{window}",
        }.get(head, "(unknown)")
        return f"{self.prefix}:{{c:ID}}:{generic}"

    def campaign_of(self, key: str) -> str | None:
        match = self._pattern.match(key)
        return match.group("id") if match else None
