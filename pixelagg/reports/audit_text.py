"""The audit's readable report: what a DPO reads on the terminal."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..core.privacy import SALT_GRACE_SECONDS
from .findings import CHECKS

if TYPE_CHECKING:
    from .audit import AuditReport

__all__ = ["format_report"]


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
