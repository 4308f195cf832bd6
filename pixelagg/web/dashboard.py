"""The dashboard under /dashboard: server-rendered HTML pages behind the API's tokens.

Signing in posts a token once. The browser then holds a signed, expiring session cookie, never
the token: ``role.issued_at.HMAC-SHA256(key=token, msg=issued_at|role)``, checked in constant
time against the configured tokens (so changing a token ends its sessions). The cookie is
HttpOnly, SameSite=Strict and Path=/dashboard; it is Secure when the request came over https,
directly or as told by ``X-Forwarded-Proto`` from a trusted proxy (a Secure cookie would not be
sent back over plain http to 127.0.0.1). Every POST must also come from the same origin.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from .. import actions
from ..core.campaign import Campaign
from ..core.privacy import client_address
from ..exceptions import NotFound, StoreError, ValidationError
from ..reports.notice import LANGUAGES, LegalBasisUse, render_notice
from ..reports.report import Report, Withheld
from ..tokens import role_for
from . import pages
from .service import Service

__all__ = ["SESSION_COOKIE", "SESSION_MAX_AGE", "routes", "session_value"]

log = logging.getLogger("pixelagg.dashboard")

SESSION_COOKIE = "pixelagg_session"
SESSION_MAX_AGE = 8 * 3600
MAX_FORM = 4096
PAGE_SIZE = 25
STATIC = Path(__file__).parent / "static"
_NEXT = re.compile(r"/dashboard(/[A-Za-z0-9_/-]*)?(\?[A-Za-z0-9_=&%+/-]*)?\Z")
_HEADERS = {
    "Cache-Control": "no-store",
    # The global no-referrer policy makes browsers send `Origin: null` with form posts, which
    # the same-origin check must refuse; same-origin still sends nothing to other sites.
    "Referrer-Policy": "same-origin",
}

Page = Callable[[Request, str], Awaitable[Response]]


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


# sessions


def _mac(token: str, issued: int, role: str) -> str:
    msg = f"{issued}|{role}".encode()
    return hmac.new(token.encode("utf-8", "surrogateescape"), msg, hashlib.sha256).hexdigest()


def session_value(token: str, role: str, issued: int) -> str:
    """The cookie value of a session signed with `token`: it does not contain the token."""
    return f"{role}.{issued}.{_mac(token, issued, role)}"


def _role_for_token(service: Service, token: str) -> tuple[str, str] | None:
    """(role, the matching token), comparing with every token so timing says nothing."""
    return role_for(token, service.admin_token, service.read_tokens)


def _session_role(request: Request, now: float | None = None) -> str | None:
    role, _, rest = request.cookies.get(SESSION_COOKIE, "").partition(".")
    issued_text, _, mac = rest.partition(".")
    if role not in ("admin", "read") or not issued_text.isdigit() or len(issued_text) > 12:
        return None
    issued = int(issued_text)
    age = (time.time() if now is None else now) - issued
    if not -60 <= age <= SESSION_MAX_AGE:
        return None
    service = _service(request)
    found = role_for(mac, service.admin_token, service.read_tokens, lambda token, r: _mac(token, issued, r))
    return role if found is not None and found[0] == role else None


def _from_trusted_proxy(request: Request) -> bool:
    trusted = _service(request).trusted
    peer = client_address(request.client.host if request.client else None, None, trusted)
    return peer is not None and peer.address in trusted


def _is_https(request: Request) -> bool:
    if request.url.scheme == "https":
        return True
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return proto == "https" and _from_trusted_proxy(request)


def _same_origin(request: Request) -> bool:
    """True when the Origin (or, without it, the Referer) is this site's own."""
    origin = request.headers.get("origin")
    if origin is None:
        parts = urlsplit(request.headers.get("referer", ""))
        origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "null"
    scheme = "https" if _is_https(request) else request.url.scheme
    allowed = {f"{scheme}://{request.headers.get('host', '')}"}
    public = urlsplit(_service(request).config.server.public_url or "")
    if public.netloc:
        allowed.add(f"{public.scheme}://{public.netloc}")
    return origin.lower() in {a.lower() for a in allowed}


async def _form(request: Request) -> dict[str, str] | None:
    """The url-encoded form body, or None when it is too large or malformed."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return None
    try:
        pairs = parse_qsl(body.decode("utf-8", "replace"), max_num_fields=8)
    except ValueError:
        return None
    return dict(pairs)


# pages


def _page(
    request: Request,
    template: str,
    title: str,
    role: str | None,
    context: dict[str, Any] | None = None,
    status: int = 200,
    current: str = "",
) -> Response:
    """A whole page: the template's main content in the page around it (base.html)."""
    return pages.templates.TemplateResponse(
        request,
        template,
        {"title": title, "role": role, "current": current, **(context or {})},
        status_code=status,
        headers=_HEADERS,
    )


