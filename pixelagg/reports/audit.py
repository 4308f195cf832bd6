"""The audit: what the store holds right now, shown to a DPO without revealing any value.

One pass over the keyspace under the prefix (audit_scan.py) collects each key's generic
pattern, TTL and type, and searches names and text-like values for raw request data and
e-mail addresses; sketches are never read beyond their header. Then the salts are checked
(audit_salts.py: open windows only, TTLs, no copies), the campaigns (audit_campaigns.py:
patterns of per-recipient tracking), the keys outside the prefix (names only), where the
salts live and the settings (settings_check.py, the check `serve` runs too). Findings name
key patterns and counts, never stored values.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..config import Config
from ..core.privacy import SALT_GRACE_SECONDS
from ..store import Store
from ..store.keys import Keyspace
from .audit_campaigns import campaign_rows, recipient_patterns
from .audit_salts import check_salt_copies, check_salt_windows
from .audit_scan import Tally
from .audit_text import format_report
from .findings import CHECKS, Finding
from .settings_check import salt_findings, weak_settings

__all__ = [
    "CHECKS",
    "PROGRESS_EVERY",
    "AuditReport",
    "Finding",
    "PatternSummary",
    "format_report",
    "run_audit",
]

PROGRESS_EVERY = 1000
"""progress(n) is called after every this many keys."""

_MESSAGES = {
    "ttl": "{n} key(s) matching {p} have no TTL.",
    "retention": "{n} key(s) matching {p} have a TTL above the retention.",
    "foreign": "{n} key(s) under the prefix match no pixelagg pattern ({p}).",
    "salt-window": "{n} salt key(s) matching {p} belong to {d}.",
    "salt-ttl": "{n} salt key(s) matching {p} outlive their window plus the grace period.",
    "salt-copies": "{n} {d}",
    "types": "{n} key(s) matching {p} are {d}.",
    "raw-data": "{n} key(s) matching {p} hold {d}.",
    "key-names": "{n} key name(s) matching {p} hold {d}-like text.",
    "orphan": "Keys matching {p} of {n} campaign(s) whose meta is gone.",
    "outside": (
        "{n} key(s) outside the prefix {p}: the audit sees their names only. Give pixelagg a "
        "server (or a database) of its own."
    ),
}


@dataclass(frozen=True)
class PatternSummary:
    """One generic key pattern: how many keys match it and their remaining TTLs (seconds)."""

    pattern: str
    count: int
    ttl_min: float | None
    ttl_max: float | None


@dataclass(frozen=True)
class AuditReport:
    """What the store holds and what the checks found."""

    store: str
    keys: int
    patterns: list[PatternSummary]
    campaigns: list[dict[str, Any]]
    findings: list[Finding]
    retention_days: int
    salt_window_days: int

    @property
    def ok(self) -> bool:
        """True when no finding is an error (warnings are allowed)."""
        return not any(f.severity == "error" for f in self.findings)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    def check_status(self) -> dict[str, str]:
        """check -> 'ok', 'warning' or 'error' (the worst finding of that check)."""
        status = dict.fromkeys(CHECKS, "ok")
        for f in self.findings:
            if status.get(f.check) != "error":
                status[f.check] = f.severity
        return status

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "ok": self.ok,
            "keys": self.keys,
            "retention_days": self.retention_days,
            "salt_window_days": self.salt_window_days,
            "salt_grace_seconds": SALT_GRACE_SECONDS,
            "patterns": [asdict(p) for p in self.patterns],
            "campaigns": self.campaigns,
            "checks": [
                {"check": name, "description": CHECKS.get(name, name), "status": status}
                for name, status in self.check_status().items()
            ],
            "findings": [asdict(f) for f in self.findings],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditReport:
        """Rebuild a report from to_json() output (the CLI reads GET /api/audit)."""
        return cls(
            store=str(data["store"]),
            keys=int(data["keys"]),
            patterns=[PatternSummary(**p) for p in data["patterns"]],
            campaigns=list(data["campaigns"]),
            findings=[Finding(**f) for f in data["findings"]],
            retention_days=int(data["retention_days"]),
            salt_window_days=int(data["salt_window_days"]),
        )


async def run_audit(
    store: Store, config: Config, progress: Callable[[int], None] | None = None
) -> AuditReport:
    """Scan the keyspace once (and the names outside the prefix) and run every check on it."""
    keys = Keyspace(config.store.key_prefix)
    tally = Tally(keys, config.privacy.retention_days * 86400)
    async for info in store.scan(keys.all_pattern(), binary=False):
        tally.add(info)
        if tally.count % PROGRESS_EVERY == 0:
            if progress is not None:
                progress(tally.count)
            await asyncio.sleep(0)  # let a serving process answer pixels meanwhile
    async for name in store.key_names("*"):
        if not name.startswith(f"{keys.prefix}:"):
            tally.outside(name)
    salts = store.salts
    persistence = await salts.persistence()
    held = {k async for k in salts.key_names(keys.all_pattern())} if salts.separate else None
    check_salt_windows(tally, config.privacy.salt_window_days * 86400)
    check_salt_copies(tally, held, persistence.where)
    for campaign, patterns in tally.owners.items():
        if campaign not in tally.metas:
            for pattern in patterns:
                tally.problem("warning", "orphan", pattern)
    exact = config.privacy.epsilon is None
    findings = [
        *_tally_findings(tally),
        *salt_findings(persistence, config.store.allow_persistent_salts),
        *recipient_patterns(tally.metas, tally.opens, exact, time.time()),
        *weak_settings(config),
    ]
    findings.sort(key=lambda f: (f.severity != "error", list(CHECKS).index(f.check)))
    return AuditReport(
        store=store.kind,
        keys=tally.count,
        patterns=[
            PatternSummary(p, n, tally.ttl_min.get(p), tally.ttl_max.get(p))
            for p, n in sorted(tally.counts.items(), key=_pattern_order)
        ],
        campaigns=campaign_rows(tally.metas),
        findings=findings,
        retention_days=config.privacy.retention_days,
        salt_window_days=config.privacy.salt_window_days,
    )


_ORDER = (
    "campaigns",
    "meta",
    "w",
    "salt:{window}",
    "seen:{window}",
    "d:{YYYYMMDD}",
    "u:",
    "r:",
    "v:",
    "k:",
    "links",
    "rel",
)


def _pattern_order(item: tuple[str, int]) -> tuple[int, str]:
    """pixelagg's own patterns in the order docs/privacy.md lists them, then the rest."""
    pattern = item[0]
    rest = pattern.split("}:", 1)[1] if "}:" in pattern else pattern.rsplit(":", 1)[-1]
    for n, start in enumerate(_ORDER):
        if rest.startswith(start):
            return n, pattern
    return len(_ORDER), pattern


def _tally_findings(tally: Tally) -> list[Finding]:
    findings = []
    for (severity, check, pattern, detail), n in sorted(tally.problems.items()):
        message = _MESSAGES[check].format(n=n, p=pattern, d=detail)
        if check == "raw-data" and severity == "warning":
            message += " The text was typed by a person: check that it names no recipient."
        findings.append(Finding(severity, check, message))
    return findings
