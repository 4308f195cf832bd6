"""The report under differential privacy: every figure is a sum of released cells.

Totals, classes and days come from the loads and first-opens histograms; hours (the first 72
after opens began) from period cells; regions and declined requests from day cells of closed
UTC days. Clicks likewise (reports/clicks.py): totals, classes, days and unique clickers from
the clicks and first-clicks histograms, links and regions from closed UTC days. Nothing here
reads a count from the store except through `Release`. A campaign below `privacy.min_recipients`
gets a `Withheld` answer instead of figures.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import NamedTuple
from zoneinfo import ZoneInfo

from ..core.campaign import Campaign
from ..core.classify import CLASSES, HUMAN_CLASSES, MACHINE_CLASSES
from ..core.clients import CLIENT_FAMILIES
from ..core.regions import OTHER_REGION, REGION_DOMAIN
from ..store import Store
from .cells import DAY, Term
from .clicks import ask_released_clicks, day_spans, released_clicks
from .estimate import estimate_open_rate
from .release import Figure, Policy, Release
from .report import (
    Bounds,
    CampaignRef,
    ClientRow,
    DayRange,
    DayRow,
    HourRow,
    OpenRate,
    Opens,
    RateBounds,
    RegionRow,
    ReleaseInfo,
    Report,
    UniqueOpens,
    Withheld,
    client_rows,
)

__all__ = [
    "COUNTS_ONLY_METHOD",
    "FIRST_HOURS",
    "NOTES",
    "NOT_SEEN",
    "REGION_SHOW_SD",
    "rates",
    "released_report",
    "withheld_message",
]

FIRST_HOURS = 72
REPORT_CACHE_SIZE = 512
_REPORTS: OrderedDict[tuple[object, ...], Report] = OrderedDict()
REGION_SHOW_SD = 5.0
"""A region is shown only when its released opens exceed this many noise deviations (and
min_bucket): with ~250 regions released, a smaller threshold would show empty ones."""
FIRST_OPEN_SD = 3.0
"""Opens have begun in the first period whose released opens exceed this many deviations."""
NOT_SEEN = "Apple Mail readers are estimated; image blockers are not counted."
NOTES = (
    NOT_SEEN,
    "Figures carry differentially private noise of several opens each, so small figures are "
    "not exact; each interval includes it.",
)
COUNTS_ONLY_METHOD = "Not counted: privacy.uniques is off (counts only: no salt, no keyed hash, no sketch)."
UNIQUES_METHOD = (
    "Distinct visitors (a keyed hash of address and user agent) first seen in their salt window, "
    "counted exactly, plus discrete Laplace noise (epsilon {epsilon}); bounds: the noise's 95% range."
)


def withheld_message(min_recipients: int) -> str:
    return (
        f"Too few recipients to report: figures are shown for campaigns of at least {min_recipients} "
        "recipients (privacy.min_recipients), so that no figure describes one person. "
        "If it went to more people, set its number of recipients "
        "(pixelagg campaign update ID --recipients N)."
    )


def release_info(
    policy: Policy,
    release: Release[Hashable] | None,
    first_open: float | None,
    span: tuple[float, float] | None = None,
) -> ReleaseInfo:
    """How the figures were released; `span` is the range in seconds, for when its first
    figures come out while none of it is released."""
    assert policy.budget is not None
    until = None
    first_figures = None
    if release is not None:
        clock = release.clock
        until = datetime.fromtimestamp(clock.closed * policy.period, UTC)
        if span is not None:
            # In the period numbers of Release.terms: a period belongs to the range if it
            # starts in it (local midnight may fall inside one), and to the campaign from the
            # period it was made in.
            first = max(math.ceil(span[0] / policy.period), clock.created)
            if clock.closed <= first < math.ceil(span[1] / policy.period):
                first_figures = datetime.fromtimestamp((first + 1) * policy.period + policy.delay, UTC)
    return ReleaseInfo(
        mode="differential_privacy",
        epsilon=policy.budget.epsilon,
        release_period_seconds=policy.period,
        released_until=until,
        first_open_at=None if first_open is None else datetime.fromtimestamp(first_open, UTC),
        notes=NOTES,
        first_figures_at=first_figures,
    )


def _local_midnight(day: date, tz: tzinfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


async def released_report(
    store: Store,
    campaign: Campaign,
    start: date,
    end: date,
    tz_name: str,
    min_bucket: int,
    policy: Policy,
    now: float,
) -> Report | Withheld:
    """The report of one campaign over local days [start, end] in zone `tz_name`."""
    tz = ZoneInfo(tz_name)
    ref = CampaignRef(campaign.id, campaign.name, campaign.recipients)
    days = DayRange(start, end, tz_name)
    if not policy.reportable(campaign):
        message = withheld_message(policy.min_recipients)
        return Withheld(ref, days, "too_few_recipients", message, release_info(policy, None, None))
    release: Release[Hashable] = Release(store, campaign, policy, now)
    links = await store.list_links(campaign.id)
    # Released figures change only when a period closes, and every read of them is the same:
    # a report is computed once per closed period (a 90-day one sums ~27,000 frozen cells).
    key = (id(store), campaign, start, end, tz_name, min_bucket, policy, release.clock.closed, tuple(links))
    cached = _REPORTS.get(key)
    if cached is not None:
        _REPORTS.move_to_end(key)
        return cached
    report = await _released(release, campaign, ref, days, tz, min_bucket, policy, links)
    _REPORTS[key] = report
    if len(_REPORTS) > REPORT_CACHE_SIZE:
        _REPORTS.popitem(last=False)
    return report


async def _released(
    release: Release[Hashable],
    campaign: Campaign,
    ref: CampaignRef,
    days: DayRange,
    tz: ZoneInfo,
    min_bucket: int,
    policy: Policy,
    links: dict[str, str],
) -> Report:
    assert policy.budget is not None
    start, end = days.start, days.end
    first_open = await _first_open(release)
    uniques = policy.budget.uniques
    local_days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    span = (_local_midnight(start, tz), _local_midnight(end + timedelta(days=1), tz))
    kinds = ("l", "u") if uniques else ("l",)

    for kind in kinds:
        for c in CLASSES:
            release.ask(("total", kind, c), kind, c, release.terms(kind, *span))
            for d in local_days:
                bounds_of_day = (_local_midnight(d, tz), _local_midnight(d + timedelta(days=1), tz))
                release.ask(("day", d, kind, c), kind, c, release.terms(kind, *bounds_of_day))
    hours = _first_hours(release, first_open)
    for hour in hours:
        for c in CLASSES:
            release.ask(("hour", hour, c), "l", c, release.terms("l", hour, hour + 3600))
    closed = release.closed_days(*span)
    for region in sorted(REGION_DOMAIN):
        release.ask(("region", region), "r", region, closed)
    for c in CLASSES:  # the region table's total: loads over the same closed days
        release.ask(("region-total", c), "l", c, closed)
    release.ask(("declined",), "x", "", closed)
    for family in CLIENT_FAMILIES:
        release.ask(("client", family), "c", family, closed)
    ask_released_clicks(release, span, day_spans(local_days, tz), closed, list(links), uniques)
    got = await release.answer()

    def total(prefix: tuple[Hashable, ...], classes: Iterable[str]) -> Figure:
        figure = Figure(0)
        for c in classes:
            figure = figure + got[(*prefix, c)]
        return figure

    loads = {c: got[("total", "l", c)] for c in CLASSES}
    all_loads = total(("total", "l"), CLASSES)
    if uniques:
        unique = {c: got[("total", "u", c)] for c in CLASSES}
        everyone, human = total(("total", "u"), CLASSES), total(("total", "u"), HUMAN_CLASSES)
    else:  # counts only: no uniques, so the figures stay at zero with no interval
        unique = {c: Figure(0) for c in CLASSES}
        everyone = human = Figure(0)
    machine = total(("total", "l"), MACHINE_CLASSES)
    rated = rates(campaign.recipients, loads, unique if uniques else None, 0.0)
    method = (
        UNIQUES_METHOD.format(epsilon=policy.budget.epsilon)
        if uniques
        else "Not counted (privacy.uniques is off)."
    )
    return Report(
        campaign=ref,
        range=days,
        opens=Opens(
            total=all_loads.shown,
            by_class={c: loads[c].shown for c in CLASSES},
            declined=got[("declined",)].shown,
        ),
        unique_opens=UniqueOpens(
            *_bounds(everyone),
            human=Bounds(*_bounds(human)),
            by_class={c: Bounds(*_bounds(unique[c])) for c in CLASSES},
            method=method,
        ),
        open_rate=rated.open_rate,
        machine_share=_share(machine, all_loads),
        by_day=tuple(
            DayRow(
                day=d,
                opens=total(("day", d, "l"), CLASSES).shown,
                human_opens=total(("day", d, "l"), HUMAN_CLASSES).shown,
                machine_opens=total(("day", d, "l"), MACHINE_CLASSES).shown,
                unique_opens=total(("day", d, "u"), CLASSES).shown if uniques else 0,
            )
            for d in local_days
        ),
        by_hour=tuple(
            HourRow(
                hour=datetime.fromtimestamp(h, UTC).astimezone(tz),
                opens=total(("hour", h), CLASSES).shown,
                human_opens=total(("hour", h), HUMAN_CLASSES).shown,
                machine_opens=total(("hour", h), MACHINE_CLASSES).shown,
            )
            for h in hours
        ),
        by_region=_regions(got, min_bucket),
        min_bucket=min_bucket,
        privacy=release_info(policy, release, first_open, span),
        by_client=_clients(got, min_bucket),
        open_rate_observed=rated.observed,
        apple_mpp=rated.apple_mpp,
        open_rate_without_mpp=rated.without_mpp,
        clicks=released_clicks(
            got,
            local_days,
            links,
            min_bucket,
            uniques,
            policy.budget.epsilon,
            campaign.recipients,
            rated.open_rate,
        ),
    )


def _bounds(figure: Figure) -> tuple[int, int, int]:
    low, high = figure.bounds()
    return figure.shown, low, high


class Rates(NamedTuple):
    """The report's open-rate fields, from the estimator (reports/estimate.py)."""

    open_rate: OpenRate | None
    observed: float | None
    apple_mpp: Bounds | None
    without_mpp: RateBounds | None


