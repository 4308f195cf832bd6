"""The report as plain text: the CLI's table and the CSV that the API and the CLI serve."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from .release import RELEASE_DELAY_SECONDS
from .report import OTHER_LINK, Clicks, RateBounds, ReleaseInfo, Report, Withheld

__all__ = ["format_stats", "next_release", "pending_message", "period_text", "stats_csv", "utc_time"]


_WIDTH = 21
"""The width of the headline figures' labels: the longest, 'Apple MPP recipients', and a space."""


def utc_time(moment: datetime) -> str:
    """A moment as the CLI shows it: 2026-12-01 23:00 UTC (with seconds when it has any)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%d %H:%M:%S UTC" if utc.second else "%Y-%m-%d %H:%M UTC")


def period_text(seconds: int) -> str:
    """A release period's length as an adjective: '60-minute', or '30-second'."""
    return f"{seconds // 60}-minute" if seconds % 60 == 0 else f"{seconds}-second"


def next_release(info: ReleaseInfo) -> datetime | None:
    """When the next release period's figures come out: it closes, and a delay for buffered hits."""
    if info.released_until is None or not info.release_period_seconds:
        return None
    period = info.release_period_seconds
    return info.released_until + timedelta(seconds=period + min(RELEASE_DELAY_SECONDS, period))


def pending_message(info: ReleaseInfo) -> str | None:
    """Why a report shows no figures yet, while no release period of its range has closed."""
    if info.first_figures_at is None:
        return None
    return (
        f"No figures yet: opens are released once each {period_text(info.release_period_seconds or 0)} "
        f"period has closed (privacy.release_period_seconds), and the first figures of these "
        f"dates come out at {utc_time(info.first_figures_at)}. Until then every figure is zero "
        "because nothing has been released, not because nobody opened."
    )


def _privacy_lines(report: Report | Withheld) -> list[str]:
    info = report.privacy
    lines = []
    if info.mode == "exact":
        lines.append("Figures: exact and live (privacy.epsilon off)")
    elif isinstance(report, Withheld):
        lines.append(f"Figures: none for this campaign (differential privacy, epsilon {info.epsilon})")
    else:
        until = utc_time(info.released_until) if info.released_until else "-"
        lines.append(f"Figures: differentially private (epsilon {info.epsilon}), released up to {until}")
        coming = next_release(info)
        if coming is not None:
            lines.append(
                f"Opens since then show from {utc_time(coming)} on, one closed "
                f"{period_text(info.release_period_seconds or 0)} period "
                "at a time (privacy.release_period_seconds)"
            )
    return [*lines, *(f"Note: {note}" for note in info.notes)]


def _rate(rate: RateBounds | None, missing: str) -> str:
    return missing if rate is None else f"{rate.estimate:.1%}  ({rate.low:.1%} - {rate.high:.1%})"


