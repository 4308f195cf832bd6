"""The command line: serve, campaign, links, stats, test-open, audit, privacy-notice, lists.

One module per command or group. Commands that read or change campaigns go through
`pixelagg.client`: the running service's API, or the store directly. Every command takes
--config, before or after its name.
"""

from __future__ import annotations

import click

from .. import __version__
from . import campaign, links, lists, privacy, serve, stats, test_open
from .options import config_option

__all__ = ["cli", "main"]


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


def _with_config_option(command: click.Command) -> None:
    config_option(command)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _with_config_option(sub)


for _command in (
    serve.serve,
    campaign.campaign,
    links.links,
    stats.stats,
    test_open.test_open,
    privacy.audit,
    privacy.privacy_notice,
    lists.lists,
):
    _with_config_option(_command)
    cli.add_command(_command)


def main() -> None:
    """The `pixelagg` console script: click shows every error and chooses the exit code."""
    cli()
