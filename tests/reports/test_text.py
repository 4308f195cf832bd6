"""The report as text: the CLI's table and the CSV, built from the typed report."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from pixelagg.reports.clicks import empty_clicks
from pixelagg.reports.report import ReleaseInfo, Withheld
from pixelagg.reports.text import format_stats, period_text, stats_csv
from tests.reports.samples import REPORT

RELEASED = ReleaseInfo("differential_privacy", 1.0, 3600, datetime(2025, 3, 4, 23, tzinfo=UTC), None, ())

TABLE = """\
Spring (AAAAAAAAAAAAAAAA)  2025-03-03 .. 2025-03-04 Europe/Amsterdam

Opens                9
Unique opens         8  (7 - 9, 95%)
Unique human opens   5  (5 - 6, 95%)
Open rate            12.5%  (12.5% - 15.0%) of 40 recipients
  observed           12.5%  (visitor keys; not a lower bound)
  without Apple MPP  13.2%  (10.0% - 20.0%)
Apple MPP recipients 2  (1 - 4, 95%)
Machine share        44.4%
Declined (GPC/DNT)   2

CLASS            OPENS   UNIQUE
human                4        4
apple_mpp            2        1
image_proxy          1        1
scanner              1        1
bot                  1        1

DAY              OPENS   UNIQUE
2025-03-03           9        8
2025-03-04           0        0

REGION           OPENS   UNIQUE   (buckets under 3 uniques are 'other')
NL                   6        5
other                3        3

MAIL CLIENT      OPENS    SHARE
outlook              5    71.4%
other                2    28.6%

Clicks               7  (human 3, machine 4, 57.1%) on 3 links
Unique clickers      5  (5 - 5, 95%)
Human clickers       3  (3 - 3, 95%)
Click rate           7.5%  (7.5% - 7.5%)
Click-to-open rate   50.0%  (30.0% - 60.0%)

CLICK CLASS     CLICKS   UNIQUE
human                3        3
scanner              3        1
bot                  1        1

LINK            CLICKS   HUMAN  MACHINE  PEOPLE  URL
Lk3q2-4Wd8           5       2        3       2  https://example.org/spring
other                2       1        1       -  (links too little clicked to show on their own)

CLICK DAY       CLICKS   HUMAN  MACHINE  UNIQUE
2025-03-03           7       3        4       5
2025-03-04           0       0        0       0

CLICK REGION    CLICKS
NL                   4
other                3

Figures: exact and live (privacy.epsilon off)
Note: a note"""

CSV = """\
section,key,opens,unique_opens,unique_low,unique_high
total,all,9,8,7,9
total,human,5,5,5,6
total,declined,2,,,
class,human,4,4,4,4
class,apple_mpp,2,1,1,1
class,image_proxy,1,1,1,1
class,scanner,1,1,1,1
class,bot,1,1,1,1
day,2025-03-03,9,8,,
day,2025-03-04,0,0,,
hour,2025-03-03T13:00:00+01:00,9,,,
region,NL,6,5,,
region,other,3,3,,
client,outlook,5,,,
client,other,2,,,
clicks,all,7,5,5,5
clicks,human,3,3,3,3
clicks,machine,4,,,
click_class,human,3,3,3,3
click_class,scanner,3,1,1,1
click_class,bot,1,1,1,1
click_link,https://example.org/spring,5,,,
click_link_human,https://example.org/spring,2,2,2,2
click_link,other,2,,,
click_link_human,other,1,,,
click_day,2025-03-03,7,5,,
click_day,2025-03-04,0,0,,
click_region,NL,4,,,
click_region,other,3,,,
"""


def test_table():
    """The CLI's table: headline figures, classes, days, regions, clicks, and how they were released."""
    assert format_stats(REPORT) == TABLE


def test_table_without_recipients_or_opens():
    """Without an open rate or a machine share the table says so with a dash."""
    lines = format_stats(dataclasses.replace(REPORT, open_rate=None, machine_share=None)).splitlines()
    assert "Open rate            - (set --recipients to get one)" in lines
    assert "Machine share        -" in lines


def test_table_says_up_to_when_figures_are_released_and_when_the_next_come():
    """Under differential privacy the table names the last released period's end and the next release."""
    lines = format_stats(dataclasses.replace(REPORT, privacy=RELEASED)).splitlines()
    assert lines[-2:] == [
        "Figures: differentially private (epsilon 1.0), released up to 2025-03-04 23:00 UTC",
        "Opens since then show from 2025-03-05 00:01 UTC on, one closed 60-minute period at a time "
        "(privacy.release_period_seconds)",
    ]


def test_a_table_before_the_first_release_says_when_figures_come_instead_of_zeros():
    """Before its first period is released a campaign's table names when figures come out,
    and shows no zero open rate that would read as nobody having opened."""
    waiting = dataclasses.replace(RELEASED, first_figures_at=datetime(2025, 3, 5, 0, 1, tzinfo=UTC))
    lines = format_stats(dataclasses.replace(REPORT, privacy=waiting)).splitlines()
    assert lines[2].startswith("No figures yet: ") and "2025-03-05 00:01 UTC" in lines[2]
    assert not any(line.startswith(("Open rate", "Opens   ", "CLASS")) for line in lines)


def test_a_withheld_table_says_no_figures_without_a_release_time():
    """A campaign too small to report: its message, and a figures line with no 'released up to -'."""
    withheld = Withheld(REPORT.campaign, REPORT.range, "too_few_recipients", "Too few.", RELEASED)
    lines = format_stats(withheld).splitlines()
    assert "Too few." in lines
    assert "Figures: none for this campaign (differential privacy, epsilon 1.0)" in lines
    assert not any("released up to" in line for line in lines)


def test_the_headline_figures_line_up_in_one_column():
    """Every headline figure starts in the same column, the longest label's included."""
    lines = format_stats(REPORT).splitlines()[2:11]
    assert all(line[20] == " " and line[21] != " " for line in lines), lines


def test_period_text_in_minutes_or_seconds():
    """A period of whole minutes reads in minutes, any other in seconds."""
    assert (period_text(3600), period_text(900), period_text(90)) == ("60-minute", "15-minute", "90-second")


def test_csv():
    """The CSV has totals, classes, days, hours, regions and the clicks' sections, one row each."""
    assert stats_csv(REPORT) == CSV


def test_table_without_links_says_how_to_add_them():
    """A campaign without links has one clicks line, saying how to register them."""
    report = dataclasses.replace(REPORT, clicks=empty_clicks([REPORT.range.start], 0, ""))
    lines = format_stats(report).splitlines()
    assert (
        f"Clicks               - (no links: pixelagg links rewrite FILE --campaign {REPORT.campaign.id})"
        in lines
    )
    assert not any(line.startswith(("CLICK", "LINK")) for line in lines)


def test_table_with_links_but_no_clicks_has_the_headline_only():
    """Links without clicks: the headline figures, no empty tables."""
    report = dataclasses.replace(REPORT, clicks=empty_clicks([REPORT.range.start], 2, ""))
    lines = format_stats(report).splitlines()
    assert "Clicks               0  (human 0, machine 0) on 2 links" in lines
    assert "Click rate           - (set --recipients to get one)" in lines
    assert not any(line.startswith(("CLICK", "LINK")) for line in lines)


def test_csv_folded_links_row_is_keyed_other():
    """The folded links' row is keyed 'other' in the CSV, with no uniques of its own."""
    rows = [line.split(",") for line in stats_csv(REPORT).splitlines()]
    assert ["click_link_human", "other", "1", "", "", ""] in rows