def _click_lines(clicks: Clicks, campaign_id: str) -> list[str]:
    """The clicks part of the table: headline figures, then classes, links, days and regions."""
    if not clicks.links:
        return ["", f"{'Clicks':<{_WIDTH}}- (no links: pixelagg links rewrite FILE --campaign {campaign_id})"]
    u, h = clicks.unique_clickers, clicks.unique_clickers.human
    share = "" if clicks.machine_share is None else f", {clicks.machine_share:.1%}"
    lines = [
        "",
        f"{'Clicks':<{_WIDTH}}{clicks.total}  (human {clicks.human}, machine {clicks.machine}{share}) "
        f"on {clicks.links} link{'s' * (clicks.links != 1)}",
        f"{'Unique clickers':<{_WIDTH}}{u.estimate}  ({u.low} - {u.high}, 95%)",
        f"{'Human clickers':<{_WIDTH}}{h.estimate}  ({h.low} - {h.high}, 95%)",
        f"{'Click rate':<{_WIDTH}}{_rate(clicks.click_rate, '- (set --recipients to get one)')}",
        f"{'Click-to-open rate':<{_WIDTH}}{_rate(clicks.click_to_open_rate, '-')}",
    ]
    if not clicks.total:
        return lines
    lines += ["", f"{'CLICK CLASS':<14}{'CLICKS':>8}{'UNIQUE':>9}"]
    for class_, n in clicks.by_class.items():
        lines.append(f"{class_:<14}{n:>8}{u.by_class[class_].estimate:>9}")
    lines += ["", f"{'LINK':<14}{'CLICKS':>8}{'HUMAN':>8}{'MACHINE':>9}{'PEOPLE':>8}  URL"]
    for link in clicks.by_link:
        people = "-" if link.unique_human_clickers is None else str(link.unique_human_clickers.estimate)
        url = "(links too little clicked to show on their own)" if link.id == OTHER_LINK else link.url
        lines.append(f"{link.id:<14}{link.clicks:>8}{link.human:>8}{link.machine:>9}{people:>8}  {url}")
    lines += ["", f"{'CLICK DAY':<14}{'CLICKS':>8}{'HUMAN':>8}{'MACHINE':>9}{'UNIQUE':>8}"]
    for day in clicks.by_day:
        lines.append(
            f"{day.day.isoformat():<14}{day.clicks:>8}{day.human_clicks:>8}{day.machine_clicks:>9}"
            f"{day.unique_clickers:>8}"
        )
    if clicks.by_region:
        lines += ["", f"{'CLICK REGION':<14}{'CLICKS':>8}"]
        lines += [f"{region.region:<14}{region.clicks:>8}" for region in clicks.by_region]
    return lines


def format_stats(report: Report | Withheld) -> str:
    """The report as the CLI's text table."""
    c = report.campaign
    r = report.range
    head = f"{c.name} ({c.id})  {r.start.isoformat()} .. {r.end.isoformat()} {r.tz}"
    if isinstance(report, Withheld):
        return "\n".join([head, "", report.message, "", *_privacy_lines(report)])
    pending = pending_message(report.privacy)
    if pending is not None:
        return "\n".join([head, "", pending, "", *_privacy_lines(report)])
    u = report.unique_opens
    h = u.human
    lines = [
        head,
        "",
        f"{'Opens':<{_WIDTH}}{report.opens.total}",
        f"{'Unique opens':<{_WIDTH}}{u.estimate}  ({u.low} - {u.high}, 95%)",
        f"{'Unique human opens':<{_WIDTH}}{h.estimate}  ({h.low} - {h.high}, 95%)",
    ]
    rate = report.open_rate
    if rate:
        lines.append(
            f"{'Open rate':<{_WIDTH}}{rate.estimate:.1%}  ({rate.low:.1%} - {rate.high:.1%}) "
            f"of {c.recipients} recipients"
        )
    else:
        lines.append(f"{'Open rate':<{_WIDTH}}- (set --recipients to get one)")
    if report.open_rate_observed is not None:
        lines.append(
            f"{'  observed':<{_WIDTH}}{report.open_rate_observed:.1%}  (visitor keys; not a lower bound)"
        )
    without = report.open_rate_without_mpp
    if without is not None:
        lines.append(
            f"{'  without Apple MPP':<{_WIDTH}}{without.estimate:.1%}  "
            f"({without.low:.1%} - {without.high:.1%})"
        )
    if report.apple_mpp is not None:
        m = report.apple_mpp
        lines.append(f"{'Apple MPP recipients':<{_WIDTH}}{m.estimate}  ({m.low} - {m.high}, 95%)")
    share = report.machine_share
    lines.append(f"{'Machine share':<{_WIDTH}}{'-' if share is None else f'{share:.1%}'}")
    lines.append(f"{'Declined (GPC/DNT)':<{_WIDTH}}{report.opens.declined}")
    lines += ["", f"{'CLASS':<14}{'OPENS':>8}{'UNIQUE':>9}"]
    for class_, opens in report.opens.by_class.items():
        lines.append(f"{class_:<14}{opens:>8}{u.by_class[class_].estimate:>9}")
    lines += ["", f"{'DAY':<14}{'OPENS':>8}{'UNIQUE':>9}"]
    for day in report.by_day:
        lines.append(f"{day.day.isoformat():<14}{day.opens:>8}{day.unique_opens:>9}")
    lines += [
        "",
        f"{'REGION':<14}{'OPENS':>8}{'UNIQUE':>9}   (buckets under {report.min_bucket} uniques are 'other')",
    ]
    for region in report.by_region:
        unique = "-" if region.unique_opens is None else str(region.unique_opens)
        lines.append(f"{region.region:<14}{region.opens:>8}{unique:>9}")
    if report.by_client:
        lines += ["", f"{'MAIL CLIENT':<14}{'OPENS':>8}{'SHARE':>9}"]
        for client in report.by_client:
            lines.append(f"{client.family:<14}{client.opens:>8}{client.share:>9.1%}")
    lines += _click_lines(report.clicks, c.id)
    return "\n".join([*lines, "", *_privacy_lines(report)])


