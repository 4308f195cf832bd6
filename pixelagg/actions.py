"""What the API and the CLI do, once: each action takes the store and returns JSON-ready data.

The API handlers and the CLI's direct-store mode both call these, so a campaign looks the
same whichever way it was made.
"""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .config import Config
from .core.campaign import (
    CAMPAIGN_FIELDS,
    Campaign,
    campaign_field,
    check_legal_reference,
    derived_campaign_id,
    is_campaign_id,
    new_campaign_id,
    validate_changes,
)
from .core.links import Link, check_link_url, link_id, tracking_url
from .exceptions import Conflict, NotFound, ValidationError
from .reports.release import Policy
from .reports.report import Report, Withheld
from .reports.stats import StatsQuery, campaign_stats
from .store import Store
from .store.base import LINK_ADDED, LINK_EXISTS, LINK_TAKEN, LINKS_FULL

__all__ = [
    "FIRST_DAY",
    "LAST_DAY",
    "MAX_RANGE_DAYS",
    "campaign_view",
    "create_campaign",
    "delete_campaign",
    "get_campaign",
    "link_view",
    "list_campaigns",
    "list_links",
    "parse_stats_query",
    "pixel_snippet",
    "register_link",
    "set_paused",
    "stats",
    "update_campaign",
]

MAX_RANGE_DAYS = 800
FIRST_DAY = date(1970, 1, 2)
LAST_DAY = date(9998, 12, 30)
"""The days a range may name: time zones shift a day by up to 26 hours, and every day must
stay a timestamp after the epoch and a date before year 10000."""

_IMG_STYLE = "display:block;border:0;width:1px;height:1px;overflow:hidden"
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def pixel_snippet(pixel_url: str) -> str:
    """The HTML to paste into the newsletter: the same bytes for every recipient."""
    return f'<img src="{pixel_url}" width="1" height="1" alt="" style="{_IMG_STYLE}">'


def campaign_view(campaign: Campaign, base_url: str, *, private: bool = False) -> dict[str, Any]:
    """A campaign as the API and the CLI show it.

    `private` (differential privacy on): the exact time of the first open is not shown; the
    report's `privacy.first_open_at` gives it at the release period's granularity.
    """
    pixel_url = f"{base_url.rstrip('/')}/p/{campaign.id}.gif"
    view: dict[str, Any] = {f.shown_as: f.to_json(getattr(campaign, f.name)) for f in CAMPAIGN_FIELDS}
    if private:
        view[campaign_field("first_hit").shown_as] = None
    view.update(pixel_url=pixel_url, snippet=pixel_snippet(pixel_url), notes=[])
    if campaign.legal_basis == "consent":
        view["notes"].append(
            "Legal basis is consent: put this image only in mails to recipients who consented."
        )
    return view


def _not_found(campaign_id: str) -> NotFound:
    return NotFound(f"No campaign with id {campaign_id[:40]!r}.")


async def _existing(store: Store, campaign_id: str) -> Campaign:
    campaign = await store.get_campaign(campaign_id) if is_campaign_id(campaign_id) else None
    if campaign is None:
        raise _not_found(campaign_id)
    return campaign


async def _update(store: Store, campaign_id: str, changes: dict[str, Any]) -> Campaign:
    """Apply changes to an existing campaign; the store refuses (None) when it is gone."""
    updated = await store.update_campaign(campaign_id, changes) if is_campaign_id(campaign_id) else None
    if updated is None:
        raise _not_found(campaign_id)
    return updated


async def create_campaign(
    store: Store, config: Config, body: Any, key: bytes | None = None
) -> tuple[Campaign, bool]:
    """Create a campaign: (it, True); or (the existing one, False) for a known `external_id`.

    With `key`, a campaign for an external_id gets an id derived from both, so two processes
    creating it at once make the same campaign; without, or when that id is taken, a random one.
    """
    fields = validate_changes(body, creating=True)
    fields.setdefault("legal_basis", config.campaigns.default_legal_basis)
    external_id = fields.get("external_id")
    if external_id is not None:
        existing = await _with_external_id(store, external_id)
        if existing is not None:
            return existing, False
    campaign_id = new_campaign_id()
    if external_id is not None and key is not None:
        derived = derived_campaign_id(key, external_id)
        taken = await store.get_campaign(derived)
        if taken is None:
            campaign_id = derived
        elif taken.external_id == external_id:  # a create racing with this one made it first
            return taken, False
    campaign = Campaign(id=campaign_id, created_at=time.time(), **fields)
    check_legal_reference(campaign)
    await store.create_campaign(campaign)
    return campaign, True


async def _with_external_id(store: Store, external_id: str, but: str | None = None) -> Campaign | None:
    """The oldest campaign (other than `but`) with this external_id."""
    for campaign in await store.list_campaigns():
        if campaign.external_id == external_id and campaign.id != but:
            return campaign
    return None


async def get_campaign(store: Store, campaign_id: str) -> Campaign:
    return await _existing(store, campaign_id)


