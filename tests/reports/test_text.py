"""The report as text: the CLI's table and the CSV, built from the typed report."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

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
"""


def test_table():
    """The CLI's table shows the headline figures, then classes, days, regions and how they were released."""
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
    """The CSV has totals, classes, days, hours and regions, one row each."""
    assert stats_csv(REPORT) == CSV
