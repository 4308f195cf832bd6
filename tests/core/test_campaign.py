"""Tests for pixelagg.core.campaign: ids, validation of user input, the stored record."""

from __future__ import annotations

import base64
import dataclasses
import re

import pytest

from pixelagg.core.campaign import (
    LEGAL_BASES,
    NAME_MAX,
    RECIPIENTS_MAX,
    REFERENCE_MAX,
    Campaign,
    check_legal_reference,
    is_campaign_id,
    new_campaign_id,
    validate_changes,
)
from pixelagg.exceptions import ValidationError

URL_SAFE = re.compile(r"[A-Za-z0-9_-]{16}")
OTHER_BASES = [b for b in LEGAL_BASES if b != "public_task"]


# ids


def test_id_is_16_url_safe_characters():
    """A new id is 16 characters from the URL-safe alphabet."""
    for _ in range(100):
        assert URL_SAFE.fullmatch(new_campaign_id())


def test_id_carries_96_random_bits():
    """An id decodes to 12 random bytes: 96 bits, well above 64."""
    raw = base64.urlsafe_b64decode(new_campaign_id())
    assert len(raw) * 8 == 96


def test_ids_are_unique():
    """Ten thousand new ids are all different."""
    ids = {new_campaign_id() for _ in range(10_000)}
    assert len(ids) == 10_000


def test_new_ids_are_campaign_ids():
    """Every generated id has the shape is_campaign_id accepts."""
    assert all(is_campaign_id(new_campaign_id()) for _ in range(100))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AbCdEfGhIjKlMnOp", True),
        ("0123456789_-abcd", True),
        ("AbCdEfGhIjKlMnO", False),
        ("AbCdEfGhIjKlMnOpQ", False),
        ("AbCdEfGhIjKlMn+/", False),
        ("AbCdEfGhIjKlMn.p", False),
        ("AbCdEfGhIjKlMnOp\n", False),
        ("AbCdEfGhIjKlMnÖp", False),
        ("AbCdEfGhIjKlMn%2", False),
        ("", False),
    ],
    ids=[
        "letters",
        "digits-dash-underscore",
        "too-short",
        "too-long",
        "base64-not-urlsafe",
        "dot",
        "trailing-newline",
        "non-ascii",
        "percent",
        "empty",
    ],
)
def test_is_campaign_id(text, expected):
    """is_campaign_id accepts exactly 16 URL-safe characters."""
    assert is_campaign_id(text) is expected


# validate_changes


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"name": "November newsletter"}, {"name": "November newsletter"}),
        ({"name": "  padded  "}, {"name": "padded"}),
        ({"name": "x" * NAME_MAX}, {"name": "x" * NAME_MAX}),
        ({"name": "n", "recipients": 1200}, {"name": "n", "recipients": 1200}),
        ({"name": "n", "recipients": 1}, {"name": "n", "recipients": 1}),
        ({"name": "n", "recipients": RECIPIENTS_MAX}, {"name": "n", "recipients": RECIPIENTS_MAX}),
        ({"name": "n", "recipients": None}, {"name": "n", "recipients": None}),
        ({"name": "n", "legal_basis": "consent"}, {"name": "n", "legal_basis": "consent"}),
        (
            {"name": "n", "legal_basis": "public_task", "legal_reference": " Art. 15 "},
            {"name": "n", "legal_basis": "public_task", "legal_reference": "Art. 15"},
        ),
        ({"name": "n", "legal_reference": "  "}, {"name": "n", "legal_reference": None}),
        ({"name": "n", "legal_reference": None}, {"name": "n", "legal_reference": None}),
    ],
    ids=[
        "name",
        "name-stripped",
        "name-at-max",
        "recipients",
        "recipients-1",
        "recipients-max",
        "recipients-null",
        "legal-basis",
        "reference-stripped",
        "reference-blank-is-null",
        "reference-null",
    ],
)
def test_validate_changes_accepts(body, expected):
    """Valid create bodies come back clean."""
    assert validate_changes(body, creating=True) == expected


@pytest.mark.parametrize("basis", LEGAL_BASES, ids=LEGAL_BASES)
def test_validate_changes_accepts_every_legal_basis(basis):
    """Every declared legal basis is accepted."""
    assert validate_changes({"legal_basis": basis}, creating=False) == {"legal_basis": basis}


