"""What every command shares: the configuration, errors shown as `Error: ...`, --url and --json."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from ..client import Client, open_client
from ..config import Config, load
from ..core.campaign import UNPRINTABLE_CHARS
from ..exceptions import PixelaggError

__all__ = [
    "config_option",
    "connect",
    "fail",
    "guarded",
    "json_option",
    "load_config",
    "printable",
    "redacted",
    "url_option",
]

T = TypeVar("T")

url_option = click.option(
    "--url", envvar="PIXELAGG_URL", help="Call this running service's API (also PIXELAGG_URL)."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
_CONFIG_HELP = "YAML configuration file (also PIXELAGG_CONFIG)."

# user:password@ in a URL (redis://:secret@host), and password=... in a query string
_URL_SECRET = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^\s/@:]*):[^\s/@]*@", re.IGNORECASE)
_QUERY_SECRET = re.compile(r"(?P<head>[?&]password=)[^\s&]*", re.IGNORECASE)
_UNPRINTABLE = re.compile(f"[{UNPRINTABLE_CHARS}\\ud800-\\udfff]")


def printable(text: str) -> str:
    """Text for the terminal: what it would act on (escapes, overrides) shown as \\x.. or \\u...."""
    return _UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], text)


def redacted(message: str) -> str:
    """The message with passwords in URLs hidden: error output reaches terminals and logs."""
    message = _URL_SECRET.sub(r"\g<head>:***@", message)
    return _QUERY_SECRET.sub(r"\g<head>***", message)


def fail(message: str) -> NoReturn:
    """Stop with `Error: message` on stderr and exit 1."""
    raise click.ClickException(redacted(message))


def guarded(fn: Callable[[], T]) -> T:
    """fn(), with pixelagg's own errors shown as `Error: ...` and exit 1."""
    try:
        return fn()
    except PixelaggError as exc:
        fail(str(exc))


def _remember_config(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None:
        ctx.ensure_object(dict)["config"] = value


def config_option(command: click.Command) -> None:
    """Give a command its own --config, so the option works after the subcommand too."""
    command.params.append(
        click.Option(
            ["--config"],
            type=click.Path(dir_okay=False),
            expose_value=False,
            callback=_remember_config,
            help=_CONFIG_HELP,
        )
    )


def load_config(ctx: click.Context) -> Config:
    """The configuration from --config (or PIXELAGG_CONFIG) and the environment."""
    path = ctx.obj.get("config") if ctx.obj else None
    return guarded(lambda: load(path))


def connect(config: Config, url: str | None) -> Client:
    """The client for the commands (see `pixelagg.client`); what it notes goes to stderr."""
    client = guarded(lambda: open_client(config, url))
    for note in client.notes:
        click.echo(f"Note: {note}", err=True)
    return client
