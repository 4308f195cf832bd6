"""The campaign page's clicks panel: its rows from the typed report, and the section it renders."""

# The page's typographic dashes are what the assertions look for.
# ruff: noqa: RUF001

from __future__ import annotations

import dataclasses
import re

from pixelagg.reports.clicks import empty_clicks
from pixelagg.web.click_panel import OTHER_LABEL, click_panel
from pixelagg.web.pages import campaign_context
from tests.reports.samples import REPORT
from tests.web.test_pages import VIEW, _render, _ts

CLICKS = REPORT.clicks


def clicks_section(report):
    html = _render("campaign.html", **campaign_context(VIEW, report, _ts("2025-03-03T15:00:00")), done="")
    match = re.search(r'<section aria-labelledby="h-clicks".*?</section>', html, re.S)
    assert match, "no clicks section"
    return match.group()


def text_of(html):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_links_are_the_reports_rows_with_the_folded_one_named():
    """Each link row of the report is a line; the 'other' row reads as the folded links, without a URL."""
    lines = click_panel(CLICKS).links
    assert [(line.url, line.folded, line.clicks, line.human, line.machine) for line in lines] == [
        ("https://example.org/spring", False, 5, 2, 3),
        (OTHER_LABEL, True, 2, 1, 1),
    ]
    assert lines[1].people is None


def test_classes_mark_scanners_and_bots_as_machines():
    """Clicks by who clicked: people as human, scanners and bots as machines."""
    rows = click_panel(CLICKS).classes
    assert [(r.label, r.machine, r.clicks) for r in rows] == [
        ("Person", False, 3),
        ("Security scanner", True, 3),
        ("Bot", True, 1),
    ]


def test_days_without_clicks_leave_the_table_but_not_the_chart():
    """The table of days leaves out days without clicks; the chart keeps them as empty columns."""
    panel = click_panel(CLICKS)
    assert [d.label for d in panel.days] == ["2025-03-03"]
    assert panel.svg is not None and "2025-03-04: Human clicks 0, Machine clicks 0" in panel.svg


def test_no_clicks_no_chart():
    """Without clicks there is no chart."""
    panel = click_panel(empty_clicks([REPORT.range.start], 2, ""))
    assert panel.svg is None and panel.days == ()


def test_section_shows_rates_with_their_intervals():
    """Click rate and click-to-open rate show with their 95% intervals, machine clicks apart."""
    text = text_of(clicks_section(REPORT))
    assert "Click rate 7.5% 95% interval 7.5%–7.5%" in text
    assert "Click-to-open rate 50.0% 95% interval 30.0%–60.0% of readers" in text
    assert "Unique human clickers 3 95% interval 3–3" in text
    assert "Machine clicks 4 scanners and bots, 57.1% of 7" in text


def test_section_has_the_link_table_with_the_folded_row():
    """The link table lists each link's clicks by human and machine, the folded row last."""
    section = clicks_section(REPORT)
    rows = re.findall(
        r"<tr[^>]*><th scope=\"row\">([^<]*)</th><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>", section
    )
    assert ("https://example.org/spring", "5", "2", "3") in rows
    assert (OTHER_LABEL, "2", "1", "1") in rows


def test_section_without_links_says_how_to_register_them():
    """A campaign without links says how to rewrite a mail, and shows no figures."""
    report = dataclasses.replace(REPORT, clicks=empty_clicks([REPORT.range.start], 0, ""))
    section = clicks_section(report)
    assert f"pixelagg links rewrite mail.html --campaign {REPORT.campaign.id}" in section
    assert "Click rate" not in section


def test_section_with_links_but_no_clicks_says_so():
    """Registered links without clicks: the figures, and 'No clicks yet.'."""
    report = dataclasses.replace(REPORT, clicks=empty_clicks([REPORT.range.start], 2, ""))
    text = text_of(clicks_section(report))
    assert "2 registered links" in text and "No clicks yet." in text
    assert "Click rate – Set the number of recipients to see it." in text


def test_link_urls_are_escaped():
    """A link's URL is text on the page, escaped."""
    row = dataclasses.replace(CLICKS.by_link[0], url="https://example.org/?a=<b>&c")
    report = dataclasses.replace(REPORT, clicks=dataclasses.replace(CLICKS, by_link=(row,)))
    assert "https://example.org/?a=&lt;b&gt;&amp;c" in clicks_section(report)
