"""The JSON Schemas of campaign bodies and responses, built from the campaign declaration.

Each settable field of `pixelagg.core.campaign` gives a property of the create and update
bodies with its declared limits; every declared field gives a property of the response.
"""

from __future__ import annotations

from typing import Any

from ..core.campaign import CAMPAIGN_FIELDS, SETTABLE_FIELDS, UNPRINTABLE_CHARS, CampaignField

__all__ = ["campaign_schemas"]

# Python's str.strip() also removes \x1c-\x1f and \x85, which JSON Schema's (ECMA) \s does not.
_NOT_BLANK = r"[^\s\x1c-\x1f\x85]"
# Text the API takes: nothing it refuses (control characters, overrides, lone surrogates) ...
_PRINTABLE = rf"^[^{UNPRINTABLE_CHARS}]*$"
# ... and, where required, one character that is not white space (the unprintable ones include
# the \x1c-\x1f and \x85 that Python strips).
_PRINTABLE_NOT_BLANK = rf"^[^{UNPRINTABLE_CHARS}]*[^\s{UNPRINTABLE_CHARS}][^{UNPRINTABLE_CHARS}]*$"


# How the JSON view shows each kind of campaign field; a time is ISO 8601 text.
_KIND_SCHEMAS: dict[str, dict[str, Any]] = {
    "text": {"type": "string"},
    "integer": {"type": "integer"},
    "flag": {"type": "boolean"},
    "timestamp": {"type": "string", "format": "date-time"},
}


def _shown(field: CampaignField) -> dict[str, Any]:
    """The schema of a campaign field as responses show it."""
    schema = {**_KIND_SCHEMAS[field.kind], "description": field.help}
    if field.choices:
        schema["enum"] = list(field.choices)
    if field.nullable:
        schema["nullable"] = True
    return schema


def _accepted(field: CampaignField) -> dict[str, Any]:
    """The schema of a campaign field in a create or update body: the declared limits."""
    schema = _shown(field)
    if field.kind == "integer":
        schema.update(minimum=field.minimum, maximum=field.maximum)
    elif not field.choices:
        if field.nullable:
            schema["pattern"] = _PRINTABLE
        else:  # text is stripped, so it needs one character that is not white space
            schema.update(minLength=1, pattern=_PRINTABLE_NOT_BLANK)
        schema["maxLength"] = field.maximum
    return schema


def campaign_schemas() -> dict[str, Any]:
    """The components CampaignCreate, CampaignUpdate and Campaign of the OpenAPI document."""
    body = {f.name: _accepted(f) for f in SETTABLE_FIELDS}
    return {
        "CampaignCreate": {
            "type": "object",
            "required": [f.name for f in SETTABLE_FIELDS if f.required],
            "additionalProperties": False,
            "properties": body,
            # public_task needs a legal_reference (without legal_basis: the configured default).
            "anyOf": [
                {"not": {"required": ["legal_basis"]}},
                {"properties": {"legal_basis": {"not": {"enum": ["public_task"]}}}},
                {
                    "required": ["legal_reference"],
                    "properties": {"legal_reference": {"type": "string", "pattern": _NOT_BLANK}},
                },
            ],
        },
        "CampaignUpdate": {
            "type": "object",
            "additionalProperties": False,
            "properties": body,
        },
        "Campaign": {
            "type": "object",
            "required": [*(f.shown_as for f in CAMPAIGN_FIELDS), "pixel_url", "snippet"],
            "properties": {
                **{f.shown_as: _shown(f) for f in CAMPAIGN_FIELDS},
                "pixel_url": {"type": "string"},
                "snippet": {"type": "string"},
                "notes": {"type": "array", "items": {"type": "string"}},
            },
        },
    }
