"""The audit: what the store holds right now, shown to a DPO without revealing any value.

One pass over the keyspace under the prefix collects each key's generic pattern, TTL and,
for text-like values (hash fields, zset members), a search for IP-address-like and
user-agent-like text. Sketches and salts are binary and random-looking: they are counted
but never read. Findings name key patterns and counts, never stored values.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..config import Config
from ..core.campaign import CAMPAIGN_FIELDS, CampaignField, campaign_field
from ..core.privacy import SALT_GRACE_SECONDS, salt_window
from ..store import Store
from ..store.keys import Keyspace
from .raw_data import find_raw_data

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

SLACK_SECONDS = 60
"""TTLs may exceed their bound by this much: Redis rounds salt expiry up to the second."""

FOREIGN = "(foreign key)"

CHECKS: dict[str, str] = {
    "ttl": "Every key has a TTL (P5)",
    "retention": "No TTL exceeds the retention (P5)",
    "salt-window": "Salts exist only for open windows (P4)",
    "salt-ttl": "No salt outlives its window plus the grace period (P4)",
    "foreign": "No foreign keys under the prefix",
    "orphan": "Every campaign key belongs to an existing campaign (P9)",
    "raw-data": "No IP-address-like or user-agent-like text in stored values (P2)",
}

_USER_TEXT = tuple(f.name for f in CAMPAIGN_FIELDS if f.typed_by_people)
"""Meta fields typed by people: a match there is a warning, not proof of stored raw data."""
_LISTED = tuple(f for f in CAMPAIGN_FIELDS if f.audited)
_CREATED_AT = campaign_field("created_at")
_FIRST_HIT = campaign_field("first_hit")


@dataclass(frozen=True)
class PatternSummary:
    """One generic key pattern: how many keys match it and their remaining TTLs (seconds)."""

    pattern: str
    count: int
    ttl_min: float | None
    ttl_max: float | None


@dataclass(frozen=True)
class Finding:
    """One problem the audit found. The message names patterns and counts, never values."""

    severity: str  # error, warning
    check: str
    message: str


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


@dataclass
class _Salt:
    pattern: str
    campaign: str
    window: str
    ttl: float | None
    seen_at: float


@dataclass
class _Tally:
    """Everything one pass over the keyspace collects."""

    keys: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    ttl_min: dict[str, float] = field(default_factory=dict)
    ttl_max: dict[str, float] = field(default_factory=dict)
    metas: dict[str, Mapping[str, str]] = field(default_factory=dict)
    salts: list[_Salt] = field(default_factory=list)
    owners: dict[str, set[str]] = field(default_factory=dict)  # campaign -> patterns
    problems: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def ttl(self, pattern: str, ttl: float) -> None:
        self.ttl_min[pattern] = min(ttl, self.ttl_min.get(pattern, ttl))
        self.ttl_max[pattern] = max(ttl, self.ttl_max.get(pattern, ttl))


async def run_audit(
    store: Store, config: Config, progress: Callable[[int], None] | None = None
) -> AuditReport:
    """Scan the whole keyspace under the prefix once and run every check on it."""
    keys = Keyspace(config.store.key_prefix)
    retention = config.privacy.retention_days * 86400
    tally = _Tally()
    async for info in store.scan(keys.all_pattern(), binary=False):
        tally.keys += 1
        pattern = keys.pattern_of(info.key)
        tally.counts[pattern] += 1
        # The embedded store has no "no expiry": an infinite TTL is its equivalent.
        ttl = info.ttl if info.ttl is not None and math.isfinite(info.ttl) else None
        is_salt = pattern.endswith(":salt:{window}")
        if ttl is None:
            tally.problems["error", "ttl", pattern] += 1
        else:
            tally.ttl(pattern, ttl)
            if not is_salt and ttl > retention + SLACK_SECONDS:
                tally.problems["error", "retention", pattern] += 1
        if pattern == FOREIGN or pattern.endswith("(unknown)"):
            tally.problems["error", "foreign", pattern] += 1
        campaign = keys.campaign_of(info.key)
        if campaign is not None:
            if pattern.endswith(":meta"):
                tally.metas[campaign] = info.fields or {}
            elif is_salt:
                window = info.key.rsplit(":", 1)[1]
                tally.salts.append(_Salt(pattern, campaign, window, ttl, time.time()))
            else:
                tally.owners.setdefault(campaign, set()).add(pattern)
        if info.fields:
            _scan_text(tally, pattern, info.fields)
        if tally.keys % PROGRESS_EVERY == 0:
            if progress is not None:
                progress(tally.keys)
            await asyncio.sleep(0)  # let a serving process answer pixels meanwhile
    _check_salts(tally, config.privacy.salt_window_days * 86400)
    _check_orphans(tally)
    return AuditReport(
        store=store.kind,
        keys=tally.keys,
        patterns=[
            PatternSummary(p, n, tally.ttl_min.get(p), tally.ttl_max.get(p))
            for p, n in sorted(tally.counts.items(), key=_pattern_order)
        ],
        campaigns=_campaigns(tally.metas),
        findings=_findings(tally),
        retention_days=config.privacy.retention_days,
        salt_window_days=config.privacy.salt_window_days,
    )


_ORDER = ("campaigns", "meta", "w", "salt:{window}", "d:{YYYYMMDD}", "u:", "r:")


def _pattern_order(item: tuple[str, int]) -> tuple[int, str]:
    """pixelagg's own patterns in the order docs/privacy.md lists them, then the rest."""
    pattern = item[0]
    rest = pattern.split("}:", 1)[1] if "}:" in pattern else pattern.rsplit(":", 1)[-1]
    for n, start in enumerate(_ORDER):
        if rest.startswith(start):
            return n, pattern
    return len(_ORDER), pattern


