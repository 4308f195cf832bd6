"""Campaigns: the record, server-generated ids, and validation of user input."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from ..exceptions import ValidationError

__all__ = ["LEGAL_BASES", "Campaign", "is_campaign_id", "new_campaign_id", "validate_changes"]

LEGAL_BASES = ("consent", "legitimate_interest", "public_task", "exempt_statistics")

_ID = re.compile(r"[A-Za-z0-9_-]{16}\Z")
NAME_MAX = 200
REFERENCE_MAX = 500
RECIPIENTS_MAX = 1_000_000_000


def new_campaign_id() -> str:
    """A short, URL-safe, unguessable id: 96 random bits in 16 characters.

    Never starting with '-', which the command line would take for an option (costs 0.02 bits).
    """
    while True:
        campaign_id = secrets.token_urlsafe(12)
        if not campaign_id.startswith("-"):
            return campaign_id


def is_campaign_id(text: str) -> bool:
    """True when `text` has the shape of a campaign id (it may still not exist)."""
    return _ID.match(text) is not None


@dataclass(frozen=True)
class Campaign:
    """What pixelagg knows about a campaign. Nothing in it is about a recipient."""

    id: str
    name: str
    created_at: float
    recipients: int | None = None
    legal_basis: str = "legitimate_interest"
    legal_reference: str | None = None
    paused: bool = False
    first_hit: float | None = None

    def to_fields(self) -> dict[str, str]:
        """The campaign as string fields for a store hash; None values are left out."""
        out: dict[str, str] = {}
        for key, value in asdict(self).items():
            if key == "id" or value is None:
                continue
            out[key] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return out

    @classmethod
    def from_fields(cls, campaign_id: str, fields: Mapping[str, str]) -> Campaign:
        """Rebuild a campaign from store hash fields."""
        recipients = fields.get("recipients")
        first_hit = fields.get("first_hit")
        return cls(
            id=campaign_id,
            name=fields.get("name", ""),
            created_at=float(fields.get("created_at", "0")),
            recipients=int(recipients) if recipients else None,
            legal_basis=fields.get("legal_basis", "legitimate_interest"),
            legal_reference=fields.get("legal_reference") or None,
            paused=fields.get("paused") == "1",
            first_hit=float(first_hit) if first_hit else None,
        )

    def with_changes(self, changes: Mapping[str, Any]) -> Campaign:
        return replace(self, **changes)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("'name' must be a non-empty string.", {"field": "name"})
    if len(value) > NAME_MAX:
        raise ValidationError(f"'name' must be at most {NAME_MAX} characters.", {"field": "name"})
    return value.strip()


def _recipients(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= RECIPIENTS_MAX:
        raise ValidationError(
            f"'recipients' must be an integer from 1 to {RECIPIENTS_MAX}, or null.",
            {"field": "recipients"},
        )
    return value


def _legal_basis(value: Any) -> str:
    if value not in LEGAL_BASES:
        raise ValidationError(
            f"'legal_basis' must be one of: {', '.join(LEGAL_BASES)}.", {"field": "legal_basis"}
        )
    return str(value)


def _legal_reference(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > REFERENCE_MAX:
        raise ValidationError(
            f"'legal_reference' must be a string of at most {REFERENCE_MAX} characters.",
            {"field": "legal_reference"},
        )
    return value.strip() or None


_VALIDATORS = {
    "name": _name,
    "recipients": _recipients,
    "legal_basis": _legal_basis,
    "legal_reference": _legal_reference,
}


def validate_changes(body: Any, *, creating: bool) -> dict[str, Any]:
    """Validate a create or update body and return the clean fields.

    Creating requires `name`. `public_task` requires a `legal_reference` (a statutory basis):
    public bodies cannot rely on legitimate interest, and an unnamed basis is no basis.
    """
    if not isinstance(body, dict):
        raise ValidationError("The body must be a JSON object.")
    unknown = sorted(set(body) - set(_VALIDATORS))
    if unknown:
        raise ValidationError(f"Unknown field(s): {', '.join(unknown)}.", {"fields": unknown})
    if creating and "name" not in body:
        raise ValidationError("'name' is required.", {"field": "name"})
    clean = {key: _VALIDATORS[key](value) for key, value in body.items()}
    return clean


def check_legal_reference(campaign: Campaign) -> None:
    """Refuse a public_task campaign without a legal reference."""
    if campaign.legal_basis == "public_task" and not campaign.legal_reference:
        raise ValidationError(
            "'public_task' needs a statutory basis: give 'legal_reference' "
            "(for example the law and article the campaign relies on).",
            {"field": "legal_reference"},
        )
