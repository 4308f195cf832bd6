"""Tests for `pixelagg campaign`: create, list, show, update, pause, resume and delete, on both stores."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from pixelagg.cli import cli
from pixelagg.core.campaign import RECIPIENTS_MAX, SETTABLE_FIELDS
from tests.cli.runner import UNKNOWN_ID, create, run


def test_create_prints_id_url_and_snippet(env):
    """campaign create prints the id, the pixel URL and the snippet."""
    result = run(env, "campaign", "create", "November newsletter", "--recipients", "1200")
    assert result.exit_code == 0, result.output
    match = re.search(r"^Campaign\s+([A-Za-z0-9_-]{16})$", result.stdout, re.M)
    assert match, result.stdout
    campaign_id = match.group(1)
    assert "Name        November newsletter" in result.stdout
    assert "Recipients  1200" in result.stdout
    assert f"Pixel URL   http://127.0.0.1:8000/p/{campaign_id}.gif" in result.stdout
    assert f'<img src="http://127.0.0.1:8000/p/{campaign_id}.gif"' in result.stdout
    assert "the same for every recipient" in result.stdout


def test_create_without_a_service_notes_where_the_url_comes_from(env):
    """A snippet made without a running service says its URL is a guess and how to fix it."""
    result = run(env, "campaign", "create", "November newsletter")
    assert result.exit_code == 0, result.output
    assert "Note: No service runs on this data dir" in result.stdout
    assert "server.public_url" in result.stdout


def test_create_json(env):
    """campaign create --json prints the campaign as JSON."""
    view = create(env, "--recipients", "1200")
    assert view["name"] == "November newsletter"
    assert view["recipients"] == 1200
    assert view["legal_basis"] == "legitimate_interest"
    assert view["paused"] is False
    assert view["pixel_url"].endswith(f"/p/{view['id']}.gif")
    assert view["pixel_url"] in view["snippet"]


def test_create_uses_public_url(env):
    """server.public_url is the base of the pixel URL."""
    view = create({**env, "PIXELAGG_SERVER_PUBLIC_URL": "https://stats.example.org/"})
    assert view["pixel_url"] == f"https://stats.example.org/p/{view['id']}.gif"


def test_create_with_legal_basis(env):
    """--legal-basis and --legal-reference are recorded."""
    view = create(env, "--legal-basis", "public_task", "--legal-reference", "Wet X, art. 1")
    assert (view["legal_basis"], view["legal_reference"]) == ("public_task", "Wet X, art. 1")


def test_public_task_without_reference_fails(env):
    """public_task without --legal-reference is refused with Error:, exit 1."""
    result = run(env, "campaign", "create", "n", "--legal-basis", "public_task")
    assert result.exit_code == 1
    assert "Error:" in result.stderr and "legal_reference" in result.stderr


def test_create_twice_with_an_external_id_gives_the_same_campaign(env):
    """A second create with the same --external-id shows the first campaign and says so."""
    first = create(env, "--external-id", "listmonk-42")
    again = run(env, "campaign", "create", "Other name", "--external-id", "listmonk-42", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["id"] == first["id"]
    assert json.loads(again.stdout)["name"] == "November newsletter"
    assert "exists: it is shown, nothing was changed" in again.stderr


def test_name_with_control_characters_is_refused(env):
    """A name with a terminal escape sequence is refused with Error:, exit 1."""
    result = run(env, "campaign", "create", "Red \x1b[31malert")
    assert result.exit_code == 1
    assert "Error: 'name' must not hold control characters" in result.stderr


def test_snippet_is_the_same_for_every_recipient(env):
    """The snippet is byte-identical every time and its URL has no query string (P1)."""
    view = create(env, "--recipients", "1200")
    show = ("campaign", "show", view["id"], "--json")
    shown = [json.loads(run(env, *show).stdout) for _ in range(2)]
    assert shown[0]["snippet"].encode() == shown[1]["snippet"].encode()
    assert shown[0]["snippet"].encode() == view["snippet"].encode()
    assert urlsplit(view["pixel_url"]).query == ""
    assert "?" not in view["snippet"] and "recipient" not in view["pixel_url"]


def test_list(env):
    """campaign list shows a table of campaigns, and --json lists them."""
    empty = run(env, "campaign", "list")
    assert empty.exit_code == 0
    assert "No campaigns yet" in empty.stdout
    view = create(env, "--recipients", "1200")
    table = run(env, "campaign", "list")
    assert table.exit_code == 0
    assert table.stdout.splitlines()[0].split() == ["ID", "CREATED", "RECIPIENTS", "STATUS", "NAME"]
    row = next(line for line in table.stdout.splitlines() if line.startswith(view["id"]))
    assert "1200" in row and "counting" in row and row.endswith("November newsletter")
    listed = json.loads(run(env, "campaign", "list", "--json").stdout)
    assert [v["id"] for v in listed] == [view["id"]]


def test_show(env):
    """campaign show prints the campaign and its snippet."""
    view = create(env)
    result = run(env, "campaign", "show", view["id"])
    assert result.exit_code == 0
    assert f"Campaign    {view['id']}" in result.stdout
    assert view["snippet"] in result.stdout
    assert "Recipients  -" in result.stdout


def test_show_lines_its_values_up_in_one_column(env):
    """Every labelled line of campaign show starts its value in the same column."""
    view = create(env, "--recipients", "1200", "--external-id", "listmonk-42")
    lines = run(env, "campaign", "show", view["id"]).stdout.splitlines()
    values = {"Campaign": view["id"], "Legal basis": "legitimate_interest", "External id": "listmonk-42"}
    columns = {
        next(line for line in lines if line.startswith(label)).index(value) for label, value in values.items()
    }
    assert len(columns) == 1, lines


def test_update(env):
    """campaign update changes the given fields only."""
    view = create(env, "--recipients", "1200")
    result = run(env, "campaign", "update", view["id"], "--name", "Renamed", "--json")
    assert result.exit_code == 0, result.output
    updated = json.loads(result.stdout)
    assert (updated["name"], updated["recipients"]) == ("Renamed", 1200)
    assert updated["snippet"] == view["snippet"]


def test_update_changes_recipients_and_legal_basis(env):
    """campaign update sets the recipients, the legal basis and the reference it needs."""
    view = create(env)
    args = ("--recipients", "5", "--legal-basis", "public_task", "--legal-reference", "Wet X, art. 1")
    result = run(env, "campaign", "update", view["id"], *args, "--json")
    assert result.exit_code == 0, result.output
    updated = json.loads(result.stdout)
    assert (updated["recipients"], updated["legal_basis"]) == (5, "public_task")
    assert (updated["legal_reference"], updated["name"]) == ("Wet X, art. 1", "November newsletter")


@pytest.mark.parametrize(
    ("command", "fields"),
    [
        ("create", [f for f in SETTABLE_FIELDS if not f.required]),
        ("update", list(SETTABLE_FIELDS)),
    ],
    ids=["create", "update"],
)
def test_field_options_follow_the_declaration(command, fields):
    """create and update have an option per settable field with its declared help; NAME is an argument."""
    result = CliRunner().invoke(cli, ["campaign", command, "--help"])
    assert result.exit_code == 0
    help_text = " ".join(result.stdout.split())
    options = re.findall(r"^  (?:-[a-z], )?(--[a-z-]+)", result.stdout, re.M)
    expected = [*("--" + f.name.replace("_", "-") for f in fields), "--url", "--json", "--config", "--help"]
    assert options == expected
    assert all(f.help in help_text for f in fields)
    assert ("[OPTIONS] NAME" in help_text) is (command == "create")


def test_update_without_changes_is_a_usage_error(env):
    """campaign update with no option is a usage error, exit 2."""
    view = create(env)
    result = run(env, "campaign", "update", view["id"])
    assert result.exit_code == 2
    assert "Give at least one of" in result.stderr


def test_pause_and_resume(env):
    """campaign pause and resume switch the campaign's status."""
    view = create(env)
    paused = run(env, "campaign", "pause", view["id"])
    assert paused.exit_code == 0 and "paused" in paused.stdout
    assert json.loads(run(env, "campaign", "show", view["id"], "--json").stdout)["paused"]
    resumed = run(env, "campaign", "resume", view["id"])
    assert resumed.exit_code == 0 and "counting again" in resumed.stdout
    assert not json.loads(run(env, "campaign", "show", view["id"], "--json").stdout)["paused"]


