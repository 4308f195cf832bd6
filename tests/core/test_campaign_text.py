"""Tests for pixelagg.core.campaign's text fields: what they refuse, and ids derived from external ids."""

from __future__ import annotations

import pytest

from pixelagg.core.campaign import SETTABLE_FIELDS, derived_campaign_id, is_campaign_id, validate_changes
from pixelagg.exceptions import ValidationError

TEXT_FIELDS = [f.name for f in SETTABLE_FIELDS if f.typed_by_people]
REFUSED = ["\x1b[31m", "\x00", "\t", "\n", "\x7f", "\x85", "\u2028", "\u202e", "\u2067", "\ud800", "\udfff"]


@pytest.mark.parametrize("field", TEXT_FIELDS, ids=TEXT_FIELDS)
@pytest.mark.parametrize(
    "char",
    REFUSED,
    ids=[
        "escape",
        "nul",
        "tab",
        "newline",
        "del",
        "nel",
        "line-sep",
        "rtl-override",
        "rtl-isolate",
        "hi",
        "lo",
    ],
)
def test_text_with_unprintable_characters_is_refused(field, char):
    """Control characters, separators, overrides and lone surrogates are refused, naming the field."""
    body = {"name": "ok", field: f"News {char}letter"}
    with pytest.raises(ValidationError, match="must not hold control characters") as info:
        validate_changes(body, creating=True)
    assert info.value.details == {"field": field}


@pytest.mark.parametrize(
    "name",
    ["Zo\u00eb\u2019s \u201cnews\u201d \u2013 2025", "Nieuwsbrief 🎉", "日本語"],
    ids=["latin", "emoji", "cjk"],
)
def test_ordinary_unicode_is_kept(name):
    """Accents, quotes, emoji and other scripts are names like any other."""
    assert validate_changes({"name": name}, creating=True) == {"name": name}


def test_derived_id_is_stable_for_key_and_external_id():
    """The same key and external id give the same campaign id; another of either gives another."""
    first = derived_campaign_id(b"key", "listmonk-42")
    assert first == derived_campaign_id(b"key", "listmonk-42")
    assert first != derived_campaign_id(b"key", "listmonk-43")
    assert first != derived_campaign_id(b"other", "listmonk-42")


def test_derived_ids_are_campaign_ids():
    """Derived ids have the shape of campaign ids and never start with '-'."""
    ids = [derived_campaign_id(b"key", f"mailing-{n}") for n in range(2000)]
    assert all(is_campaign_id(i) and not i.startswith("-") for i in ids)
