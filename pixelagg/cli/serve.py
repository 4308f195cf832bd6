"""`pixelagg serve`: the pixel, the API and the metrics, on uvicorn or granian.

What would stop the server at start-up (a port in use, a data dir it cannot write, a store
another process holds) is an `Error: ...` line and exit 1 before anything is printed or
created. The first lines then say where the token is, where it serves, and which legal basis
new campaigns get.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from .. import __version__
from ..config import Config
from ..exceptions import PixelaggError
from ..reports.startup import startup_notices
from ..serve_file import http_url, withdraw
from ..tokens import admin_token
from .options import fail, guarded, load_config

__all__ = ["legal_basis_line", "serve"]

_BASIS_NOTES = {
    "legitimate_interest": "a GDPR basis that does not by itself cover ePrivacy Art. 5(3)",
    "consent": "put the pixel only in mails to recipients who consented",
    "public_task": "each campaign needs its legal_reference",
    "exempt_statistics": "check that the exemption applies in your country",
}


def legal_basis_line(config: Config) -> str:
    """Which legal basis new campaigns get, what it means, and where to change it."""
    basis = config.campaigns.default_legal_basis
    return (
        f"New campaigns get the legal basis {basis} ({_BASIS_NOTES[basis]}; docs/privacy.md, "
        "section 9). Change it with campaigns.default_legal_basis "
        "(PIXELAGG_CAMPAIGNS_DEFAULT_LEGAL_BASIS), or per campaign with --legal-basis."
    )


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
    from .. import server as http  # the server stack is imported only to serve

    guarded(lambda: http.check_can_serve(config))
    # The audit's checks of the settings: a refusal stops here, before anything is printed;
    # warnings are printed after the token, address and legal basis.
    notices = guarded(lambda: startup_notices(config))
    _, path, created = guarded(lambda: admin_token(config))
    if path is not None:
        verb = "Created a new" if created else "Using the"
        click.echo(f"{verb} admin token in {path} (readable by its owner only).", err=True)
    store = "embedded store in " + str(config.data_dir) if config.is_embedded else "Redis store"
    url = http_url(config.server.host, config.server.port)
    one_process = config.server.implementation == "uvicorn" and config.server.workers == 1
    app = guarded(lambda: http.build_app(config)) if one_process else None
    click.echo(f"pixelagg {__version__} on {url} with the {store}", err=True)
    click.echo(legal_basis_line(config), err=True)
    for line in notices:
        click.echo(line, err=True)
    try:
        http.run(config, app)
    except PixelaggError as exc:
        fail(str(exc))
    except SystemExit as exc:  # uvicorn exits 3 when it cannot start, after logging why
        if exc.code not in (0, None):
            fail("the HTTP server could not start: see the log line above.")
        raise
    finally:
        withdraw(config)
