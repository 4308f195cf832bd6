"""Statistics of a campaign: totals, uniques with error bars, classes, days, hours, regions, clicks.

Counters are kept per UTC hour, so days and hours can be reported in any time zone. Unique
opens come from per-UTC-day sketches: a local day's unique figure is the UTC day's (see
docs/metrics.md). Region buckets with fewer than `privacy.min_bucket` unique opens are merged
into "other" here, so every output (API, CLI, CSV, dashboard) gets the same suppression.
"""

from __future__ import annotations

import functools
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ..core.campaign import Campaign
from ..core.classify import CLASSES, HUMAN_CLASSES, MACHINE_CLASSES
from ..core.regions import OTHER_REGION as OTHER
from ..store import SketchRef, Store
from ..store.batch import DECLINED_FIELD, parse_counter_field, sketch_refs
from .clicks import exact_clicks
from .release import Figure, Policy
from .released import COUNTS_ONLY_METHOD, FIRST_HOURS, NOT_SEEN, rates, released_report
from .report import (
    CampaignRef,
    DayRange,
    DayRow,
    HourRow,
    Opens,
    RegionRow,
    ReleaseInfo,
    Report,
    UniqueOpens,
    Withheld,
    client_rows,
)
from .sketch_bounds import BOUNDS_METHODS, ERROR_QUANTILES, RELATIVE_ERROR, bounds, sketch_centres

__all__ = [
    "BOUNDS_METHODS",
    "ERROR_QUANTILES",
    "RELATIVE_ERROR",
    "StatsQuery",
    "bounds",
    "campaign_stats",
    "merge_small_regions",
    "sketch_centres",
]


EXACT_NOTES = (
    NOT_SEEN,
    "Figures are exact and live (privacy.epsilon is off): nothing protects a single recipient.",
)


@dataclass(frozen=True)
class StatsQuery:
    """What to report: an inclusive range of local days in a time zone, and how to release it."""

    start: date
    end: date
    tz: ZoneInfo
    min_bucket: int
    policy: Policy | None = None
    """The release policy; None or an exact one reports the counts as they are."""


def merge_small_regions(
    regions: dict[str, tuple[int, float]], min_bucket: int
) -> tuple[dict[str, tuple[int, float]], list[str]]:
    """Keep regions with at least `min_bucket` unique opens; return them and the merged names.

    A bucket with exactly `min_bucket` uniques is kept; one with fewer is merged into "other".
    """
    kept = {r: v for r, v in regions.items() if r != OTHER and round(v[1]) >= min_bucket}
    merged = sorted(r for r in regions if r not in kept)
    return kept, merged


def _utc_days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _day_key(day: date) -> str:
    return day.strftime("%Y%m%d")


async def campaign_stats(
    store: Store, campaign: Campaign, query: StatsQuery, now: float | None = None
) -> Report | Withheld:
    """The statistics report of one campaign: through the release step unless it is exact."""
    if query.policy is not None and query.policy.budget is not None:
        now = time.time() if now is None else now
        return await released_report(
            store, campaign, query.start, query.end, query.tz.key, query.min_bucket, query.policy, now
        )
    return await _exact_stats(store, campaign, query)


