"""The API's one JSON error shape: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

from ..exceptions import Conflict, NotFound, StoreError, ValidationError

__all__ = ["error_response", "exception_handlers"]

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    503: "store_unavailable",
}


def error_response(status: int, message: str, details: Any = None, code: str | None = None) -> JSONResponse:
    """The one place the error shape is built."""
    body = {
        "error": {
            "code": code or _CODES.get(status, "error"),
            "message": message,
            "details": details,
        }
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "No such resource.", 405: "Method not allowed here."}
    response = error_response(exc.status_code, messages.get(exc.status_code, str(exc.detail)))
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405:  # RFC 9110 requires Allow; Starlette's names one route's methods
        response.headers["Allow"] = _allowed_methods(request)
    return response


def _allowed_methods(request: Request) -> str:
    """Every method some route of this path accepts (one path may have one route per method)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    return error_response(422, str(exc), exc.details)


async def _conflict(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Conflict)
    return error_response(409, str(exc), exc.details)


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_response(404, str(exc))


async def _store(request: Request, exc: Exception) -> Response:
    return error_response(503, "The store is not answering; try again shortly.")


exception_handlers = {
    HTTPException: _http,
    ValidationError: _validation,
    NotFound: _not_found,
    Conflict: _conflict,
    StoreError: _store,
}