async def list_campaigns(store: Store) -> list[Campaign]:
    return await store.list_campaigns()


async def update_campaign(store: Store, campaign_id: str, body: Any) -> Campaign:
    changes = validate_changes(body, creating=False)
    current = await _existing(store, campaign_id)
    check_legal_reference(current.with_changes(changes))
    external_id = changes.get("external_id")
    if external_id is not None and external_id != current.external_id:
        other = await _with_external_id(store, external_id, but=campaign_id)
        if other is not None:
            raise ValidationError(
                f"'external_id' {external_id!r} belongs to campaign {other.id} already.",
                {"field": "external_id", "campaign": other.id},
            )
    return await _update(store, campaign_id, changes)


async def set_paused(store: Store, campaign_id: str, paused: bool) -> Campaign:
    return await _update(store, campaign_id, {"paused": paused})


async def delete_campaign(store: Store, campaign_id: str) -> None:
    if not is_campaign_id(campaign_id) or not await store.delete_campaign(campaign_id):
        raise _not_found(campaign_id)


LINK_ATTEMPTS = 8
"""Ids tried for one URL: the next is taken only when one belongs to another URL (2^-60)."""


def link_view(campaign_id: str, link: Link, base_url: str) -> dict[str, Any]:
    """A link as the API and the CLI show it: id, URL and the URL to put in the mail."""
    return {"id": link.id, "url": link.url, "tracking_url": tracking_url(base_url, campaign_id, link.id)}


async def register_link(store: Store, config: Config, campaign_id: str, body: Any) -> tuple[Link, bool]:
    """Register a link of a campaign: (it, True); or (the same link, False) when the campaign
    has this URL already, so a mail rewritten twice gets the same links."""
    if not isinstance(body, dict):
        raise ValidationError("The body must be a JSON object with 'url'.")
    unknown = sorted(set(body) - {"url"})
    if unknown:
        raise ValidationError(
            f"Unknown field {unknown[0][:40]!r}: a link has only 'url'.", {"field": unknown[0]}
        )
    await _existing(store, campaign_id)
    if "url" not in body:
        raise ValidationError("'url' is required.", {"field": "url"})
    url = check_link_url(body["url"])
    limit = config.links.max_per_campaign
    for attempt in range(LINK_ATTEMPTS):
        candidate = link_id(campaign_id, url, attempt)
        answer = await store.add_link(campaign_id, candidate, url, limit)
        if answer in (LINK_ADDED, LINK_EXISTS):
            return Link(candidate, url), answer == LINK_ADDED
        if answer == LINKS_FULL:
            raise Conflict(
                f"The campaign has {limit} links, as many as it may (links.max_per_campaign).",
                {"field": "url", "limit": limit},
            )
        if answer != LINK_TAKEN:  # the campaign was deleted meanwhile
            raise _not_found(campaign_id)
    raise ValidationError("No free link id for this URL.", {"field": "url"})  # pragma: no cover


async def list_links(store: Store, campaign_id: str) -> list[Link]:
    """The links of an existing campaign, sorted by URL."""
    await _existing(store, campaign_id)
    return [Link(i, url) for i, url in (await store.list_links(campaign_id)).items()]


def _parse_date(name: str, value: str | None) -> date | None:
    if value is None or value == "":
        return None
    try:
        if not _ISO_DAY.fullmatch(value):  # fromisoformat also takes 20250101 and 2025-W03-2
            raise ValueError(value)
        day = date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationError(f"'{name}' must be a date as YYYY-MM-DD.", {"parameter": name}) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValidationError(
            f"'{name}' must be a day from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}.",
            {"parameter": name},
        )
    return day


def parse_stats_query(
    config: Config,
    campaign: Campaign,
    start: str | None = None,
    end: str | None = None,
    tz: str | None = None,
) -> StatsQuery:
    """Validate a stats range. Defaults: from the campaign's creation day to today, in UTC."""
    try:
        zone = ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValidationError(
            "'tz' must be an IANA time zone such as Europe/Amsterdam.", {"parameter": "tz"}
        ) from None
    today = datetime.now(zone).date()
    created = datetime.fromtimestamp(campaign.created_at, zone).date()
    first = _parse_date("from", start) or created
    last = _parse_date("to", end) or max(today, first)
    if last < first:
        raise ValidationError("'to' must not be before 'from'.", {"parameter": "to"})
    if last - first > timedelta(days=MAX_RANGE_DAYS):
        raise ValidationError(f"The range may span at most {MAX_RANGE_DAYS} days.", {"parameter": "from"})
    return StatsQuery(first, last, zone, config.privacy.min_bucket, Policy.from_config(config))


async def stats(
    store: Store,
    config: Config,
    campaign: Campaign | str,
    start: str | None = None,
    end: str | None = None,
    tz: str | None = None,
) -> Report | Withheld:
    """The report of a campaign (or of the campaign with this id) over a validated range."""
    if isinstance(campaign, str):
        campaign = await _existing(store, campaign)
    return await campaign_stats(store, campaign, parse_stats_query(config, campaign, start, end, tz))
