"""The OpenAPI description of the JSON API, served at /openapi.json."""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..core.classify import CLASSES
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
        405: "Method not allowed",
        422: "Invalid input",
        503: "Store unavailable",
    }
    return {str(c): _json(_ref("Error"), text[c]) for c in codes}


_BOUNDS = {
    "type": "object",
    "required": ["estimate", "low", "high"],
    "properties": {k: {"type": "integer", "minimum": 0} for k in ("estimate", "low", "high")},
}


def _classes_of(schema: dict[str, Any]) -> dict[str, Any]:
    """An object with one property per class, each of `schema`."""
    return {"type": "object", "required": list(CLASSES), "properties": {c: schema for c in CLASSES}}


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
        "Bounds": _BOUNDS,
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
        "OpenRate": {
            "type": "object",
            "nullable": True,
            "required": ["estimate", "low", "high", "method"],
            "properties": {
                "estimate": {"type": "number"},
                "low": {"type": "number"},
                "high": {"type": "number"},
                "method": {"type": "string"},
            },
        },
        "Stats": {
            "type": "object",
            "required": [
                "campaign",
                "range",
                "opens",
                "unique_opens",
                "open_rate",
                "machine_share",
                "by_day",
                "by_hour",
                "by_region",
            ],
            "properties": {
                "campaign": {"type": "object"},
                "range": {"type": "object"},
                "opens": {
                    "type": "object",
                    "required": ["total", "by_class", "declined"],
                    "properties": {
                        "total": {"type": "integer", "minimum": 0},
                        "by_class": _classes_of({"type": "integer", "minimum": 0}),
                        "declined": {"type": "integer", "minimum": 0},
                    },
                },
                "unique_opens": {
                    "allOf": [
                        _BOUNDS,
                        {
                            "type": "object",
                            "required": ["human", "by_class", "method"],
                            "properties": {
                                "human": _BOUNDS,
                                "by_class": _classes_of(_BOUNDS),
                                "method": {"type": "string"},
                            },
                        },
                    ]
                },
                "open_rate": _ref("OpenRate"),
                "machine_share": {"type": "number", "nullable": True},
                "by_day": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["date", "opens", "unique_opens"],
                        "properties": {
                            "date": {"type": "string", "format": "date"},
                            "opens": {"type": "integer"},
                            "human_opens": {"type": "integer"},
                            "machine_opens": {"type": "integer"},
                            "unique_opens": {"type": "integer"},
                        },
                    },
                },
                "by_hour": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["hour", "opens"],
                        "properties": {"hour": {"type": "string"}, "opens": {"type": "integer"}},
                    },
                },
                "by_region": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["region", "opens", "unique_opens"],
                        "properties": {
                            "region": {"type": "string"},
                            "opens": {"type": "integer"},
                            "unique_opens": {"type": "integer"},
                        },
                    },
                },
                "min_bucket": {"type": "integer"},
            },
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
                    "summary": "Create a campaign (admin)",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("CampaignCreate")}},
                    },
                    "responses": {
                        "201": _json(_ref("Campaign"), "Created"),
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
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["campaigns"],
                                "properties": {"campaigns": {"type": "array"}},
                            },
                            "Comparison",
                        ),
                        **_errors(401, 404, 422, 503),
                    },
                },
            },
        },
    }
