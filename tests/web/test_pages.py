"""Dashboard pages: the pure helpers that prepare template data, and the templates themselves."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import jinja2
import pytest

from pixelagg.core.campaign import Campaign
from pixelagg.reports.clicks import empty_clicks
from pixelagg.reports.report import DayRow, HourRow, RegionRow
from pixelagg.web.pages import (
    X_LABELS,
    campaign_context,
    class_section,
    day_columns,
    hour_columns,
    list_context,
    region_section,
    templates,
)
from tests.reports.samples import REPORT

VIEW = {
    "id": REPORT.campaign.id,
    "name": REPORT.campaign.name,
    "created_at": "2025-03-01T10:00:00+00:00",
    "legal_basis": "legitimate_interest",
    "paused": False,
    "snippet": '<img src="x">',
    "notes": [],
}
PAGE = {"title": "Page", "role": "admin", "current": "", "proxy_problem": None, "csrf": "x"}


def _hour(iso, human=1, machine=0):
    return HourRow(datetime.fromisoformat(iso), human + machine, human, machine)


def _ts(iso):
    return datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp()


def _render(name, **context):
    return templates.get_template(name).render({**PAGE, **context})


def test_hour_columns_fill_gaps_with_zero():
    """Hours without opens between two with opens become zero columns."""
    rows = [_hour("2024-03-04T10:00:00+00:00"), _hour("2024-03-04T13:00:00+00:00", 2, 1)]
    columns = hour_columns(rows, "UTC", _ts("2024-03-04T13:30:00"))
    assert [c.values for c in columns] == [(1, 0), (0, 0), (0, 0), (2, 1)]


def test_hour_columns_run_up_to_now():
    """Hours after the last open up to now are shown as zero."""
    columns = hour_columns([_hour("2024-03-04T10:00:00+00:00")], "UTC", _ts("2024-03-04T12:10:00"))
    assert len(columns) == 3


def test_hour_columns_stop_after_72_hours():
    """However late it is, the hourly chart covers at most 72 hours."""
    columns = hour_columns([_hour("2024-03-04T10:00:00+00:00")], "UTC", _ts("2024-04-01T00:00:00"))
    assert len(columns) == 72


def test_hour_columns_keep_hours_across_a_clock_change():
    """On the day clocks go back, the repeated local hour appears twice, once per UTC hour."""
    rows = [_hour("2024-10-27T01:00:00+02:00"), _hour("2024-10-27T03:00:00+01:00")]
    columns = hour_columns(rows, "Europe/Amsterdam", _ts("2024-10-27T02:00:00"))
    assert [c.label[-5:] for c in columns] == ["01:00", "02:00", "02:00", "03:00"]


def test_hour_columns_without_opens():
    """No opens in the first hours gives no columns."""
    assert hour_columns([], "UTC", 0.0) == []


def test_day_columns_label_at_most_five_days():
    """A month of days gets at most X_LABELS axis labels, starting with the first day."""
    days = [DayRow(date(2024, 10, d), 1, 1, 0, 1) for d in range(1, 31)]
    labels = [c.axis_label for c in day_columns(days) if c.axis_label]
    assert labels[0] == "01 Oct" and len(labels) <= X_LABELS


def test_hour_columns_label_midnight_with_the_date():
    """Over three days the hourly axis is labelled at local midnight, with the date."""
    rows = [_hour("2024-03-04T10:00:00+00:00")]
    columns = hour_columns(rows, "UTC", _ts("2024-04-01T00:00:00"))
    assert [c.axis_label for c in columns if c.axis_label] == ["05 Mar", "06 Mar", "07 Mar"]


def test_hour_columns_in_a_half_hour_zone():
    """In a zone offset by half an hour, labels show the real local minutes."""
    columns = hour_columns([_hour("2024-03-04T10:00:00+00:00")], "Asia/Kolkata", _ts("2024-03-04T10:00:00"))
    assert columns[0].label == "2024-03-04 15:30"


def test_class_section_marks_machine_classes():
    """The class table lists every class with its label, and which ones are machines."""
    rows = class_section(REPORT).rows
    assert [(r.label, r.machine, r.opens) for r in rows] == [
        ("Mail client", False, 4),
        ("Apple Mail Privacy Protection", True, 2),
        ("Image proxy", False, 1),
        ("Security scanner", True, 1),
        ("Bot", True, 1),
    ]


def test_region_section_names_the_merged_bucket():
    """The region table calls the merged bucket 'Other (merged)' and mail proxies 'Mail proxy'."""
    report = dataclasses.replace(REPORT, by_region=(RegionRow("proxy", 2, 2), RegionRow("other", 3, 3)))
    assert [r.label for r in region_section(report).rows] == ["Mail proxy", "Other (merged)"]


def test_region_section_without_opens():
    """Without region rows there is no country chart."""
    assert region_section(dataclasses.replace(REPORT, by_region=())) is None


def test_campaign_context_has_charts_when_there_are_opens():
    """With opens the page has the hourly and daily charts and the class section."""
    context = campaign_context(VIEW, REPORT, _ts("2025-03-03T15:00:00"))
    assert [c.key for c in context["charts"]] == ["hours", "days"]
    assert context["classes"] is not None and context["report"] is REPORT


def test_campaign_context_without_opens_has_no_charts():
    """Without opens the page has neither the stacked charts nor the class section."""
    quiet = dataclasses.replace(REPORT, opens=dataclasses.replace(REPORT.opens, total=0))
    context = campaign_context(VIEW, quiet, _ts("2025-03-03T15:00:00"))
    assert context["charts"] == [] and context["classes"] is None


def test_stacked_table_leaves_out_empty_rows():
    """The table beside a stacked chart lists only the columns that had opens."""
    (_, days) = campaign_context(VIEW, REPORT, _ts("2025-03-03T15:00:00"))["charts"]
    assert [c.label for c in days.rows] == ["2025-03-03"]


def test_page_without_session_has_no_navigation():
    """The sign-in page shows no navigation and no sign-out button."""
    html = _render("login.html", role=None, next_path="/dashboard", error="", token_hint="")
    assert "<nav" not in html and "Sign out" not in html


def test_error_message_is_escaped():
    """Error pages escape their message."""
    assert "&lt;x&gt;" in _render("error.html", title="Not found", message="<x>")


def test_campaign_page_escapes_the_name_and_keeps_the_charts():
    """A campaign name is escaped; the charts, already escaped SVG, are put in as they are."""
    view = {**VIEW, "name": "<b>Spring</b>"}
    context = campaign_context(view, REPORT, _ts("2025-03-03T15:00:00"))
    html = _render("campaign.html", **context, done="", done_message="")
    assert "<h1>&lt;b&gt;Spring&lt;/b&gt;</h1>" in html
    assert html.count('<svg class="chart"') == 5  # hours, days, classes, regions, clicks per day


def test_a_name_the_template_lacks_is_an_error():
    """Rendering a page without a value it needs fails instead of leaving a blank."""
    with pytest.raises(jinja2.UndefinedError):
        templates.get_template("error.html").render(PAGE)


def _list_html(report):
    campaign = Campaign(id=REPORT.campaign.id, name="Spring", created_at=0.0, recipients=40)
    return _render("campaigns.html", **list_context([(campaign, report)], 1, 1), done="")


def test_campaign_list_shows_the_click_rate_with_its_interval():
    """The list's click-rate column is the report's click rate and its 95% interval."""
    assert '<td data-label="Click rate">7.5% <small>(7.5%\u20137.5%)</small></td>' in _list_html(REPORT)


def test_campaign_list_says_when_a_campaign_has_no_links():
    """A campaign without links shows 'no links' for its click rate, not a rate of nothing."""
    report = dataclasses.replace(REPORT, clicks=empty_clicks([REPORT.range.start], 0, ""))
    assert '<td data-label="Click rate"><span class="status">no links</span></td>' in _list_html(report)
