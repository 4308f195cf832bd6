"""What every dashboard page shares: the session cookie, CSRF tokens, forms and the page frame.

Signing in posts a token once. The browser then holds a signed, expiring session cookie, never
the token: ``role.issued_at.HMAC-SHA256(key=token, msg=issued_at|role)``, checked in constant
time against the configured tokens (so changing a token ends its sessions). The cookie is
HttpOnly, SameSite=Strict and Path=/dashboard; it is Secure when the request came over https,
directly or as told by ``X-Forwarded-Proto`` from a trusted proxy (a Secure cookie would not be
sent back over plain http to 127.0.0.1). Every POST must come from the same origin, and a
change (the admin's forms) must also carry the session's CSRF token: an HMAC of the cookie
keyed with the admin token, so it dies with the session.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..core.privacy import client_address
from ..exceptions import NotFound, StoreError, ValidationError
from ..tokens import TOKEN_FILE, matches, role_for
from . import pages
from .service import Service

__all__ = [
    "HEADERS",
    "MAX_FORM",
    "SESSION_COOKIE",
    "SESSION_MAX_AGE",
    "base_url",
    "csrf_token",
    "error_page",
    "form",
    "is_https",
    "page",
    "safe_next",
    "same_origin",
    "service_of",
    "session_role",
    "session_value",
    "signed_in",
    "token_hint",
]

SESSION_COOKIE = "pixelagg_session"
SESSION_MAX_AGE = 8 * 3600
MAX_FORM = 16 * 1024
"""A campaign form holds a name and a reference that may be percent-encoded many times over."""
_NEXT = re.compile(r"/dashboard(/[A-Za-z0-9_/-]*)?(\?[A-Za-z0-9_=&%+/-]*)?\Z")
HEADERS = {
    "Cache-Control": "no-store",
    # The global no-referrer policy makes browsers send `Origin: null` with form posts, which
    # the same-origin check must refuse; same-origin still sends nothing to other sites.
    "Referrer-Policy": "same-origin",
}

Page = Callable[[Request, str], Awaitable[Response]]


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def base_url(request: Request) -> str:
    return service_of(request).config.server.public_url or str(request.base_url)


# sessions


def _mac(token: str, issued: int, role: str) -> str:
    msg = f"{issued}|{role}".encode()
    return hmac.new(token.encode("utf-8", "surrogateescape"), msg, hashlib.sha256).hexdigest()


def session_value(token: str, role: str, issued: int) -> str:
    """The cookie value of a session signed with `token`: it does not contain the token."""
    return f"{role}.{issued}.{_mac(token, issued, role)}"


def session_role(request: Request, now: float | None = None) -> str | None:
    role, _, rest = request.cookies.get(SESSION_COOKIE, "").partition(".")
    issued_text, _, mac = rest.partition(".")
    if role not in ("admin", "read") or not issued_text.isdigit() or len(issued_text) > 12:
        return None
    issued = int(issued_text)
    age = (time.time() if now is None else now) - issued
    if not -60 <= age <= SESSION_MAX_AGE:
        return None
    service = service_of(request)
    found = role_for(mac, service.admin_token, service.read_tokens, lambda token, r: _mac(token, issued, r))
    return role if found is not None and found[0] == role else None


def csrf_token(request: Request) -> str:
    """The CSRF token of this request's session (empty without one)."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if not cookie:
        return ""
    key = service_of(request).admin_token.encode()
    return hmac.new(key, b"csrf|" + cookie.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


def valid_csrf(request: Request, given: str) -> bool:
    expected = csrf_token(request)
    return bool(expected) and matches(given, expected)


def _from_trusted_proxy(request: Request) -> bool:
    trusted = service_of(request).trusted
    peer = client_address(request.client.host if request.client else None, None, trusted)
    return peer is not None and peer.address in trusted


def is_https(request: Request) -> bool:
    if request.url.scheme == "https":
        return True
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return proto == "https" and _from_trusted_proxy(request)


def same_origin(request: Request) -> bool:
    """True when the Origin (or, without it, the Referer) is this site's own."""
    origin = request.headers.get("origin")
    if origin is None:
        parts = urlsplit(request.headers.get("referer", ""))
        origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "null"
    scheme = "https" if is_https(request) else request.url.scheme
    allowed = {f"{scheme}://{request.headers.get('host', '')}"}
    public = urlsplit(service_of(request).config.server.public_url or "")
    if public.netloc:
        allowed.add(f"{public.scheme}://{public.netloc}")
    return origin.lower() in {a.lower() for a in allowed}


async def form(request: Request) -> dict[str, str] | None:
    """The url-encoded form body, or None when it is too large or malformed."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return None
    try:
        pairs = parse_qsl(body.decode("utf-8", "replace"), max_num_fields=12)
    except ValueError:
        return None
    return dict(pairs)


# pages


def token_hint(service: Service) -> str:
    """Where the admin token is, for the sign-in page."""
    if service.config.api.admin_token:
        return "The admin token is the one set in api.admin_token (PIXELAGG_ADMIN_TOKEN)."
    path = service.config.data_dir / TOKEN_FILE
    return (
        f"The admin token is in the file {path} on the server (cat {path}), unless "
        "PIXELAGG_ADMIN_TOKEN sets one."
    )


def page(
    request: Request,
    template: str,
    title: str,
    role: str | None,
    context: dict[str, Any] | None = None,
    status: int = 200,
    current: str = "",
) -> Response:
    """A whole page: the template's main content in the page around it (base.html)."""
    problem = request.app.state.proxy_check.problem if role is not None else None
    return pages.templates.TemplateResponse(
        request,
        template,
        {
            "title": title,
            "role": role,
            "current": current,
            "proxy_problem": problem,
            "csrf": csrf_token(request) if role == "admin" else "",
            **(context or {}),
        },
        status_code=status,
        headers=HEADERS,
    )


def error_page(request: Request, role: str | None, status: int, title: str, message: str) -> Response:
    return page(request, "error.html", title, role, {"message": message}, status)


def safe_next(value: str | None) -> str:
    return value if value and _NEXT.match(value) else "/dashboard"


def signed_in(view: Page, admin: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """Redirect to the sign-in page without a session; show store and input errors as pages.

    `admin`: the page changes campaigns, so it needs the admin's session, and a POST must come
    from this site with the session's CSRF token.
    """

    async def handler(request: Request) -> Response:
        role = session_role(request)
        if role is None:
            if request.method != "GET":
                return error_page(request, None, 403, "Not signed in", "Sign in again, then retry.")
            target = safe_next(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
            login_url = "/dashboard/login"
            if target != "/dashboard":
                login_url += f"?next={quote(target, safe='/')}"
            return RedirectResponse(login_url, status_code=303, headers=HEADERS)
        if admin and role != "admin":
            message = "This needs the admin token; a read token may only look."
            return error_page(request, role, 403, "Not allowed", message)
        try:
            return await view(request, role)
        except NotFound as exc:
            return error_page(request, role, 404, "Not found", str(exc))
        except ValidationError as exc:
            return error_page(request, role, 400, "Cannot show this", str(exc))
        except StoreError:
            message = "The store is not answering; try again shortly."
            return error_page(request, role, 503, "Store unavailable", message)

    return handler
