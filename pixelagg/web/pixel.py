"""GET /p/{campaign}.gif: the pixel. It always answers 200 with the GIF, whatever the input.

A raw ASGI endpoint, reached before Starlette's routing: it is the hot path, so it reads the
few headers it needs in one pass and sends prebuilt response headers. Raw request data
(address, user agent) stay in this module: what leaves it is a class, a country code and a
keyed hash, handed to the aggregator. The response says why a request was not counted in
the X-Pixelagg header; the email client sees the same GIF either way.
"""

from __future__ import annotations

import logging
import time

from starlette.types import Receive, Scope, Send

from ..core.campaign import is_campaign_id
from ..core.classify import CLASSES, PROXY_CLASSES
from ..core.clients import client_family
from ..core.privacy import bucket_region, client_address, visitor_key
from ..ingest.cache import StoreUnavailable
from ..metrics import HIT_RESULTS
from .middleware import PIXEL_SECURITY_HEADERS
from .proxy_check import ProxyCheck
from .service import Service

__all__ = ["GIF", "PIXEL_HEADERS", "Pixel", "read_headers"]

log = logging.getLogger("pixelagg.pixel")

GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")
"""The 43-byte transparent 1x1 GIF."""

PIXEL_HEADERS = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0, private",
    "Pragma": "no-cache",
    "Expires": "Thu, 01 Jan 1970 00:00:00 GMT",
}

PROXY_REGION = "proxy"
_WANTED = {b"user-agent", b"x-forwarded-for", b"sec-gpc", b"dnt", b"sec-purpose", b"purpose"}


def read_headers(scope: Scope) -> dict[bytes, str]:
    """The headers the pixel and the redirect read, in one pass (the last one wins, except XFF)."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        name = name.lower()
        if name in _WANTED:
            text = value.decode("latin-1")
            if name == b"x-forwarded-for" and name in found:
                text = found[name] + "," + text
            found[name] = text
    return found


class Pixel:
    """The pixel endpoint, bound to the running service."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.honor_dnt = service.config.privacy.honor_dnt
        self.regions = service.config.privacy.regions
        self.uniques = service.config.privacy.uniques
        self.proxy_check = ProxyCheck()
        base = [
            (b"content-type", b"image/gif"),
            (b"content-length", str(len(GIF)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in PIXEL_HEADERS.items()),
            *PIXEL_SECURITY_HEADERS,
        ]
        self._response = {r: [*base, (b"x-pixelagg", r.replace("_", "-").encode())] for r in HIT_RESULTS}
        metrics = service.metrics
        self._hits = metrics.hits.counts
        self._classes = metrics.hits_by_class.counts
        for class_ in CLASSES:  # every class is shown, from zero
            self._classes.setdefault(class_, 0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            reason = await self._count(scope)
        except Exception as exc:  # the pixel never fails visibly; the reason goes to the log and a metric
            log.error("pixel: %s while counting a hit", type(exc).__name__)
            reason = "error"
        self._hits[reason] += 1
        await send({"type": "http.response.start", "status": 200, "headers": self._response[reason]})
        await send({"type": "http.response.body", "body": GIF})

    async def _count(self, scope: Scope) -> str:
        """Count the hit if it is an open; return the reason code for the X-Pixelagg header."""
        path: str = scope["path"]
        campaign_id = path[3:-4] if path.endswith(".gif") else ""
        if not is_campaign_id(campaign_id):
            return "unknown_campaign"
        if scope["method"] != "GET":
            return "not_counted"
        headers = read_headers(scope)
        purpose = headers.get(b"sec-purpose", "") + headers.get(b"purpose", "")
        if "prefetch" in purpose.lower():
            return "not_counted"
        service = self.service
        cache = service.cache
        campaign = cache.peek(campaign_id)
        if campaign is None:
            try:
                campaign = await cache.lookup(campaign_id)
            except StoreUnavailable:  # the store did not answer in time: not "unknown"
                return "store_unavailable"
            if campaign is None:
                return "unknown_campaign"
        if campaign.paused:
            return "paused"
        # Stamped, and its salt window taken, by the store's clock when the wall clock stepped.
        now = service.aggregator.stamp(time.time())
        if headers.get(b"sec-gpc", "").strip() == "1" or (
            self.honor_dnt and headers.get(b"dnt", "").strip() == "1"
        ):
            return "declined" if service.aggregator.add_declined(campaign_id, now) else "dropped"
        client = scope.get("client")
        peer = client[0] if client else None
        forwarded = headers.get(b"x-forwarded-for")
        found = client_address(peer, forwarded, service.trusted)
        address, address_text = found if found is not None else (None, "")
        # The header was ignored when the address is the peer's own: the peer is not trusted.
        self.proxy_check.seen(address_text, forwarded is not None and address_text == peer, now)
        user_agent = headers.get(b"user-agent", "")
        class_ = service.classifier.classify(user_agent, address)
        region = PROXY_REGION if class_ in PROXY_CLASSES else bucket_region(address_text, self.regions)
        element = window = None
        if self.uniques:  # counts only (privacy.uniques off): no salt, no keyed hash, no sketch
            salt = cache.current_salt(campaign_id, now) or await cache.salt(campaign_id, now)
            if salt is not None:
                element = visitor_key(salt, address_text, user_agent, campaign_id)
                window = (salt.window, salt.expires_at)
        family = client_family(class_, user_agent)
        if not service.aggregator.add_open(campaign_id, now, class_, region, element, window, family):
            return "dropped"
        self._classes[class_] += 1
        if service.metrics.campaign_hits is not None:
            service.metrics.campaign_hits.counts[campaign_id] += 1
        return "counted"
