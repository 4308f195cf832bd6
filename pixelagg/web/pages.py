"""The dashboard's HTML, pure: campaign data and stats reports in, escaped HTML text out.

Every value from outside (campaign names above all) passes through ``html.escape``. Each chart
comes with a table holding the same numbers, for screen readers and for copying.
"""

# Typographic dashes and quotes are intended: this is text for readers.
# ruff: noqa: RUF001

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from ..core.campaign import Campaign
from ..core.classify import MACHINE_CLASSES
from .charts import Column, Series, horizontal_bars, stacked_bars

__all__ = [
    "campaign_detail",
    "campaign_list",
    "day_columns",
    "document",
    "error_main",
    "hour_columns",
    "login_form",
]

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
REGION_LABELS = {"other": "Other (merged)", "unknown": "Unknown", "proxy": "Mail proxy"}
HOURS = 72
X_LABELS = 5
_CURRENT = ' aria-current="page"'


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _rate(rate: dict[str, Any] | None) -> str:
    if rate is None:
        return "–"
    return f"{_pct(rate['estimate'])} <small>({_pct(rate['low'])}–{_pct(rate['high'])})</small>"


def _uniques(b: dict[str, int]) -> str:
    return f"{b['estimate']:,} <small>({b['low']:,}–{b['high']:,})</small>"


def document(title: str, main: str, role: str | None, current: str = "") -> str:
    """A whole page: head, header with navigation (when signed in) and the main content."""
    nav = ""
    if role is not None:
        links = [("/dashboard", "Campaigns"), ("/dashboard/privacy", "Privacy notice")]
        items = "".join(
            f'<li><a href="{href}"{_CURRENT if href == current else ""}>{label}</a></li>'
            for href, label in links
        )
        who = "admin token" if role == "admin" else "read-only token"
        nav = (
            f'<nav aria-label="Main"><ul>{items}</ul></nav>'
            '<form class="signout" method="post" action="/dashboard/logout">'
            f'<span class="who">Signed in with the {who}</span> '
            '<button type="submit">Sign out</button></form>'
        )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · pixelagg</title>"
        '<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/dashboard.css">'
        '<script src="/static/dashboard.js" defer></script></head><body>'
        '<a class="skip" href="#main">Skip to content</a>'
        f'<header class="top"><a class="brand" href="/dashboard">pixelagg</a>{nav}</header>'
        f'<main id="main" tabindex="-1">{main}</main></body></html>\n'
    )


def error_main(title: str, message: str, signed_in: bool) -> str:
    back = '<p><a href="/dashboard">Back to the campaigns</a></p>' if signed_in else ""
    return f"<h1>{escape(title)}</h1><p>{escape(message)}</p>{back}"


def login_form(next_path: str, error: str = "") -> str:
    invalid = ' aria-invalid="true" aria-describedby="login-error"' if error else ""
    alert = f'<p class="error" id="login-error" role="alert">{escape(error)}</p>' if error else ""
    return (
        "<h1>Sign in</h1><p>Use the admin token or a read token of this pixelagg.</p>"
        f'{alert}<form class="login" method="post" action="/dashboard/login">'
        f'<input type="hidden" name="next" value="{escape(next_path)}">'
        '<label for="token">Access token</label>'
        '<input id="token" name="token" type="password" autocomplete="current-password" '
        f'required spellcheck="false"{invalid}>'
        '<button type="submit">Sign in</button></form>'
    )


