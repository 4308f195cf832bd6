"""`pixelagg stats`: a campaign's open statistics as a table, JSON or CSV."""

from __future__ import annotations

import json
from typing import Any

import click

from ..client import open_client
from ..reports.stats import stats_csv
from .options import guarded, load_config, url_option

__all__ = ["stats"]


def _format_stats(report: dict[str, Any]) -> str:
    c = report["campaign"]
    u = report["unique_opens"]
    h = u["human"]
    lines = [
        f"{c['name']} ({c['id']})  "
        f"{report['range']['from']} .. {report['range']['to']} {report['range']['tz']}",
        "",
        f"Opens              {report['opens']['total']}",
        f"Unique opens       {u['estimate']}  ({u['low']} - {u['high']}, 95%)",
        f"Unique human opens {h['estimate']}  ({h['low']} - {h['high']}, 95%)",
    ]
    rate = report["open_rate"]
    if rate:
        lines.append(
            f"Open rate          {rate['estimate']:.1%}  ({rate['low']:.1%} - {rate['high']:.1%}) "
            f"of {c['recipients']} recipients"
        )
    else:
        lines.append("Open rate          - (set --recipients to get one)")
    share = report["machine_share"]
    lines.append(f"Machine share      {'-' if share is None else f'{share:.1%}'}")
    lines.append(f"Declined (GPC/DNT) {report['opens']['declined']}")
    lines += ["", f"{'CLASS':<14}{'OPENS':>8}{'UNIQUE':>9}"]
    for class_, opens in report["opens"]["by_class"].items():
        lines.append(f"{class_:<14}{opens:>8}{u['by_class'][class_]['estimate']:>9}")
    lines += ["", f"{'DAY':<14}{'OPENS':>8}{'UNIQUE':>9}"]
    for row in report["by_day"]:
        lines.append(f"{row['date']:<14}{row['opens']:>8}{row['unique_opens']:>9}")
    lines += [
        "",
        f"{'REGION':<14}{'OPENS':>8}{'UNIQUE':>9}   "
        f"(buckets under {report['min_bucket']} uniques are 'other')",
    ]
    for row in report["by_region"]:
        lines.append(f"{row['region']:<14}{row['opens']:>8}{row['unique_opens']:>9}")
    return "\n".join(lines)


@click.command()
@click.argument("campaign_id")
@click.option("--from", "start", help="First day, YYYY-MM-DD (default: the campaign's first day).")
@click.option("--to", "end", help="Last day, YYYY-MM-DD (default: today).")
@click.option("--tz", help="Time zone of days and hours, e.g. Europe/Amsterdam (default: UTC).")
@url_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.pass_context
def stats(
    ctx: click.Context,
    campaign_id: str,
    start: str | None,
    end: str | None,
    tz: str | None,
    url: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Show a campaign's open statistics."""
    if as_json and as_csv:
        raise click.UsageError("Choose one of --json and --csv.")
    config = load_config(ctx)
    report = guarded(lambda: open_client(config, url).stats(campaign_id, start, end, tz))
    if as_json:
        click.echo(json.dumps(report, indent=2))
    elif as_csv:
        click.echo(stats_csv(report), nl=False)
    else:
        click.echo(_format_stats(report))
