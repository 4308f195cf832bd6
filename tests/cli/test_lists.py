"""Tests for `pixelagg lists`."""

from __future__ import annotations

from tests.cli.runner import run
from tests.helpers import make_env


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
