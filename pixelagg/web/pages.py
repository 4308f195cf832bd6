"""The dashboard's pages: Jinja2 templates, and the pure helpers that prepare their data.

The templates live in ``templates/`` and are rendered with autoescape on, so every value from
outside (campaign names above all) is escaped; only the SVG charts and the privacy notice,
both escaped where they are made, come in as ``Markup``. A name a template does not know is
an error, not an empty string. Each chart comes with a table holding the same numbers, for
screen readers and for copying.
"""

# Typographic dashes and quotes are intended: this is text for readers.
# ruff: noqa: RUF001

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup
from starlette.templating import Jinja2Templates

from ..core.campaign import Campaign
from ..core.classify import MACHINE_CLASSES
from ..reports.report import Bounds, DayRow, HourRow, Report, Withheld
from ..reports.text import pending_message
from .charts import (
    X_LABELS,
    Column,
    Series,
    daily_columns,
    horizontal_bars,
    stacked_bars,
    stacked_description,
)
from .click_panel import click_panel

__all__ = [
    "TEMPLATES",
    "X_LABELS",
    "ClassRow",
    "CountryRow",
    "Section",
    "campaign_context",
    "class_section",
    "count",
    "day",
    "day_columns",
    "displayable",
    "hour_columns",
    "list_context",
    "pct",
    "privacy_context",
    "region_section",
    "stacked_section",
    "templates",
]

R = TypeVar("R")

TEMPLATES = Path(__file__).parent / "templates"
HUMAN = Series("Human opens", "s-human", "#1f5fa8")
MACHINE = Series("Machine opens", "s-machine", "#b35c00")
REGION = Series("Opens", "s-region", "#1f5fa8")
CLASS_LABELS = {
    "human": "Mail client",
    "image_proxy": "Image proxy",
    "apple_mpp": "Apple Mail Privacy Protection",
    "scanner": "Security scanner",
    "bot": "Bot",
}
CLIENT_LABELS = {
    "apple_mail": "Apple Mail (with Privacy Protection's prefetches)",
    "gmail": "Gmail",
    "yahoo": "Yahoo Mail",
    "outlook": "Outlook",
    "other": "Other mail programs",
}
REGION_LABELS = {"other": "Other (merged)", "unknown": "Unknown", "proxy": "Mail proxy"}
LANGUAGE_NAMES = {"en": "English", "nl": "Nederlands"}
HOURS = 72
_SURROGATE = re.compile("[\ud800-\udfff]")


def pct(value: float | None) -> str:
    """A share as a percentage with one decimal, or a dash when there is none."""
    return "–" if value is None else f"{value * 100:.1f}%"


def count(value: int) -> str:
    """A count with thousands separators."""
    return f"{value:,}"


def day(timestamp: float) -> str:
    """The UTC day of a timestamp, as YYYY-MM-DD."""
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()


def displayable(value: Any) -> Any:
    """A value as a page shows it: text that no UTF-8 page can hold (an unpaired surrogate in a
    name an older release stored) gets U+FFFD in its place, so the page still renders."""
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            fixed = _SURROGATE.sub("\ufffd", value)
            return Markup(fixed) if isinstance(value, Markup) else fixed
    return value


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=displayable,
    )
    env.filters["pct"] = pct
    env.filters["count"] = count
    env.filters["day"] = day
    return env


templates = Jinja2Templates(env=_environment())


# charts and the tables beside them


@dataclass(frozen=True, slots=True)
class Section(Generic[R]):
    """A chart section: its id key, heading, the SVG and the rows of the table beside it."""

    key: str
    heading: str
    svg: Markup
    rows: tuple[R, ...]
    what: str = ""
    legend: tuple[Series, ...] = ()


@dataclass(frozen=True, slots=True)
class ClassRow:
    """One row of the table of opens by kind of reader."""

    label: str
    machine: bool
    opens: int
    unique: Bounds


@dataclass(frozen=True, slots=True)
class CountryRow:
    """One row of the table of opens by country."""

    label: str
    opens: int
    unique_opens: int | None
    """None under differential privacy: regions are released as opens only."""


def hour_columns(by_hour: Sequence[HourRow], tz: str, now: float) -> list[Column]:
    """Hourly columns from the first hour with opens up to 72 hours later (or now), gaps as 0."""
    if not by_hour:
        return []
    zone = ZoneInfo(tz)
    counts = {r.hour.astimezone(UTC): (r.human_opens, r.machine_opens) for r in by_hour}
    first = min(counts)
    this_hour = datetime.fromtimestamp(now, UTC).replace(minute=0, second=0, microsecond=0)
    end = min(first + timedelta(hours=HOURS - 1), this_hour)
    moments = [first]
    while moments[-1] < max(max(counts), end):  # step in UTC: clock changes stay right
        moments.append(moments[-1] + timedelta(hours=1))
    local = [m.astimezone(zone) for m in moments]
    every = next(k for k in (1, 2, 3, 6, 12, 24) if sum(t.hour % k == 0 for t in local) <= X_LABELS)
    return [
        Column(
            t.strftime("%Y-%m-%d %H:%M"),  # %M: some zones are off by half an hour
            _hour_label(t, every, n == 0),
            counts.get(m, (0, 0)),
        )
        for n, (m, t) in enumerate(zip(moments, local, strict=True))
    ]


