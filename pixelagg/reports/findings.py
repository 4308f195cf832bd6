"""What the audit checks, and the shape of what it finds: shared by the audit and `serve`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CHECKS", "Finding"]

CHECKS: dict[str, str] = {
    "ttl": "Every key has a TTL (P5)",
    "retention": "No TTL exceeds the retention (P5)",
    "salt-window": "Salts exist only for open windows (P4)",
    "salt-ttl": "No salt outlives its window plus the grace period (P4)",
    "salt-copies": "No salt is stored twice or copied into another value (P2, P4)",
    "salt-persistence": "Salts live where nothing is written to disk (P12)",
    "foreign": "No foreign keys under the prefix",
    "outside": "No keys outside the prefix",
    "types": "Every key has the type its pattern calls for",
    "orphan": "Every campaign key belongs to an existing campaign (P9)",
    "raw-data": "No IP address (full or truncated), e-mail address or user agent in stored values (P2)",
    "key-names": "No IP address, e-mail address or user agent in key names (P2)",
    "small-campaigns": "No run of campaigns with few recipients or few opens (P11)",
    "personal-names": "No campaign names that look like e-mail addresses or personal names (P11)",
    "creation-bursts": "No bursts of campaign creation (P11)",
    "settings": "No privacy-weakening settings",
}


@dataclass(frozen=True)
class Finding:
    """One problem the audit found. The message names patterns and counts, never values."""

    severity: str  # error, warning
    check: str
    message: str
