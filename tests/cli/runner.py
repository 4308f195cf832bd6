"""Running the CLI in-process with click's CliRunner, with exactly one configuration environment."""

from __future__ import annotations

import json

from click.testing import CliRunner, Result

from pixelagg.cli import cli

UNKNOWN_ID = "AAAAAAAAAAAAAAAA"
# Variables `serve` writes into os.environ; listing them makes CliRunner restore them.
SERVE_OVERRIDES = {
    "PIXELAGG_SERVER_HOST": None,
    "PIXELAGG_SERVER_PORT": None,
    "PIXELAGG_SERVER_WORKERS": None,
    "PIXELAGG_SERVER_IMPLEMENTATION": None,
    "PIXELAGG_CONFIG": None,
}


def run(env, *args, input=None) -> Result:
    """Invoke the CLI with exactly this configuration environment."""
    result = CliRunner().invoke(cli, list(args), env={**SERVE_OVERRIDES, **env}, input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def create(env, *args):
    """`campaign create "November newsletter" ARGS --json`, which must succeed: the view."""
    result = run(env, "campaign", "create", "November newsletter", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
