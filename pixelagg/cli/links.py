"""`pixelagg links`: register a campaign's links, and rewrite a newsletter to carry them.

`rewrite` registers every http(s) link of an HTML mail (or the bare URLs of a plain-text part)
with the service and writes the mail back with each link's tracking URL in its place and the
pixel snippet added when the mail has none; every other byte stays as it was
(`pixelagg.core.rewrite` says which links are left alone). The result is the same for every
recipient. What was done goes to stderr, so the mail alone goes to stdout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..core.rewrite import Found, find_html_links, find_text_links, rewrite
from .options import connect, fail, guarded, json_option, load_config, printable, url_option

__all__ = ["links"]

campaign_option = click.option(
    "--campaign", "campaign_id", required=True, metavar="ID", help="The campaign the links belong to."
)


@click.group()
def links() -> None:
    """Register a campaign's links and rewrite newsletters to carry them."""


def _read(path: str) -> str:
    """The file's text; bytes that are not UTF-8 are kept as they are (surrogateescape)."""
    try:
        if path == "-":
            with click.open_file("-", "rb") as stdin:
                raw: bytes = stdin.read()
        else:
            raw = Path(path).read_bytes()
    except OSError as exc:
        fail(f"Cannot read {path}: {exc.strerror or exc}.")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        fail(f"{path} is UTF-16: save it as UTF-8 (or another encoding that keeps ASCII as it is).")
    return raw.decode("utf-8", "surrogateescape")


def _write(path: str | None, text: str) -> None:
    data = text.encode("utf-8", "surrogateescape")
    if path is None:
        click.echo(data, nl=False)
        return
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        fail(f"Cannot write {path}: {exc.strerror or exc}.")


def _service_base(view: dict[str, Any]) -> str:
    """The service's address, from the campaign's pixel URL (BASE/p/ID.gif)."""
    pixel_url: str = view["pixel_url"]
    return pixel_url[: pixel_url.rindex("/p/")]


def _say(line: str) -> None:
    click.echo(line, err=True)


def _report(found: Found, campaign_id: str, new: int, pixel: str | None, out: str | None) -> None:
    """What rewrite did, on stderr."""
    distinct = len(found.urls)
    _say(
        f"Rewrote {len(found.links)} link{'s' * (len(found.links) != 1)} to "
        f"{distinct} URL{'s' * (distinct != 1)} for campaign {campaign_id} "
        f"({new} newly registered, {distinct - new} registered before)."
    )
    if found.skipped:
        _say("Left as they were:")
        for skipped in found.skipped:
            _say(f"  {printable(skipped.value[:200])}: {skipped.reason}")
    if pixel is not None:
        _say(pixel)
    if out is not None:
        _say(f"Wrote {out}. It is the same for every recipient.")


@links.command("rewrite")
@click.argument("mail", metavar="FILE")
@campaign_option
@click.option("-o", "--output", "out", metavar="FILE", help="Write the mail here (default: stdout).")
@click.option("--text", "as_text", is_flag=True, help="A plain-text part (the default for .txt files).")
@url_option
@click.pass_context
def links_rewrite(
    ctx: click.Context, mail: str, campaign_id: str, out: str | None, as_text: bool, url: str | None
) -> None:
    """Register a mail's links and write it with tracking URLs and the pixel (FILE - reads stdin).

    Links that are not http or https, hold a newsletter tool's placeholder ({{ ... }},
    *|...|*, [unsubscribe], ...), or unsubscribe are left as they are, and listed on stderr.
    """
    document = _read(mail)
    client = connect(load_config(ctx), url)
    view = guarded(lambda: client.get(campaign_id))
    tracked = _service_base(view) + "/l/"
    text = as_text or mail.lower().endswith(".txt")
    found = find_text_links(document, tracked) if text else find_html_links(document, tracked)
    registered = guarded(lambda: {u: client.add_link(campaign_id, u) for u in found.urls})
    tracking = {u: view["tracking_url"] for u, (view, _) in registered.items()}
    new = sum(1 for _, added in registered.values() if added)
    snippet = None
    pixel = None
    if not text:
        if f"/p/{campaign_id}.gif" in document:
            pixel = "The mail has the campaign's pixel already."
        else:
            snippet = view["snippet"]
            where = "before </body>" if found.pixel_at < len(document) else "at the end"
            pixel = f"Added the pixel snippet {where}."
    _write(out, rewrite(document, found, tracking, snippet))
    _report(found, campaign_id, new, pixel, out)


@links.command("add")
@click.argument("target", metavar="URL")
@campaign_option
@url_option
@json_option
@click.pass_context
def links_add(ctx: click.Context, target: str, campaign_id: str, url: str | None, as_json: bool) -> None:
    """Register one link and print its tracking URL (the same URL gives the same link)."""
    client = connect(load_config(ctx), url)
    link, _ = guarded(lambda: client.add_link(campaign_id, target))
    if as_json:
        click.echo(json.dumps(link, indent=2))
    else:
        click.echo(link["tracking_url"])


@links.command("list")
@campaign_option
@url_option
@json_option
@click.pass_context
def links_list(ctx: click.Context, campaign_id: str, url: str | None, as_json: bool) -> None:
    """List a campaign's registered links with their tracking URLs."""
    client = connect(load_config(ctx), url)
    registered = guarded(lambda: client.links(campaign_id))
    if as_json:
        click.echo(json.dumps(registered, indent=2))
        return
    if not registered:
        click.echo(f"No links yet. Register them with: pixelagg links rewrite FILE --campaign {campaign_id}")
        return
    click.echo(f"{'ID':<12}{'TRACKING URL':<{_width(registered)}}URL")
    for link in registered:
        click.echo(f"{link['id']:<12}{link['tracking_url']:<{_width(registered)}}{printable(link['url'])}")


def _width(registered: list[dict[str, Any]]) -> int:
    return max(len(link["tracking_url"]) for link in registered) + 2
