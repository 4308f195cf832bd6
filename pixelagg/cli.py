"""The command line: serve, campaign, stats, privacy-notice, lists.

Commands that read or change campaigns work beside a running service on either store: with
`--url` (or when the embedded store is held by a running `pixelagg serve`) they call its API;
otherwise they use the store directly. The embedded store never has two writers.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
import httpx

from . import __version__, actions
from .config import Config, load
from .core.campaign import LEGAL_BASES
from .exceptions import PixelaggError, StoreError
from .ingest.lists import APPLE_EGRESS_URL, download_apple_egress
from .reports.audit import AuditReport, format_report, run_audit
from .reports.notice import FORMATS, LANGUAGES, LegalBasisUse, render_notice
from .reports.report import Report, Withheld, report_from_json
from .reports.text import format_stats, stats_csv
from .store import Store, open_store
from .tokens import admin_token

__all__ = ["main"]

T = TypeVar("T")
SERVE_FILE = "serve.json"


def _fail(message: str) -> NoReturn:
    raise click.ClickException(message)


class Backend:
    """Where campaign commands go: the service's API or the store itself."""

    def __init__(self, config: Config, url: str | None) -> None:
        self.config = config
        self.url = url
        self.token: str | None = None
        if url:
            self.token = os.environ.get("PIXELAGG_ADMIN_TOKEN") or admin_token(config, create=False)[0]
            if not self.token:
                _fail(
                    f"No API token: set PIXELAGG_ADMIN_TOKEN, or run beside the service's data dir "
                    f"({config.data_dir})."
                )

    @classmethod
    def choose(cls, config: Config, url: str | None) -> Backend:
        """Use the API when asked to, or when a running service holds the embedded store."""
        if url:
            return cls(config, url)
        if config.is_embedded:
            running = _running_service(config)
            if running:
                return cls(config, running)
        return cls(config, None)

    # API mode

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        assert self.url is not None
        try:
            response = httpx.request(
                method,
                self.url.rstrip("/") + path,
                headers={"Authorization": f"Bearer {self.token}"},
                **{"timeout": 30, **kwargs},
            )
        except httpx.HTTPError as exc:
            _fail(f"Cannot reach the service at {self.url}: {exc}")
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            _fail(f"{message} (HTTP {response.status_code})")
        if response.status_code == 204:
            return None
        if response.headers.get("content-type", "").startswith("text/csv"):
            return response.text
        return response.json()

    # store mode

    def _run(self, action: Callable[[Store], Awaitable[T]]) -> T:
        async def go() -> T:
            store = open_store(self.config)
            try:
                return await action(store)
            finally:
                await store.close()

        return asyncio.run(go())

    def _base_url(self) -> str:
        server = self.config.server
        return server.public_url or f"http://{server.host}:{server.port}"

    # operations

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.url:
            return dict(self._request("POST", "/api/campaigns", json=body))
        campaign = self._run(lambda s: actions.create_campaign(s, self.config, body))
        return actions.campaign_view(campaign, self._base_url())

    def list(self) -> list[dict[str, Any]]:
        if self.url:
            return list(self._request("GET", "/api/campaigns")["campaigns"])
        return [actions.campaign_view(c, self._base_url()) for c in self._run(actions.list_campaigns)]

    def get(self, campaign_id: str) -> dict[str, Any]:
        if self.url:
            return dict(self._request("GET", f"/api/campaigns/{campaign_id}"))
        campaign = self._run(lambda s: actions.get_campaign(s, campaign_id))
        return actions.campaign_view(campaign, self._base_url())

    def update(self, campaign_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.url:
            return dict(self._request("PATCH", f"/api/campaigns/{campaign_id}", json=body))
        campaign = self._run(lambda s: actions.update_campaign(s, campaign_id, body))
        return actions.campaign_view(campaign, self._base_url())

    def pause(self, campaign_id: str, paused: bool) -> dict[str, Any]:
        if self.url:
            verb = "pause" if paused else "resume"
            return dict(self._request("POST", f"/api/campaigns/{campaign_id}/{verb}"))
        campaign = self._run(lambda s: actions.set_paused(s, campaign_id, paused))
        return actions.campaign_view(campaign, self._base_url())

    def delete(self, campaign_id: str) -> None:
        if self.url:
            self._request("DELETE", f"/api/campaigns/{campaign_id}")
        else:
            self._run(lambda s: actions.delete_campaign(s, campaign_id))

    def stats(
        self, campaign_id: str, start: str | None, end: str | None, tz: str | None
    ) -> Report | Withheld:
        if self.url:
            params = {k: v for k, v in (("from", start), ("to", end), ("tz", tz)) if v}
            return report_from_json(
                self._request("GET", f"/api/campaigns/{campaign_id}/stats", params=params)
            )
        return self._run(lambda s: actions.stats(s, self.config, campaign_id, start, end, tz))

    def audit(self, progress: Callable[[int], None] | None = None) -> AuditReport:
        if self.url:  # a large keyspace takes a while to scan
            return AuditReport.from_json(self._request("GET", "/api/audit", timeout=600))
        return self._run(lambda s: run_audit(s, self.config, progress))


def _running_service(config: Config) -> str | None:
    """The URL of the service that holds this data dir's embedded store, if one runs."""
    path = config.data_dir / SERVE_FILE
    try:
        info = json.loads(path.read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(info["url"])


def _load_config(ctx: click.Context) -> Config:
    path = ctx.obj.get("config") if ctx.obj else None
    try:
        return load(path)
    except PixelaggError as exc:
        _fail(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pixelagg")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="PIXELAGG_CONFIG",
    help="YAML configuration file (also PIXELAGG_CONFIG).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """pixelagg: email open rates without personal data."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config_path


# serve


@cli.command()
@click.option("--host", help="Bind address (server.host).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (server.port).")
@click.option("--workers", type=click.IntRange(1, 64), help="Worker processes; more than 1 needs Redis.")
@click.option(
    "--server",
    type=click.Choice(["uvicorn", "granian"]),
    help="HTTP server (server.implementation); granian needs pixelagg[granian].",
)
@click.pass_context
def serve(
    ctx: click.Context, host: str | None, port: int | None, workers: int | None, server: str | None
) -> None:
    """Serve the pixel, the API and the metrics."""
    overrides = {
        "PIXELAGG_SERVER_HOST": host,
        "PIXELAGG_SERVER_PORT": str(port) if port else None,
        "PIXELAGG_SERVER_WORKERS": str(workers) if workers else None,
        "PIXELAGG_SERVER_IMPLEMENTATION": server,
    }
    for name, value in overrides.items():
        if value is not None:
            os.environ[name] = value
    if ctx.obj.get("config"):
        os.environ["PIXELAGG_CONFIG"] = str(Path(ctx.obj["config"]).resolve())
    config = _load_config(ctx)
    if config.server.workers > 1 and config.is_embedded:
        _fail(
            f"--workers {config.server.workers} needs a Redis store: the embedded store serves one "
            "process only. Set PIXELAGG_STORE_URL=redis://... (or store.url) to run more workers."
        )
    try:
        _, path, created = admin_token(config)
    except PixelaggError as exc:
        _fail(str(exc))
    if path is not None:
        verb = "Created a new" if created else "Using the"
        click.echo(f"{verb} admin token in {path} (readable by its owner only).", err=True)
    store = "embedded store in " + str(config.data_dir) if config.is_embedded else "Redis store"
    from .server import run  # the server stack is imported only to serve

    url = f"http://{config.server.host}:{config.server.port}"
    click.echo(f"pixelagg {__version__} on {url} with the {store}", err=True)
    serve_file = config.data_dir / SERVE_FILE
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        serve_file.write_text(json.dumps({"url": url.replace("0.0.0.0", "127.0.0.1"), "pid": os.getpid()}))
        run(config)
    except PixelaggError as exc:
        _fail(str(exc))
    finally:
        serve_file.unlink(missing_ok=True)


# campaigns


@cli.group()
def campaign() -> None:
    """Create, list, change, pause and delete campaigns."""


_url_option = click.option(
    "--url", envvar="PIXELAGG_URL", help="Call this running service's API (also PIXELAGG_URL)."
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _print_campaign(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(view, indent=2))
        return
    click.echo(f"Campaign   {view['id']}")
    click.echo(f"Name       {view['name']}")
    click.echo(f"Recipients {view['recipients'] if view['recipients'] is not None else '-'}")
    click.echo(
        f"Legal basis {view['legal_basis']}"
        + (f" ({view['legal_reference']})" if view.get("legal_reference") else "")
    )
    click.echo(f"Status     {'paused' if view['paused'] else 'counting'}")
    click.echo(f"Pixel URL  {view['pixel_url']}")
    click.echo("Snippet (the same for every recipient):")
    click.echo(f"  {view['snippet']}")
    for note in view.get("notes", []):
        click.echo(f"Note: {note}")


def _guarded(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except PixelaggError as exc:
        _fail(str(exc))


@campaign.command("create")
@click.argument("name")
@click.option(
    "--recipients",
    type=click.IntRange(1, 1_000_000_000),
    help="How many recipients the mail went to.",
)
@click.option("--legal-basis", type=click.Choice(LEGAL_BASES), help="Default: campaigns.default_legal_basis.")
@click.option("--legal-reference", help="The statutory basis; required with public_task.")
@_url_option
@_json_option
@click.pass_context
def campaign_create(
    ctx: click.Context,
    name: str,
    recipients: int | None,
    legal_basis: str | None,
    legal_reference: str | None,
    url: str | None,
    as_json: bool,
) -> None:
    """Create a campaign and print its pixel snippet."""
    config = _load_config(ctx)
    body: dict[str, Any] = {"name": name}
    if recipients is not None:
        body["recipients"] = recipients
    if legal_basis:
        body["legal_basis"] = legal_basis
    if legal_reference:
        body["legal_reference"] = legal_reference
    view = _guarded(lambda: Backend.choose(config, url).create(body))
    _print_campaign(view, as_json)


@campaign.command("list")
@_url_option
@_json_option
@click.pass_context
def campaign_list(ctx: click.Context, url: str | None, as_json: bool) -> None:
    """List campaigns."""
    config = _load_config(ctx)
    views = _guarded(lambda: Backend.choose(config, url).list())
    if as_json:
        click.echo(json.dumps(views, indent=2))
        return
    if not views:
        click.echo("No campaigns yet. Create one with: pixelagg campaign create NAME")
        return
    click.echo(f"{'ID':<18}{'CREATED':<12}{'RECIPIENTS':>11}  {'STATUS':<9}NAME")
    for v in views:
        recipients = str(v["recipients"]) if v["recipients"] is not None else "-"
        status = "paused" if v["paused"] else "counting"
        click.echo(f"{v['id']:<18}{v['created_at'][:10]:<12}{recipients:>11}  {status:<9}{v['name']}")


@campaign.command("show")
@click.argument("campaign_id")
@_url_option
@_json_option
@click.pass_context
def campaign_show(ctx: click.Context, campaign_id: str, url: str | None, as_json: bool) -> None:
    """Show a campaign and its snippet."""
    config = _load_config(ctx)
    _print_campaign(_guarded(lambda: Backend.choose(config, url).get(campaign_id)), as_json)


@campaign.command("update")
@click.argument("campaign_id")
@click.option("--name")
@click.option("--recipients", type=click.IntRange(1, 1_000_000_000))
@click.option("--legal-basis", type=click.Choice(LEGAL_BASES))
@click.option("--legal-reference")
@_url_option
@_json_option
@click.pass_context
def campaign_update(
    ctx: click.Context,
    campaign_id: str,
    name: str | None,
    recipients: int | None,
    legal_basis: str | None,
    legal_reference: str | None,
    url: str | None,
    as_json: bool,
) -> None:
    """Change a campaign's name, recipients or legal basis."""
    config = _load_config(ctx)
    body = {
        k: v
        for k, v in (
            ("name", name),
            ("recipients", recipients),
            ("legal_basis", legal_basis),
            ("legal_reference", legal_reference),
        )
        if v is not None
    }
    if not body:
        raise click.UsageError("Give at least one of --name, --recipients, --legal-basis, --legal-reference.")
    _print_campaign(_guarded(lambda: Backend.choose(config, url).update(campaign_id, body)), as_json)


@campaign.command("pause")
@click.argument("campaign_id")
@_url_option
@click.pass_context
def campaign_pause(ctx: click.Context, campaign_id: str, url: str | None) -> None:
    """Stop counting a campaign; its pixel is still served."""
    config = _load_config(ctx)
    _guarded(lambda: Backend.choose(config, url).pause(campaign_id, True))
    click.echo(f"Campaign {campaign_id} is paused: its pixel is served and nothing is counted.")


@campaign.command("resume")
@click.argument("campaign_id")
@_url_option
@click.pass_context
def campaign_resume(ctx: click.Context, campaign_id: str, url: str | None) -> None:
    """Count a paused campaign again."""
    config = _load_config(ctx)
    _guarded(lambda: Backend.choose(config, url).pause(campaign_id, False))
    click.echo(f"Campaign {campaign_id} is counting again.")


@campaign.command("delete")
@click.argument("campaign_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_url_option
@click.pass_context
def campaign_delete(ctx: click.Context, campaign_id: str, yes: bool, url: str | None) -> None:
    """Erase a campaign and every key it has."""
    config = _load_config(ctx)
    if not yes:
        click.confirm(f"Erase campaign {campaign_id} and all its counts?", abort=True)
    _guarded(lambda: Backend.choose(config, url).delete(campaign_id))
    click.echo(f"Campaign {campaign_id} and all its keys are erased.")


# statistics


@cli.command()
@click.argument("campaign_id")
@click.option("--from", "start", help="First day, YYYY-MM-DD (default: the campaign's first day).")
@click.option("--to", "end", help="Last day, YYYY-MM-DD (default: today).")
@click.option("--tz", help="Time zone of days and hours, e.g. Europe/Amsterdam (default: UTC).")
@_url_option
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
    config = _load_config(ctx)
    report = _guarded(lambda: Backend.choose(config, url).stats(campaign_id, start, end, tz))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    elif as_csv:
        click.echo(stats_csv(report), nl=False)
    else:
        click.echo(format_stats(report))


# audit

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


@cli.command()
@_url_option
@_json_option
@click.pass_context
def audit(ctx: click.Context, url: str | None, as_json: bool) -> None:
    """Show what the store holds (key patterns, counts, TTLs, legal bases) and check it."""
    config = _load_config(ctx)
    progress = _AuditProgress()
    report = _guarded(lambda: Backend.choose(config, url).audit(progress))
    progress.done()
    click.echo(json.dumps(report.to_json(), indent=2) if as_json else format_report(report))
    if not report.ok:
        _fail(f"audit found {report.errors} problem(s)")


# privacy notice


@cli.command("privacy-notice")
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="markdown", show_default=True)
@_url_option
@click.pass_context
def privacy_notice(ctx: click.Context, lang: str, fmt: str, url: str | None) -> None:
    """Print the privacy-statement section for your newsletter, from the live configuration."""
    config = _load_config(ctx)
    backend = Backend.choose(config, url)
    fresh = config.is_embedded and not backend.url and not (config.data_dir / "store.sqlite3").exists()
    try:
        # A read-only command creates no store: without one, the default legal basis is used.
        views = [] if fresh else backend.list()
    except (PixelaggError, click.ClickException):
        views = []
    bases = [LegalBasisUse(v["legal_basis"], v.get("legal_reference")) for v in views]
    click.echo(_guarded(lambda: render_notice(config, lang, fmt, bases)))


# address lists


@cli.group()
def lists() -> None:
    """Address lists that sharpen the classes (Apple MPP egress, scanners)."""


@lists.command("update")
@click.option(
    "--dest",
    type=click.Path(dir_okay=False),
    help="Where to save Apple's list "
    "(default: classify.apple_egress_file, or DATA_DIR/egress-ip-ranges.csv).",
)
@click.option("--source", default=APPLE_EGRESS_URL, show_default=True, help="Where to download it from.")
@click.pass_context
def lists_update(ctx: click.Context, dest: str | None, source: str) -> None:
    """Download Apple's Mail Privacy Protection egress list."""
    config = _load_config(ctx)
    target = dest or config.classify.apple_egress_file or str(config.data_dir / "egress-ip-ranges.csv")
    count = _guarded(lambda: download_apple_egress(target, source))
    click.echo(f"Saved {count} address ranges to {target}.")
    if config.classify.apple_egress_file != target:
        click.echo(
            f"Set classify.apple_egress_file (PIXELAGG_CLASSIFY_APPLE_EGRESS_FILE) to {target} to use it."
        )


def main() -> None:
    try:
        cli(standalone_mode=True)
    except StoreError as exc:  # pragma: no cover - ClickException covers the CLI's own paths
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
