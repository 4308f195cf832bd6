"""Tests for pixelagg.web.campaign_schemas: the campaign schemas follow the declaration."""

from __future__ import annotations

import re

import pytest

from pixelagg.core.campaign import (
    CAMPAIGN_FIELDS,
    LEGAL_BASES,
    NAME_MAX,
    RECIPIENTS_MAX,
    REFERENCE_MAX,
    SETTABLE_FIELDS,
)
from pixelagg.web.campaign_schemas import campaign_schemas
from pixelagg.web.openapi import openapi_spec


def test_bodies_carry_the_declared_limits():
    """The create and update schemas give each settable field its declared limits and help."""
    schemas = campaign_schemas()
    body = schemas["CampaignCreate"]["properties"]
    assert list(body) == [f.name for f in SETTABLE_FIELDS]
    assert (body["name"]["minLength"], body["name"]["maxLength"]) == (1, NAME_MAX)
    assert (body["recipients"]["minimum"], body["recipients"]["maximum"]) == (1, RECIPIENTS_MAX)
    assert body["recipients"]["nullable"] is True
    assert body["legal_basis"]["enum"] == list(LEGAL_BASES)
    assert (body["legal_reference"]["maxLength"], body["legal_reference"]["nullable"]) == (
        REFERENCE_MAX,
        True,
    )
    assert [p["description"] for p in body.values()] == [f.help for f in SETTABLE_FIELDS]
    assert schemas["CampaignCreate"]["required"] == ["name"]
    assert schemas["CampaignUpdate"]["properties"] == body


def test_response_has_every_declared_field():
    """The Campaign schema has a property per declared field, under its JSON name, with its help."""
    properties = campaign_schemas()["Campaign"]["properties"]
    assert [properties[f.shown_as]["description"] for f in CAMPAIGN_FIELDS] == [
        f.help for f in CAMPAIGN_FIELDS
    ]
    assert properties["first_hit_at"] == {
        "type": "string",
        "format": "date-time",
        "nullable": True,
        "description": "When the first counted open arrived.",
    }


def test_schemas_are_the_documents_components():
    """The OpenAPI document carries these schemas as its campaign components."""
    components = openapi_spec()["components"]["schemas"]
    assert {name: components[name] for name in campaign_schemas()} == campaign_schemas()


@pytest.mark.parametrize(
    ("name", "accepted"),
    [("November", True), ("  x  ", True), ("   ", False), ("\t\n", False), ("\x1c\x1f\x85 ", False)],
    ids=["word", "padded", "spaces", "tab-newline", "separators-python-strips"],
)
def test_name_pattern_agrees_with_strip(name, accepted):
    """The name's pattern (as a Python regex) accepts the names that keep a character after strip()."""
    pattern = campaign_schemas()["CampaignCreate"]["properties"]["name"]["pattern"]
    assert bool(name.strip()) is accepted
    assert (re.search(pattern, name) is not None) is accepted
