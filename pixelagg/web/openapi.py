"""The OpenAPI description of the JSON API, served at /openapi.json."""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Union, get_args, get_origin, get_type_hints

from .. import __version__
from ..core.links import LINK_ID_PATTERN, URL_MAX, URL_PATTERN
from ..reports.report import Bounds, ComparisonRow, OpenRate, Report, json_name
from .campaign_schemas import campaign_schemas

__all__ = ["openapi_spec"]

_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
# An empty from/to (as an HTML form sends it) means the default, like leaving it out.
_DAY = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "enum": [""]}]}
_RANGE = [
    {"name": "from", "in": "query", "required": False, "schema": _DAY},
    {"name": "to", "in": "query", "required": False, "schema": _DAY},
    {"name": "tz", "in": "query", "required": False, "schema": {"type": "string"}},
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Bad request",
        401: "Missing or invalid token",
        403: "Token may only read",
        404: "No such campaign",
        409: "The campaign has as many links as it may",
        405: "Method not allowed",
        422: "Invalid input",
        503: "Store unavailable",
    }
    return {str(c): _json(_ref("Error"), text[c]) for c in codes}


_SCALARS: dict[Any, dict[str, Any]] = {
    # Every count, estimate, rate and share in a report is at least 0.
    int: {"type": "integer", "minimum": 0},
    float: {"type": "number", "minimum": 0},
    str: {"type": "string"},
    date: {"type": "string", "format": "date"},
    datetime: {"type": "string", "format": "date-time"},
}


def _schema_of(hint: Any, keys: Sequence[str] = ()) -> dict[str, Any]:
    """The schema of a report value's JSON form, read from its declaration in reports/report.py.

    Every field is required; a mapping's field metadata lists its keys (one per class).
    """
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):  # only `X | None` is declared
        (inner,) = (a for a in get_args(hint) if a is not type(None))
        return {**_schema_of(inner), "nullable": True}
    if origin is tuple:
        return {"type": "array", "items": _schema_of(get_args(hint)[0])}
    if origin is Mapping:
        item = _schema_of(get_args(hint)[1])
        return {"type": "object", "required": list(keys), "properties": dict.fromkeys(keys, item)}
    if dataclasses.is_dataclass(hint):
        hints = get_type_hints(hint)
        properties = {
            json_name(f): _schema_of(hints[f.name], f.metadata.get("keys", ()))
            for f in dataclasses.fields(hint)
        }
        return {"type": "object", "required": list(properties), "properties": properties}
    return dict(_SCALARS[hint])


def _schemas() -> dict[str, Any]:
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message", "details"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "details": {"nullable": True},
                    },
                }
            },
        },
        **campaign_schemas(),
        "LinkCreate": {
            "type": "object",
            "required": ["url"],
            "additionalProperties": False,
            "properties": {
                "url": {
                    "type": "string",
                    "description": "An http or https URL, without user or password; the same URL "
                    "registered again gives the same link.",
                    "maxLength": URL_MAX,
                    "pattern": URL_PATTERN,
                },
            },
        },
        "Link": {
            "type": "object",
            "required": ["id", "url", "tracking_url"],
            "properties": {
                "id": {"type": "string", "pattern": f"^{LINK_ID_PATTERN}$"},
                "url": {"type": "string", "description": "Where the link leads."},
                "tracking_url": {
                    "type": "string",
                    "description": "The URL to put in the mail instead, the same for every recipient.",
                },
            },
        },
        "Bounds": _schema_of(Bounds),
        "Audit": {
            "type": "object",
            "required": ["store", "ok", "keys", "patterns", "campaigns", "checks", "findings"],
            "properties": {
                "store": {"type": "string"},
                "ok": {"type": "boolean"},
                "keys": {"type": "integer", "minimum": 0},
                "retention_days": {"type": "integer"},
                "salt_window_days": {"type": "integer"},
                "salt_grace_seconds": {"type": "integer"},
                "patterns": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["pattern", "count", "ttl_min", "ttl_max"],
                        "properties": {
                            "pattern": {"type": "string"},
                            "count": {"type": "integer", "minimum": 0},
                            "ttl_min": {"type": "number", "nullable": True},
                            "ttl_max": {"type": "number", "nullable": True},
                        },
                    },
                },
                "campaigns": {"type": "array", "items": {"type": "object"}},
                "checks": {"type": "array", "items": {"type": "object"}},
                "findings": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["severity", "check", "message"],
                        "properties": {
                            "severity": {"type": "string", "enum": ["error", "warning"]},
                            "check": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        },
        "OpenRate": _schema_of(OpenRate),
        "Stats": _schema_of(Report),
        "Comparison": {
            "type": "object",
            "required": ["campaigns"],
            "properties": {"campaigns": {"type": "array", "items": _schema_of(ComparisonRow)}},
        },
    }