async def _exact_stats(store: Store, campaign: Campaign, query: StatsQuery) -> Report:
    """The exact, live report (privacy.epsilon off)."""
    counts_uniques = query.policy is None or query.policy.uniques
    tz = query.tz
    local_days = _utc_days(query.start, query.end)
    # Local days may straddle UTC days: read one more on each side and place hours by local time.
    fetch = _utc_days(query.start - timedelta(days=1), query.end + timedelta(days=1))
    first_hit = campaign.first_hit
    if first_hit is not None:
        first = datetime.fromtimestamp(first_hit, UTC).date()
        fetch = sorted(set(fetch) | set(_utc_days(first, first + timedelta(days=3))))
    counters = await store.read_counters(campaign.id, [_day_key(d) for d in fetch])

    total = 0
    declined = 0
    by_class: Counter[str] = Counter()
    by_day: dict[date, Counter[str]] = {d: Counter() for d in local_days}
    by_region: Counter[str] = Counter()
    by_client: Counter[str] = Counter()
    by_hour: dict[datetime, Counter[str]] = {}
    seen: dict[str, set[tuple[str, str]]] = defaultdict(set)  # utc day -> {(kind, dimension)}
    hour_start = (
        datetime.fromtimestamp(first_hit, UTC).replace(minute=0, second=0, microsecond=0)
        if first_hit is not None
        else None
    )
    in_range_utc_days = {d for d in fetch if query.start <= d <= query.end}
    for day_key, fields in counters.items():
        utc_day = datetime.strptime(day_key, "%Y%m%d").replace(tzinfo=UTC)
        for name, count in fields.items():
            if name == DECLINED_FIELD:
                if utc_day.date() in in_range_utc_days:
                    declined += count
                continue
            parsed = parse_counter_field(name)
            if parsed is None:
                continue
            kind, hour, dimension = parsed
            if kind == "r":  # regions are kept per UTC day, like the sketches
                if utc_day.date() in in_range_utc_days:
                    by_region[dimension] += count
                    seen[day_key].add(("r", dimension))
                continue
            if kind == "c":  # so are mail-client families
                if utc_day.date() in in_range_utc_days:
                    by_client[dimension] += count
                continue
            if kind != "h":  # first opens and per-period opens are the release step's
                continue
            class_ = dimension
            moment = utc_day + timedelta(hours=hour)
            if hour_start is not None and timedelta(0) <= moment - hour_start < timedelta(hours=FIRST_HOURS):
                by_hour.setdefault(moment, Counter())[class_] += count
            local_day = moment.astimezone(tz).date()
            if not query.start <= local_day <= query.end:
                continue
            total += count
            by_class[class_] += count
            by_day[local_day][class_] += count
            seen[day_key].add(("u", class_))

    sketch_days = sorted(d for d in seen if datetime.strptime(d, "%Y%m%d").date() in in_range_utc_days)

    refs = functools.partial(sketch_refs, seen)

    classes = list(CLASSES)
    regions = sorted(by_region)
    groups: list[Sequence[SketchRef]] = [
        refs("u", classes, sketch_days),
        refs("u", HUMAN_CLASSES, sketch_days),
        *(refs("u", [c], sketch_days) for c in classes),
        *(refs("u", classes, [_day_key(d)]) for d in local_days),
        *(refs("r", [r], sketch_days) for r in regions),
    ]
    counts = await store.count_unique(campaign.id, groups)
    everyone, human, rest = counts[0], counts[1], counts[2:]
    class_uniques = dict(zip(classes, rest[: len(classes)], strict=True))
    rest = rest[len(classes) :]
    day_uniques = dict(zip(local_days, rest[: len(local_days)], strict=True))
    region_uniques = dict(zip(regions, rest[len(local_days) :], strict=True))

    kept, merged = merge_small_regions(
        {r: (by_region[r], region_uniques[r]) for r in regions}, query.min_bucket
    )
    region_rows = [
        RegionRow(r, opens, round(u))
        for r, (opens, u) in sorted(kept.items(), key=lambda item: (-item[1][0], item[0]))
    ]
    if merged:
        (other_uniques,) = await store.count_unique(campaign.id, [refs("r", merged, sketch_days)])
        region_rows.append(RegionRow(OTHER, sum(by_region[r] for r in merged), round(other_uniques)))

    machine = sum(by_class[c] for c in MACHINE_CLASSES)
    human_bounds = bounds(human, store.kind)
    rated = rates(
        campaign.recipients,
        {c: Figure(by_class[c]) for c in classes},
        {c: Figure(round(class_uniques[c])) for c in classes} if counts_uniques else None,
        RELATIVE_ERROR,
    )
    all_bounds = bounds(everyone, store.kind)
    return Report(
        campaign=CampaignRef(campaign.id, campaign.name, campaign.recipients),
        range=DayRange(query.start, query.end, tz.key),
        opens=Opens(total=total, by_class={c: by_class[c] for c in classes}, declined=declined),
        unique_opens=UniqueOpens(
            all_bounds.estimate,
            all_bounds.low,
            all_bounds.high,
            human=human_bounds,
            by_class={c: bounds(class_uniques[c], store.kind) for c in classes},
            method=BOUNDS_METHODS[store.kind] if counts_uniques else COUNTS_ONLY_METHOD,
        ),
        open_rate=rated.open_rate,
        machine_share=round(machine / total, 4) if total else None,
        by_day=tuple(
            DayRow(
                day=d,
                opens=sum(by_day[d].values()),
                human_opens=sum(by_day[d][c] for c in HUMAN_CLASSES),
                machine_opens=sum(by_day[d][c] for c in MACHINE_CLASSES),
                unique_opens=round(day_uniques[d]),
            )
            for d in local_days
        ),
        by_hour=tuple(
            HourRow(
                hour=moment.astimezone(tz),
                opens=sum(c.values()),
                human_opens=sum(c[k] for k in HUMAN_CLASSES),
                machine_opens=sum(c[k] for k in MACHINE_CLASSES),
            )
            for moment, c in sorted(by_hour.items())
        ),
        by_region=tuple(region_rows),
        min_bucket=query.min_bucket,
        privacy=ReleaseInfo(
            mode="exact",
            epsilon=None,
            release_period_seconds=None,
            released_until=None,
            first_open_at=datetime.fromtimestamp(first_hit, UTC) if first_hit is not None else None,
            notes=EXACT_NOTES,
        ),
        by_client=client_rows(by_client, [f for f, n in by_client.items() if n >= query.min_bucket]),
        open_rate_observed=rated.observed,
        apple_mpp=rated.apple_mpp,
        open_rate_without_mpp=rated.without_mpp,
        clicks=await exact_clicks(
            store,
            campaign,
            counters,
            tz,
            local_days,
            in_range_utc_days,
            query.min_bucket,
            counts_uniques,
            rated.open_rate,
        ),
    )
