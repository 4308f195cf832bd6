"""Tests for `pixelagg stats`: the table, JSON and CSV, on both stores."""

from __future__ import annotations

import csv
import io
import json
import re

from pixelagg.cli.stats import BOT_NOTE
from pixelagg.reports.released import NOT_SEEN
from tests.cli.runner import UNKNOWN_ID, create, run
from tests.helpers import make_env, make_store


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


def test_stats_table_shows_the_estimate_with_its_range_and_what_it_cannot_see(env):
    """The open rate line is the estimator's figure with its 95% range, never above 100 %, and a
    note says in plain words what the estimate cannot see."""
    view = create(env, "--recipients", "1200")
    result = run(env, "stats", view["id"], "--json")
    rate = json.loads(result.stdout)["open_rate"]
    out = run(env, "stats", view["id"]).stdout
    line = next(line for line in out.splitlines() if line.startswith("Open rate"))
    assert line == (
        f"{'Open rate':<21}{rate['estimate']:.1%}  ({rate['low']:.1%} - {rate['high']:.1%}) "
        "of 1200 recipients"
    )
    assert 0 <= rate["low"] <= rate["estimate"] <= rate["high"] <= 1
    assert f"Note: {NOT_SEEN}\n" in out


def test_stats_table_says_why_curl_counts_as_a_bot(env):
    """The table's last line says why curl and headless browsers count as bots, and what to use."""
    view = create(env)
    lines = run(env, "stats", view["id"]).stdout.splitlines()
    assert lines[-1] == BOT_NOTE
    assert "headless browsers" in BOT_NOTE and "pixelagg test-open" in BOT_NOTE


def test_stats_of_a_small_campaign_says_how_to_set_its_size(tmp_path):
    """Below privacy.min_recipients the table says how many recipients it has and the command to change it."""
    env = make_env(tmp_path, None, PIXELAGG_PRIVACY_EPSILON="1.0")
    make_store(env)
    view = create(env, "--recipients", "10")
    lines = run(env, "stats", view["id"]).stdout.splitlines()
    assert "Figures: none for this campaign (differential privacy, epsilon 1.0)" in lines
    assert lines[-1].startswith(
        f"This campaign has 10 recipients: 'pixelagg campaign update {view['id']} --recipients N'"
    )


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


def test_stats_with_bad_date_is_an_error(env):
    """An invalid --from prints Error: naming the parameter, exit 1."""
    view = create(env)
    result = run(env, "stats", view["id"], "--from", "yesterday")
    assert result.exit_code == 1
    assert "Error:" in result.stderr and "'from'" in result.stderr


def test_json_and_csv_together_is_a_usage_error(env):
    """--json with --csv is a usage error, exit 2."""
    result = run(env, "stats", UNKNOWN_ID, "--json", "--csv")
    assert result.exit_code == 2
    assert "Choose one of --json and --csv" in result.stderr
