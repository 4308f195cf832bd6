"""Tests for what every command shares: --config anywhere, Error: lines, escaping, the version."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from pixelagg.cli import cli
from pixelagg.cli.options import printable, redacted
from tests.cli.runner import create, run
from tests.helpers import ROOT, make_env, make_store


@pytest.fixture
def config_file(tmp_path):
    """A configuration file that moves the data dir, with a saved store there."""
    data_dir = tmp_path / "elsewhere"
    path = tmp_path / "pixelagg.yaml"
    path.write_text(f"store:\n  data_dir: {data_dir}\n")
    make_store({"PIXELAGG_DATA_DIR": str(data_dir)})
    return path


@pytest.mark.parametrize(
    "args",
    [
        ("--config", "{path}", "campaign", "list"),
        ("campaign", "--config", "{path}", "list"),
        ("campaign", "list", "--config", "{path}"),
        ("campaign", "list", "--config={path}"),
    ],
    ids=["before", "between", "after", "after-with-equals"],
)
def test_config_works_before_or_after_the_subcommand(tmp_path, config_file, args):
    """--config is read wherever it stands on the command line."""
    env = make_env(tmp_path, None)
    del env["PIXELAGG_DATA_DIR"]
    result = run(env, *(a.format(path=config_file) for a in args))
    assert result.exit_code == 0, result.output
    assert "No campaigns yet" in result.stdout


def test_config_after_serve_is_read(tmp_path):
    """`serve --config FILE` reads the file (here a bad value in it), instead of 'No such option'."""
    path = tmp_path / "bad.yaml"
    path.write_text("server:\n  port: 0\n")
    result = run(make_env(tmp_path, None), "serve", "--config", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Config 'server.port' has value 0.")


def test_every_command_lists_config_in_its_help():
    """Each command's --help shows --config."""
    for args in (["serve"], ["campaign", "create"], ["stats"], ["test-open"], ["privacy-notice"], ["audit"]):
        result = CliRunner().invoke(cli, [*args, "--help"])
        assert "--config" in result.stdout, args


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


def test_store_url_password_never_shows_in_a_config_error(tmp_path):
    """A bad store URL's password is hidden in the Error: line."""
    env = make_env(tmp_path, None, PIXELAGG_STORE_URL="http://pixelagg:s3cret-pw@redis.internal:6379")
    result = run(env, "campaign", "list")
    assert result.exit_code == 1
    assert "'http://pixelagg:***@redis.internal:6379'" in result.stderr
    assert "s3cret-pw" not in result.output


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
        ("rediss://user:pw@host", "rediss://user:***@host"),
        ("redis://host/0?password=pw&db=1", "redis://host/0?password=***&db=1"),
        ("redis://host:6379", "redis://host:6379"),
    ],
    ids=["password-only", "user-and-password", "query", "none"],
)
def test_redacted_hides_url_passwords(text, shown):
    """redacted() hides the password of a URL and nothing else."""
    assert redacted(f"Cannot connect to {text}.") == f"Cannot connect to {shown}."


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Red \x1b[31mnews", "Red \\x1b[31mnews"),
        ("a\u202eb", "a\\u202eb"),
        ("Zoë\n", "Zoë\\n"),
        ("bad \ud800", "bad \\ud800"),
    ],
    ids=["escape", "bidi-override", "newline", "lone-surrogate"],
)
def test_printable_escapes_what_a_terminal_would_act_on(text, shown):
    """printable() shows control characters and direction overrides as escapes, the rest as is."""
    assert printable(text) == shown


def test_missing_config_file_is_an_error(env, tmp_path):
    """A missing --config file prints Error: naming the file, exit 1."""
    path = tmp_path / "missing.yaml"
    result = run(env, "--config", str(path), "campaign", "list")
    assert result.exit_code == 1
    assert "Error:" in result.stderr and str(path) in result.stderr


def test_commands_without_a_service_or_store_say_where_they_looked(tmp_path):
    """campaign create in a directory with no service and no store: Error: naming it, nothing made."""
    env = make_env(tmp_path, None)
    result = run(env, "campaign", "create", "November newsletter")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: No pixelagg service and no store here: looked in {tmp_path / 'data'}"
    )
    assert "--url" in result.stderr and not (tmp_path / "data").exists()


def test_version():
    """--version prints the version."""
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("pixelagg, version ")


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


def test_stale_serve_file_gets_no_token(tmp_path):
    """After a SIGKILL, whatever listens at serve.json's address gets no request from the CLI."""
    from tests.helpers import LockHolder, RecordingServer

    env = make_env(tmp_path, None)
    with RecordingServer() as listener:
        LockHolder({**env, "PIXELAGG_SERVER_PORT": str(listener.port)}).kill()
        view = create(env)
        result = run(env, "campaign", "show", view["id"])
    assert result.exit_code == 0, result.output
    assert "serve.json is stale" in result.stderr
    assert listener.requests == []
