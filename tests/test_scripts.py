"""scripts/_venv on a fresh machine: a missing or old Python, no venv module, a half-made .venv."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT


def _fake_python(path: Path, *, version: str, venv_fails: bool = False) -> Path:
    """A stand-in interpreter: prints `version` for the version check, fails `-m venv` if told."""
    major, minor = (int(n) for n in version.split("."))
    old = "1" if (major, minor) < (3, 11) else "0"
    path.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-c" ]; then echo ' + version + "; exit " + old + "; fi\n"
        'if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then\n'
        + (
            "  echo 'The virtual environment was not created successfully because ensurepip is not\n"
            "available.  On Debian/Ubuntu systems, you need to install the python3-venv package' >&2\n"
            "  exit 1\n"
            if venv_fails
            else '  mkdir -p "$3/bin"; exit 0\n'
        )
        + "fi\nexit 2\n"
    )
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def checkout(tmp_path):
    """A copy of the scripts and pyproject.toml, so .venv is made beside them, not in the repo."""
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _serve(checkout: Path, python: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": python}
    return subprocess.run(
        [str(checkout / "scripts" / "serve")], env=env, capture_output=True, text=True, timeout=60
    )


def test_missing_python_says_what_to_install(checkout):
    """A PYTHON that does not exist names Python 3.11 and the PYTHON= override, and exits 1."""
    result = _serve(checkout, "/nonexistent/python3")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ")
    assert "python3.11" in result.stderr and "PYTHON=" in result.stderr


def test_old_python_is_refused_with_the_fix(checkout, tmp_path):
    """Python 3.10 (Ubuntu 22.04's) is refused, naming its version and how to pick another."""
    fake = _fake_python(tmp_path / "python3", version="3.10")
    result = _serve(checkout, str(fake))
    assert result.returncode == 1
    assert "Python 3.10" in result.stderr and "3.11 or newer" in result.stderr
    assert "PYTHON=python3.11" in result.stderr
    assert not (checkout / ".venv").exists()


def test_missing_venv_module_names_the_package(checkout, tmp_path):
    """When `python -m venv` fails (Debian without python3-venv), the error names the package."""
    fake = _fake_python(tmp_path / "python3", version="3.11", venv_fails=True)
    result = _serve(checkout, str(fake))
    assert result.returncode == 1
    assert "python3.11-venv" in result.stderr
    assert not (checkout / ".venv").exists(), "a half-made .venv is left behind"


def test_half_made_venv_is_made_again(checkout, tmp_path):
    """A .venv without pip (left by an earlier failure) is removed and made again."""
    broken = checkout / ".venv" / "bin"
    broken.mkdir(parents=True)
    (broken / "python").write_text("#!/bin/sh\necho 'No module named pip' >&2\nexit 1\n")
    (broken / "python").chmod(0o755)
    fake = _fake_python(tmp_path / "python3", version="3.11", venv_fails=True)
    result = _serve(checkout, str(fake))
    assert "making it again" in result.stderr
    assert "No module named pip" not in result.stderr
    assert result.returncode == 1  # the stand-in cannot make a venv; the real run would go on