def _click_rows(clicks: Clicks) -> list[list[object]]:
    """The clicks as CSV rows: the count column holds clicks, the unique ones distinct clickers."""
    u, h = clicks.unique_clickers, clicks.unique_clickers.human
    rows: list[list[object]] = [
        ["clicks", "all", clicks.total, u.estimate, u.low, u.high],
        ["clicks", "human", clicks.human, h.estimate, h.low, h.high],
        ["clicks", "machine", clicks.machine, "", "", ""],
    ]
    for class_, n in clicks.by_class.items():
        b = u.by_class[class_]
        rows.append(["click_class", class_, n, b.estimate, b.low, b.high])
    for link in clicks.by_link:
        key = link.url or link.id  # the folded row: 'other'
        rows.append(["click_link", key, link.clicks, "", "", ""])
        people = link.unique_human_clickers
        bounds = ["", "", ""] if people is None else [people.estimate, people.low, people.high]
        rows.append(["click_link_human", key, link.human, *bounds])
    for day in clicks.by_day:
        rows.append(["click_day", day.day.isoformat(), day.clicks, day.unique_clickers, "", ""])
    for region in clicks.by_region:
        rows.append(["click_region", region.region, region.clicks, "", "", ""])
    return rows


def stats_csv(report: Report | Withheld) -> str:
    """The report as CSV rows of (section, key, opens, unique_opens, low, high); in the click_
    sections the count is of clicks and the uniques are distinct clickers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "key", "opens", "unique_opens", "unique_low", "unique_high"])
    if isinstance(report, Withheld):
        writer.writerow(["withheld", report.status, "", "", "", ""])
        return out.getvalue()
    u = report.unique_opens
    writer.writerow(["total", "all", report.opens.total, u.estimate, u.low, u.high])
    h = u.human
    writer.writerow(["total", "human", report.opens.human, h.estimate, h.low, h.high])
    writer.writerow(["total", "declined", report.opens.declined, "", "", ""])
    for class_, opens in report.opens.by_class.items():
        b = u.by_class[class_]
        writer.writerow(["class", class_, opens, b.estimate, b.low, b.high])
    for day in report.by_day:
        writer.writerow(["day", day.day.isoformat(), day.opens, day.unique_opens, "", ""])
    for hour in report.by_hour:
        writer.writerow(["hour", hour.hour.isoformat(), hour.opens, "", "", ""])
    for region in report.by_region:
        unique = "" if region.unique_opens is None else region.unique_opens
        writer.writerow(["region", region.region, region.opens, unique, "", ""])
    for client in report.by_client:
        writer.writerow(["client", client.family, client.opens, "", "", ""])
    writer.writerows(_click_rows(report.clicks))
    return out.getvalue()
