"""What every command shares: the configuration, errors shown as `Error: ...`, --url and --json."""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn, TypeVar

import click

from ..config import Config, load
from ..exceptions import PixelaggError

__all__ = ["fail", "guarded", "json_option", "load_config", "url_option"]

T = TypeVar("T")

url_option = click.option(
    "--url", envvar="PIXELAGG_URL", help="Call this running service's API (also PIXELAGG_URL)."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def fail(message: str) -> NoReturn:
    """Stop with `Error: message` on stderr and exit 1."""
    raise click.ClickException(message)


def guarded(fn: Callable[[], T]) -> T:
    """fn(), with pixelagg's own errors shown as `Error: ...` and exit 1."""
    try:
        return fn()
    except PixelaggError as exc:
        fail(str(exc))


def load_config(ctx: click.Context) -> Config:
    """The configuration from --config (or PIXELAGG_CONFIG) and the environment."""
    path = ctx.obj.get("config") if ctx.obj else None
    return guarded(lambda: load(path))
