"""Privacy-weakening settings and where salts live: one check for the audit and for `serve`.

Each setting that gives up some of the protection docs/privacy.md describes is a warning: it
is allowed (a DPO may accept it), but it is said, at start-up and in every audit. Salts on a
server that writes to disk are an error, a warning when store.allow_persistent_salts accepts it.
"""

from __future__ import annotations

import ipaddress

from ..config import Config
from ..metrics import loopback_bind
from ..store.salts import Persistence, salt_persistence_problem
from .findings import Finding

__all__ = [
    "ADVISED_MIN_RECIPIENTS",
    "ADVISED_RETENTION_DAYS",
    "WIDEST_PROXY_PREFIX",
    "salt_findings",
    "weak_settings",
]

ADVISED_MIN_RECIPIENTS = 50
ADVISED_RETENTION_DAYS = 396
"""13 months: CNIL's limit for the trackers of consent-exempt audience measurement."""
WIDEST_PROXY_PREFIX = {4: 12, 6: 28}
"""A trusted network of public addresses with a shorter prefix than this (an IPv4 /11, an IPv6
/27) is wider than any proxy or CDN needs (Cloudflare's widest ranges are a /13 and a /29)."""
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT, pod networks: not public


def weak_settings(config: Config) -> list[Finding]:
    """A warning for each setting that weakens what docs/privacy.md promises."""
    p, m, s = config.privacy, config.metrics, config.server
    found: list[str] = []
    if p.epsilon is None:
        found.append(
            "privacy.epsilon is off: figures are exact and live: nothing protects a single "
            "recipient (in a small campaign they show whether one person opened, and when)."
        )
    elif p.min_recipients < ADVISED_MIN_RECIPIENTS:
        found.append(
            f"privacy.min_recipients is {p.min_recipients}, below {ADVISED_MIN_RECIPIENTS}: "
            "campaigns this small get figures, and the noise is all that protects their recipients."
        )
    if not p.honor_dnt:
        found.append("privacy.honor_dnt is off: requests that send DNT: 1 are counted.")
    if p.retention_days > ADVISED_RETENTION_DAYS:
        found.append(
            f"privacy.retention_days is {p.retention_days}, above {ADVISED_RETENTION_DAYS} "
            "(13 months, CNIL's limit for consent-exempt audience measurement)."
        )
    wide = [n for n in s.trusted_proxies if _too_wide(n)]
    if wide:
        found.append(
            f"server.trusted_proxies trusts {', '.join(wide)}: any client there can choose the "
            "address pixelagg counts with X-Forwarded-For. Trust your proxies' addresses only."
        )
    if m.enabled and m.token is None and not loopback_bind(s.host):
        found.append(
            f"metrics.token is empty and server.host is {s.host} (not loopback): /metrics answers "
            "404. Set metrics.token (PIXELAGG_METRICS_TOKEN) to serve it to a scraper that sends it."
        )
    if m.campaign_labels:
        found.append(
            "metrics.campaign_labels is on: /metrics publishes every campaign's exact count of opens."
        )
    if config.store.allow_persistent_salts:
        found.append(
            "store.allow_persistent_salts is on: pixelagg starts even where salts are written to disk."
        )
    return [Finding("warning", "settings", message) for message in found]


def salt_findings(persistence: Persistence, allowed: bool) -> list[Finding]:
    """An error when salts may be written to disk; a warning when store.allow_persistent_salts."""
    problem = salt_persistence_problem(persistence)
    if problem is None:
        return []
    return [Finding("warning" if allowed else "error", "salt-persistence", problem)]


def _too_wide(cidr: str) -> bool:
    network = ipaddress.ip_network(cidr, strict=False)
    if network.is_private or (isinstance(network, ipaddress.IPv4Network) and network.subnet_of(_SHARED)):
        return False
    return network.prefixlen < WIDEST_PROXY_PREFIX[network.version]
