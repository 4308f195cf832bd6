"""`pixelagg serve`: the pixel, the API and the metrics, on uvicorn or granian."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .. import __version__
from ..client import advertise, http_url
from ..exceptions import PixelaggError
from ..reports.startup import startup_notices
from ..tokens import admin_token
from .options import fail, guarded, load_config

__all__ = ["serve"]


@click.command()
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
    config = load_config(ctx)
    if config.server.workers > 1 and config.is_embedded:
        fail(
            f"--workers {config.server.workers} needs a Redis store: the embedded store serves one "
            "process only. Set PIXELAGG_STORE_URL=redis://... (or store.url) to run more workers."
        )
    for line in guarded(lambda: startup_notices(config)):  # the audit's checks of the settings
        click.echo(line, err=True)
    _, path, created = guarded(lambda: admin_token(config))
    if path is not None:
        verb = "Created a new" if created else "Using the"
        click.echo(f"{verb} admin token in {path} (readable by its owner only).", err=True)
    store = "embedded store in " + str(config.data_dir) if config.is_embedded else "Redis store"
    from ..server import run  # the server stack is imported only to serve

    url = http_url(config.server.host, config.server.port)
    click.echo(f"pixelagg {__version__} on {url} with the {store}", err=True)
    try:
        with advertise(config):
            run(config)
    except PixelaggError as exc:
        fail(str(exc))
