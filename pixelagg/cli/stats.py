"""`pixelagg stats`: a campaign's open statistics as a table, JSON or CSV."""

from __future__ import annotations

import json

import click

from ..reports.report import Report, Withheld
from ..reports.text import format_stats, stats_csv
from .options import connect, guarded, load_config, url_option

__all__ = ["BOT_NOTE", "recipients_hint", "stats"]

BOT_NOTE = (
    "Note: curl, scripts and headless browsers send no mail client's user agent, so their opens "
    "count as bot, not as readers: 'pixelagg test-open ID' sends one the way a mail client does."
)


def recipients_hint(report: Withheld) -> str:
    """What a campaign too small to report has, and the command that sets its real size."""
    recipients = report.campaign.recipients
    has = "no number of recipients" if recipients is None else f"{recipients} recipients"
    return (
        f"This campaign has {has}: 'pixelagg campaign update {report.campaign.id} --recipients N' "
        "sets the number the mail went to. Its opens are counted all the same, and show once it "
        "is large enough."
    )


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
    client = connect(load_config(ctx), url)
    report = guarded(lambda: client.stats(campaign_id, start, end, tz))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    elif as_csv:
        click.echo(stats_csv(report), nl=False)
    else:
        click.echo(format_stats(report))
        if isinstance(report, Withheld):
            click.echo(recipients_hint(report))
        if isinstance(report, Report):
            click.echo(BOT_NOTE)
