"""Tests for `pixelagg serve`'s start-up: errors before anything is printed or made, first lines."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from pixelagg.cli.serve import legal_basis_line
from pixelagg.config import load
from pixelagg.serve_file import SERVE_FILE, SERVED_URL_FILE
from pixelagg.store.embedded_file import StoreFile
from tests.cli.runner import create, run
from tests.helpers import AUTH, ROOT, LockHolder, Served, make_env


def test_serve_workers_needs_redis(tmp_path):
    """serve --workers 2 on the embedded store refuses with an Error mentioning Redis, exit 1."""
    result = run(make_env(tmp_path, None), "serve", "--workers", "2")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error:")
    assert "Redis" in result.stderr


def test_port_in_use_is_an_error_before_anything_is_made(tmp_path):
    """A port in use: one Error: line, exit 1, and no data dir, token or store was made."""
    env = make_env(tmp_path, None)
    del env["PIXELAGG_ADMIN_TOKEN"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run(env, "serve", "--port", port)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Cannot serve on 127.0.0.1:{port} (server.host, server.port): the port is in use by "
        "another program. Stop it, or choose another port (--port).\n"
    )
    assert result.stdout == "" and not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda path: path.write_text("not a directory"), "is not a directory"),
        (lambda path: path.parent.chmod(0o500), "cannot be created"),
    ],
    ids=["a-file", "unwritable-parent"],
)
def test_bad_data_dir_is_an_error_before_anything_is_made(tmp_path, make, problem):
    """A data dir that is a file, or cannot be made: Error: naming the setting, exit 1."""
    if problem == "cannot be created" and os.geteuid() == 0:
        pytest.skip("running as root: every directory is writable")
    data_dir = tmp_path / "parent" / "data"
    data_dir.parent.mkdir()
    make(data_dir)
    env = make_env(tmp_path, None, PIXELAGG_DATA_DIR=str(data_dir))
    try:
        result = run(env, "serve", "--port", "1")
    finally:
        data_dir.parent.chmod(0o700)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: The data dir {str(data_dir)!r} (store.data_dir, PIXELAGG_DATA_DIR)"
    )
    assert problem in result.stderr and result.stdout == ""


def _listing(directory: Path) -> dict[str, tuple[int, int]]:
    """Every name under a directory, with its size and modification time."""
    return {
        str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.rglob("*")
    }


def _read_only_mount(target: Path, undo: contextlib.ExitStack) -> None:
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root")
    subprocess.run(["mount", "--bind", "-o", "ro", str(target), str(target)], check=True)
    undo.callback(subprocess.run, ["umount", str(target)], check=True)


def _unwritable_dir(data: Path, undo: contextlib.ExitStack) -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root: every directory is writable (the read-only mount case covers it)")
    data.chmod(0o500)
    undo.callback(data.chmod, 0o700)


def _serve_file_a_directory(data: Path, undo: contextlib.ExitStack) -> None:
    (data / SERVE_FILE).unlink()
    (data / SERVE_FILE).mkdir()


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (lambda data, undo: _read_only_mount(data, undo), "is on a read-only file system. Remount it"),
        (_unwritable_dir, "is not writable by this user. Make it writable"),
        (
            lambda data, undo: _read_only_mount(data / SERVE_FILE, undo),
            f"holds {SERVE_FILE}, which 'pixelagg serve' must replace, and it cannot be replaced",
        ),
        (_serve_file_a_directory, f"holds {SERVE_FILE}, which 'pixelagg serve' must replace"),
    ],
    ids=["dir-read-only-mount", "dir-not-writable", "serve-json-read-only-mount", "serve-json-a-directory"],
)
def test_a_data_dir_serve_cannot_write_is_one_error_line_before_anything(tmp_path, spoil, problem):
    """A real `serve` on a data dir (or a serve.json) it cannot write: exactly one Error: line
    naming the dir and what to do, exit 1, nothing printed on stdout, nothing made or changed."""
    data = tmp_path / "data"
    StoreFile.open(data).close()  # a store a previous serve left, with its files
    (data / SERVE_FILE).write_text('{"url": "http://127.0.0.1:8000", "pid": 1, "supervisor": 1}')
    (data / SERVED_URL_FILE).write_text("http://127.0.0.1:8000\n")
    env = make_env(tmp_path, None)
    del env["PIXELAGG_ADMIN_TOKEN"]  # a token file would be made in the data dir
    with contextlib.ExitStack() as undo:
        spoil(data, undo)
        before = _listing(tmp_path)
        result = subprocess.run(
            [sys.executable, "-m", "pixelagg", "serve", "--port", "1"],
            env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        after = _listing(tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: "), result.stderr
    assert f"The data dir {str(data)!r} (store.data_dir, PIXELAGG_DATA_DIR)" in result.stderr
    assert problem in result.stderr and "PIXELAGG_DATA_DIR" in result.stderr
    assert after == before, "nothing was made or changed"


def test_a_store_in_use_is_an_error_that_leaves_its_serve_file(tmp_path):
    """serve on a data dir another process holds: Error: naming it, and its serve.json stays."""
    env = make_env(tmp_path, None)
    holder = LockHolder(env)
    try:
        before = (tmp_path / "data" / SERVE_FILE).read_text()
        result = run(env, "serve")
        assert result.exit_code == 1
        assert f"is in use by process {holder.proc.pid}" in result.stderr
        assert "'pixelagg serve' at http://127.0.0.1:8000" in result.stderr
        assert (tmp_path / "data" / SERVE_FILE).read_text() == before
    finally:
        holder.kill()


@pytest.mark.parametrize("basis", ["legitimate_interest", "consent"], ids=["default", "consent"])
def test_legal_basis_line_names_the_basis_and_the_setting(tmp_path, basis):
    """serve's legal-basis line names the basis new campaigns get and where to change it."""
    config = load(environ=make_env(tmp_path, None, PIXELAGG_CAMPAIGNS_DEFAULT_LEGAL_BASIS=basis))
    line = legal_basis_line(config)
    assert line.startswith(f"New campaigns get the legal basis {basis} (")
    assert "campaigns.default_legal_basis" in line and "--legal-basis" in line


