"""A hand-made report and its JSON: the API's JSON from before the report was typed, plus the
`privacy` block that the release step added at its end and the `clicks` block after it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from pixelagg.core.classify import CLASSES
from pixelagg.reports.report import (
    Bounds,
    CampaignRef,
    ClickDayRow,
    ClickRegionRow,
    Clicks,
    ClientRow,
    DayRange,
    DayRow,
    HourRow,
    LinkRow,
    OpenRate,
    Opens,
    RateBounds,
    RegionRow,
    ReleaseInfo,
    Report,
    UniqueClickers,
    UniqueOpens,
)

CET = timezone(timedelta(hours=1))
REPORT = Report(
    campaign=CampaignRef("AAAAAAAAAAAAAAAA", "Spring", 40),
    range=DayRange(date(2025, 3, 3), date(2025, 3, 4), "Europe/Amsterdam"),
    opens=Opens(
        total=9,
        by_class={"human": 4, "apple_mpp": 2, "image_proxy": 1, "scanner": 1, "bot": 1},
        declined=2,
    ),
    unique_opens=UniqueOpens(
        8,
        7,
        9,
        human=Bounds(5, 5, 6),
        by_class={c: Bounds(n, n, n) for c, n in zip(CLASSES, (4, 1, 1, 1, 1), strict=True)},
        method="the method",
    ),
    open_rate=OpenRate(0.125, 0.125, 0.15, "unique human opens / recipients"),
    machine_share=0.4444,
    by_day=(DayRow(date(2025, 3, 3), 9, 5, 4, 8), DayRow(date(2025, 3, 4), 0, 0, 0, 0)),
    by_hour=(HourRow(datetime(2025, 3, 3, 13, tzinfo=CET), 9, 5, 4),),
    by_region=(RegionRow("NL", 6, 5), RegionRow("other", 3, 3)),
    min_bucket=3,
    privacy=ReleaseInfo("exact", None, None, None, datetime(2025, 3, 3, 12, 5, tzinfo=UTC), ("a note",)),
    by_client=(ClientRow("outlook", 5, 0.7143), ClientRow("other", 2, 0.2857)),
    open_rate_observed=0.125,
    apple_mpp=Bounds(2, 1, 4),
    open_rate_without_mpp=RateBounds(0.1316, 0.1, 0.2),
    clicks=Clicks(
        total=7,
        by_class={"human": 3, "scanner": 3, "bot": 1},
        machine_share=0.5714,
        unique_clickers=UniqueClickers(
            5,
            5,
            5,
            human=Bounds(3, 3, 3),
            by_class={"human": Bounds(3, 3, 3), "scanner": Bounds(1, 1, 1), "bot": Bounds(1, 1, 1)},
            method="the click method",
        ),
        click_rate=RateBounds(0.075, 0.075, 0.075),
        click_to_open_rate=RateBounds(0.5, 0.3, 0.6),
        links=3,
        by_link=(
            LinkRow(
                "Lk3q2-4Wd8",
                "https://example.org/spring",
                5,
                {"human": 2, "scanner": 2, "bot": 1},
                Bounds(2, 2, 2),
            ),
            LinkRow("other", None, 2, {"human": 1, "scanner": 1, "bot": 0}, None),
        ),
        by_day=(ClickDayRow(date(2025, 3, 3), 7, 3, 4, 5), ClickDayRow(date(2025, 3, 4), 0, 0, 0, 0)),
        by_region=(ClickRegionRow("NL", 4), ClickRegionRow("other", 3)),
    ),
)
# The API's JSON before the report was typed, byte for byte (the order of the fields included),
# then the privacy block the release step appends.
JSON = (
    '{"campaign": {"id": "AAAAAAAAAAAAAAAA", "name": "Spring", "recipients": 40}, '
    '"range": {"from": "2025-03-03", "to": "2025-03-04", "tz": "Europe/Amsterdam"}, '
    '"opens": {"total": 9, "by_class": {"human": 4, "apple_mpp": 2, "image_proxy": 1, "scanner": 1, '
    '"bot": 1}, "declined": 2}, '
    '"unique_opens": {"estimate": 8, "low": 7, "high": 9, "human": {"estimate": 5, "low": 5, "high": 6}, '
    '"by_class": {"human": {"estimate": 4, "low": 4, "high": 4}, '
    '"apple_mpp": {"estimate": 1, "low": 1, "high": 1}, '
    '"image_proxy": {"estimate": 1, "low": 1, "high": 1}, '
    '"scanner": {"estimate": 1, "low": 1, "high": 1}, '
    '"bot": {"estimate": 1, "low": 1, "high": 1}}, "method": "the method"}, '
    '"open_rate": {"estimate": 0.125, "low": 0.125, "high": 0.15, '
    '"method": "unique human opens / recipients"}, '
    '"machine_share": 0.4444, '
    '"by_day": [{"date": "2025-03-03", "opens": 9, "human_opens": 5, "machine_opens": 4, "unique_opens": 8}, '
    '{"date": "2025-03-04", "opens": 0, "human_opens": 0, "machine_opens": 0, "unique_opens": 0}], '
    '"by_hour": [{"hour": "2025-03-03T13:00:00+01:00", "opens": 9, "human_opens": 5, "machine_opens": 4}], '
    '"by_region": [{"region": "NL", "opens": 6, "unique_opens": 5}, '
    '{"region": "other", "opens": 3, "unique_opens": 3}], '
    '"min_bucket": 3, '
    '"privacy": {"mode": "exact", "epsilon": null, "release_period_seconds": null, "released_until": null, '
    '"first_open_at": "2025-03-03T12:05:00+00:00", "notes": ["a note"], "first_figures_at": null}, '
    '"by_client": [{"family": "outlook", "opens": 5, "share": 0.7143}, '
    '{"family": "other", "opens": 2, "share": 0.2857}], '
    '"open_rate_observed": 0.125, "apple_mpp": {"estimate": 2, "low": 1, "high": 4}, '
    '"open_rate_without_mpp": {"estimate": 0.1316, "low": 0.1, "high": 0.2}, '
    '"clicks": {"total": 7, "by_class": {"human": 3, "scanner": 3, "bot": 1}, "machine_share": 0.5714, '
    '"unique_clickers": {"estimate": 5, "low": 5, "high": 5, "human": {"estimate": 3, "low": 3, "high": 3}, '
    '"by_class": {"human": {"estimate": 3, "low": 3, "high": 3}, '
    '"scanner": {"estimate": 1, "low": 1, "high": 1}, "bot": {"estimate": 1, "low": 1, "high": 1}}, '
    '"method": "the click method"}, '
    '"click_rate": {"estimate": 0.075, "low": 0.075, "high": 0.075}, '
    '"click_to_open_rate": {"estimate": 0.5, "low": 0.3, "high": 0.6}, "links": 3, '
    '"by_link": [{"id": "Lk3q2-4Wd8", "url": "https://example.org/spring", "clicks": 5, '
    '"by_class": {"human": 2, "scanner": 2, "bot": 1}, '
    '"unique_human_clickers": {"estimate": 2, "low": 2, "high": 2}}, '
    '{"id": "other", "url": null, "clicks": 2, "by_class": {"human": 1, "scanner": 1, "bot": 0}, '
    '"unique_human_clickers": null}], '
    '"by_day": [{"date": "2025-03-03", "clicks": 7, "human_clicks": 3, "machine_clicks": 4, '
    '"unique_clickers": 5}, '
    '{"date": "2025-03-04", "clicks": 0, "human_clicks": 0, "machine_clicks": 0, "unique_clickers": 0}], '
    '"by_region": [{"region": "NL", "clicks": 4}, {"region": "other", "clicks": 3}]}}'
)