def test_update_needs_no_name():
    """An update may change one field, or none."""
    assert validate_changes({"recipients": 5}, creating=False) == {"recipients": 5}
    assert validate_changes({}, creating=False) == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * (NAME_MAX + 1)}, "name"),
        ({"name": 5}, "name"),
        ({"name": None}, "name"),
        ({"name": ["a"]}, "name"),
        ({"name": "n", "recipients": 0}, "recipients"),
        ({"name": "n", "recipients": -1}, "recipients"),
        ({"name": "n", "recipients": "1200"}, "recipients"),
        ({"name": "n", "recipients": True}, "recipients"),
        ({"name": "n", "recipients": 12.5}, "recipients"),
        ({"name": "n", "recipients": RECIPIENTS_MAX + 1}, "recipients"),
        ({"name": "n", "legal_basis": "gdpr"}, "legal_basis"),
        ({"name": "n", "legal_basis": None}, "legal_basis"),
        ({"name": "n", "legal_basis": ["consent"]}, "legal_basis"),
        ({"name": "n", "legal_reference": 15}, "legal_reference"),
        ({"name": "n", "legal_reference": "x" * (REFERENCE_MAX + 1)}, "legal_reference"),
        ({"recipients": 5}, "name"),
    ],
    ids=[
        "name-empty",
        "name-blank",
        "name-too-long",
        "name-int",
        "name-null",
        "name-list",
        "recipients-0",
        "recipients-negative",
        "recipients-str",
        "recipients-bool",
        "recipients-float",
        "recipients-too-big",
        "legal-basis-unknown",
        "legal-basis-null",
        "legal-basis-list",
        "reference-int",
        "reference-too-long",
        "name-missing",
    ],
)
def test_validate_changes_rejects_field(body, field):
    """Invalid values are refused with a ValidationError naming the field."""
    with pytest.raises(ValidationError) as info:
        validate_changes(body, creating=True)
    assert info.value.details == {"field": field}
    assert f"'{field}'" in str(info.value)


@pytest.mark.parametrize(
    "body",
    [{"name": "n", "email": "a@b.example"}, {"name": "n", "recipient": "a@b.example", "id": "x"}],
    ids=["one", "several"],
)
def test_validate_changes_rejects_unknown_fields(body):
    """Unknown fields (a recipient address, an id) are refused and listed."""
    with pytest.raises(ValidationError, match="Unknown field") as info:
        validate_changes(body, creating=True)
    assert info.value.details == {"fields": sorted(set(body) - {"name"})}


@pytest.mark.parametrize(
    "body",
    [[], ["name"], "November", 5, None, True],
    ids=["list", "list-of-str", "str", "int", "null", "bool"],
)
def test_validate_changes_rejects_non_object(body):
    """A body that is not a JSON object is refused."""
    with pytest.raises(ValidationError, match="JSON object"):
        validate_changes(body, creating=False)


# legal reference


def campaign(**fields):
    fields.setdefault("name", "n")
    return Campaign(id="AbCdEfGhIjKlMnOp", created_at=1_700_000_000.0, **fields)


@pytest.mark.parametrize("reference", [None, ""], ids=["null", "empty"])
def test_public_task_without_reference_is_refused(reference):
    """A public_task campaign without a legal reference is refused."""
    with pytest.raises(ValidationError, match="statutory basis") as info:
        check_legal_reference(campaign(legal_basis="public_task", legal_reference=reference))
    assert info.value.details == {"field": "legal_reference"}


def test_public_task_with_reference_is_accepted():
    """A public_task campaign naming its statutory basis is accepted."""
    check_legal_reference(campaign(legal_basis="public_task", legal_reference="Wet X, art. 1"))


@pytest.mark.parametrize("basis", OTHER_BASES, ids=OTHER_BASES)
def test_other_bases_need_no_reference(basis):
    """Only public_task needs a legal reference."""
    check_legal_reference(campaign(legal_basis=basis))


# the stored record


@pytest.mark.parametrize(
    "record",
    [
        campaign(),
        campaign(
            name="Nieuwsbrief: «november» | 2025",
            recipients=1200,
            legal_basis="public_task",
            legal_reference="Wet op het onderwijstoezicht, art. 15",
            paused=True,
            first_hit=1_700_000_123.456789,
        ),
        campaign(recipients=RECIPIENTS_MAX, legal_basis="consent", first_hit=0.5),
    ],
    ids=["minimal", "full", "edges"],
)
def test_fields_round_trip(record):
    """from_fields(to_fields(c)) gives back the same campaign."""
    fields = record.to_fields()
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items())
    assert Campaign.from_fields(record.id, fields) == record


def test_to_fields_leaves_out_id_and_none():
    """The id is the key, not a field, and None values are not stored."""
    fields = campaign().to_fields()
    assert "id" not in fields
    assert "recipients" not in fields and "legal_reference" not in fields
    assert "first_hit" not in fields
    assert fields["paused"] == "0"


def test_campaign_has_no_recipient_data():
    """A campaign record has no field about a recipient (P1)."""
    assert {f.name for f in dataclasses.fields(Campaign)} == {
        "id",
        "name",
        "created_at",
        "recipients",
        "legal_basis",
        "legal_reference",
        "paused",
        "first_hit",
    }
