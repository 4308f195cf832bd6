"""Tests for `pixelagg test-open`: one open as a mail client sends it, against a real serve."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime

import pytest

from pixelagg.cli.test_open import when_figures_appear
from pixelagg.client import MAIL_CLIENT_UA
from pixelagg.core.classify import classify_user_agent
from pixelagg.reports.report import ReleaseInfo
from tests.cli.runner import create, run
from tests.helpers import make_env, wait_for
from tests.reports.samples import REPORT

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
    assert re.search(r"from \d{4}-\d\d-\d\d \d\d:01 UTC \(in \d+ min\), when its 60-minute", result.stdout)
    assert "privacy.release_period_seconds" in result.stdout
    assert "'X-Pixelagg: counted' is the proof" in result.stdout


def test_an_open_just_after_a_period_ends_shows_a_period_later():
    """In the minute after a period ends, the last one is not released yet, but the open is in the next."""
    released = ReleaseInfo("differential_privacy", 1.0, 3600, datetime(2026, 12, 1, 22, tzinfo=UTC), None, ())
    report = dataclasses.replace(REPORT, privacy=released)
    sent = datetime(2026, 12, 1, 23, 0, 30, tzinfo=UTC).timestamp()
    line = when_figures_appear(report, "AAAAAAAAAAAAAAAA", sent)
    assert "from 2026-12-02 00:01 UTC (in 61 min)" in line


def test_test_open_on_a_small_campaign_says_why_no_figures_show(tmp_path, serve):
    """A campaign below privacy.min_recipients: counted, and the line says why it shows no figures."""
    env = make_env(tmp_path, None, PIXELAGG_PRIVACY_EPSILON="1.0")
    serve(env)
    view = create(env, "--recipients", "10")
    result = run(env, "test-open", view["id"])
    assert result.exit_code == 0, result.output
    assert "No figures show for this campaign yet. Too few recipients to report" in result.stdout
    assert (
        f"This campaign has 10 recipients: 'pixelagg campaign update {view['id']} --recipients N'"
        in result.stdout
    )


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