def _scan_text(tally: _Tally, pattern: str, fields: Mapping[str, str]) -> None:
    """Search hash field names and values and zset members (not scores) for raw data."""
    is_meta = pattern.endswith(":meta")
    is_index = pattern.endswith(":campaigns")
    found: set[tuple[str, str]] = set()
    for name, value in fields.items():
        texts = [("field names", name)] if is_index else [("field names", name), ("values", value)]
        for where, text in texts:
            for kind in find_raw_data(text):
                if is_meta and name in _USER_TEXT:
                    found.add(("warning", f"{kind}-like text in the campaign field '{name}'"))
                else:
                    what = "members" if is_index else where
                    found.add(("error", f"{kind}-like text in {what}"))
    for severity, what in found:
        tally.problems[severity, "raw-data", f"{pattern}\x00{what}"] += 1


def _check_salts(tally: _Tally, window_seconds: int) -> None:
    for salt in tally.salts:
        meta = tally.metas.get(salt.campaign)
        first = _decode(_FIRST_HIT, meta) if meta is not None else None
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
            tally.problems["error", "salt-window", f"{salt.pattern}\x00{problem}"] += 1
        if salt.ttl is None:
            continue
        bound = float(window_seconds + SALT_GRACE_SECONDS)
        if first is not None and not problem:
            end = first + (int(salt.window) + 1) * window_seconds + SALT_GRACE_SECONDS
            bound = min(bound, end - salt.seen_at)
        if salt.ttl > bound + SLACK_SECONDS:
            tally.problems["error", "salt-ttl", salt.pattern] += 1


def _check_orphans(tally: _Tally) -> None:
    for campaign, patterns in tally.owners.items():
        if campaign not in tally.metas:
            for pattern in patterns:
                tally.problems["warning", "orphan", pattern] += 1


def _campaigns(metas: Mapping[str, Mapping[str, str]]) -> list[dict[str, Any]]:
    """Each campaign's audited fields, oldest first; a malformed value shows as the default."""
    rows = []
    for campaign, fields in metas.items():
        row = {f.shown_as: _decode(f, fields) if f.stored else campaign for f in _LISTED}
        rows.append((_decode(_CREATED_AT, fields), campaign, row))
    rows.sort(key=lambda r: (r[0], r[1]))
    return [row for _, _, row in rows]


def _decode(spec: CampaignField, fields: Mapping[str, str]) -> Any:
    try:
        return spec.decode(fields.get(spec.name))
    except ValueError:  # the audit reads whatever is stored, even what pixelagg never wrote
        return spec.decode(None)


