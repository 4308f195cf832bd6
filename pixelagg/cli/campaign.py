"""`pixelagg campaign`: create, list, show, change, pause, resume and delete campaigns.

The options of `create` and `update` are built from the campaign's declared fields
(`pixelagg.core.campaign`): every field the API may set is an option, with the declared help,
type and limits, so click refuses what the API would refuse.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..core.campaign import SETTABLE_FIELDS, CampaignField
from .options import connect, guarded, json_option, load_config, printable, url_option

__all__ = ["campaign"]

F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def campaign() -> None:
    """Create, list, change, pause and delete campaigns."""


def _option_name(field: CampaignField) -> str:
    return "--" + field.name.replace("_", "-")


def _param_type(field: CampaignField) -> click.ParamType[Any, Any] | None:
    if field.choices:
        return click.Choice(field.choices)
    if field.kind == "integer":
        return click.IntRange(field.minimum, field.maximum)
    return None  # text: click's string


def _field_params(creating: bool) -> Callable[[F], F]:
    """One parameter per settable field: an argument for a required one when creating, else an option."""

    def decorate(command: F) -> F:
        for field in reversed(SETTABLE_FIELDS):  # click lists the last decorator applied first
            if creating and field.required:
                command = click.argument(field.name)(command)
            else:
                option = click.option(
                    _option_name(field), field.name, type=_param_type(field), help=field.help
                )
                command = option(command)
        return command

    return decorate


def _given(fields: dict[str, Any]) -> dict[str, Any]:
    """The body of the fields given on the command line."""
    return {name: value for name, value in fields.items() if value is not None}


_LABEL = 12
"""The width of the labels of a campaign's lines: the longest, 'Legal basis', and a space."""


def _print_campaign(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(view, indent=2))
        return
    click.echo(f"{'Campaign':<{_LABEL}}{view['id']}")
    click.echo(f"{'Name':<{_LABEL}}{printable(view['name'])}")
    click.echo(f"{'Recipients':<{_LABEL}}{view['recipients'] if view['recipients'] is not None else '-'}")
    click.echo(
        f"{'Legal basis':<{_LABEL}}{view['legal_basis']}"
        + (f" ({printable(view['legal_reference'])})" if view.get("legal_reference") else "")
    )
    if view.get("external_id"):
        click.echo(f"{'External id':<{_LABEL}}{printable(view['external_id'])}")
    click.echo(f"{'Status':<{_LABEL}}{'paused' if view['paused'] else 'counting'}")
    click.echo(f"{'Pixel URL':<{_LABEL}}{view['pixel_url']}")
    click.echo("Snippet (the same for every recipient):")
    click.echo(f"  {view['snippet']}")
    for note in view.get("notes", []):
        click.echo(f"Note: {note}")


@campaign.command("create")
@_field_params(creating=True)
@url_option
@json_option
@click.pass_context
def campaign_create(ctx: click.Context, /, url: str | None, as_json: bool, **fields: Any) -> None:
    """Create a campaign and print its pixel snippet.

    With --external-id, a campaign made before with the same id is shown instead of a new one.
    """
    config = load_config(ctx)
    body = _given(fields)
    client = connect(config, url)
    view, new = guarded(lambda: client.create(body))
    if not new:
        click.echo(
            f"A campaign with external id {printable(view['external_id'])} exists: it is shown, "
            "nothing was changed.",
            err=True,
        )
    _print_campaign(view, as_json)


@campaign.command("list")
@url_option
@json_option
@click.pass_context
def campaign_list(ctx: click.Context, url: str | None, as_json: bool) -> None:
    """List campaigns."""
    config = load_config(ctx)
    client = connect(config, url)
    views = guarded(client.list)
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
        created = v["created_at"][:10]
        click.echo(f"{v['id']:<18}{created:<12}{recipients:>11}  {status:<9}{printable(v['name'])}")


@campaign.command("show")
@click.argument("campaign_id")
@url_option
@json_option
@click.pass_context
def campaign_show(ctx: click.Context, campaign_id: str, url: str | None, as_json: bool) -> None:
    """Show a campaign and its snippet."""
    config = load_config(ctx)
    client = connect(config, url)
    _print_campaign(guarded(lambda: client.get(campaign_id)), as_json)


@campaign.command("update")
@click.argument("campaign_id")
@_field_params(creating=False)
@url_option
@json_option
@click.pass_context
def campaign_update(
    ctx: click.Context, /, campaign_id: str, url: str | None, as_json: bool, **fields: Any
) -> None:
    """Change a campaign's name, recipients or legal basis."""
    config = load_config(ctx)
    body = _given(fields)
    if not body:
        options = ", ".join(_option_name(f) for f in SETTABLE_FIELDS)
        raise click.UsageError(f"Give at least one of {options}.")
    client = connect(config, url)
    _print_campaign(guarded(lambda: client.update(campaign_id, body)), as_json)


def _pausing(name: str, paused: bool, help: str, done: str) -> None:
    """Add `campaign pause` or `campaign resume`: the same command but for its state and words."""

    @campaign.command(name, help=help)
    @click.argument("campaign_id")
    @url_option
    @click.pass_context
    def command(ctx: click.Context, campaign_id: str, url: str | None) -> None:
        client = connect(load_config(ctx), url)
        guarded(lambda: client.set_paused(campaign_id, paused))
        click.echo(done.format(id=campaign_id))


_pausing(
    "pause",
    True,
    "Stop counting a campaign; its pixel is still served.",
    "Campaign {id} is paused: its pixel is served and nothing is counted.",
)
_pausing("resume", False, "Count a paused campaign again.", "Campaign {id} is counting again.")


@campaign.command("delete")
@click.argument("campaign_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@url_option
@click.pass_context
def campaign_delete(ctx: click.Context, campaign_id: str, yes: bool, url: str | None) -> None:
    """Erase a campaign and every key it has."""
    client = connect(load_config(ctx), url)
    if not yes:
        name = printable(guarded(lambda: client.get(campaign_id))["name"])
        click.confirm(f"Erase campaign {campaign_id} ({name!r}) and all its counts?", abort=True)
    guarded(lambda: client.delete(campaign_id))
    click.echo(f"Campaign {campaign_id} and all its keys are erased.")