def _table(caption: str, head: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    """A table; cells are HTML already. The first cell of each row is its header."""
    ths = "".join(f'<th scope="col">{h}</th>' for h in head)
    body = "".join(
        f'<tr><th scope="row">{r[0]}</th>{"".join(f"<td>{c}</td>" for c in r[1:])}</tr>' for r in rows
    )
    return (
        f'<div class="scroll" role="region" aria-label="{escape(caption)}" tabindex="0">'
        f'<table class="{cls}"><caption>{escape(caption)}</caption>'
        f"<thead><tr>{ths}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def campaign_list(rows: Sequence[tuple[Campaign, dict[str, Any]]], page: int, pages: int) -> str:
    """The campaign list with each campaign's headline figures."""
    if not rows:
        return (
            "<h1>Campaigns</h1><p>No campaigns yet. Create one with <code>pixelagg campaign "
            "create</code> or <code>POST /api/campaigns</code>.</p>"
        )
    cells = []
    for campaign, report in rows:
        paused = ' <span class="badge">paused</span>' if campaign.paused else ""
        recipients = f"{campaign.recipients:,}" if campaign.recipients else "–"
        cells.append(
            [
                f'<a href="/dashboard/campaigns/{escape(campaign.id)}">{escape(campaign.name)}</a>{paused}',
                recipients,
                _rate(report["open_rate"]),
                _pct(report["machine_share"]),
                f"{report['opens']['total']:,}",
                _uniques(report["unique_opens"]),
            ]
        )
    head = [
        "Campaign",
        "Recipients",
        "Open rate (95% interval)",
        "Machine share",
        "Opens",
        "Unique opens (95% interval)",
    ]
    out = ["<h1>Campaigns</h1>", _table("Campaigns and their open rates", head, cells, "list")]
    if pages > 1:
        links = []
        if page > 1:
            links.append(f'<a href="/dashboard?page={page - 1}" rel="prev">Newer</a>')
        links.append(f"<span>Page {page} of {pages}</span>")
        if page < pages:
            links.append(f'<a href="/dashboard?page={page + 1}" rel="next">Older</a>')
        out.append(f'<nav class="pager" aria-label="Pages">{" ".join(links)}</nav>')
    return "".join(out)


def hour_columns(by_hour: Sequence[dict[str, Any]], tz: str, now: float) -> list[Column]:
    """Hourly columns from the first hour with opens up to 72 hours later (or now), gaps as 0."""
    if not by_hour:
        return []
    zone = ZoneInfo(tz)
    counts = {
        datetime.fromisoformat(r["hour"]).astimezone(UTC): (r["human_opens"], r["machine_opens"])
        for r in by_hour
    }
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


def day_columns(by_day: Sequence[dict[str, Any]]) -> list[Column]:
    """Daily columns, with at most X_LABELS of them labelled on the axis."""
    every = max(1, -(-len(by_day) // X_LABELS))
    return [
        Column(
            d["date"],
            "" if n % every else date.fromisoformat(d["date"]).strftime("%d %b"),
            (d["human_opens"], d["machine_opens"]),
        )
        for n, d in enumerate(by_day)
    ]


def _stacked_section(key: str, heading: str, what: str, columns: Sequence[Column]) -> str:
    human = sum(c.values[0] for c in columns)
    machine = sum(c.values[1] for c in columns)
    busiest = max(columns, key=lambda c: sum(c.values))
    desc = (
        f"Stacked bars of human and machine opens per {what}, {len(columns)} {what}s from "
        f"{columns[0].label} to {columns[-1].label}. In total {human:,} human and "
        f"{machine:,} machine opens; the busiest {what} was {busiest.label} with "
        f"{sum(busiest.values):,} opens."
    )
    svg = stacked_bars(f"chart-{key}", heading, desc, (HUMAN, MACHINE), columns)
    rows = [
        [escape(c.label), f"{c.values[0]:,}", f"{c.values[1]:,}", f"{sum(c.values):,}"]
        for c in columns
        if sum(c.values)
    ]
    table = _table(
        f"{heading} (rows without opens left out)", [what.capitalize(), "Human", "Machine", "Total"], rows
    )
    return (
        f'<section aria-labelledby="h-{key}"><h2 id="h-{key}">{escape(heading)}</h2>'
        f'<ul class="legend"><li><span class="swatch s-human"></span>{HUMAN.name}</li>'
        f'<li><span class="swatch s-machine"></span>{MACHINE.name}</li></ul>{svg}'
        f"<details><summary>Table of {escape(heading.lower())}</summary>{table}</details>"
        "</section>"
    )


def _figures(view: dict[str, Any], report: dict[str, Any]) -> str:
    rate = report["open_rate"]
    human = report["unique_opens"]["human"]
    recipients = view["recipients"]
    if rate is None:
        rate_figure = '<dd class="big">–</dd><dd>Set the number of recipients to see it.</dd>'
    else:
        rate_figure = (
            f'<dd class="big">{_pct(rate["estimate"])}</dd>'
            f"<dd>95% interval {_pct(rate['low'])}–{_pct(rate['high'])}</dd>"
        )
    of = f" of {recipients:,} recipients" if recipients else ""
    figures = [
        ("Open rate", rate_figure),
        (
            "Unique human opens",
            f'<dd class="big">{human["estimate"]:,}</dd><dd>{human["low"]:,}–{human["high"]:,}{of}</dd>',
        ),
        (
            "Opens",
            f'<dd class="big">{report["opens"]["total"]:,}</dd><dd>every load of the image</dd>',
        ),
        (
            "Machine share",
            f'<dd class="big">{_pct(report["machine_share"])}</dd><dd>Apple MPP, scanners and bots</dd>',
        ),
    ]
    items = "".join(f"<div><dt>{name}</dt>{value}</div>" for name, value in figures)
    return f'<dl class="figures" id="headline">{items}</dl>'


def _classes_section(report: dict[str, Any]) -> str:
    by_class = report["opens"]["by_class"]
    rows = [
        (CLASS_LABELS.get(c, c), n, MACHINE if c in MACHINE_CLASSES else HUMAN) for c, n in by_class.items()
    ]
    desc = "Opens by who fetched the image: " + "; ".join(f"{label} {n:,}" for label, n, _ in rows)
    svg = horizontal_bars("chart-classes", "Opens by kind of reader", desc, rows)
    uniques = report["unique_opens"]["by_class"]
    table_rows = [
        [escape(label), "machine" if s is MACHINE else "human", f"{n:,}", _uniques(uniques[c])]
        for (label, n, s), c in zip(rows, by_class, strict=True)
    ]
    table = _table(
        "Opens by kind of reader",
        ["Kind", "Counts as", "Opens", "Unique (95% interval)"],
        table_rows,
    )
    return (
        '<section aria-labelledby="h-classes"><h2 id="h-classes">Human and machine opens</h2>'
        "<p>Image proxies fetch for a reading person; Apple Mail Privacy Protection, scanners "
        f"and bots load the image without anyone reading.</p>{svg}"
        f"<details><summary>Table of opens by kind of reader</summary>{table}</details></section>"
    )


def _regions_section(report: dict[str, Any]) -> str:
    regions = report["by_region"]
    k = report["min_bucket"]
    note = (
        f"Countries with fewer than {k} unique opens are merged into “Other”, so no small "
        "group stands out. Opens through mail proxies have no location."
    )
    if not regions:
        return (
            '<section aria-labelledby="h-regions"><h2 id="h-regions">Countries</h2>'
            f"<p>{note}</p><p>No opens yet.</p></section>"
        )
    rows = [(REGION_LABELS.get(r["region"], r["region"]), r["opens"], REGION) for r in regions]
    desc = "Opens by country: " + "; ".join(f"{label} {n:,}" for label, n, _ in rows)
    svg = horizontal_bars("chart-regions", "Opens by country", desc, rows)
    table = _table(
        "Opens by country",
        ["Country", "Opens", "Unique opens"],
        [
            [escape(label), f"{r['opens']:,}", f"{r['unique_opens']:,}"]
            for (label, _, _), r in zip(rows, regions, strict=True)
        ],
        "regions",
    )
    return (
        '<section aria-labelledby="h-regions"><h2 id="h-regions">Countries</h2>'
        f"<p>{note}</p>{svg}{table}</section>"
    )


def _snippet_section(view: dict[str, Any]) -> str:
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in view["notes"])
    return (
        '<section aria-labelledby="h-snippet"><h2 id="h-snippet">Pixel snippet</h2>'
        '<p><label for="snippet">Paste this HTML into the newsletter. It is the same for '
        "every recipient.</label></p>"
        f'<textarea id="snippet" readonly rows="4" spellcheck="false">{escape(view["snippet"])}'
        '</textarea><p class="actions"><button type="button" class="copy" data-copy="snippet" '
        'hidden>Copy snippet</button> <span class="status" role="status"></span></p>'
        f"{notes}<p>Tell your readers about the measurement: "
        '<a href="/dashboard/privacy?lang=en">privacy notice text</a> '
        '(<a href="/dashboard/privacy?lang=nl" hreflang="nl" lang="nl">Nederlands</a>).</p>'
        "</section>"
    )


def campaign_detail(view: dict[str, Any], report: dict[str, Any], now: float) -> str:
    """The campaign page: headline figures, charts with tables, countries and the snippet."""
    r = report["range"]
    meta = (
        f"Created {escape(view['created_at'][:10])} · legal basis "
        f"{escape(view['legal_basis'].replace('_', ' '))}"
        + (' · <span class="badge">paused</span>' if view["paused"] else "")
    )
    tz_form = (
        f'<form class="tz" method="get" action="/dashboard/campaigns/{escape(view["id"])}">'
        '<label for="tz">Time zone</label> '
        f'<input id="tz" name="tz" value="{escape(r["tz"])}" spellcheck="false" '
        'autocomplete="off"> <button type="submit">Apply</button></form>'
    )
    out = [
        f'<h1>{escape(view["name"])}</h1><p class="meta">{meta}</p>',
        f'<p class="range">From {escape(r["from"])} to {escape(r["to"])} ({escape(r["tz"])})</p>{tz_form}',
        _figures(view, report),
    ]
    if report["opens"]["total"] == 0:
        out.append('<p class="empty">No opens yet.</p>')
    else:
        hours = hour_columns(report["by_hour"], r["tz"], now)
        if hours:
            out.append(_stacked_section("hours", "Opens per hour, first 72 hours", "hour", hours))
        out.append(_stacked_section("days", "Opens per day", "day", day_columns(report["by_day"])))
        out.append(_classes_section(report))
    out.append(_regions_section(report))
    out.append(_snippet_section(view))
    return "".join(out)


def privacy_main(notice_html: str, lang: str, languages: Sequence[str]) -> str:
    """The privacy-notice page around the rendered (already escaped) notice section."""
    names = {"en": "English", "nl": "Nederlands"}
    switch = " · ".join(
        f'<a href="/dashboard/privacy?lang={code}" hreflang="{code}" lang="{code}"'
        f"{_CURRENT if code == lang else ''}>{names.get(code, code)}</a>"
        for code in languages
    )
    return (
        "<h1>Privacy notice</h1><p>A section for your privacy statement, written from this "
        "pixelagg's settings and the legal bases of its campaigns. Copy it into your own "
        f'statement.</p><p class="langs">Language: {switch}</p>'
        f'<div class="notice">{notice_html}</div>'
    )
