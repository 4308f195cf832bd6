"""The dashboard under /dashboard: server-rendered HTML pages behind the API's tokens.

The session, CSRF tokens and the page frame are `views`; the admin's forms that create,
change, pause and delete campaigns are `manage`. Read tokens see the pages only.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from .. import actions
from ..core.campaign import Campaign
from ..reports.notice import LANGUAGES, LegalBasisUse, render_notice
from ..reports.report import Report, Withheld
from ..tokens import role_for
from . import manage, pages
from .views import (
    HEADERS,
    MAX_FORM,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    base_url,
    error_page,
    form,
    is_https,
    page,
    safe_next,
    same_origin,
    service_of,
    session_role,
    session_value,
    signed_in,
    token_hint,
)

__all__ = ["MAX_FORM", "SESSION_COOKIE", "SESSION_MAX_AGE", "routes", "session_value"]

log = logging.getLogger("pixelagg.dashboard")

PAGE_SIZE = 25
STATIC = Path(__file__).parent / "static"
DONE = {
    "created": "Campaign created. Copy the snippet below into your newsletter.",
    "saved": "Changes saved.",
    "paused": "Counting is paused: the pixel is still served and counts nothing.",
    "resumed": "Counting again.",
}


def _login_page(request: Request, next_path: str, error: str = "", status: int = 200) -> Response:
    context = {"next_path": next_path, "error": error, "token_hint": token_hint(service_of(request))}
    return page(request, "login.html", "Sign in", None, context, status)


async def login_page(request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    if session_role(request) is not None:
        return RedirectResponse(next_path, status_code=303)
    return _login_page(request, next_path)


async def login(request: Request) -> Response:
    if not same_origin(request):
        return error_page(request, None, 403, "Sign-in refused", "The form did not come from this site.")
    submitted = await form(request)
    if submitted is None:
        return error_page(request, None, 413, "Sign-in refused", "The form is too large.")
    next_path = safe_next(submitted.get("next"))
    service = service_of(request)
    found = role_for(submitted.get("token", "").strip(), service.admin_token, service.read_tokens)
    if found is None:
        return _login_page(request, next_path, "That token is not valid. Check it and try again.", 401)
    role, token = found
    response = RedirectResponse(next_path, status_code=303, headers=HEADERS)
    response.set_cookie(
        SESSION_COOKIE,
        session_value(token, role, int(time.time())),
        max_age=SESSION_MAX_AGE,
        path="/dashboard",
        secure=is_https(request),
        httponly=True,
        samesite="strict",
    )
    return response


async def logout(request: Request) -> Response:
    if request.method == "GET":
        return RedirectResponse("/dashboard", status_code=303)
    if not same_origin(request):
        role = session_role(request)
        return error_page(request, role, 403, "Sign-out refused", "The form did not come from this site.")
    response = RedirectResponse("/dashboard/login", status_code=303, headers=HEADERS)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/dashboard",
        secure=is_https(request),
        httponly=True,
        samesite="strict",
    )
    return response


async def campaigns_page(request: Request, role: str) -> Response:
    service = service_of(request)
    campaigns = sorted(await actions.list_campaigns(service.store), key=lambda c: (-c.created_at, c.id))
    page_count = max(1, -(-len(campaigns) // PAGE_SIZE))
    try:
        number = min(max(int(request.query_params.get("page", "1")), 1), page_count)
    except ValueError:
        number = 1
    shown = campaigns[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    rows: list[tuple[Campaign, Report | Withheld]] = []
    for campaign in shown:
        rows.append((campaign, await actions.stats(service.store, service.config, campaign)))
    context = pages.list_context(rows, number, page_count)
    context["done"] = request.query_params.get("done", "")
    return page(request, "campaigns.html", "Campaigns", role, context, current="/dashboard")


async def campaign_page(request: Request, role: str) -> Response:
    service = service_of(request)
    campaign = await actions.get_campaign(service.store, request.path_params["id"])
    tz = request.query_params.get("tz") or None
    report = await actions.stats(service.store, service.config, campaign, tz=tz)
    view = actions.campaign_view(campaign, base_url(request), private=service.config.privacy.noisy)
    context = pages.campaign_context(view, report, time.time())
    done = request.query_params.get("done", "")
    context.update(done=done if done in DONE else "", done_message=DONE.get(done, ""))
    return page(request, "campaign.html", campaign.name, role, context)


async def privacy_page(request: Request, role: str) -> Response:
    service = service_of(request)
    lang = request.query_params.get("lang", "en")
    campaigns = await actions.list_campaigns(service.store)
    bases = [LegalBasisUse(c.legal_basis, c.legal_reference) for c in campaigns]
    notice = render_notice(service.config, lang, "html", bases)
    context = pages.privacy_context(notice, lang, LANGUAGES)
    return page(request, "privacy.html", "Privacy notice", role, context, current="/dashboard/privacy")


async def not_found_page(request: Request, role: str) -> Response:
    if request.path_params.get("rest", "") == "":
        return RedirectResponse("/dashboard", status_code=303)
    return error_page(request, role, 404, "Not found", "There is no dashboard page at this address.")


routes: list[BaseRoute] = [
    Route("/dashboard", signed_in(campaigns_page), methods=["GET"]),
    Route("/dashboard/login", login_page, methods=["GET"]),
    Route("/dashboard/login", login, methods=["POST"]),
    Route("/dashboard/logout", logout, methods=["GET", "POST"]),
    Route("/dashboard/privacy", signed_in(privacy_page), methods=["GET"]),
    *manage.routes,  # /dashboard/campaigns/new comes before the campaign page's {id}
    Route("/dashboard/campaigns/{id}", signed_in(campaign_page), methods=["GET"]),
    Route("/dashboard/{rest:path}", signed_in(not_found_page), methods=["GET"]),
    Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
]
