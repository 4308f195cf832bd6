"""The audit's view of the campaigns: the listing, and patterns of per-recipient tracking (P11).

A sender who makes a campaign per recipient tracks people, whatever the pixel looks like.
Three patterns point to it, each a warning from one threshold and an error from a higher one:

- small campaigns: a recipients figure below SMALL_RECIPIENTS, or (only with epsilon off,
  where figures are exact anyway) fewer than FEW_OPENS opens in a campaign older than
  FEW_OPENS_AFTER_DAYS. With epsilon on the audit reads no exact count: "this campaign has
  fewer than 5 opens" would itself be an exact figure about opens, outside the release step.
- names that look like an e-mail address or a person's name;
- bursts: many campaigns created within BURST_SECONDS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..core.campaign import CAMPAIGN_FIELDS, CampaignField, campaign_field
from .findings import Finding
from .given_names import GIVEN_NAMES
from .raw_data import EMAIL

__all__ = [
    "BURST_FAIL",
    "BURST_SECONDS",
    "BURST_WARN",
    "FEW_OPENS",
    "FEW_OPENS_AFTER_DAYS",
    "NAMES_FAIL",
    "NAMES_WARN",
    "SMALL_FAIL",
    "SMALL_RECIPIENTS",
    "SMALL_WARN",
    "campaign_rows",
    "decode_field",
    "looks_like_a_person",
    "recipient_patterns",
]

SMALL_RECIPIENTS = 10
FEW_OPENS = 5
FEW_OPENS_AFTER_DAYS = 3
SMALL_WARN, SMALL_FAIL = 5, 20
NAMES_WARN, NAMES_FAIL = 1, 5
BURST_SECONDS = 3600
BURST_WARN, BURST_FAIL = 20, 100

_LISTED = tuple(f for f in CAMPAIGN_FIELDS if f.audited)
_CREATED_AT = campaign_field("created_at")
_RECIPIENTS = campaign_field("recipients")
_NAME = campaign_field("name")
_PARTICLES = frozenset(
    """
    van von de der den del della di da du le la ten ter te het 't bin al el dos
    """.split()  # noqa: SIM905 - a word list reads best as text
)
_NOT_A_PERSON = frozenset(
    """
    newsletter nieuwsbrief update updates news nieuws digest edition issue weekly monthly daily
    special sale offer offers launch event events invitation invite reminder report bulletin
    magazine spring summer autumn fall winter week month year test campaign mailing members
    january february march april may june july august september october november december
    """.split()  # noqa: SIM905 - a word list reads best as text
)
_WORD = re.compile(r"[A-Z][a-z]+(?:[-'][A-Za-z][a-z]+)*\Z")


def decode_field(spec: CampaignField, fields: Mapping[str, str]) -> Any:
    """A meta field's value; a malformed one (pixelagg never wrote it) as the default."""
    try:
        return spec.decode(fields.get(spec.name))
    except ValueError:
        return spec.decode(None)


def campaign_rows(metas: Mapping[str, Mapping[str, str]]) -> list[dict[str, Any]]:
    """Each campaign's audited fields, oldest first; a malformed value shows as the default."""
    rows = []
    for campaign, fields in metas.items():
        row = {f.shown_as: decode_field(f, fields) if f.stored else campaign for f in _LISTED}
        rows.append((decode_field(_CREATED_AT, fields), campaign, row))
    rows.sort(key=lambda r: (r[0], r[1]))
    return [row for _, _, row in rows]


def looks_like_a_person(name: str) -> bool:
    """Whether a campaign name reads like a person's: a common given name, then surname words."""
    words = name.split()
    if not 2 <= len(words) <= 4 or words[0].lower() not in GIVEN_NAMES:
        return False
    if any(w.lower() in _NOT_A_PERSON for w in words):
        return False
    rest = words[1:]
    surname = [w for w in rest if w.lower() not in _PARTICLES]
    return bool(surname) and rest[-1] in surname and all(_WORD.match(w) for w in surname)


def recipient_patterns(
    metas: Mapping[str, Mapping[str, str]], opens: Mapping[str, int], exact: bool, now: float
) -> list[Finding]:
    """Warnings and errors for small campaigns, person-like names and bursts of creation.

    `opens` is each campaign's total of counted opens, read only when `exact` (epsilon off)."""
    small = names = emails = 0
    created: list[float] = []
    for campaign, fields in metas.items():
        recipients = decode_field(_RECIPIENTS, fields)
        created_at = float(decode_field(_CREATED_AT, fields))
        created.append(created_at)
        old = now - created_at > FEW_OPENS_AFTER_DAYS * 86400
        if (recipients is not None and recipients < SMALL_RECIPIENTS) or (
            exact and old and opens.get(campaign, 0) < FEW_OPENS
        ):
            small += 1
        name = str(decode_field(_NAME, fields))
        if EMAIL.search(name):
            emails += 1
        elif looks_like_a_person(name):
            names += 1
    findings = []
    opens_rule = f" or fewer than {FEW_OPENS} opens after {FEW_OPENS_AFTER_DAYS} days" if exact else ""
    small_message = (
        f"{small} campaign(s) have fewer than {SMALL_RECIPIENTS} recipients{opens_rule}: each "
        "describes a handful of people, and many of them are how a sender tracks recipients one "
        f"by one (a warning from {SMALL_WARN}, an error from {SMALL_FAIL})."
    )
    findings += _graded("small-campaigns", small, SMALL_WARN, SMALL_FAIL, small_message)
    named = emails + names
    name_message = (
        f"{named} campaign name(s) look like a recipient: {emails} like an e-mail address, {names} "
        "like a person's name. A campaign per recipient is per-recipient tracking, and the name "
        f"itself is personal data (a warning from {NAMES_WARN}, an error from {NAMES_FAIL})."
    )
    findings += _graded("personal-names", named, NAMES_WARN, NAMES_FAIL, name_message)
    burst = _largest_burst(sorted(created))
    burst_message = (
        f"{burst} campaigns were created within {BURST_SECONDS // 60} minutes: a script making a "
        "campaign per recipient looks like this (a warning from "
        f"{BURST_WARN}, an error from {BURST_FAIL})."
    )
    findings += _graded("creation-bursts", burst, BURST_WARN, BURST_FAIL, burst_message)
    return findings


def _graded(check: str, n: int, warn: int, fail: int, message: str) -> list[Finding]:
    if n >= fail:
        return [Finding("error", check, message)]
    if n >= warn:
        return [Finding("warning", check, message)]
    return []


def _largest_burst(times: list[float]) -> int:
    """The most creation times (sorted) within any BURST_SECONDS."""
    best = start = 0
    for end, at in enumerate(times):
        while at - times[start] >= BURST_SECONDS:
            start += 1
        best = max(best, end - start + 1)
    return best
