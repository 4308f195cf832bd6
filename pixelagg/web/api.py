"""The JSON API under /api: campaigns, their links and statistics, behind bearer tokens.

The admin token may do everything; read tokens may only read campaigns, links and statistics.
Every error has the one shape built in `errors.error_response`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import actions
from ..core.links import Link
from ..exceptions import ValidationError
from ..reports.audit import run_audit
from ..reports.report import ComparisonRow, Report, Withheld
from ..reports.text import stats_csv
from ..tokens import bearer_token, role_for
from .error_responses import error_response
from .service import Service

__all__ = ["JSON", "MAX_BODY", "routes"]

MAX_BODY = 64 * 1024
MAX_COMPARE = 20

Handler = Callable[[Request], Awaitable[Response]]


class JSON(JSONResponse):
    """A JSON response that survives text no UTF-8 can hold (an unpaired surrogate in a name an
    older release stored): such a character goes out as its JSON escape, never as a 500."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def role_of(request: Request) -> str | None:
    """'admin', 'read' or None, from the Authorization: Bearer header."""
    token = bearer_token(request.headers.get("authorization", ""))
    if token is None:
        return None
    service = _service(request)
    found = role_for(token, service.admin_token, service.read_tokens)
    return None if found is None else found[0]


def _guard(handler: Handler, need: str) -> Handler:
    async def guarded(request: Request) -> Response:
        role = role_of(request)
        if role is None:
            return error_response(401, "Send 'Authorization: Bearer <token>' with a valid token.")
        if need == "admin" and role != "admin":
            return error_response(403, "This token may only read; this needs the admin token.")
        return await handler(request)

    return guarded


async def _json_body(request: Request) -> Any:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ValidationError(f"The body is larger than {MAX_BODY} bytes.")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("The body is not valid JSON.") from None
    except RecursionError:  # 64 KiB hold thousands of nested brackets
        raise ValidationError("The body is nested too deeply.") from None


def base_url(request: Request) -> str:
    return _service(request).config.server.public_url or str(request.base_url)


def _view(request: Request, campaign: Any) -> dict[str, Any]:
    return actions.campaign_view(campaign, base_url(request), private=_service(request).config.privacy.noisy)


async def create_campaign(request: Request) -> Response:
    """201 with a new campaign; 200 with the existing one when its external_id is known."""
    service = _service(request)
    body = await _json_body(request)
    campaign, new = await actions.create_campaign(
        service.store, service.config, body, service.admin_token.encode()
    )
    service.cache.put(campaign)
    return JSON(_view(request, campaign), status_code=201 if new else 200)


async def list_campaigns(request: Request) -> Response:
    campaigns = await actions.list_campaigns(_service(request).store)
    return JSON({"campaigns": [_view(request, c) for c in campaigns]})


async def get_campaign(request: Request) -> Response:
    campaign = await actions.get_campaign(_service(request).store, request.path_params["id"])
    return JSON(_view(request, campaign))


async def update_campaign(request: Request) -> Response:
    service = _service(request)
    campaign = await actions.update_campaign(
        service.store, request.path_params["id"], await _json_body(request)
    )
    service.cache.put(campaign)
    return JSON(_view(request, campaign))


async def delete_campaign(request: Request) -> Response:
    service = _service(request)
    await actions.delete_campaign(service.store, request.path_params["id"])
    service.cache.forget(request.path_params["id"])
    return Response(status_code=204)


def _pause(paused: bool) -> Handler:
    async def handler(request: Request) -> Response:
        service = _service(request)
        campaign = await actions.set_paused(service.store, request.path_params["id"], paused)
        service.cache.put(campaign)
        return JSON(_view(request, campaign))

    return handler


def _link_views(request: Request, links: list[Link]) -> list[dict[str, Any]]:
    campaign_id = request.path_params["id"]
    return [actions.link_view(campaign_id, link, base_url(request)) for link in links]


async def create_link(request: Request) -> Response:
    """201 with a new link; 200 with the existing one when the campaign has this URL."""
    service = _service(request)
    body = await _json_body(request)
    link, new = await actions.register_link(service.store, service.config, request.path_params["id"], body)
    service.links.put(request.path_params["id"], link.id, link.url)
    (view,) = _link_views(request, [link])
    return JSON(view, status_code=201 if new else 200)


async def list_links(request: Request) -> Response:
    links = await actions.list_links(_service(request).store, request.path_params["id"])
    return JSON({"links": _link_views(request, links)})


async def _report(request: Request) -> Report | Withheld:
    service = _service(request)
    q = request.query_params
    return await actions.stats(
        service.store,
        service.config,
        request.path_params["id"],
        q.get("from"),
        q.get("to"),
        q.get("tz"),
    )


async def campaign_stats(request: Request) -> Response:
    return JSON((await _report(request)).to_json())


async def campaign_stats_csv(request: Request) -> Response:
    report = await _report(request)
    filename = f"pixelagg-{report.campaign.id}.csv"
    return Response(
        stats_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def compare(request: Request) -> Response:
    service = _service(request)
    ids = [i for i in request.query_params.get("campaigns", "").split(",") if i]
    if not ids:
        raise ValidationError(
            "'campaigns' must list campaign ids, separated by commas.", {"parameter": "campaigns"}
        )
    if len(ids) > MAX_COMPARE:
        raise ValidationError(f"Compare at most {MAX_COMPARE} campaigns.", {"parameter": "campaigns"})
    q = request.query_params
    rows = []
    for campaign_id in ids:
        report = await actions.stats(
            service.store, service.config, campaign_id, q.get("from"), q.get("to"), q.get("tz")
        )
        rows.append(ComparisonRow.of(report).to_json())
    return JSON({"campaigns": rows})


async def audit(request: Request) -> Response:
    service = _service(request)
    report = await run_audit(service.store, service.config)
    return JSON(report.to_json())


routes = [
    Route("/api/campaigns", _guard(create_campaign, "admin"), methods=["POST"]),
    Route("/api/campaigns", _guard(list_campaigns, "read"), methods=["GET"]),
    Route("/api/campaigns/{id}", _guard(get_campaign, "read"), methods=["GET"]),
    Route("/api/campaigns/{id}", _guard(update_campaign, "admin"), methods=["PATCH"]),
    Route("/api/campaigns/{id}", _guard(delete_campaign, "admin"), methods=["DELETE"]),
    Route("/api/campaigns/{id}/pause", _guard(_pause(True), "admin"), methods=["POST"]),
    Route("/api/campaigns/{id}/resume", _guard(_pause(False), "admin"), methods=["POST"]),
    Route("/api/campaigns/{id}/links", _guard(create_link, "admin"), methods=["POST"]),
    Route("/api/campaigns/{id}/links", _guard(list_links, "read"), methods=["GET"]),
    Route("/api/campaigns/{id}/stats", _guard(campaign_stats, "read"), methods=["GET"]),
    Route("/api/campaigns/{id}/stats.csv", _guard(campaign_stats_csv, "read"), methods=["GET"]),
    Route("/api/stats", _guard(compare, "read"), methods=["GET"]),
    Route("/api/audit", _guard(audit, "admin"), methods=["GET"]),
]
