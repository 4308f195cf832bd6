"""What a DPO reads: `pixelagg audit` (what the store holds) and `pixelagg privacy-notice`."""

from __future__ import annotations

import json
import re
import sys

import click

from ..config import Config
from ..reports.audit import format_report
from ..reports.notice import FORMATS, LANGUAGES, LegalBasisUse, render_notice
from .options import connect, fail, guarded, json_option, load_config, url_option

__all__ = ["AUDIT_QUIET_KEYS", "LEGITIMATE_INTEREST_NOTE", "audit", "notice_warnings", "privacy_notice"]

LEGITIMATE_INTEREST_NOTE = (
    "legitimate_interest is a GDPR basis; it does not by itself answer ePrivacy Art. 5(3) "
    "(docs/privacy.md, section 9): pair it with an exemption that applies, or use consent."
)

# A placeholder is bracketed text that is not a Markdown link: "[contact address]".
_PLACEHOLDER = re.compile(r"\[([^\]\n]{2,60})\](?!\()")

AUDIT_QUIET_KEYS = 5000
"""Without a terminal, progress is shown only on audits of more keys than this."""


class _AuditProgress:
    """Keys scanned so far, on stderr: one updating line on a terminal, else every 10,000."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.shown = 0

    def __call__(self, seen: int) -> None:
        if self.tty:
            click.echo(f"\rScanned {seen} keys...", err=True, nl=False)
            self.shown = seen
        elif seen >= AUDIT_QUIET_KEYS and (not self.shown or seen - self.shown >= 10_000):
            click.echo(f"Scanned {seen} keys...", err=True)
            self.shown = seen

    def done(self) -> None:
        if self.tty and self.shown:
            click.echo("\r\033[K", err=True, nl=False)


@click.command()
@url_option
@json_option
@click.pass_context
def audit(ctx: click.Context, url: str | None, as_json: bool) -> None:
    """Show what the store holds (key patterns, counts, TTLs, legal bases) and check it."""
    config = load_config(ctx)
    progress = _AuditProgress()
    client = connect(config, url)
    report = guarded(lambda: client.audit(progress))
    progress.done()
    click.echo(json.dumps(report.to_json(), indent=2) if as_json else format_report(report))
    if not report.ok:
        fail(f"audit found {report.errors} problem(s)")


def notice_warnings(config: Config, text: str) -> list[str]:
    """What the notice leaves for the sender to fill in: each placeholder, and a missing sender."""
    warnings = []
    if not config.notice.organisation:
        warnings.append(
            "The notice does not name who sends the newsletter: set notice.organisation "
            "(PIXELAGG_NOTICE_ORGANISATION)."
        )
    for placeholder in dict.fromkeys(_PLACEHOLDER.findall(text)):
        if not config.notice.contact and "contact" in placeholder:
            fix = "set notice.contact (PIXELAGG_NOTICE_CONTACT) to where recipients object or ask"
        else:
            fix = "give the campaign its --legal-reference (pixelagg campaign update ID)"
        warnings.append(f"The notice says [{placeholder}]: {fix}.")
    return warnings


@click.command("privacy-notice")
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="markdown", show_default=True)
@click.option("--strict", is_flag=True, help="Fail (exit 1) instead of printing a notice with placeholders.")
@url_option
@click.pass_context
def privacy_notice(ctx: click.Context, lang: str, fmt: str, strict: bool, url: str | None) -> None:
    """Print the privacy-statement section for your newsletter, from the live configuration.

    Every placeholder it prints is named in a warning on stderr.
    """
    config = load_config(ctx)
    client = connect(config, url)
    # A legal text must not guess: campaigns that cannot be read are an error. Only a store not
    # made yet (which a read-only command does not create) has none, and the default basis holds.
    views = [] if client.store_is_new() else guarded(client.list)
    bases = [LegalBasisUse(v["legal_basis"], v.get("legal_reference")) for v in views]
    notice = guarded(lambda: render_notice(config, lang, fmt, bases))
    warnings = notice_warnings(config, notice)
    for warning in warnings:
        click.echo(f"Warning: {warning}", err=True)
    in_use = {b.basis for b in bases} or {config.campaigns.default_legal_basis}
    if "legitimate_interest" in in_use:
        click.echo(f"Note: {LEGITIMATE_INTEREST_NOTE}", err=True)
    if strict and warnings:
        fail(f"the notice has {len(warnings)} gap(s) to fill in first (--strict); see the warnings above.")
    click.echo(notice)
