"""The admin's dashboard forms: create a campaign, change it, pause and resume it, delete it.

Each form posts to this site with the session's CSRF token (`views`), and each change goes
through the same `actions` as the API and the CLI, so a campaign made here is like any other.
A read token sees none of these controls and is refused them (403).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import actions
from ..core.campaign import LEGAL_BASES, Campaign, campaign_field
from ..exceptions import ValidationError
from .views import HEADERS, error_page, form, page, same_origin, service_of, signed_in, valid_csrf

__all__ = ["FORM_FIELDS", "routes"]

FORM_FIELDS = ("name", "recipients", "legal_basis", "legal_reference")
"""The campaign fields the form shows, each with its declared limits."""
BASIS_LABELS = {
    "consent": "Consent: only recipients who agreed get the pixel",
    "legitimate_interest": "Legitimate interest (GDPR; does not by itself cover ePrivacy)",
    "public_task": "Public task (needs the statutory reference)",
    "exempt_statistics": "Exempt statistics (where national law exempts them)",
}


async def _checked_form(request: Request, role: str) -> dict[str, str] | Response:
    """The posted form, or the page refusing it: another site, too large, or a wrong CSRF token."""
    if not same_origin(request):
        return error_page(request, role, 403, "Refused", "The form did not come from this site.")
    submitted = await form(request)
    if submitted is None:
        return error_page(request, role, 413, "Refused", "The form is too large.")
    if not valid_csrf(request, submitted.get("csrf", "")):
        message = "The form has expired or did not come from this page. Reload it and try again."
        return error_page(request, role, 403, "Refused", message)
    return submitted


def _body(submitted: dict[str, str], creating: bool) -> dict[str, Any]:
    """The API body of a submitted form: empty optional fields are left out (creating) or cleared."""
    body: dict[str, Any] = {"name": submitted.get("name", "")}
    recipients = submitted.get("recipients", "").strip()
    if recipients:
        if not recipients.isdigit():
            raise ValidationError("'recipients' must be a whole number.", {"field": "recipients"})
        body["recipients"] = int(recipients)
    elif not creating:
        body["recipients"] = None
    if submitted.get("legal_basis"):
        body["legal_basis"] = submitted["legal_basis"]
    reference = submitted.get("legal_reference", "")
    if reference.strip() or not creating:
        body["legal_reference"] = reference
    return body


def _form_page(
    request: Request,
    role: str,
    values: dict[str, Any],
    campaign: Campaign | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    context = {
        "campaign": campaign,
        "values": {name: values.get(name) for name in FORM_FIELDS},
        "error": error,
        "fields": {name: campaign_field(name) for name in FORM_FIELDS},
        "bases": [(basis, BASIS_LABELS[basis]) for basis in LEGAL_BASES],
        "default_basis": service_of(request).config.campaigns.default_legal_basis,
    }
    title = f"Change {campaign.name}" if campaign else "New campaign"
    return page(request, "campaign_form.html", title, role, context, status)


def _values(campaign: Campaign) -> dict[str, Any]:
    return {name: getattr(campaign, name) for name in FORM_FIELDS}


def _to(path: str) -> Response:
    return RedirectResponse(path, status_code=303, headers=HEADERS)


async def new_page(request: Request, role: str) -> Response:
    default = service_of(request).config.campaigns.default_legal_basis
    return _form_page(request, role, {"legal_basis": default})


async def create(request: Request, role: str) -> Response:
    submitted = await _checked_form(request, role)
    if isinstance(submitted, Response):
        return submitted
    service = service_of(request)
    try:
        body = _body(submitted, creating=True)
        campaign, _ = await actions.create_campaign(
            service.store, service.config, body, service.admin_token.encode()
        )
    except ValidationError as exc:
        return _form_page(request, role, submitted, error=str(exc), status=422)
    service.cache.put(campaign)
    return _to(f"/dashboard/campaigns/{campaign.id}?done=created")


async def edit_page(request: Request, role: str) -> Response:
    campaign = await actions.get_campaign(service_of(request).store, request.path_params["id"])
    return _form_page(request, role, _values(campaign), campaign)


async def update(request: Request, role: str) -> Response:
    submitted = await _checked_form(request, role)
    if isinstance(submitted, Response):
        return submitted
    service = service_of(request)
    campaign = await actions.get_campaign(service.store, request.path_params["id"])
    try:
        updated = await actions.update_campaign(service.store, campaign.id, _body(submitted, creating=False))
    except ValidationError as exc:
        return _form_page(request, role, submitted, campaign, str(exc), 422)
    service.cache.put(updated)
    return _to(f"/dashboard/campaigns/{campaign.id}?done=saved")


def _pausing(paused: bool) -> Any:
    async def handler(request: Request, role: str) -> Response:
        submitted = await _checked_form(request, role)
        if isinstance(submitted, Response):
            return submitted
        service = service_of(request)
        campaign = await actions.set_paused(service.store, request.path_params["id"], paused)
        service.cache.put(campaign)
        return _to(f"/dashboard/campaigns/{campaign.id}?done={'paused' if paused else 'resumed'}")

    return handler


async def delete_page(request: Request, role: str) -> Response:
    service = service_of(request)
    campaign = await actions.get_campaign(service.store, request.path_params["id"])
    report = await actions.stats(service.store, service.config, campaign)
    opens = getattr(report, "opens", None)
    context = {"campaign": campaign, "opens": opens.total if opens is not None else None}
    return page(request, "delete.html", f"Delete {campaign.name}", role, context)


async def delete(request: Request, role: str) -> Response:
    submitted = await _checked_form(request, role)
    if isinstance(submitted, Response):
        return submitted
    service = service_of(request)
    campaign_id = request.path_params["id"]
    await actions.delete_campaign(service.store, campaign_id)
    service.cache.forget(campaign_id)
    return _to("/dashboard?done=deleted")


routes: list[BaseRoute] = [
    Route("/dashboard/campaigns/new", signed_in(new_page, admin=True), methods=["GET"]),
    Route("/dashboard/campaigns", signed_in(create, admin=True), methods=["POST"]),
    Route("/dashboard/campaigns/{id}/edit", signed_in(edit_page, admin=True), methods=["GET"]),
    Route("/dashboard/campaigns/{id}", signed_in(update, admin=True), methods=["POST"]),
    Route("/dashboard/campaigns/{id}/pause", signed_in(_pausing(True), admin=True), methods=["POST"]),
    Route("/dashboard/campaigns/{id}/resume", signed_in(_pausing(False), admin=True), methods=["POST"]),
    Route("/dashboard/campaigns/{id}/delete", signed_in(delete_page, admin=True), methods=["GET"]),
    Route("/dashboard/campaigns/{id}/delete", signed_in(delete, admin=True), methods=["POST"]),
]
