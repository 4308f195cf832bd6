"""Campaigns: the record with its fields declared once, server-generated ids, validation of input.

Each field of `Campaign` is declared with `_field()`: the annotation is its type, the metadata
its help text, whether the API may set it, its limits and how it is shown. `CAMPAIGN_FIELDS`
reads that declaration once, and everything else is built from it: the validation of request
bodies, the store's string fields, the JSON view, the OpenAPI schema, the CLI's options and
the audit's list of campaigns. Adding a field means declaring it here.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal, NoReturn, get_args, get_type_hints

from ..exceptions import ValidationError

__all__ = [
    "CAMPAIGN_FIELDS",
    "CAMPAIGN_ID_CHARS",
    "CAMPAIGN_ID_PATTERN",
    "EXTERNAL_ID_MAX",
    "LEGAL_BASES",
    "NAME_MAX",
    "RECIPIENTS_MAX",
    "REFERENCE_MAX",
    "SETTABLE_FIELDS",
    "UNPRINTABLE_CHARS",
    "Campaign",
    "CampaignField",
    "campaign_field",
    "check_legal_reference",
    "derived_campaign_id",
    "encode_changes",
    "is_campaign_id",
    "new_campaign_id",
    "validate_changes",
]

LEGAL_BASES = ("consent", "legitimate_interest", "public_task", "exempt_statistics")

CAMPAIGN_ID_CHARS = "A-Za-z0-9_-"
"""The characters of a campaign id (the URL-safe base64 alphabet), as a regex character class."""
CAMPAIGN_ID_PATTERN = rf"[{CAMPAIGN_ID_CHARS}]{{16}}"
"""A whole campaign id: 16 of those characters, 96 random bits."""

NAME_MAX = 200
REFERENCE_MAX = 500
EXTERNAL_ID_MAX = 200
RECIPIENTS_MAX = 1_000_000_000

UNPRINTABLE_CHARS = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
"""What text fields refuse, as a regex character class: control characters (a terminal would
act on them), line and paragraph separators and bidirectional overrides (they reorder what a
reader sees). Unpaired surrogates are refused too (no UTF-8 store or page can hold them), but
they are not in this class, which the OpenAPI document uses: schema regexes cannot name them."""

_ID = re.compile(rf"{CAMPAIGN_ID_PATTERN}\Z")
_UNPRINTABLE = re.compile(f"[{UNPRINTABLE_CHARS}\\ud800-\\udfff]")

Kind = Literal["text", "integer", "flag", "timestamp"]
# A float field is a time: seconds since the epoch, shown as ISO 8601 in UTC.
_KINDS: dict[type, Kind] = {str: "text", int: "integer", bool: "flag", float: "timestamp"}
_EMPTY: dict[Kind, Any] = {"text": "", "integer": 0, "flag": False, "timestamp": 0.0}


def new_campaign_id() -> str:
    """A short, URL-safe, unguessable id: 96 random bits in 16 characters.

    Never starting with '-', which the command line would take for an option (costs 0.02 bits).
    """
    while True:
        campaign_id = secrets.token_urlsafe(12)
        if not campaign_id.startswith("-"):
            return campaign_id


def derived_campaign_id(key: bytes, external_id: str) -> str:
    """The id of the campaign made for a newsletter tool's id: the same for the same key.

    A keyed hash (HMAC-SHA256), so it is as unguessable as a random id to whoever lacks the key,
    and two processes creating the same campaign at once make one campaign, not two.
    """
    digest = hmac.new(key, b"external_id\x00" + external_id.encode("utf-8"), hashlib.sha256).digest()
    for start in range(0, len(digest) - 11, 4):  # never starting with '-', like new_campaign_id
        campaign_id = base64.urlsafe_b64encode(digest[start : start + 12]).decode("ascii")
        if not campaign_id.startswith("-"):
            return campaign_id
    return new_campaign_id()


def is_campaign_id(text: str) -> bool:
    """True when `text` has the shape of a campaign id (it may still not exist)."""
    return _ID.match(text) is not None


def _field(
    help: str,
    *,
    default: Any = dataclasses.MISSING,
    settable: bool = False,
    minimum: int | None = None,
    maximum: int | None = None,
    choices: tuple[str, ...] = (),
    shown_as: str | None = None,
    audited: bool = False,
    stored: bool = True,
) -> Any:
    """Declare one campaign field; `CampaignField` says what each argument means."""
    meta = {
        "help": help,
        "settable": settable,
        "minimum": minimum,
        "maximum": maximum,
        "choices": choices,
        "shown_as": shown_as,
        "audited": audited,
        "stored": stored,
    }
    return dataclasses.field(default=default, metadata={"campaign": meta})


@dataclass(frozen=True, kw_only=True)
class Campaign:
    """What pixelagg knows about a campaign. Nothing in it is about a recipient."""

    id: str = _field(
        "The campaign's id: 16 URL-safe random characters, chosen by the server.",
        audited=True,
        stored=False,  # it is part of the store's key, not a field
    )
    name: str = _field(
        "The campaign's name, shown in lists and reports.", settable=True, maximum=NAME_MAX, audited=True
    )
    recipients: int | None = _field(
        "How many recipients the mail went to.",
        default=None,
        settable=True,
        minimum=1,
        maximum=RECIPIENTS_MAX,
    )
    created_at: float = _field("When the campaign was created.")
    legal_basis: str = _field(
        "The legal basis of the measurement; new campaigns get campaigns.default_legal_basis.",
        default="legitimate_interest",
        settable=True,
        choices=LEGAL_BASES,
        audited=True,
    )
    legal_reference: str | None = _field(
        "The statutory basis; required with public_task.",
        default=None,
        settable=True,
        maximum=REFERENCE_MAX,
        audited=True,
    )
    paused: bool = _field(
        "Whether counting is paused (the pixel is still served).", default=False, audited=True
    )
    first_hit: float | None = _field(
        "When the first counted open arrived.", default=None, shown_as="first_hit_at"
    )
    external_id: str | None = _field(
        "The newsletter tool's own id for this mailing; creating a campaign again with the same "
        "one returns the campaign made first.",
        default=None,
        settable=True,
        maximum=EXTERNAL_ID_MAX,
    )

    def to_fields(self) -> dict[str, str]:
        """The campaign as string fields for a store hash; None values are left out."""
        encoded = {f.name: f.encode(getattr(self, f.name)) for f in _STORED}
        return {name: text for name, text in encoded.items() if text is not None}

    @classmethod
    def from_fields(cls, campaign_id: str, fields: Mapping[str, str]) -> Campaign:
        """Rebuild a campaign from store hash fields."""
        return cls(id=campaign_id, **{f.name: f.decode(fields.get(f.name)) for f in _STORED})

    def with_changes(self, changes: Mapping[str, Any]) -> Campaign:
        return replace(self, **changes)


@dataclass(frozen=True)
class CampaignField:
    """One declared field of `Campaign`: what it holds, who may set it, how it is shown and stored."""

    name: str
    """The attribute, the key in request bodies and the name of the store's hash field."""
    kind: Kind
    """text (str), integer (int), flag (bool) or timestamp (float seconds since the epoch)."""
    nullable: bool
    """None is a value (null in JSON): the annotation is `T | None`."""
    default: Any
    """The value of a new campaign that is not given one; dataclasses.MISSING when there is none."""
    help: str
    settable: bool
    """The API (and the CLI) may set it when creating a campaign and change it later."""
    minimum: int | None
    maximum: int | None
    """The largest integer, or the longest text."""
    choices: tuple[str, ...]
    shown_as: str
    """Its key in the JSON view of a campaign."""
    audited: bool
    """The audit lists it for every campaign."""
    stored: bool

    @property
    def required(self) -> bool:
        """A new campaign must be given it: the API sets it and there is no default."""
        return self.settable and self.default is dataclasses.MISSING

    @property
    def typed_by_people(self) -> bool:
        """Free text that a person typed, which might name anyone."""
        return self.settable and self.kind == "text" and not self.choices

    def check(self, value: Any) -> Any:
        """A value from a request body, checked and cleaned; a ValidationError names the field."""
        if value is None and self.nullable:
            return None
        if self.choices:
            if value not in self.choices:
                self._refuse(f"must be one of: {', '.join(self.choices)}")
            return str(value)
        if self.kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int) or not self._within(value):
                self._refuse(
                    f"must be an integer from {self.minimum} to {self.maximum}"
                    + (", or null" if self.nullable else "")
                )
            return value
        if self.nullable:  # optional text: blank means none
            if not isinstance(value, str) or self._too_long(value):
                self._refuse(f"must be a string of at most {self.maximum} characters")
            self._refuse_unprintable(value)
            return value.strip() or None
        if not isinstance(value, str) or not value.strip():
            self._refuse("must be a non-empty string")
        if self._too_long(value):
            self._refuse(f"must be at most {self.maximum} characters")
        self._refuse_unprintable(value)
        return value.strip()

    def encode(self, value: Any) -> str | None:
        """The value as a store hash field; None is not stored."""
        if value is None:
            return None
        if self.kind == "flag":
            return "1" if value else "0"
        return str(value)  # str() of a float round-trips exactly

    def decode(self, text: str | None) -> Any:
        """The value of a store hash field, which may be absent (None) or empty."""
        if not text:
            return _EMPTY[self.kind] if self.default is dataclasses.MISSING else self.default
        if self.kind == "flag":
            return text == "1"
        if self.kind == "integer":
            return int(text)
        if self.kind == "timestamp":
            return float(text)
        return text

    def to_json(self, value: Any) -> Any:
        """The value as the JSON view shows it."""
        if self.kind == "timestamp" and value is not None:
            return datetime.fromtimestamp(value, UTC).isoformat()
        return value

    def _within(self, value: int) -> bool:
        low, high = self.minimum, self.maximum
        return (low is None or value >= low) and (high is None or value <= high)

    def _too_long(self, text: str) -> bool:
        return self.maximum is not None and len(text) > self.maximum

    def _refuse_unprintable(self, text: str) -> None:
        found = _UNPRINTABLE.search(text)
        if found is not None:
            self._refuse(
                f"must not hold control characters, line separators, direction overrides or "
                f"unpaired surrogates (found U+{ord(found.group()):04X})"
            )

    def _refuse(self, problem: str) -> NoReturn:
        raise ValidationError(f"'{self.name}' {problem}.", {"field": self.name})


