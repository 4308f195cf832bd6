"""The embedded store under faults, against a real `pixelagg serve`: damaged rows, a full disk,
a read-only data dir, clock steps, a damaged file at start. Every test reconciles: the hits
answered `counted` are the opens the store holds, or the ones missing are named in a log line
and /readyz said so."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pixelagg.exceptions import StoreError
from pixelagg.store import EmbeddedStore
from pixelagg.store.keys import Keyspace
from tests.faults import faketime_env, hits, metric, readyz, total
from tests.helpers import AUTH, Served, Stream, make_env, wait_for

pytestmark = pytest.mark.slow

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs or a read-only bind needs root")


def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "store.sqlite3"


def _damage(tmp_path: Path, campaign_id: str, how: str) -> None:
    with contextlib.closing(sqlite3.connect(db_path(tmp_path))) as db, db:
        if how == "corrupt-sketch":  # a 4-byte blob where a sketch was
            changed = db.execute(
                "UPDATE keys SET value = ? WHERE kind = 'hll' AND key LIKE ?",
                (bytes([1, 0, 0, 0]), f"%{{c:{campaign_id}}}:u:%"),
            ).rowcount
        else:  # a counter that is not a number
            changed = db.execute(
                "UPDATE keys SET value = ? WHERE key LIKE ?",
                (json.dumps({"declined": "many"}).encode(), f"%{{c:{campaign_id}}}:d:%"),
            ).rowcount
    assert changed


@pytest.mark.parametrize("how", ["corrupt-sketch", "non-integer-counter"])
def test_a_damaged_campaign_stops_only_itself(serve, tmp_path, how):
    """A campaign whose saved row is damaged waits (named in the log, /readyz, the shutdown);
    the others count every hit."""
    env = make_env(tmp_path, None)
    first = serve(env, name="first")
    with httpx.Client() as http:
        bad, good = first.create(http)["id"], first.create(http)["id"]
        assert hits(http, first, bad, 5)["counted"] == 5
    first.stop()
    _damage(tmp_path, bad, how)
    server = serve(env, name="second")
    with httpx.Client() as http:
        good_counted = hits(http, server, good, 100)["counted"]
        bad_counted = hits(http, server, bad, 50, first=5)["counted"]
        assert wait_for(lambda: total(http, server, good) == good_counted), "the healthy campaign counts"
        assert good_counted == 100 and bad_counted == 50
        ready = wait_for(
            lambda: (
                (r := readyz(http, server)).status_code == 503 and r.json()["failing_campaigns"] == 1 and r
            )
        )
        assert ready, "/readyz names the campaign whose hits wait"
        damaged = ready.json()["problems"]["damaged"]
        assert "1 campaigns do not count" in damaged and str(db_path(tmp_path)) in damaged
        assert bad not in ready.text, "/readyz needs no token: it names no campaign (the log does)"
        assert http.get(f"{server.url}/api/campaigns/{bad}/stats", headers=AUTH).status_code == 503
        assert total(http, server, good) == good_counted
    server.stop()
    logs = server.logs()
    assert (
        "cannot be read" in logs
        and f"campaigns {bad} do not count" in logs
        and str(db_path(tmp_path)) in logs
    )
    assert f"shutdown: 50 hits could not be written, by campaign: {bad}: 50" in logs
    assert "every buffered hit written" not in logs


def _in_file(tmp_path: Path, campaign_id: str) -> tuple[bool, int]:
    """Whether the store file holds a campaign, and the opens it holds for it."""
    try:
        with contextlib.closing(sqlite3.connect(db_path(tmp_path), timeout=5)) as db:
            rows = db.execute("SELECT key, value FROM keys WHERE key LIKE ?", (f"%{{c:{campaign_id}}}:%",))
            rows = rows.fetchall()
    except sqlite3.OperationalError:  # being written, or not made yet
        return False, 0
    days = [json.loads(value) for key, value in rows if ":d:" in key]
    opens = sum(n for day in days for name, n in day.items() if name.startswith("h|"))
    return any(key.endswith(":meta") for key, _ in rows), opens


def _fill(directory: Path) -> Path:
    """Fill the file system of a directory until it is full."""
    filler = directory / "filler"
    with filler.open("wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    with contextlib.suppress(OSError), filler.open("ab") as f:
        while True:  # the last few bytes
            f.write(b"\0" * 512)
            f.flush()
    return filler


class _Fault:
    """A disk fault under the data dir: a full 2 MB tmpfs, or a read-only bind mount over it."""

    def __init__(self, kind: str, data: Path) -> None:
        self.kind = kind
        self.data = data
        self.filler: Path | None = None
        self.mounted: list[Path] = []

    def prepare(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        if self.kind == "disk-full":
            self._mount("-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(self.data))

    def start(self) -> None:
        if self.kind == "disk-full":
            self.filler = _fill(self.data)
        else:
            self._mount("--bind", "-o", "ro", str(self.data), str(self.data))

    def end(self) -> None:
        if self.filler is not None:
            self.filler.unlink()
            self.filler = None
        elif self.kind == "read-only" and self.mounted:
            self._umount()

    def _mount(self, *args: str) -> None:
        subprocess.run(["mount", *args], check=True)
        self.mounted.append(self.data)

    def _umount(self) -> None:
        subprocess.run(["umount", str(self.mounted.pop())], check=True)

    def cleanup(self) -> None:
        while self.mounted:
            with contextlib.suppress(subprocess.CalledProcessError):
                self._umount()


@needs_root
@pytest.mark.parametrize("kind", ["disk-full", "read-only"])
@pytest.mark.parametrize("ending", ["recovers", "sigterm-while-failing"])
def test_a_failing_save_keeps_everything_or_names_it(serve, tmp_path, kind, ending):
    """Saves that fail (full disk, read-only dir) are retried, never forgotten: /readyz says so;
    campaigns created or deleted meanwhile neither vanish nor come back; a SIGTERM while it
    still fails names exactly the hits and changes it could not save."""
    fault = _Fault(kind, tmp_path / "data")
    fault.prepare()
    started: list[Served] = []  # stopped before the mounts go
    try:
        env = make_env(tmp_path, None)
        server = serve(env, name="before")
        started.append(server)
        with httpx.Client() as http:
            kept, doomed = server.create(http)["id"], server.create(http)["id"]
            counted = hits(http, server, kept, 100)["counted"]
            saved = wait_for(
                lambda: _in_file(tmp_path, kept) == (True, 100) and _in_file(tmp_path, doomed)[0]
            )
            assert saved, "both campaigns and the first 100 hits are saved before the fault"
            fault.start()
            counted += hits(http, server, kept, 200, first=100)["counted"]
            ready = wait_for(
                lambda: (
                    (r := readyz(http, server)).status_code == 503 and "persist" in r.json()["problems"] and r
                )
            )
            assert ready, "/readyz reports the failing save"
            assert "not saved yet" in ready.json()["problems"]["persist"]
            created = server.create(http)["id"]
            assert http.delete(f"{server.url}/api/campaigns/{doomed}", headers=AUTH).status_code == 204
            created_counted = hits(http, server, created, 50, first=300)["counted"]
            assert counted == 300 and created_counted == 50
            if ending == "recovers":
                fault.end()
                assert wait_for(lambda: readyz(http, server).status_code == 200, timeout=15)
        server.stop()
        logs = server.logs()
        lost: dict[str, int] = {}
        if ending == "recovers":
            assert "saving works again" in logs and "stopped: every buffered hit written" in logs
        else:
            match = re.search(
                r"shutdown: could not save to \S+ \(.*\); lost: \d+ hits of \d+ campaigns \(([^)]*)\)", logs
            )
            assert match, logs[-3000:]
            lost = {c: int(n) for c, n in (part.split(": ") for part in match.group(1).split(", "))}
            assert (
                f"the creation of campaign {created}" in logs and f"the deletion of campaign {doomed}" in logs
            )
            assert "every buffered hit written" not in logs
            fault.end()
        again = serve(env, name="after")
        started.append(again)
        with httpx.Client() as http:
            listed = {
                c["id"] for c in http.get(again.url + "/api/campaigns", headers=AUTH).json()["campaigns"]
            }
            assert total(http, again, kept) == counted - lost.get(kept, 0)
            if ending == "recovers":
                assert created in listed and doomed not in listed
                assert total(http, again, created) == created_counted
            else:  # named in the shutdown's log line: it could not be saved
                assert created not in listed and doomed in listed
    finally:
        for served in started:
            served.stop(signal.SIGKILL)
        fault.cleanup()


@pytest.mark.parametrize("step", ["+400d", "-400d"])
def test_a_clock_step_expires_and_loses_nothing(serve, tmp_path, step):
    """The wall clock steps by 400 days for 2.5 s: no key expires (then or after a restart),
    every hit counts on today, and the hits stamped meanwhile are reported."""
    faked, offset = faketime_env(tmp_path)
    env = make_env(tmp_path, None, **faked)
    server = serve(env, name="stepped")
    with httpx.Client() as http:
        campaign = server.create(http)["id"]
        with Stream(server.url, campaign) as stream:
            wait_for(lambda: stream.counted > 100)
            offset.write_text(f"{step}\n")
            assert wait_for(lambda: "clock" in readyz(http, server).json()["problems"], timeout=30)
            time.sleep(2.5)
            offset.write_text("+0s\n")
            assert wait_for(lambda: "clock" not in readyz(http, server).json()["problems"], timeout=30)
            time.sleep(0.5)
        sent = stream.counted
        counted = wait_for(lambda: total(http, server, campaign) == sent, timeout=30)
        assert counted, f"all {sent} hits count on today"
        assert metric(http, server, "pixelagg_restamped_hits_total") > 0
        assert http.get(f"{server.url}/api/campaigns/{campaign}", headers=AUTH).status_code == 200
    server.stop()
    assert "the wall clock stepped by" in server.logs()
    again = serve(
        make_env(tmp_path, None, PIXELAGG_STORE_KEY_PREFIX=env["PIXELAGG_STORE_KEY_PREFIX"]), name="again"
    )
    with httpx.Client() as http:
        assert total(http, again, campaign) == sent, "nothing expired, in memory or in the file"


def _serve_fails(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pixelagg", "serve", "--port", "1"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


def _saved_store(tmp_path: Path, serve) -> dict[str, str]:
    env = make_env(tmp_path, None)
    server = serve(env, name="saved")
    with httpx.Client() as http:
        for _ in range(40):
            campaign = server.create(http)["id"]
            hits(http, server, campaign, 5)
    server.stop()
    return env


@pytest.mark.parametrize("damage", ["garbage", "truncated", "zero-length"])
def test_a_damaged_file_at_start_is_an_error_naming_it(serve, tmp_path, damage):
    """A damaged, truncated or empty store file stops `serve` with one Error: line that names
    the file and what to do; nothing is started on an empty store."""
    env = _saved_store(tmp_path, serve)
    path = db_path(tmp_path)
    size = path.stat().st_size
    if damage == "garbage":
        path.write_bytes(os.urandom(size))
    elif damage == "truncated":
        os.truncate(path, size // 2)
    else:
        os.truncate(path, 0)
    result = _serve_fails(tmp_path, env)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(path) in errors[0] and "Restore it from a backup, or move it away" in errors[0]
    assert path.stat().st_size == (0 if damage == "zero-length" else path.stat().st_size)


@needs_root
def test_a_read_only_data_dir_at_start_is_a_one_line_error(serve, tmp_path):
    """Opening the store in a data dir on a read-only mount fails with one line naming it.

    (In-process: a real `serve` stops before the store, at its check of the data dir; see
    tests/cli/test_serve.py.)"""
    _saved_store(tmp_path, serve)
    data = tmp_path / "data"
    subprocess.run(["mount", "--bind", "-o", "ro", str(data), str(data)], check=True)
    try:
        with pytest.raises(StoreError) as info:
            EmbeddedStore(data, Keyspace("t"), 86400).open()
    finally:
        subprocess.run(["umount", str(data)], check=True)
    message = str(info.value)
    assert "\n" not in message and str(data) in message
    assert "Read-only file system" in message and "writable" in message
