"""Tests for pixelagg.cli: commands run with click's CliRunner on both stores."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
from urllib.parse import urlsplit

import httpx
import pytest
from click.testing import CliRunner

from pixelagg.cli import cli
from pixelagg.client import SERVE_FILE
from pixelagg.core.campaign import RECIPIENTS_MAX, SETTABLE_FIELDS
from pixelagg.store.embedded import DB_NAME
from tests.helpers import AUTH, ROOT, Served, make_env

UNKNOWN_ID = "AAAAAAAAAAAAAAAA"
# Variables `serve` writes into os.environ; listing them makes CliRunner restore them.
SERVE_OVERRIDES = {
    "PIXELAGG_SERVER_HOST": None,
    "PIXELAGG_SERVER_PORT": None,
    "PIXELAGG_SERVER_WORKERS": None,
    "PIXELAGG_CONFIG": None,
}


def run(env, *args, input=None):
    """Invoke the CLI with exactly this configuration environment."""
    result = CliRunner().invoke(cli, list(args), env={**SERVE_OVERRIDES, **env}, input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def create(env, *args):
    result = run(env, "campaign", "create", "November newsletter", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_create_prints_id_url_and_snippet(env):
    """campaign create prints the id, the pixel URL and the snippet."""
    result = run(env, "campaign", "create", "November newsletter", "--recipients", "1200")
    assert result.exit_code == 0, result.output
    match = re.search(r"^Campaign\s+([A-Za-z0-9_-]{16})$", result.stdout, re.M)
    assert match, result.stdout
    campaign_id = match.group(1)
    assert "Name       November newsletter" in result.stdout
    assert "Recipients 1200" in result.stdout
    assert f"Pixel URL  http://127.0.0.1:8000/p/{campaign_id}.gif" in result.stdout
    assert f'<img src="http://127.0.0.1:8000/p/{campaign_id}.gif"' in result.stdout
    assert "the same for every recipient" in result.stdout


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
    assert f"Campaign   {view['id']}" in result.stdout
    assert view["snippet"] in result.stdout
    assert "Recipients -" in result.stdout


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
    assert options == [*("--" + f.name.replace("_", "-") for f in fields), "--url", "--json", "--help"]
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


def test_delete_asks_first(env):
    """campaign delete without --yes asks, and 'n' keeps the campaign."""
    view = create(env)
    result = run(env, "campaign", "delete", view["id"], input="n\n")
    assert result.exit_code == 1
    assert "Aborted" in result.output
    assert run(env, "campaign", "show", view["id"]).exit_code == 0


def test_stats_table(env):
    """stats prints a table with opens, unique opens, open rate and the class breakdown."""
    view = create(env, "--recipients", "1200")
    result = run(env, "stats", view["id"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith(f"November newsletter ({view['id']})")
    assert re.search(r"^Opens\s+0$", out, re.M)
    assert "Unique opens" in out and "Open rate" in out and "of 1200 recipients" in out
    assert "CLASS" in out and "REGION" in out


def test_stats_json(env):
    """stats --json prints the report as JSON."""
    view = create(env)
    result = run(env, "stats", view["id"], "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["campaign"]["id"] == view["id"]
    assert report["opens"]["total"] == 0


def test_stats_csv(env):
    """stats --csv prints CSV with a header row."""
    view = create(env)
    result = run(env, "stats", view["id"], "--csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert len(rows) >= 1 and all(rows[0])


def test_privacy_notice_in_dutch(env):
    """privacy-notice --lang nl prints the Dutch section."""
    result = run(env, "privacy-notice", "--lang", "nl")
    assert result.exit_code == 0, result.output
    assert "Nieuwsbrief en volgsysteem" in result.stdout


def test_privacy_notice_names_the_campaigns_bases(env):
    """privacy-notice names the legal basis of the stored campaigns, not the default."""
    create(env, "--legal-basis", "consent")
    result = run(env, "privacy-notice")
    assert result.exit_code == 0, result.output
    assert "The legal basis is your consent" in result.stdout


def test_privacy_notice_on_a_new_store_names_the_default_basis(tmp_path):
    """On an embedded store not made yet, privacy-notice names the default basis and makes no store."""
    env = make_env(tmp_path, None, PIXELAGG_CAMPAIGNS_DEFAULT_LEGAL_BASIS="consent")
    result = run(env, "privacy-notice")
    assert result.exit_code == 0, result.output
    assert "The legal basis is your consent" in result.stdout
    assert not (tmp_path / "data" / DB_NAME).exists()


@pytest.mark.parametrize(
    ("extra", "args", "message"),
    [
        ({}, ("--url", "http://127.0.0.1:9"), "Error: Cannot reach the service at http://127.0.0.1:9"),
        ({"PIXELAGG_STORE_URL": "redis://127.0.0.1:9"}, (), "Error: Redis store error: ConnectionError"),
    ],
    ids=["service-down", "redis-down"],
)
def test_privacy_notice_fails_when_campaigns_cannot_be_read(tmp_path, extra, args, message):
    """privacy-notice prints no legal text when it cannot read the campaigns: Error:, exit 1."""
    result = run(make_env(tmp_path, None, **extra), "privacy-notice", *args)
    assert result.exit_code == 1
    assert result.stderr.startswith(message)
    assert result.stdout == ""


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
    ],
    ids=["show", "show-malformed", "update", "pause", "resume", "delete", "stats"],
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
        (("stats", UNKNOWN_ID, "--json", "--csv"), "Choose one of --json and --csv"),
        (("privacy-notice", "--lang", "xx"), "--lang"),
        (("serve", "--port", "0"), "--port"),
    ],
    ids=[
        "recipients-0",
        "recipients-str",
        "recipients-too-many",
        "legal-basis",
        "update-legal-basis",
        "no-name",
        "json-and-csv",
        "lang",
        "port",
    ],
)
def test_usage_errors_exit_2(env, args, hint):
    """Bad arguments are click usage errors: a hint and exit 2."""
    result = run(env, *args)
    assert result.exit_code == 2
    assert "Error:" in result.stderr and hint in result.stderr


def test_stats_with_bad_date_is_an_error(env):
    """An invalid --from prints Error: naming the parameter, exit 1."""
    view = create(env)
    result = run(env, "stats", view["id"], "--from", "yesterday")
    assert result.exit_code == 1
    assert "Error:" in result.stderr and "'from'" in result.stderr


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        ("PIXELAGG_SERVER_PORT", "0", "Error: Config 'server.port' has value 0."),
        ("PIXELAGG_PRIVACY_MIN_BUCKET", "-1", "Error: Config 'privacy.min_bucket' has value -1."),
        ("PIXELAGG_STORE_URL", "http://x", "Error: Config 'store.url' has value 'http://x'."),
    ],
    ids=["port", "min-bucket", "store-url"],
)
def test_invalid_config_is_an_error(env, variable, raw, message):
    """An invalid configuration value prints Error: naming key and value, exit 1."""
    result = run({**env, variable: raw}, "campaign", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith(message)


def test_missing_config_file_is_an_error(env, tmp_path):
    """A missing --config file prints Error: naming the file, exit 1."""
    path = tmp_path / "missing.yaml"
    result = run(env, "--config", str(path), "campaign", "list")
    assert result.exit_code == 1
    assert "Error:" in result.stderr and str(path) in result.stderr


def test_serve_workers_needs_redis(tmp_path):
    """serve --workers 2 on the embedded store refuses with an Error mentioning Redis, exit 1."""
    result = run(make_env(tmp_path, None), "serve", "--workers", "2")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error:")
    assert "Redis" in result.stderr


def test_lists_update_unreachable_source(tmp_path):
    """lists update from an unreachable URL prints Error: naming the URL, exit 1."""
    source = "http://127.0.0.1:9/x.csv"
    dest = tmp_path / "egress.csv"
    args = ("lists", "update", "--source", source, "--dest", str(dest))
    result = run(make_env(tmp_path, None), *args)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error:")
    assert source in result.stderr
    assert not dest.exists()


def test_version():
    """--version prints the version."""
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("pixelagg, version ")


@pytest.mark.slow
def test_cli_uses_the_running_service(tmp_path, serve):
    """With the embedded store held by `pixelagg serve`, the CLI goes through its API."""
    env = make_env(tmp_path, None)
    served = serve(env)
    data_dir = tmp_path / "data"
    assert (data_dir / SERVE_FILE).exists()
    result = run(env, "campaign", "create", "Through the API", "--json")
    assert result.exit_code == 0, result.output + served.logs()
    view = json.loads(result.stdout)
    # The service's own base URL shows the API made it, not the store.
    assert view["pixel_url"] == f"{served.url}/p/{view['id']}.gif"
    listed = run(env, "campaign", "list")
    assert listed.exit_code == 0
    assert view["id"] in listed.stdout and "Through the API" in listed.stdout
    response = httpx.get(f"{served.url}/api/campaigns/{view['id']}", headers=AUTH, timeout=5)
    assert response.status_code == 200


@pytest.mark.slow
def test_privacy_notice_with_a_wrong_token_fails(tmp_path, serve):
    """privacy-notice against a service that refuses the token fails with Error:, exit 1."""
    env = make_env(tmp_path, None)
    served = serve(env)
    wrong = {**env, "PIXELAGG_ADMIN_TOKEN": "wrong-token-0123456789abcdef"}
    result = run(wrong, "privacy-notice", "--url", served.url)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "(HTTP 401)" in result.stderr
    assert result.stdout == ""


def _has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


class ServedOnIPv6(Served):
    """`pixelagg serve --host ::`, polled at [::1]: the IPv6 wildcard does not take IPv4."""

    def __init__(self, env, tmp_path):
        super().__init__(env, tmp_path, "serve-ipv6")
        self.url = f"http://[::1]:{self.port}"


@pytest.mark.slow
@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")
def test_serve_on_the_ipv6_wildcard_points_the_cli_at_ipv6_loopback(tmp_path):
    """serve --host :: shows a bracketed URL, and serve.json sends the CLI to [::1]."""
    env = make_env(tmp_path, None)
    served = ServedOnIPv6(env, tmp_path)
    try:
        served.start("--host", "::")
        info = json.loads((tmp_path / "data" / SERVE_FILE).read_text())
        assert info["url"] == served.url
        assert f"on http://[::]:{served.port} with" in served.logs()
        view = create(env)
        assert view["pixel_url"] == f"{served.url}/p/{view['id']}.gif"
    finally:
        served.stop(signal.SIGKILL)
        served.kill_group()


def test_console_script_shows_store_errors_as_error_lines(tmp_path):
    """`python -m pixelagg` turns an unreachable store into one Error: line and exit 1."""
    env = {**os.environ, **make_env(tmp_path, "redis://127.0.0.1:9"), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "pixelagg", "campaign", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Error: Redis store error: ConnectionError")
    assert "Traceback" not in result.stderr
