"""Tests for pixelagg.core.campaign: ids, validation of user input, the stored record."""

from __future__ import annotations

import base64
import dataclasses
import re

import pytest

from pixelagg.core import campaign as campaign_module
from pixelagg.core.campaign import (
    CAMPAIGN_FIELDS,
    EXTERNAL_ID_MAX,
    LEGAL_BASES,
    NAME_MAX,
    RECIPIENTS_MAX,
    REFERENCE_MAX,
    SETTABLE_FIELDS,
    Campaign,
    campaign_field,
    check_legal_reference,
    encode_changes,
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


def test_absent_fields_come_back_as_declared_defaults():
    """A stored record without its optional fields reads back with the declared defaults."""
    assert Campaign.from_fields("AbCdEfGhIjKlMnOp", {"name": "n", "created_at": "1.5"}) == Campaign(
        id="AbCdEfGhIjKlMnOp", name="n", created_at=1.5
    )


def test_encode_changes():
    """Changes become store fields: flags as 1 or 0, numbers as text, None as a field to remove."""
    changes = {"paused": True, "recipients": 1200, "legal_reference": None, "name": "n"}
    assert encode_changes(changes) == {
        "paused": "1",
        "recipients": "1200",
        "legal_reference": None,
        "name": "n",
    }
    assert encode_changes({"paused": False}) == {"paused": "0"}


# the declaration

# Words that name data about a person: an address (mail or IP), a user agent, an identifier.
PERSONAL_WORDS = {
    "email",
    "mail",
    "address",
    "addr",
    "ip",
    "ipv4",
    "ipv6",
    "user",
    "agent",
    "ua",
    "subscriber",
    "visitor",
    "person",
    "contact",
    "cookie",
    "device",
    "uid",
}


def personal_data_fields(fields):
    """Declared fields named like data about a person, or about recipients without being a count."""
    found = []
    for field in fields:
        for name in {field.name, field.shown_as}:
            words = set(name.lower().split("_"))
            about_recipients = any(word.startswith("recipient") for word in words)
            if words & PERSONAL_WORDS or (about_recipients and field.kind != "integer"):
                found.append(name)
    return found


def planted(name, kind="text"):
    """A declared field under another name and kind, for the rule to judge."""
    return dataclasses.replace(campaign_field("name"), name=name, shown_as=name, kind=kind)


def test_no_declared_field_is_about_a_recipient():
    """No campaign field is named like personal data, and one about recipients is a count (P1)."""
    assert personal_data_fields(CAMPAIGN_FIELDS) == []


@pytest.mark.parametrize(
    ("field", "flagged"),
    [
        (planted("email"), True),
        (planted("recipient_address"), True),
        (planted("recipient"), True),
        (planted("recipient_ids"), True),
        (planted("ip"), True),
        (planted("user_agent"), True),
        (planted("subscriber_hash"), True),
        (planted("recipient_count", "integer"), False),
        (planted("subject"), False),
    ],
    ids=[
        "email",
        "recipient-address",
        "recipient",
        "recipient-ids",
        "ip",
        "user-agent",
        "subscriber",
        "count-of-recipients",
        "subject",
    ],
)
def test_personal_data_rule_judges_planted_fields(field, flagged):
    """The rule flags fields named like personal data and passes counts and plain names."""
    assert bool(personal_data_fields([field])) is flagged


def test_declared_field_set():
    """A campaign has exactly these fields, in the order the JSON view shows them."""
    assert [f.name for f in CAMPAIGN_FIELDS] == [
        "id",
        "name",
        "recipients",
        "created_at",
        "legal_basis",
        "legal_reference",
        "paused",
        "first_hit",
        "external_id",
    ]


def test_settable_fields():
    """A body may set name, recipients, legal basis, reference and external id; only the name is required."""
    assert [(f.name, f.required) for f in SETTABLE_FIELDS] == [
        ("name", True),
        ("recipients", False),
        ("legal_basis", False),
        ("legal_reference", False),
        ("external_id", False),
    ]


@pytest.mark.parametrize(
    "name",
    [f.name for f in CAMPAIGN_FIELDS if not f.settable],
    ids=[f.name for f in CAMPAIGN_FIELDS if not f.settable],
)
def test_fields_the_api_may_not_set_are_refused(name):
    """A body giving a field that is not settable (the id, the status, the times) is refused."""
    with pytest.raises(ValidationError, match="Unknown field") as info:
        validate_changes({name: "x"}, creating=False)
    assert info.value.details == {"fields": [name]}


def test_declared_limits():
    """The limits declared for each settable field are the module's constants."""
    limits = {f.name: (f.minimum, f.maximum, f.choices) for f in SETTABLE_FIELDS}
    assert limits == {
        "name": (None, NAME_MAX, ()),
        "recipients": (1, RECIPIENTS_MAX, ()),
        "legal_basis": (None, None, LEGAL_BASES),
        "legal_reference": (None, REFERENCE_MAX, ()),
        "external_id": (None, EXTERNAL_ID_MAX, ()),
    }


def test_typed_by_people():
    """The name, the legal reference and the external id are free text; the rest is not."""
    assert [f.name for f in CAMPAIGN_FIELDS if f.typed_by_people] == [
        "name",
        "legal_reference",
        "external_id",
    ]


@pytest.mark.parametrize(
    "declaration",
    [
        {"on": campaign_module._field("x", default=False, settable=True)},
        {"text": campaign_module._field("x", default="", settable=True)},
        {"count": campaign_module._field("x", default=0, settable=True, maximum=9)},
    ],
    ids=["flag", "text-without-maximum", "integer-without-minimum"],
)
def test_unchecked_settable_field_is_refused(declaration):
    """A settable field that validation could not check (a flag, no limits) fails at declaration."""
    types = {"on": bool, "text": str, "count": int}
    ((name, field),) = declaration.items()
    record = dataclasses.make_dataclass("Record", [(name, types[name], field)], kw_only=True)
    with pytest.raises(TypeError, match=f"^Campaign field '{name}': the API sets only limited"):
        campaign_module._declared(record)


def test_field_json():
    """Times are shown as ISO 8601 in UTC, absent times as null, other values as they are."""
    assert campaign_field("created_at").to_json(0.0) == "1970-01-01T00:00:00+00:00"
    assert campaign_field("first_hit").to_json(None) is None
    assert campaign_field("paused").to_json(True) is True