def rates(
    recipients: int | None,
    loads: Mapping[str, Figure],
    uniques: Mapping[str, Figure] | None,
    uniques_error: float,
) -> Rates:
    """Readers, not visitor keys: the estimate with its whole uncertainty, from per-class figures."""
    estimate = estimate_open_rate(recipients or 0, loads, uniques, uniques_error)
    if estimate is None:
        return Rates(None, None, None, None)
    r = estimate.open_rate
    mpp = estimate.apple_mpp
    without = estimate.open_rate_without_mpp
    return Rates(
        OpenRate(round(r.estimate, 4), round(r.low, 4), round(r.high, 4), r.method),
        None if estimate.open_rate_observed is None else round(estimate.open_rate_observed, 4),
        Bounds(round(mpp.estimate), math.floor(mpp.low), math.ceil(mpp.high)),
        None
        if without is None
        else RateBounds(round(without.estimate, 4), round(without.low, 4), round(without.high, 4)),
    )


def _share(part: Figure, whole: Figure) -> float | None:
    if whole.value <= 0:
        return None
    return round(min(1.0, max(0.0, part.value / whole.value)), 4)


def _regions(got: dict[Hashable, Figure], min_bucket: int) -> tuple[RegionRow, ...]:
    """Regions whose released opens clearly exceed the noise; the rest is 'other'."""
    shown: list[tuple[str, Figure]] = []
    for region in sorted(REGION_DOMAIN):
        figure = got[("region", region)]
        if figure.value >= max(min_bucket, REGION_SHOW_SD * figure.sd, 1):
            shown.append((region, figure))
    rows = [RegionRow(r, f.shown, None) for r, f in sorted(shown, key=lambda item: (-item[1].value, item[0]))]
    everything = Figure(0)
    for c in CLASSES:
        everything = everything + got[("region-total", c)]
    rest = everything.value - sum(f.value for _, f in shown)
    if rest > 0:
        rows.append(RegionRow(OTHER_REGION, rest, None))
    return tuple(rows)