def openapi_spec() -> dict[str, Any]:
    """The OpenAPI 3.0 document. Only aggregates appear in it: nothing per person (P7)."""
    campaign = _json(_ref("Campaign"), "The campaign")
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "pixelagg",
            "version": __version__,
            "description": "Aggregate-only email open rates. Every endpoint needs a bearer token.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/campaigns": {
                "get": {
                    "summary": "List campaigns",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["campaigns"],
                                "properties": {"campaigns": {"type": "array", "items": _ref("Campaign")}},
                            },
                            "Campaigns",
                        ),
                        **_errors(401, 503),
                    },
                },
                "post": {
                    "summary": "Create a campaign (admin); with a known external_id, get it",
                    "description": "Creating twice with the same external_id (the newsletter tool's "
                    "own id for the mailing) answers 201 with the new campaign the first time and 200 "
                    "with that same campaign, unchanged, after that.",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("CampaignCreate")}},
                    },
                    "responses": {
                        "201": _json(_ref("Campaign"), "Created"),
                        "200": _json(_ref("Campaign"), "A campaign with this external_id exists: it"),
                        **_errors(401, 403, 422, 503),
                    },
                },
            },
            "/api/campaigns/{id}": {
                "parameters": [_ID],
                "get": {
                    "summary": "A campaign",
                    "responses": {"200": campaign, **_errors(401, 404, 503)},
                },
                "patch": {
                    "summary": "Change name, recipients or legal basis (admin)",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("CampaignUpdate")}},
                    },
                    "responses": {"200": campaign, **_errors(401, 403, 404, 422, 503)},
                },
                "delete": {
                    "summary": "Erase the campaign and every key it has (admin)",
                    "responses": {"204": {"description": "Erased"}, **_errors(401, 403, 404, 503)},
                },
            },
            "/api/campaigns/{id}/pause": {
                "parameters": [_ID],
                "post": {
                    "summary": "Stop counting; the GIF is still served (admin)",
                    "responses": {"200": campaign, **_errors(401, 403, 404, 503)},
                },
            },
            "/api/campaigns/{id}/resume": {
                "parameters": [_ID],
                "post": {
                    "summary": "Count again (admin)",
                    "responses": {"200": campaign, **_errors(401, 403, 404, 503)},
                },
            },
            "/api/campaigns/{id}/links": {
                "parameters": [_ID],
                "get": {
                    "summary": "The campaign's links, sorted by URL",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["links"],
                                "properties": {"links": {"type": "array", "items": _ref("Link")}},
                            },
                            "Links",
                        ),
                        **_errors(401, 404, 503),
                    },
                },
                "post": {
                    "summary": "Register a link for click counting (admin); a known URL gives its link",
                    "description": "Registering the same URL again answers 200 with the same link, so "
                    "rewriting a mail twice gives the same tracking URLs. At most "
                    "links.max_per_campaign links per campaign.",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("LinkCreate")}},
                    },
                    "responses": {
                        "201": _json(_ref("Link"), "Registered"),
                        "200": _json(_ref("Link"), "The campaign has this URL already: its link"),
                        **_errors(401, 403, 404, 409, 422, 503),
                    },
                },
            },
            "/api/campaigns/{id}/stats": {
                "parameters": [_ID],
                "get": {
                    "summary": "Statistics of a campaign",
                    "parameters": _RANGE,
                    "responses": {
                        "200": _json(_ref("Stats"), "Statistics"),
                        **_errors(401, 404, 422, 503),
                    },
                },
            },
            "/api/campaigns/{id}/stats.csv": {
                "parameters": [_ID],
                "get": {
                    "summary": "Statistics as CSV",
                    "parameters": _RANGE,
                    "responses": {
                        "200": {
                            "description": "CSV",
                            "content": {"text/csv": {"schema": {"type": "string"}}},
                        },
                        **_errors(401, 404, 422, 503),
                    },
                },
            },
            "/api/audit": {
                "get": {
                    "summary": "What the store holds: key patterns, counts, TTLs and checks (admin)",
                    "responses": {
                        "200": _json(_ref("Audit"), "The audit report"),
                        **_errors(401, 403, 503),
                    },
                },
            },
            "/api/stats": {
                "get": {
                    "summary": "Compare campaigns side by side",
                    "parameters": [
                        {
                            "name": "campaigns",
                            "in": "query",
                            "required": True,
                            "description": "1 to 20 campaign ids, separated by commas.",
                            "schema": {"type": "string", "pattern": "^,*[^,]+(,+[^,]+){0,19},*$"},
                        },
                        *_RANGE,
                    ],
                    "responses": {
                        "200": _json(_ref("Comparison"), "Comparison"),
                        **_errors(401, 404, 422, 503),
                    },
                },
            },
        },
    }
