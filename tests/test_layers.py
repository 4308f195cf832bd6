"""The import-linter contracts in pyproject.toml: kept by the tree, broken by a wrong arrow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed")


def _lint(package_parent: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports with pyproject.toml's contracts on the package found in package_parent."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=package_parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path):
    """A copy of the package, to plant imports in."""
    shutil.copytree(ROOT / "pixelagg", tmp_path / "pixelagg", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _plant(tree: Path, module: str, line: str) -> None:
    path = tree / "pixelagg" / module
    path.write_text(path.read_text() + f"\n{line}  # planted\n")


def test_tree_keeps_every_contract(tree):
    """The package as it is keeps all contracts."""
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        (
            "store/keys.py",
            "from ..reports import stats",
            "pixelagg.store is not allowed to import pixelagg.reports",
        ),
        (
            "core/campaign.py",
            "from .. import config",
            "pixelagg.core is not allowed to import pixelagg.config",
        ),
        ("core/classify.py", "import sqlite3", "pixelagg.core is not allowed to import sqlite3"),
        ("core/privacy.py", "import starlette", "pixelagg.core is not allowed to import starlette"),
        ("store/batch.py", "import click", "pixelagg.store is not allowed to import click"),
        ("web/api.py", "from .. import cli", "pixelagg.web is not allowed to import pixelagg.cli"),
    ],
    ids=["store-imports-reports", "core-imports-config", "core-io", "core-web", "store-cli", "web-calls-cli"],
)
def test_planted_import_breaks_a_contract(tree, module, line, broken):
    """An upward or forbidden import fails lint-imports, naming the arrow."""
    _plant(tree, module, line)
    result = _lint(tree)
    assert result.returncode != 0
    assert broken in result.stdout
