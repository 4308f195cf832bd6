"""Tests for `pixelagg test-open`: one open as a mail client sends it, against a real serve."""

from __future__ import annotations

import json
import re

import pytest

from pixelagg.client import MAIL_CLIENT_UA
from pixelagg.core.classify import classify_user_agent
from tests.cli.runner import create, run
from tests.helpers import make_env, wait_for

pytestmark = pytest.mark.slow


def test_the_test_open_user_agent_is_a_mail_client():
    """The user agent test-open sends classifies as human."""
    assert classify_user_agent(MAIL_CLIENT_UA) == "human"


def test_test_open_is_counted_as_a_human_open(tmp_path, serve):
    """test-open prints X-Pixelagg: counted, and the exact stats then hold one human open."""
    env = make_env(tmp_path, None)  # epsilon off: exact, live figures
    served = serve(env)
    view = create(env, "--recipients", "1200")
    result = run(env, "test-open", view["id"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:3] == [
        f"GET {served.url}/p/{view['id']}.gif",
        f"User-Agent: {MAIL_CLIENT_UA}",
        "X-Pixelagg: counted",
    ]
    assert "now (privacy.epsilon off: exact, live figures)" in result.stdout
    stats = wait_for(
        lambda: (s := json.loads(run(env, "stats", view["id"], "--json").stdout))["opens"]["total"] and s
    )
    assert stats["opens"]["by_class"]["human"] == 1


def test_test_open_says_when_released_figures_appear(tmp_path, serve):
    """Under differential privacy, test-open says the open shows when the release period closes."""
    env = make_env(tmp_path, None, PIXELAGG_PRIVACY_EPSILON="1.0")
    serve(env)
    view = create(env, "--recipients", "1200")
    result = run(env, "test-open", view["id"])
    assert result.exit_code == 0, result.output
    assert re.search(r"once the current release period closes at \d\d:\d\d UTC", result.stdout)
    assert "privacy.release_period_seconds" in result.stdout


def test_test_open_on_a_small_campaign_says_why_no_figures_show(tmp_path, serve):
    """A campaign below privacy.min_recipients: counted, and the line says why it shows no figures."""
    env = make_env(tmp_path, None, PIXELAGG_PRIVACY_EPSILON="1.0")
    serve(env)
    view = create(env, "--recipients", "10")
    result = run(env, "test-open", view["id"])
    assert result.exit_code == 0, result.output
    assert "The stats show no figures for this campaign:" in result.stdout
    assert "The open is counted all the same." in result.stdout


def test_test_open_on_a_paused_campaign_fails(tmp_path, serve):
    """A paused campaign answers paused: test-open prints it and fails with the remedy, exit 1."""
    env = make_env(tmp_path, None)
    serve(env)
    view = create(env)
    run(env, "campaign", "pause", view["id"])
    result = run(env, "test-open", view["id"])
    assert result.exit_code == 1
    assert "X-Pixelagg: paused" in result.stdout
    assert f"pixelagg campaign resume {view['id']}" in result.stderr


def test_test_open_to_something_else_than_pixelagg_fails(tmp_path):
    """A pixel URL that answers without X-Pixelagg is an error naming the URL."""
    from tests.helpers import RecordingServer, make_store

    with RecordingServer() as other:
        env = make_env(tmp_path, None, PIXELAGG_SERVER_PUBLIC_URL=f"http://127.0.0.1:{other.port}")
        make_store(env)
        view = create(env)
        result = run(env, "test-open", view["id"])
    assert result.exit_code == 1
    assert "answered without an X-Pixelagg header" in result.stderr
    assert other.requests[0]["User-Agent"] == MAIL_CLIENT_UA
