"""The clicks part of a report: follows of a campaign's links, by class, link, day and region.

Two ways, like the rest of the report. Exact (privacy.epsilon off): clicks from the day
hashes' counters, distinct clickers from the per-day sketches (kind 'v' per class, 'k' per
link for people). Released: every figure a sum of released cells (release.py), clicks and
first clicks by class per period and day, clicks per link and per region over closed UTC days.

Small groups never stand out, as with regions: a link is shown on its own only when enough
people clicked it (exact: at least `privacy.min_bucket` distinct human clickers, or clicks when
uniques are off; released: its released clicks above `min_bucket` and `LINK_SHOW_SD` noise
deviations). The rest is the row 'other'. So a sender who registers one link per recipient
sees those links summed, never one recipient's click.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo

from ..core.campaign import Campaign
from ..core.classify import CLICK_CLASSES, MACHINE_CLICK_CLASSES
from ..core.regions import OTHER_REGION, REGION_DOMAIN
from ..store import SketchRef, Store
from ..store.batch import parse_click_field, sketch_refs
from .cells import Term
from .estimate import Interval, click_rates
from .release import Figure, Release, link_dim
from .report import (
    OTHER_LINK,
    Bounds,
    ClickDayRow,
    ClickRegionRow,
    Clicks,
    LinkRow,
    OpenRate,
    RateBounds,
    UniqueClickers,
)
from .sketch_bounds import BOUNDS_METHODS, bounds

__all__ = [
    "CLICKERS_METHOD",
    "COUNTS_ONLY_METHOD",
    "LINK_SHOW_SD",
    "ask_released_clicks",
    "empty_clicks",
    "exact_clicks",
    "released_clicks",
]

LINK_SHOW_SD = 3.0
"""A link is shown on its own when its released clicks exceed this many noise deviations (and
min_bucket). Lower than regions' five: a campaign has its own few links, not 250 countries."""
REGION_SHOW_SD = 5.0
COUNTS_ONLY_METHOD = "Not counted: privacy.uniques is off (counts only: no salt, no keyed hash, no sketch)."
CLICKERS_METHOD = (
    "Distinct clickers (a keyed hash of address and user agent) first seen in their salt window, "
    "counted exactly, plus discrete Laplace noise (epsilon {epsilon}); bounds: the noise's 95% range."
)
_NONE = Bounds(0, 0, 0)


def empty_clicks(days: Sequence[date], links: int, method: str) -> Clicks:
    """The clicks of a campaign nobody clicked: zeros on every day."""
    return Clicks(
        total=0,
        by_class=dict.fromkeys(CLICK_CLASSES, 0),
        machine_share=None,
        unique_clickers=UniqueClickers(
            0, 0, 0, human=_NONE, by_class=dict.fromkeys(CLICK_CLASSES, _NONE), method=method
        ),
        click_rate=None,
        click_to_open_rate=None,
        links=links,
        by_link=(),
        by_day=tuple(ClickDayRow(d, 0, 0, 0, 0) for d in days),
        by_region=(),
    )


def _rates(
    recipients: int | None, human: Bounds, open_rate: OpenRate | None
) -> tuple[RateBounds | None, RateBounds | None]:
    readers = None if open_rate is None else Interval(open_rate.estimate, open_rate.low, open_rate.high)
    rate, ctor = click_rates(recipients or 0, Interval(human.estimate, human.low, human.high), readers)

    def shown(i: Interval | None) -> RateBounds | None:
        return None if i is None else RateBounds(round(i.estimate, 4), round(i.low, 4), round(i.high, 4))

    return shown(rate), shown(ctor)


def _share(machine: int, total: int) -> float | None:
    return round(machine / total, 4) if total > 0 else None


def _order(rows: Iterable[LinkRow]) -> tuple[LinkRow, ...]:
    return tuple(sorted(rows, key=lambda r: (-r.clicks, r.url or "", r.id)))


# exact


