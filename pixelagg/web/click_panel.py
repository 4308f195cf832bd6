"""The campaign page's clicks panel: the report's clicks prepared for the template.

Pure: the typed report in, rows and a chart out. The links are shown as the report gives
them, the row of links too little clicked to show on their own ("other") included, so no row
describes one recipient; machine clicks (scanners and bots) are shown apart from people's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from ..core.classify import MACHINE_CLICK_CLASSES
from ..reports.report import OTHER_LINK, Bounds, ClickDayRow, Clicks
from .charts import Column, Series, daily_columns, stacked_bars, stacked_description

__all__ = [
    "CLICK_CLASS_LABELS",
    "ClickClassRow",
    "ClickPanel",
    "LinkLine",
    "click_day_columns",
    "click_panel",
]

HUMAN_CLICKS = Series("Human clicks", "s-human", "#1f5fa8")
MACHINE_CLICKS = Series("Machine clicks", "s-machine", "#b35c00")
CLICK_CLASS_LABELS = {"human": "Person", "scanner": "Security scanner", "bot": "Bot"}
OTHER_LABEL = "Other links (too few clicks to show on their own)"


@dataclass(frozen=True, slots=True)
class LinkLine:
    """One row of the links table: a registered link, or the folded row of the others."""

    url: str
    folded: bool
    clicks: int
    human: int
    machine: int
    people: Bounds | None
    """Distinct people who followed the link; None where the report gives none."""


@dataclass(frozen=True, slots=True)
class ClickClassRow:
    """One row of the table of clicks by who clicked."""

    label: str
    machine: bool
    clicks: int
    unique: Bounds


@dataclass(frozen=True, slots=True)
class ClickPanel:
    """What the clicks section shows: the report's clicks, its tables and the chart per day."""

    clicks: Clicks
    links: tuple[LinkLine, ...]
    classes: tuple[ClickClassRow, ...]
    days: tuple[Column, ...]
    svg: Markup | None
    """Human and machine clicks per day; None without clicks."""
    legend: tuple[Series, ...] = (HUMAN_CLICKS, MACHINE_CLICKS)


def click_day_columns(by_day: Sequence[ClickDayRow]) -> list[Column]:
    """Daily columns of human and machine clicks, at most X_LABELS labelled on the axis."""
    return daily_columns([(d.day, (d.human_clicks, d.machine_clicks)) for d in by_day])


def _chart(columns: Sequence[Column]) -> Markup:
    desc = stacked_description(columns, "clicks", "day")
    return stacked_bars("chart-click-days", "Clicks per day", desc, (HUMAN_CLICKS, MACHINE_CLICKS), columns)


def click_panel(clicks: Clicks) -> ClickPanel:
    """The clicks section of a campaign page."""
    links = tuple(
        LinkLine(
            OTHER_LABEL if row.id == OTHER_LINK else (row.url or row.id),
            row.id == OTHER_LINK,
            row.clicks,
            row.human,
            row.machine,
            row.unique_human_clickers,
        )
        for row in clicks.by_link
    )
    uniques = clicks.unique_clickers.by_class
    classes = tuple(
        ClickClassRow(CLICK_CLASS_LABELS.get(c, c), c in MACHINE_CLICK_CLASSES, n, uniques[c])
        for c, n in clicks.by_class.items()
    )
    columns = click_day_columns(clicks.by_day) if clicks.total else []
    return ClickPanel(
        clicks,
        links,
        classes,
        tuple(c for c in columns if sum(c.values)),
        _chart(columns) if columns else None,
    )
