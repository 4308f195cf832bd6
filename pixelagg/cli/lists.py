"""`pixelagg lists`: the address lists that sharpen the classes."""

from __future__ import annotations

import click

from ..ingest.lists import APPLE_EGRESS_URL, download_apple_egress
from .options import guarded, load_config

__all__ = ["lists"]


@click.group()
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
    config = load_config(ctx)
    target = dest or config.classify.apple_egress_file or str(config.data_dir / "egress-ip-ranges.csv")
    count = guarded(lambda: download_apple_egress(target, source))
    click.echo(f"Saved {count} address ranges to {target}.")
    if config.classify.apple_egress_file != target:
        click.echo(
            f"Set classify.apple_egress_file (PIXELAGG_CLASSIFY_APPLE_EGRESS_FILE) to {target} to use it."
        )