def _findings(tally: _Tally) -> list[Finding]:
    messages = {
        "ttl": "{n} key(s) matching {p} have no TTL.",
        "retention": "{n} key(s) matching {p} have a TTL above the retention.",
        "foreign": "{n} key(s) under the prefix match no pixelagg pattern ({p}).",
        "salt-ttl": "{n} salt key(s) matching {p} outlive their window plus the grace period.",
    }
    findings = []
    for (severity, check, where), n in sorted(tally.problems.items()):
        pattern, _, detail = where.partition("\x00")
        if check == "salt-window":
            message = f"{n} salt key(s) matching {pattern} belong to {detail}."
        elif check == "raw-data":
            message = f"{n} key(s) matching {pattern} hold {detail}."
            if severity == "warning":
                message += " The text was typed by a person: check that it names no recipient."
        elif check == "orphan":
            message = f"Keys matching {pattern} of {n} campaign(s) whose meta is gone."
        else:
            message = messages[check].format(n=n, p=pattern)
        findings.append(Finding(severity, check, message))
    findings.sort(key=lambda f: (f.severity != "error", list(CHECKS).index(f.check)))
    return findings


# the readable report


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = round(seconds / 3600) * 3600 if seconds >= 86400 else int(seconds)
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def _plain(text: str, width: int) -> str:
    """User text on one line: control characters shown as '?', cut to width."""
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return clean if len(clean) <= width else clean[: width - 1] + "…"


def _basis(campaign: Mapping[str, Any]) -> str:
    basis = str(campaign["legal_basis"])
    if campaign.get("legal_reference"):
        basis += f" ({_plain(str(campaign['legal_reference']), 40)})"
    return basis


def format_report(report: AuditReport, max_campaigns: int = 100) -> str:
    """The report as plain text for a DPO."""
    grace = SALT_GRACE_SECONDS // 60
    lines = [
        f"pixelagg audit of the {report.store} store: {report.keys} key(s)",
        f"Retention {report.retention_days} days; salt window {report.salt_window_days} days "
        f"plus {grace} minutes grace.",
        "",
        f"{'KEY PATTERN':<44}{'KEYS':>8}  {'TTL MIN':>9}  {'TTL MAX':>9}",
    ]
    for p in report.patterns:
        lines.append(f"{p.pattern:<44}{p.count:>8}  {_duration(p.ttl_min):>9}  {_duration(p.ttl_max):>9}")
    if not report.patterns:
        lines.append("(the store holds no keys)")
    bases = Counter(str(c["legal_basis"]) for c in report.campaigns)
    lines += ["", f"CAMPAIGNS ({len(report.campaigns)})"]
    shown = report.campaigns[:max_campaigns]
    basis_of = {id(c): _basis(c) for c in shown}
    width = max([len(b) for b in basis_of.values()] + [len("LEGAL BASIS")]) + 2
    if bases:
        lines.append("Legal bases: " + ", ".join(f"{b} {n}" for b, n in sorted(bases.items())))
        lines.append(f"{'ID':<18}{'LEGAL BASIS':<{width}}{'STATUS':<10}NAME")
    for c in shown:
        status = "paused" if c["paused"] else "counting"
        lines.append(f"{c['id']:<18}{basis_of[id(c)]:<{width}}{status:<10}{_plain(str(c['name']), 50)}")
    if len(report.campaigns) > max_campaigns:
        lines.append(f"... and {len(report.campaigns) - max_campaigns} more (--json lists all)")
    lines += ["", "CHECKS"]
    for check, status in report.check_status().items():
        lines.append(f"  {status.upper():<8}{CHECKS.get(check, check)}")
    if report.findings:
        lines += ["", "FINDINGS"]
        lines += [f"  {f.severity:<8}{f.check}: {f.message}" for f in report.findings]
    warnings = len(report.findings) - report.errors
    verdict = "PASSED" if report.ok else "FAILED"
    lines += ["", f"Result: {verdict} ({report.errors} error(s), {warnings} warning(s))."]
    lines.append("Salts and sketches are counted, never shown.")
    return "\n".join(lines)