async def exact_clicks(
    store: Store,
    campaign: Campaign,
    counters: Mapping[str, Mapping[str, int]],
    tz: tzinfo,
    local_days: Sequence[date],
    in_range_utc_days: set[date],
    min_bucket: int,
    counts_uniques: bool,
    open_rate: OpenRate | None,
) -> Clicks:
    """The exact, live clicks of the local days `local_days` (privacy.epsilon off)."""
    links = await store.list_links(campaign.id)
    start, end = local_days[0], local_days[-1]
    by_class: Counter[str] = Counter()
    by_day: dict[date, Counter[str]] = {d: Counter() for d in local_days}
    by_link: dict[str, Counter[str]] = defaultdict(Counter)
    by_region: Counter[str] = Counter()
    seen: dict[str, set[tuple[str, str]]] = defaultdict(set)  # utc day -> {(kind, dimension)}
    for day_key, fields in counters.items():
        utc_day = datetime.strptime(day_key, "%Y%m%d").replace(tzinfo=UTC)
        in_range = utc_day.date() in in_range_utc_days
        for name, count in fields.items():
            field = parse_click_field(name)
            if field is None:
                continue
            if field.kind == "k":
                local_day = (utc_day + timedelta(hours=field.slot)).astimezone(tz).date()
                if start <= local_day <= end:
                    by_class[field.dim] += count
                    by_day[local_day][field.dim] += count
                    seen[day_key].add(("v", field.dim))
            elif field.kind == "n" and in_range:
                by_link[field.link][field.dim] += count
                if field.dim == "human":
                    seen[day_key].add(("k", field.link))
            elif field.kind == "g" and in_range:
                by_region[field.dim] += count
    sketch_days = sorted(d for d in seen if datetime.strptime(d, "%Y%m%d").date() in in_range_utc_days)

    refs = functools.partial(sketch_refs, seen)

    classes = list(CLICK_CLASSES)
    clicked = sorted(by_link)
    groups: list[Sequence[SketchRef]] = [
        refs("v", classes, sketch_days),
        *(refs("v", [c], sketch_days) for c in classes),
        *(refs("v", classes, [d.strftime("%Y%m%d")]) for d in local_days),
        *(refs("k", [link], sketch_days) for link in clicked),
    ]
    counts = await store.count_unique(campaign.id, groups) if counts_uniques else [0.0] * len(groups)
    everyone, rest = counts[0], counts[1:]
    class_uniques = dict(zip(classes, rest[: len(classes)], strict=True))
    rest = rest[len(classes) :]
    day_uniques = dict(zip(local_days, rest[: len(local_days)], strict=True))
    link_uniques = dict(zip(clicked, rest[len(local_days) :], strict=True))

    def row(link: str) -> LinkRow:
        counted = by_link[link]
        people = bounds(link_uniques[link], store.kind) if counts_uniques else None
        return LinkRow(link, links.get(link), sum(counted.values()), {c: counted[c] for c in classes}, people)

    def enough(link: str) -> bool:
        size = round(link_uniques[link]) if counts_uniques else sum(by_link[link].values())
        return size >= min_bucket

    shown = [row(link) for link in clicked if enough(link)]
    folded: Counter[str] = Counter()
    for link in clicked:
        if not enough(link):
            folded.update(by_link[link])
    rows = list(_order(shown))
    if folded:
        rows.append(LinkRow(OTHER_LINK, None, sum(folded.values()), {c: folded[c] for c in classes}, None))

    regions = sorted(
        ((r, n) for r, n in by_region.items() if n >= min_bucket and r != OTHER_REGION),
        key=lambda item: (-item[1], item[0]),
    )
    region_rows = [ClickRegionRow(r, n) for r, n in regions]
    other = sum(by_region.values()) - sum(n for _, n in regions)
    if other:
        region_rows.append(ClickRegionRow(OTHER_REGION, other))

    store_kind = store.kind
    human = bounds(class_uniques["human"], store_kind) if counts_uniques else _NONE
    all_bounds = bounds(everyone, store_kind) if counts_uniques else _NONE
    total = sum(by_class.values())
    machine = sum(by_class[c] for c in MACHINE_CLICK_CLASSES)
    click_rate, ctor = _rates(campaign.recipients, human, open_rate) if counts_uniques else (None, None)
    return Clicks(
        total=total,
        by_class={c: by_class[c] for c in classes},
        machine_share=_share(machine, total),
        unique_clickers=UniqueClickers(
            all_bounds.estimate,
            all_bounds.low,
            all_bounds.high,
            human=human,
            by_class={c: bounds(class_uniques[c], store_kind) if counts_uniques else _NONE for c in classes},
            method=BOUNDS_METHODS[store_kind] if counts_uniques else COUNTS_ONLY_METHOD,
        ),
        click_rate=click_rate,
        click_to_open_rate=ctor,
        links=len(links),
        by_link=tuple(rows),
        by_day=tuple(
            ClickDayRow(
                day=d,
                clicks=sum(by_day[d].values()),
                human_clicks=by_day[d]["human"],
                machine_clicks=sum(by_day[d][c] for c in MACHINE_CLICK_CLASSES),
                unique_clickers=round(day_uniques[d]),
            )
            for d in local_days
        ),
        by_region=tuple(region_rows),
    )


# released


def ask_released_clicks(
    release: Release[Hashable],
    span: tuple[float, float],
    day_spans: Mapping[date, tuple[float, float]],
    closed: Sequence[Term],
    links: Sequence[str],
    uniques: bool,
) -> None:
    """Ask `release` for every cell the clicks part sums (answered with the report's others)."""
    kinds = ("k", "q") if uniques else ("k",)
    for kind in kinds:
        for c in CLICK_CLASSES:
            release.ask(("clicks", "total", kind, c), kind, c, release.terms(kind, *span))
            for d, bounds_of_day in day_spans.items():
                release.ask(("clicks", "day", d, kind, c), kind, c, release.terms(kind, *bounds_of_day))
    for c in CLICK_CLASSES:  # the links' and regions' tables' total: clicks over the same closed days
        release.ask(("clicks", "closed", c), "k", c, closed)
        for link in links:
            release.ask(("clicks", "link", link, c), "n", link_dim(link, c), closed)
    for region in sorted(REGION_DOMAIN):
        release.ask(("clicks", "region", region), "g", region, closed)