def _declared(record: type) -> tuple[CampaignField, ...]:
    """A record's fields as declared with _field(), in order (which is the JSON view's order)."""
    hints = get_type_hints(record)
    declared = []
    for f in dataclasses.fields(record):
        meta = f.metadata["campaign"]
        hint = hints[f.name]
        options = get_args(hint)  # (int, NoneType) for int | None; () for a plain type
        spec = CampaignField(
            name=f.name,
            kind=_KINDS[next(t for t in options if t is not type(None)) if options else hint],
            nullable=type(None) in options,
            default=f.default,
            help=meta["help"],
            settable=meta["settable"],
            minimum=meta["minimum"],
            maximum=meta["maximum"],
            choices=meta["choices"],
            shown_as=meta["shown_as"] or f.name,
            audited=meta["audited"],
            stored=meta["stored"],
        )
        if spec.settable and not _checkable(spec):
            raise TypeError(f"Campaign field {f.name!r}: the API sets only limited text and integers.")
        declared.append(spec)
    return tuple(declared)


def _checkable(spec: CampaignField) -> bool:
    """check() can judge it: a choice, text with a maximum length, or an integer with both limits."""
    if spec.choices:
        return True
    if spec.kind == "text":
        return spec.maximum is not None
    return spec.kind == "integer" and spec.minimum is not None and spec.maximum is not None