def _hour_label(t: datetime, every: int, first: bool) -> str:
    """Every `every` hours: the date at midnight, else the hour (with the date on the first)."""
    if t.hour % every:
        return ""
    if t.hour == 0:
        return t.strftime("%d %b")
    return t.strftime("%d %b %H:%M" if first else "%H:%M")


def day_columns(by_day: Sequence[DayRow]) -> list[Column]:
    """Daily columns of human and machine opens, with at most X_LABELS labelled on the axis."""
    return daily_columns([(d.day, (d.human_opens, d.machine_opens)) for d in by_day])


def stacked_section(key: str, heading: str, what: str, columns: Sequence[Column]) -> Section[Column]:
    """Stacked bars of human and machine opens per `what`; the table leaves out empty rows."""
    desc = stacked_description(columns, "opens", what)
    svg = stacked_bars(f"chart-{key}", heading, desc, (HUMAN, MACHINE), columns)
    return Section(key, heading, svg, tuple(c for c in columns if sum(c.values)), what, (HUMAN, MACHINE))


def class_section(report: Report) -> Section[ClassRow]:
    """Opens by kind of reader, machine classes drawn in their own colour."""
    uniques = report.unique_opens.by_class
    rows = tuple(
        ClassRow(CLASS_LABELS.get(c, c), c in MACHINE_CLASSES, n, uniques[c])
        for c, n in report.opens.by_class.items()
    )
    desc = "Opens by who fetched the image: " + "; ".join(f"{r.label} {r.opens:,}" for r in rows)
    bars = [(r.label, r.opens, MACHINE if r.machine else HUMAN) for r in rows]
    svg = horizontal_bars("chart-classes", "Opens by kind of reader", desc, bars)
    return Section("classes", "Opens by kind of reader", svg, rows)


def region_section(report: Report) -> Section[CountryRow] | None:
    """Opens by country (small ones already merged into 'other'); None without opens."""
    if not report.by_region:
        return None
    rows = tuple(
        CountryRow(REGION_LABELS.get(r.region, r.region), r.opens, r.unique_opens) for r in report.by_region
    )
    desc = "Opens by country: " + "; ".join(f"{r.label} {r.opens:,}" for r in rows)
    svg = horizontal_bars(
        "chart-regions", "Opens by country", desc, [(r.label, r.opens, REGION) for r in rows]
    )
    return Section("regions", "Opens by country", svg, rows)


# the pages' contexts


def list_context(rows: Sequence[tuple[Campaign, Report | Withheld]], page: int, pages: int) -> dict[str, Any]:
    """The campaign list: each campaign with its report (or why it has none), and where this page is."""
    listed = [
        (campaign, report, isinstance(report, Withheld), pending_message(report.privacy))
        for campaign, report in rows
    ]
    return {"rows": listed, "page": page, "pages": pages}


def campaign_context(view: Mapping[str, Any], report: Report | Withheld, now: float) -> dict[str, Any]:
    """The campaign page: headline figures, charts with tables, countries, clicks and the snippet."""
    if isinstance(report, Withheld):
        return {
            "view": view,
            "report": report,
            "withheld": True,
            "pending": None,
            "charts": [],
            "classes": None,
            "regions": None,
            "clicks": None,
        }
    charts: list[Section[Column]] = []
    if report.opens.total:
        hours = hour_columns(report.by_hour, report.range.tz, now)
        if hours:
            charts.append(stacked_section("hours", "Opens per hour, first 72 hours", "hour", hours))
        charts.append(stacked_section("days", "Opens per day", "day", day_columns(report.by_day)))
    return {
        "view": view,
        "report": report,
        "withheld": False,
        "pending": pending_message(report.privacy),
        "charts": charts,
        "classes": class_section(report) if report.opens.total else None,
        "regions": region_section(report),
        "clients": [(CLIENT_LABELS.get(c.family, c.family), c.opens, c.share) for c in report.by_client],
        "clicks": click_panel(report.clicks),
    }


def privacy_context(notice_html: str, lang: str, languages: Sequence[str]) -> dict[str, Any]:
    """The privacy-notice page around the notice section (rendered and escaped by `notice`)."""
    return {
        "notice": Markup(notice_html),  # render_notice escapes every value it puts in
        "lang": lang,
        "languages": [(code, LANGUAGE_NAMES.get(code, code)) for code in languages],
    }