def released_clicks(
    got: Mapping[Hashable, Figure],
    local_days: Sequence[date],
    links: Mapping[str, str],
    min_bucket: int,
    uniques: bool,
    epsilon: float,
    recipients: int | None,
    open_rate: OpenRate | None,
) -> Clicks:
    """The clicks part from the released figures that `ask_released_clicks` asked for."""

    def total(prefix: tuple[Hashable, ...], classes: Iterable[str]) -> Figure:
        figure = Figure(0)
        for c in classes:
            figure = figure + got[(*prefix, c)]
        return figure

    def shown(figure: Figure) -> Bounds:
        low, high = figure.bounds()
        return Bounds(figure.shown, low, high)

    clicks = {c: got[("clicks", "total", "k", c)] for c in CLICK_CLASSES}
    everything = total(("clicks", "total", "k"), CLICK_CLASSES)
    machine = total(("clicks", "total", "k"), MACHINE_CLICK_CLASSES)
    if uniques:
        clickers = {c: got[("clicks", "total", "q", c)] for c in CLICK_CLASSES}
        everyone = total(("clicks", "total", "q"), CLICK_CLASSES)
        method = CLICKERS_METHOD.format(epsilon=epsilon)
    else:
        clickers = {c: Figure(0) for c in CLICK_CLASSES}
        everyone = Figure(0)
        method = COUNTS_ONLY_METHOD
    human, all_clickers = shown(clickers["human"]), shown(everyone)
    click_rate, ctor = _rates(recipients, human, open_rate) if uniques else (None, None)
    return Clicks(
        total=everything.shown,
        by_class={c: clicks[c].shown for c in CLICK_CLASSES},
        machine_share=None
        if everything.value <= 0
        else round(min(1.0, max(0.0, machine.value / everything.value)), 4),
        unique_clickers=UniqueClickers(
            all_clickers.estimate,
            all_clickers.low,
            all_clickers.high,
            human=human,
            by_class={c: shown(clickers[c]) for c in CLICK_CLASSES},
            method=method,
        ),
        click_rate=click_rate,
        click_to_open_rate=ctor,
        links=len(links),
        by_link=_released_links(got, links, min_bucket),
        by_day=tuple(
            ClickDayRow(
                day=d,
                clicks=total(("clicks", "day", d, "k"), CLICK_CLASSES).shown,
                human_clicks=got[("clicks", "day", d, "k", "human")].shown,
                machine_clicks=total(("clicks", "day", d, "k"), MACHINE_CLICK_CLASSES).shown,
                unique_clickers=total(("clicks", "day", d, "q"), CLICK_CLASSES).shown if uniques else 0,
            )
            for d in local_days
        ),
        by_region=_released_regions(got, min_bucket),
    )


def _released_links(
    got: Mapping[Hashable, Figure], links: Mapping[str, str], min_bucket: int
) -> tuple[LinkRow, ...]:
    """Links whose released clicks clearly exceed the noise; the rest, summed, is 'other'."""
    rows = []
    kept: dict[str, Figure] = {c: Figure(0) for c in CLICK_CLASSES}
    for link, url in links.items():
        figures = {c: got[("clicks", "link", link, c)] for c in CLICK_CLASSES}
        clicks = Figure(0)
        for figure in figures.values():
            clicks = clicks + figure
        if clicks.value >= max(min_bucket, LINK_SHOW_SD * clicks.sd, 1):
            rows.append(LinkRow(link, url, clicks.shown, {c: f.shown for c, f in figures.items()}, None))
            for c, figure in figures.items():
                kept[c] = kept[c] + figure
    ordered = list(_order(rows))
    rest = {c: got[("clicks", "closed", c)].value - kept[c].value for c in CLICK_CLASSES}
    if sum(rest.values()) > 0:
        by_class = {c: max(0, n) for c, n in rest.items()}
        ordered.append(LinkRow(OTHER_LINK, None, sum(rest.values()), by_class, None))
    return tuple(ordered)


def _released_regions(got: Mapping[Hashable, Figure], min_bucket: int) -> tuple[ClickRegionRow, ...]:
    """Regions whose released clicks clearly exceed the noise (as for opens); the rest is 'other'."""
    shown: list[tuple[str, Figure]] = []
    for region in sorted(REGION_DOMAIN):
        figure = got[("clicks", "region", region)]
        if figure.value >= max(min_bucket, REGION_SHOW_SD * figure.sd, 1):
            shown.append((region, figure))
    rows = [ClickRegionRow(r, f.shown) for r, f in sorted(shown, key=lambda item: (-item[1].value, item[0]))]
    everything = sum(got[("clicks", "closed", c)].value for c in CLICK_CLASSES)
    rest = everything - sum(f.value for _, f in shown)
    if rest > 0:
        rows.append(ClickRegionRow(OTHER_REGION, rest))
    return tuple(rows)


def day_spans(local_days: Sequence[date], tz: tzinfo) -> dict[date, tuple[float, float]]:
    """Each local day's [start, end) in seconds."""

    def midnight(day: date) -> float:
        return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()

    return {d: (midnight(d), midnight(d + timedelta(days=1))) for d in local_days}