CAMPAIGN_FIELDS = _declared(Campaign)
"""Every field of a campaign, in the order the JSON view shows them."""
SETTABLE_FIELDS = tuple(f for f in CAMPAIGN_FIELDS if f.settable)
"""The fields a create or update body may give."""
_STORED = tuple(f for f in CAMPAIGN_FIELDS if f.stored)
_BY_NAME = {f.name: f for f in CAMPAIGN_FIELDS}
_SETTABLE = {f.name: f for f in SETTABLE_FIELDS}


def campaign_field(name: str) -> CampaignField:
    """The declared field called `name`."""
    return _BY_NAME[name]


def encode_changes(changes: Mapping[str, Any]) -> dict[str, str | None]:
    """Changes to a campaign as store hash fields: the text to set, or None to remove the field."""
    return {name: _BY_NAME[name].encode(value) for name, value in changes.items()}


def validate_changes(body: Any, *, creating: bool) -> dict[str, Any]:
    """Validate a create or update body and return the clean fields.

    Creating requires `name`. `public_task` requires a `legal_reference` (a statutory basis):
    public bodies cannot rely on legitimate interest, and an unnamed basis is no basis.
    """
    if not isinstance(body, dict):
        raise ValidationError("The body must be a JSON object.")
    unknown = sorted(set(body) - set(_SETTABLE))
    if unknown:
        raise ValidationError(f"Unknown field(s): {', '.join(unknown)}.", {"fields": unknown})
    missing = [f.name for f in SETTABLE_FIELDS if creating and f.required and f.name not in body]
    if missing:
        raise ValidationError(f"'{missing[0]}' is required.", {"field": missing[0]})
    return {key: _SETTABLE[key].check(value) for key, value in body.items()}


def check_legal_reference(campaign: Campaign) -> None:
    """Refuse a public_task campaign without a legal reference."""
    if campaign.legal_basis == "public_task" and not campaign.legal_reference:
        raise ValidationError(
            "'public_task' needs a statutory basis: give 'legal_reference' "
            "(for example the law and article the campaign relies on).",
            {"field": "legal_reference"},
        )