def test_delete(env):
    """campaign delete --yes erases the campaign."""
    view = create(env)
    result = run(env, "campaign", "delete", view["id"], "--yes")
    assert result.exit_code == 0, result.output
    assert "erased" in result.stdout
    gone = run(env, "campaign", "show", view["id"])
    assert gone.exit_code == 1 and "Error:" in gone.stderr


def test_delete_asks_first_naming_the_campaign(env):
    """campaign delete without --yes asks, naming the campaign, and 'n' keeps it."""
    view = create(env)
    result = run(env, "campaign", "delete", view["id"], input="n\n")
    assert result.exit_code == 1
    assert "'November newsletter'" in result.output and "Aborted" in result.output
    assert run(env, "campaign", "show", view["id"]).exit_code == 0


@pytest.mark.parametrize(
    "args",
    [
        ("campaign", "show", UNKNOWN_ID),
        ("campaign", "show", "not-an-id"),
        ("campaign", "update", UNKNOWN_ID, "--name", "x"),
        ("campaign", "pause", UNKNOWN_ID),
        ("campaign", "resume", UNKNOWN_ID),
        ("campaign", "delete", UNKNOWN_ID, "--yes"),
        ("stats", UNKNOWN_ID),
        ("test-open", UNKNOWN_ID),
    ],
    ids=["show", "show-malformed", "update", "pause", "resume", "delete", "stats", "test-open"],
)
def test_unknown_campaign_is_an_error(env, args):
    """Commands on an unknown campaign print 'Error: No campaign ...' and exit 1."""
    result = run(env, *args)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: No campaign with id")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (("campaign", "create", "n", "--recipients", "0"), "--recipients"),
        (("campaign", "create", "n", "--recipients", "many"), "--recipients"),
        (("campaign", "create", "n", "--recipients", str(RECIPIENTS_MAX + 1)), "--recipients"),
        (("campaign", "create", "n", "--legal-basis", "vibes"), "--legal-basis"),
        (("campaign", "update", UNKNOWN_ID, "--legal-basis", "vibes"), "--legal-basis"),
        (("campaign", "create"), "NAME"),
    ],
    ids=[
        "recipients-0",
        "recipients-str",
        "recipients-too-many",
        "legal-basis",
        "update-legal-basis",
        "no-name",
    ],
)
def test_usage_errors_exit_2(env, args, hint):
    """Bad arguments are click usage errors: a hint and exit 2."""
    result = run(env, *args)
    assert result.exit_code == 2
    assert "Error:" in result.stderr and hint in result.stderr