def test_legitimate_interest_line_says_it_does_not_cover_eprivacy(tmp_path):
    """For the default basis, the line says it does not answer ePrivacy on its own."""
    assert "does not by itself cover ePrivacy Art. 5(3)" in legal_basis_line(
        load(environ=make_env(tmp_path, None))
    )


@pytest.mark.slow
def test_serve_prints_token_url_and_legal_basis_first(tmp_path, serve):
    """A real serve's first lines: the token file, the URL, and the legal basis of new campaigns."""
    env = make_env(tmp_path, None)
    del env["PIXELAGG_ADMIN_TOKEN"]
    served = serve(env)
    lines = served.logs().splitlines()
    assert lines[0].startswith("Created a new admin token in ")
    assert lines[1].startswith(f"pixelagg 0.1.0 on {served.url} with the embedded store")
    assert lines[2] == legal_basis_line(load(environ=env))


@pytest.mark.slow
def test_a_second_serve_is_refused_and_the_first_keeps_working(tmp_path, serve):
    """A second serve on the same data dir fails; the first's serve.json and the CLI still work."""
    env = make_env(tmp_path, None)
    first = serve(env)
    second = Served(env, tmp_path, "second")
    with pytest.raises(RuntimeError, match="is in use by process"):
        second.start()
    assert json.loads((tmp_path / "data" / SERVE_FILE).read_text())["url"] == first.url
    view = create(env)
    assert view["pixel_url"] == f"{first.url}/p/{view['id']}.gif"


@pytest.mark.slow
def test_cli_uses_the_running_service(tmp_path, serve):
    """With the embedded store held by `pixelagg serve`, the CLI goes through its API."""
    env = make_env(tmp_path, None)
    served = serve(env)
    assert (tmp_path / "data" / SERVE_FILE).exists()
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
def test_serve_file_goes_with_a_clean_stop(tmp_path, serve):
    """SIGTERM: serve.json is removed, served-url stays for the snippets made later."""
    env = make_env(tmp_path, None)
    served = serve(env)
    served.stop(signal.SIGTERM)
    assert not (tmp_path / "data" / SERVE_FILE).exists()
    assert (tmp_path / "data" / "served-url").read_text().strip() == served.url


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


def test_port_zero_is_a_usage_error(tmp_path):
    """serve --port 0 is a usage error, exit 2."""
    result = run(make_env(tmp_path, None), "serve", "--port", "0")
    assert result.exit_code == 2 and "--port" in result.stderr
