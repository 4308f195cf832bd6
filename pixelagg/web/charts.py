"""Inline SVG charts for the dashboard, drawn on the server. Pure: data in, SVG markup out.

Each chart is an accessible image: ``role="img"`` named by its ``<title>`` and described by
its ``<desc>``. Colours come from CSS classes (the stylesheet sets them, with a dark variant)
and fall back to fill attributes; the page puts a table with the same numbers beside each one.
Every text is escaped here, so a chart is ``Markup`` that templates put in as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

__all__ = [
    "X_LABELS",
    "Column",
    "Series",
    "daily_columns",
    "horizontal_bars",
    "nice_ticks",
    "stacked_bars",
    "stacked_description",
]

# Small user units on purpose: the charts are at most 36rem wide, so on a phone the text
# shrinks the least while a wide screen does not blow it up.
WIDTH = 480
HEIGHT = 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 10, 12, 36
_FONT = 15
_MAX_BAR = 40


@dataclass(frozen=True)
class Series:
    """One stacked series: its name and the CSS class (and fallback colour) it is drawn with."""

    name: str
    css_class: str
    fill: str


@dataclass(frozen=True)
class Column:
    """One bar: its full label (in the tooltip), its axis label ('' for none), its values."""

    label: str
    axis_label: str
    values: tuple[int, ...]


X_LABELS = 5
"""The most labels a chart's time axis shows."""


def stacked_description(columns: Sequence[Column], noun: str, what: str) -> str:
    """The <desc> of a chart of human and machine `noun` (opens, clicks) per `what` (hour,
    day): its span, the totals and the busiest column."""
    human = sum(c.values[0] for c in columns)
    machine = sum(c.values[1] for c in columns)
    busiest = max(columns, key=lambda c: sum(c.values))
    return (
        f"Stacked bars of human and machine {noun} per {what}, {len(columns)} {what}s from "
        f"{columns[0].label} to {columns[-1].label}. In total {human:,} human and "
        f"{machine:,} machine {noun}; the busiest {what} was {busiest.label} with "
        f"{sum(busiest.values):,} {noun}."
    )


def daily_columns(days: Sequence[tuple[date, tuple[int, ...]]]) -> list[Column]:
    """A column per (day, values), with at most X_LABELS of them labelled on the axis."""
    every = max(1, -(-len(days) // X_LABELS))
    return [
        Column(day.isoformat(), "" if n % every else day.strftime("%d %b"), values)
        for n, (day, values) in enumerate(days)
    ]


def nice_ticks(maximum: int, count: int = 4) -> list[int]:
    """Round axis ticks from 0 to at least `maximum`: steps of 1, 2 or 5 times a power of ten."""
    if maximum <= 0:
        return [0, 1]
    raw = maximum / count
    power = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(s * power for s in (1, 2, 5, 10) if s * power >= raw)
    top = math.ceil(maximum / step) * step
    return list(range(0, top + 1, step))


def _open(chart_id: str, title: str, desc: str, height: int) -> list[str]:
    return [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]


def stacked_bars(
    chart_id: str, title: str, desc: str, series: Sequence[Series], columns: Sequence[Column]
) -> Markup:
    """Vertical bars, one per column, with the series stacked from the bottom up."""
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _TOP - _BOTTOM
    bottom = _TOP + plot_h
    ticks = nice_ticks(max((sum(c.values) for c in columns), default=0))
    top = ticks[-1]
    out = _open(chart_id, title, desc, HEIGHT)
    out.append(f'<g class="axis" font-size="{_FONT}" fill="currentColor">')
    for tick in ticks:
        y = bottom - plot_h * tick / top
        if tick:  # the base line is drawn over the bars, below
            out.append(
                f'<line class="grid" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y:.1f}" '
                f'y2="{y:.1f}" stroke="#d0d0d0" stroke-width="0.5"/>'
            )
        out.append(f'<text x="{_LEFT - 6}" y="{y + 5:.1f}" text-anchor="end">{tick}</text>')
    slot = plot_w / max(len(columns), 1)
    drawn_to = 0.0
    for i, column in enumerate(columns):
        if not column.axis_label:
            continue
        half = len(column.axis_label) * _FONT * 0.3  # about half the text's width
        x = min(max(_LEFT + slot * (i + 0.5), _LEFT + half), WIDTH - _RIGHT - half)
        if x - half < drawn_to + 6:  # would overlap the label before it
            continue
        drawn_to = x + half
        out.append(
            f'<text x="{x:.1f}" y="{bottom + 22}" text-anchor="middle">{escape(column.axis_label)}</text>'
        )
    out.append("</g>")
    bar_w = min(max(slot * 0.8, 0.5), _MAX_BAR)
    gap = (slot - bar_w) / 2
    # A line in the background colour between stacked parts keeps each part apart from the
    # next (the two fills are not 3:1 against each other); too thin a bar would vanish.
    edge = ' class="edged"' if bar_w >= 4 else ""
    for i, column in enumerate(columns):
        x = _LEFT + slot * i + gap
        parts = ", ".join(f"{s.name} {v}" for s, v in zip(series, column.values, strict=True))
        out.append(f"<g{edge}><title>{escape(column.label)}: {escape(parts)}</title>")
        y = float(bottom)
        for s, value in zip(series, column.values, strict=True):
            if value <= 0:
                continue
            h = plot_h * value / top
            y -= h
            out.append(
                f'<rect class="{s.css_class}" fill="{s.fill}" x="{x:.2f}" y="{y:.2f}" '
                f'width="{bar_w:.2f}" height="{h:.2f}"/>'
            )
        out.append("</g>")
    out.append(
        f'<line class="grid base" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{bottom}" y2="{bottom}" '
        'stroke="#767676" stroke-width="1"/>'
    )
    out.append("</svg>")
    return Markup("\n".join(out))


def horizontal_bars(chart_id: str, title: str, desc: str, rows: Sequence[tuple[str, int, Series]]) -> Markup:
    """One horizontal bar per row, its label above it and its value after it."""
    row_h, bar_h = 48, 18
    height = _TOP + row_h * max(len(rows), 1)
    top = max((v for _, v, _ in rows), default=0) or 1
    plot_w = WIDTH - _RIGHT - 56  # room for the value after the longest bar
    out = _open(chart_id, title, desc, height)
    out.append(f'<g class="axis" font-size="{_FONT}" fill="currentColor">')
    for i, (label, value, series) in enumerate(rows):
        y = _TOP + row_h * i
        w = plot_w * value / top
        out.append(
            f'<text x="0" y="{y + 14}">{escape(label)}</text>'
            f'<rect class="{series.css_class}" fill="{series.fill}" x="0" y="{y + 20}" '
            f'width="{w:.2f}" height="{bar_h}"/>'
            f'<text x="{w + 6:.2f}" y="{y + 20 + bar_h - 4}">{value:,}</text>'
        )
    out.append("</g>")
    out.append("</svg>")
    return Markup("\n".join(out))