def _clients(got: dict[Hashable, Figure], min_bucket: int) -> tuple[ClientRow, ...]:
    """Families whose released opens clearly exceed the noise (as regions); the rest is 'other'."""
    figures = {f: got[("client", f)] for f in CLIENT_FAMILIES}
    kept = [f for f, fig in figures.items() if fig.value >= max(min_bucket, REGION_SHOW_SD * fig.sd, 1)]
    return client_rows({f: fig.shown for f, fig in figures.items()}, kept)


async def _first_open(release: Release[Hashable]) -> float | None:
    """The start of the first period whose released opens (all classes) clearly exceed the noise.

    Found from day cells first, then the period cells of that day: post-processing of released
    figures, so it costs no budget and tells nothing the figures do not.
    """
    clock = release.clock
    period = release.policy.period
    first_day = clock.created * period // DAY
    last_day = clock.closed * period // DAY  # the open day has no day cell yet
    budget = release.budget
    for day in range(first_day, last_day):
        for c in CLASSES:
            release.ask((day, c), "l", c, [Term(1, "d", day)])
    days = await release.answer()
    threshold_day = FIRST_OPEN_SD * math.sqrt(len(CLASSES) * budget.variance("l", "d"))
    found = next(
        (d for d in range(first_day, last_day) if sum(days[(d, c)].value for c in CLASSES) >= threshold_day),
        last_day,
    )
    start = max(found * DAY // period, clock.created)
    stop = min((found + 1) * DAY // period, clock.closed)
    for p in range(start, stop):
        for c in CLASSES:
            release.ask((p, c), "l", c, [Term(1, "p", p)])
    periods = await release.answer()
    threshold_period = FIRST_OPEN_SD * math.sqrt(len(CLASSES) * budget.variance("l", "p"))
    for p in range(start, stop):
        if sum(periods[(p, c)].value for c in CLASSES) >= threshold_period:
            return float(p * period)
    return float(found * DAY) if found < last_day else None


def _first_hours(release: Release[Hashable], first_open: float | None) -> list[float]:
    """The starts of the closed hours among the 72 after opens began (UTC, hour-aligned)."""
    if first_open is None:
        return []
    first = first_open // 3600 * 3600
    closed_until = release.clock.closed * release.policy.period
    return [first + 3600 * n for n in range(FIRST_HOURS) if first + 3600 * (n + 1) <= closed_until]