def _error_page(request: Request, role: str | None, status: int, title: str, message: str) -> Response:
    return _page(request, "error.html", title, role, {"message": message}, status)


def _login_page(request: Request, next_path: str, error: str = "", status: int = 200) -> Response:
    return _page(request, "login.html", "Sign in", None, {"next_path": next_path, "error": error}, status)


def _safe_next(value: str | None) -> str:
    return value if value and _NEXT.match(value) else "/dashboard"


async def login_page(request: Request) -> Response:
    next_path = _safe_next(request.query_params.get("next"))
    if _session_role(request) is not None:
        return RedirectResponse(next_path, status_code=303)
    return _login_page(request, next_path)


async def login(request: Request) -> Response:
    if not _same_origin(request):
        return _error_page(request, None, 403, "Sign-in refused", "The form did not come from this site.")
    form = await _form(request)
    if form is None:
        return _error_page(request, None, 413, "Sign-in refused", "The form is too large.")
    next_path = _safe_next(form.get("next"))
    found = _role_for_token(_service(request), form.get("token", "").strip())
    if found is None:
        return _login_page(request, next_path, "That token is not valid. Check it and try again.", 401)
    role, token = found
    response = RedirectResponse(next_path, status_code=303, headers=_HEADERS)
    response.set_cookie(
        SESSION_COOKIE,
        session_value(token, role, int(time.time())),
        max_age=SESSION_MAX_AGE,
        path="/dashboard",
        secure=_is_https(request),
        httponly=True,
        samesite="strict",
    )
    return response


async def logout(request: Request) -> Response:
    if request.method == "GET":
        return RedirectResponse("/dashboard", status_code=303)
    if not _same_origin(request):
        role = _session_role(request)
        return _error_page(request, role, 403, "Sign-out refused", "The form did not come from this site.")
    response = RedirectResponse("/dashboard/login", status_code=303, headers=_HEADERS)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/dashboard",
        secure=_is_https(request),
        httponly=True,
        samesite="strict",
    )
    return response


def _signed_in(page: Page) -> Callable[[Request], Awaitable[Response]]:
    """Redirect to the sign-in page without a session; show store and input errors as pages."""

    async def handler(request: Request) -> Response:
        role = _session_role(request)
        if role is None:
            target = _safe_next(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
            login_url = "/dashboard/login"
            if target != "/dashboard":
                login_url += f"?next={quote(target, safe='/')}"
            return RedirectResponse(login_url, status_code=303, headers=_HEADERS)
        try:
            return await page(request, role)
        except NotFound as exc:
            return _error_page(request, role, 404, "Not found", str(exc))
        except ValidationError as exc:
            return _error_page(request, role, 400, "Cannot show this", str(exc))
        except StoreError:
            message = "The store is not answering; try again shortly."
            return _error_page(request, role, 503, "Store unavailable", message)

    return handler


def _base_url(request: Request) -> str:
    return _service(request).config.server.public_url or str(request.base_url)


async def campaigns_page(request: Request, role: str) -> Response:
    service = _service(request)
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
    return _page(request, "campaigns.html", "Campaigns", role, context, current="/dashboard")


async def campaign_page(request: Request, role: str) -> Response:
    service = _service(request)
    campaign = await actions.get_campaign(service.store, request.path_params["id"])
    tz = request.query_params.get("tz") or None
    report = await actions.stats(service.store, service.config, campaign, tz=tz)
    view = actions.campaign_view(campaign, _base_url(request), private=service.config.privacy.noisy)
    context = pages.campaign_context(view, report, time.time())
    return _page(request, "campaign.html", campaign.name, role, context)


async def privacy_page(request: Request, role: str) -> Response:
    service = _service(request)
    lang = request.query_params.get("lang", "en")
    campaigns = await actions.list_campaigns(service.store)
    bases = [LegalBasisUse(c.legal_basis, c.legal_reference) for c in campaigns]
    notice = render_notice(service.config, lang, "html", bases)
    context = pages.privacy_context(notice, lang, LANGUAGES)
    return _page(request, "privacy.html", "Privacy notice", role, context, current="/dashboard/privacy")


async def not_found_page(request: Request, role: str) -> Response:
    if request.path_params.get("rest", "") == "":
        return RedirectResponse("/dashboard", status_code=303)
    return _error_page(request, role, 404, "Not found", "There is no dashboard page at this address.")


routes: list[BaseRoute] = [
    Route("/dashboard", _signed_in(campaigns_page), methods=["GET"]),
    Route("/dashboard/login", login_page, methods=["GET"]),
    Route("/dashboard/login", login, methods=["POST"]),
    Route("/dashboard/logout", logout, methods=["GET", "POST"]),
    Route("/dashboard/privacy", _signed_in(privacy_page), methods=["GET"]),
    Route("/dashboard/campaigns/{id}", _signed_in(campaign_page), methods=["GET"]),
    Route("/dashboard/{rest:path}", _signed_in(not_found_page), methods=["GET"]),
    Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
]
