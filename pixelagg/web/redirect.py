"""GET /l/{campaign}/{link}: a registered link. It answers 302 to the link's URL and counts the click.

A raw ASGI endpoint beside the pixel, reached before Starlette's routing, and built the same
way: the few headers it needs read in one pass, prebuilt response headers, raw request data
(address, user agent) only in this module. What leaves is a class, a country code, the salted
clicker hash and a keyed hash of the address that groups one address's clicks in the click
window for a moment (ingest/click_window.py). The redirect says nothing onwards: no query is
added to the URL, `Referrer-Policy: no-referrer`, `Cache-Control: no-store`.

The target is only ever a URL registered through the API, looked up by campaign and link id:
nothing in the request can choose where it leads, so the service is never an open redirect. An
unknown campaign or link gets a small page and no redirect. A paused campaign, or one deleted
while this process still knows the link, redirects and counts nothing. A store that is slow or
down never holds the redirect longer than the campaign cache's budget.
"""

from __future__ import annotations

import logging
import secrets

from starlette.types import Receive, Scope, Send

from ..core.campaign import is_campaign_id
from ..core.classify import click_class
from ..core.links import is_link_id
from ..core.privacy import bucket_region, clicker_key, client_address
from ..ingest.cache import StoreUnavailable
from ..ingest.click_window import HeldClick
from ..metrics import CLICK_RESULTS
from .middleware import LINK_ROUTE
from .pages import templates
from .pixel import read_headers
from .service import Service

__all__ = ["LINK_HEADERS", "LINK_ROUTE", "Redirect"]

log = logging.getLogger("pixelagg.redirect")

LINK_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
"""Headers of every answer of /l/: nothing is cached, and the target learns nothing of us."""
_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
_PAGES = {
    "unknown_link": (
        404,
        "This link does not exist",
        "The link you followed is not known here, so it leads nowhere. It may have been mistyped, "
        "or the mail it came from is older than what this service keeps.",
    ),
    "store_unavailable": (
        503,
        "This link cannot be followed just now",
        "The service cannot look the link up at the moment. Please try it again in a minute.",
    ),
    "method": (405, "Only a link to follow", "This address is a link: open it in a browser."),
}


class Redirect:
    """The link endpoint, bound to the running service."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.honor_dnt = service.config.privacy.honor_dnt
        self.regions = service.config.privacy.regions
        self.uniques = service.config.privacy.uniques
        common = [(k.lower().encode(), v.encode()) for k, v in LINK_HEADERS.items()]
        self._redirect = {
            r: [*common, (b"content-length", b"0"), (b"x-pixelagg", r.replace("_", "-").encode())]
            for r in CLICK_RESULTS
        }
        template = templates.env.get_template("link.html")
        self._pages: dict[str, tuple[int, list[tuple[bytes, bytes]], bytes]] = {}
        for reason, (status, title, message) in _PAGES.items():
            body = template.render(title=title, message=message).encode("utf-8")
            headers = [
                *common,
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"content-security-policy", _PAGE_CSP.encode()),
                (b"x-frame-options", b"DENY"),
                (b"x-pixelagg", reason.replace("_", "-").encode()),
            ]
            if reason == "method":
                headers.append((b"allow", b"GET, HEAD"))
            self._pages[reason] = (status, headers, body)
        self._results = service.metrics.clicks.counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> int:
        """Answer one request to /l/; the status it was answered with (for the access log)."""
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            return await self._page(send, "method", method)
        parts = scope["path"].split("/")  # '', 'l', campaign, link
        campaign_id = parts[2] if len(parts) == 4 else ""
        link_id = parts[3] if len(parts) == 4 else ""
        if not (is_campaign_id(campaign_id) and is_link_id(link_id)):
            return await self._page(send, "unknown_link", method)
        links = self.service.links
        url = links.peek(campaign_id, link_id)
        if url is None:
            try:
                url = await links.lookup(campaign_id, link_id)
            except StoreUnavailable:  # the store did not say in time: no redirect, and no guess
                return await self._page(send, "store_unavailable", method)
            if url is None:
                return await self._page(send, "unknown_link", method)
        try:
            reason = await self._count(scope, campaign_id, link_id)
        except Exception as exc:  # the reader gets the link whatever happens; the log says why
            log.error("redirect: %s while counting a click", type(exc).__name__)
            reason = "error"
        if reason != "counted":  # a counted click is in the metric once the window counts it
            self._results[reason] += 1
        headers = [*self._redirect[reason], (b"location", url.encode("ascii"))]
        await send({"type": "http.response.start", "status": 302, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return 302

    async def _page(self, send: Send, reason: str, method: str) -> int:
        status, headers, body = self._pages[reason]
        self._results[reason if reason in self._results else "not_counted"] += 1
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
        return status

    async def _count(self, scope: Scope, campaign_id: str, link_id: str) -> str:
        """Hold the click in the click window if it is one; the reason code for X-Pixelagg."""
        headers = read_headers(scope)
        purpose = headers.get(b"sec-purpose", "") + headers.get(b"purpose", "")
        if "prefetch" in purpose.lower() or "prerender" in purpose.lower():
            return "not_counted"  # a browser guessing what may be clicked, not a click
        service = self.service
        cache = service.cache
        campaign = cache.peek(campaign_id)
        if campaign is None:
            try:
                campaign = await cache.lookup(campaign_id)
            except StoreUnavailable:
                return "store_unavailable"
            if campaign is None:  # deleted while this process still knew the link
                return "deleted"
        if campaign.paused:
            return "paused"
        if headers.get(b"sec-gpc", "").strip() == "1" or (
            self.honor_dnt and headers.get(b"dnt", "").strip() == "1"
        ):
            return "declined"  # followed, and nothing about it is stored
        client = scope.get("client")
        found = client_address(
            client[0] if client else None, headers.get(b"x-forwarded-for"), service.trusted
        )
        address, address_text = found if found is not None else (None, "")
        user_agent = headers.get(b"user-agent", "")
        class_ = click_class(service.classifier.classify(user_agent, address), scope["method"] == "HEAD")
        region = bucket_region(address_text, self.regions)
        window = service.clicks
        now = window.clock()
        element: bytes | None = None
        salt_window: tuple[int, float] | None = None
        if self.uniques:  # counts only (privacy.uniques off): no salt, no keyed hash, no sketch
            salt = cache.current_salt(campaign_id, now) or await cache.salt(campaign_id, now)
            if salt is not None:
                element = clicker_key(salt, address_text, user_agent, campaign_id)
                salt_window = (salt.window, salt.expires_at)
        # Without an address the clicks cannot be grouped: each is a group of its own.
        group = window.group(address_text, campaign_id) if address_text else secrets.token_bytes(16)
        window.add(group, HeldClick(campaign_id, now, class_, link_id, region, element, salt_window))
        return "counted"
