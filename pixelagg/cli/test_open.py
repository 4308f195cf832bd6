"""`pixelagg test-open ID`: one open sent the way a mail client sends it, and what came of it.

It fetches the campaign's pixel URL (the address in its snippet: `server.public_url`, or the
one the running service serves) with a mail client's user agent and prints the service's
`X-Pixelagg` answer, then when the stats will show the open. curl or a headless browser would
count as a bot, which is why the quick start ends with this command.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import click

from ..client import MAIL_CLIENT_UA, send_open
from ..reports.release import RELEASE_DELAY_SECONDS
from ..reports.report import Report, Withheld
from ..reports.text import period_text, utc_time
from .options import connect, fail, guarded, load_config, url_option
from .stats import recipients_hint

__all__ = ["test_open", "when_figures_appear"]

_NOT_COUNTED = {
    "unknown-campaign": "The service there does not know this campaign: is {url} the service "
    "that holds it (server.public_url)?",
    "paused": "The campaign is paused: 'pixelagg campaign resume {id}' counts it again.",
    "declined": "The request asked not to be counted (Sec-GPC or DNT).",
    "not-counted": "The service took it for a prefetch or a HEAD request.",
    "dropped": "The service's buffer is full because the store takes no writes: see /readyz.",
    "error": "The service failed to count it: see its log.",
}


def when_figures_appear(report: Report | Withheld, campaign_id: str, now: float) -> str:
    """When and why the stats will show an open counted at `now` (a Unix time)."""
    info = report.privacy
    if isinstance(report, Withheld):
        return f"No figures show for this campaign yet. {report.message} {recipients_hint(report)}"
    if info.mode == "exact":
        return f"It is in 'pixelagg stats {campaign_id}' now (privacy.epsilon off: exact, live figures)."
    period = info.release_period_seconds or 3600
    # The open is in the period that holds `now`; it is released a delay after that one closes.
    shows = (now // period + 1) * period + min(RELEASE_DELAY_SECONDS, period)
    minutes = max(1, math.ceil((shows - now) / 60))
    return (
        f"It shows in 'pixelagg stats {campaign_id}' from {utc_time(datetime.fromtimestamp(shows, UTC))} "
        f"(in {minutes} min), when its {period_text(period)} release period has closed "
        "(privacy.release_period_seconds). Figures carry noise of several opens (privacy.epsilon), "
        "so one open is lost in it: 'X-Pixelagg: counted' is the proof. For exact, live figures "
        "while you try pixelagg, serve with PIXELAGG_PRIVACY_EPSILON=off."
    )


@click.command("test-open")
@click.argument("campaign_id")
@url_option
@click.pass_context
def test_open(ctx: click.Context, campaign_id: str, url: str | None) -> None:
    """Send one open the way a mail client would, and print the X-Pixelagg answer."""
    client = connect(load_config(ctx), url)
    view = guarded(lambda: client.get(campaign_id))
    pixel_url = view["pixel_url"]
    click.echo(f"GET {pixel_url}")
    click.echo(f"User-Agent: {MAIL_CLIENT_UA}")
    answer = guarded(lambda: send_open(pixel_url))
    sent_at = time.time()
    if answer is None:
        fail(f"{pixel_url} answered without an X-Pixelagg header: it is not pixelagg, or a proxy drops it.")
    click.echo(f"X-Pixelagg: {answer}")
    if answer != "counted":
        why = _NOT_COUNTED.get(answer, "See the README's list of X-Pixelagg answers.")
        fail("the open was not counted. " + why.format(url=pixel_url, id=campaign_id))
    click.echo("The open was counted, as one from a mail client.")
    report = guarded(lambda: client.stats(campaign_id, None, None, None))
    click.echo(when_figures_appear(report, campaign_id, sent_at))
