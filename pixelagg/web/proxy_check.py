"""Is a reverse proxy in front that `server.trusted_proxies` does not name? Judged from the hits.

Behind a proxy whose address is not trusted, every open seems to come from the proxy: one
unique reader, the proxy's country. Two signs give it away, and the pixel reports both for each
hit it resolves a client address for:

- the hit carries X-Forwarded-For but the peer is not a trusted proxy, so the header is ignored;
- nearly every hit comes from one address (a proxy that sends no X-Forwarded-For at all).

Neither keeps an address: the first is a flag, the second a majority vote (Boyer-Moore) over
Python's per-process hash of the address text. A finding is logged once when it starts, shown
by /readyz and as a banner on the dashboard, and names the setting to change.
"""

from __future__ import annotations

import logging

__all__ = ["SETTING", "ProxyCheck"]

log = logging.getLogger("pixelagg.proxy")

SETTING = "server.trusted_proxies"


class ProxyCheck:
    """Counts the signs over a window of hits and judges them every `every` hits."""

    __slots__ = (
        "candidate",
        "every",
        "forwarded",
        "hits",
        "max_hits",
        "max_seconds",
        "min_hits",
        "problem",
        "same",
        "started",
    )

    def __init__(
        self, min_hits: int = 16, every: int = 16, max_hits: int = 4096, max_seconds: float = 600.0
    ) -> None:
        self.min_hits = min_hits
        self.every = every
        self.max_hits = max_hits
        self.max_seconds = max_seconds
        self.problem: str | None = None
        """What is wrong, in a sentence that names the setting; None while hits look right."""
        self._reset()

    def _reset(self) -> None:
        self.hits = 0
        self.forwarded = 0
        self.candidate = 0
        self.same = 0
        self.started = -1.0  # the window's start, taken at its first judgement

    def seen(self, address: str, ignored_forward: bool, now: float) -> None:
        """One hit from `address`; `ignored_forward`: it carried X-Forwarded-For from an untrusted peer."""
        self.hits += 1
        if ignored_forward:
            self.forwarded += 1
        key = hash(address)
        if key == self.candidate:
            self.same += 1
        elif self.same:
            self.same -= 1
        else:
            self.candidate = key
            self.same = 1
        if self.hits % self.every == 0:
            self._judge(now)

    def _judge(self, now: float) -> None:
        """Report a finding at once; clear one only when a whole window shows none."""
        if self.started < 0:
            self.started = now
        finding = self.finding()
        window_over = self.hits >= self.max_hits or now - self.started >= self.max_seconds
        if finding is not None or window_over:
            self._report(finding)
        if window_over:
            self._reset()

    def finding(self) -> str | None:
        """The problem the current window shows, if any."""
        hits = self.hits
        if hits < self.min_hits:
            return None
        if self.forwarded * 2 >= hits:
            return (
                f"{self.forwarded} of the last {hits} hits carried X-Forwarded-For from a peer that "
                f"is not in {SETTING}, so each counts as coming from that proxy: unique opens and "
                f"countries are wrong. Add the proxy's address to {SETTING} "
                "(PIXELAGG_SERVER_TRUSTED_PROXIES)."
            )
        if self.same * 10 >= hits * 9:  # the majority count is at most the address's own count
            return (
                f"Nearly all of the last {hits} hits came from one address. Behind a reverse proxy, "
                f"add its address to {SETTING} (PIXELAGG_SERVER_TRUSTED_PROXIES) and make it send "
                "X-Forwarded-For; if these are tests from one machine, this is expected."
            )
        return None

    def _report(self, finding: str | None) -> None:
        if finding is not None and self.problem is None:
            log.warning("proxy check: %s", finding)
        elif finding is None and self.problem is not None:
            log.info("proxy check: the hits come from many addresses again")
        self.problem = finding

    def status(self) -> dict[str, str | None]:
        """What /readyz shows."""
        return {"status": "suspect" if self.problem else "ok", "setting": SETTING, "message": self.problem}
