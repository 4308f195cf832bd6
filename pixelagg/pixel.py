"""GET /p/{campaign}.gif: the pixel. It always answers 200 with the GIF, whatever the input.

Raw request data (address, user agent) stay in this function: what leaves it is a class, a
country code and a keyed hash, handed to the aggregator. The response says why a request was
not counted in the X-Pixelagg header; the email client sees the same GIF either way.
"""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.responses import Response

from .campaign import is_campaign_id
from .classify import PROXY_CLASSES
from .privacy import bucket_region, client_address, visitor_key
from .service import Service

__all__ = ["GIF", "PIXEL_HEADERS", "pixel"]

log = logging.getLogger("pixelagg.pixel")

GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
"""The 43-byte transparent 1x1 GIF."""

PIXEL_HEADERS = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0, private",
    "Pragma": "no-cache",
    "Expires": "Thu, 01 Jan 1970 00:00:00 GMT",
    "Cross-Origin-Resource-Policy": "cross-origin",
}

PROXY_REGION = "proxy"


def _header(request: Request, name: str) -> str:
    return request.headers.get(name, "")


def _declines(request: Request, honor_dnt: bool) -> bool:
    if _header(request, "sec-gpc").strip() == "1":
        return True
    return honor_dnt and _header(request, "dnt").strip() == "1"


def _prefetch(request: Request) -> bool:
    purpose = (_header(request, "sec-purpose") + "," + _header(request, "purpose")).lower()
    return "prefetch" in purpose


async def _count(request: Request, service: Service) -> str:
    """Count the hit if it is an open; return the reason code for the X-Pixelagg header."""
    name = request.path_params.get("rest", "")
    campaign_id = name[:-4] if name.endswith(".gif") else ""
    if not is_campaign_id(campaign_id):
        return "unknown_campaign"
    if request.method != "GET":
        return "not_counted"
    if _prefetch(request):
        return "not_counted"
    campaign = await service.cache.lookup(campaign_id)
    if campaign is None:
        return "unknown_campaign"
    if campaign.paused:
        return "paused"
    now = time.time()
    if _declines(request, service.config.privacy.honor_dnt):
        return "declined" if service.aggregator.add_declined(campaign_id, now) else "dropped"
    peer = request.client.host if request.client else None
    address = client_address(peer, request.headers.get("x-forwarded-for"), service.trusted)
    user_agent = _header(request, "user-agent")
    class_ = service.classifier.classify(user_agent, address)
    if class_ in PROXY_CLASSES:
        region = PROXY_REGION
    else:
        region = bucket_region(address, service.config.privacy.regions)
    salt = await service.cache.salt(campaign_id, now)
    element = None
    if salt is not None:
        element = visitor_key(salt.key, str(address) if address else "", user_agent, campaign_id)
    if not service.aggregator.add_open(campaign_id, now, class_, region, element):
        return "dropped"
    service.metrics.hits_by_class.labels(class_).inc()
    if service.metrics.campaign_hits is not None:
        service.metrics.campaign_hits.labels(campaign_id).inc()
    return "counted"


async def pixel(request: Request) -> Response:
    service: Service = request.app.state.service
    try:
        reason = await _count(request, service)
    except (
        Exception
    ) as exc:  # the pixel never fails visibly; the reason goes to the log and a metric
        log.error("pixel: %s while counting a hit", type(exc).__name__)
        reason = "error"
    if reason != "dropped":  # the aggregator counted drops already
        service.metrics.hits.labels(reason).inc()
    return Response(
        GIF,
        media_type="image/gif",
        headers={**PIXEL_HEADERS, "X-Pixelagg": reason.replace("_", "-")},
    )
