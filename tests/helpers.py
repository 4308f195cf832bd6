"""Shared test helpers: tokens, configurations, an app client, a real `serve`, polling."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from tests import valkey as vk

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
FIXTURES = TESTS / "fixtures"
ARTIFACTS = ROOT / "test-artifacts"
SAMPLES = FIXTURES / "ua-samples.tsv"
"""A copy of the team's shared ua-samples.tsv: tests carry their own data."""

TOKEN = "test-admin-token-0123456789abcdef"
READ_TOKEN = "test-read-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
READ_AUTH = {"Authorization": f"Bearer {READ_TOKEN}"}
STORES = ["embedded", "redis"]
# Mail clients' user agents for hits that must classify as human.
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)

# What the ambiguous ("?") rows of ua-samples.tsv classify as; see test_ambiguous_row_choices.
AMBIGUOUS_CHOICES = {"human?": "human", "apple_mpp?": "apple_mpp"}


def make_env(tmp_path: Path, store_url: str | None, **extra: str) -> dict[str, str]:
    """The environment of one test's configuration; Redis keys get a prefix of their own."""
    env = {
        "PIXELAGG_DATA_DIR": str(tmp_path / "data"),
        "PIXELAGG_ADMIN_TOKEN": TOKEN,
        "PIXELAGG_API_READ_TOKENS": READ_TOKEN,
        "PIXELAGG_STORE_KEY_PREFIX": "t" + secrets.token_hex(4),
        "PIXELAGG_STORE_FLUSH_INTERVAL_MS": "10",
        # Exactness tests read exact, live figures; the release step's own tests turn it on.
        "PIXELAGG_PRIVACY_EPSILON": "off",
        # Fault tests run Valkey with an AOF to survive restarts; the salts' own tests refuse it.
        "PIXELAGG_STORE_ALLOW_PERSISTENT_SALTS": "true",
    }
    if store_url:
        env["PIXELAGG_STORE_URL"] = store_url
    env.update(extra)
    return env


def store_url(kind: str, request: pytest.FixtureRequest) -> str | None:
    """The store URL of a store kind: embedded (None), redis or cluster."""
    if kind == "redis":
        return str(request.getfixturevalue("redis_url"))
    if kind == "cluster":
        return str(request.getfixturevalue("cluster").url)
    return None


class AppClient(TestClient):
    """A TestClient whose requests come from loopback, a trusted proxy."""

    @property
    def service(self) -> Any:
        """The running app's parts: store, aggregator, metrics (Front wraps the Starlette app)."""
        return self.app.app.state.service  # type: ignore[attr-defined]

    def flush(self) -> None:
        """Write buffered hits now."""
        self.portal.call(self.service.aggregator.flush)

    def create(self, **body: Any) -> dict[str, Any]:
        body.setdefault("name", "Test campaign")
        response = self.post("/api/campaigns", json=body, headers=AUTH)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def hit(self, campaign_id: str, ip: str = "203.0.113.7", ua: str = BROWSER_UA, **headers: str) -> Any:
        headers = {"X-Forwarded-For": ip, "User-Agent": ua, **headers}
        response = self.get(f"/p/{campaign_id}.gif", headers=headers)
        assert response.status_code == 200
        return response

    def stats(self, campaign_id: str, **params: str) -> dict[str, Any]:
        self.flush()
        response = self.get(f"/api/campaigns/{campaign_id}/stats", params=params, headers=AUTH)
        assert response.status_code == 200, response.text
        return dict(response.json())


PORT_TAKEN = "the port is in use by another program"
"""What `serve` says when its port is taken."""


class Served:
    """A `pixelagg serve` subprocess with its captured output."""

    def __init__(self, env: dict[str, str], tmp_path: Path, name: str = "serve") -> None:
        self.port = vk.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.env.pop("PIXELAGG_CONFIG", None)
        self.log_path = tmp_path / f"{name}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.cwd = tmp_path

    def start(self, *args: str, timeout: float = 60) -> Served:
        """Start it and poll /healthz; a free port taken meanwhile by another program (other
        suites run beside this one) is swapped for another, twice at most."""
        for attempt in range(3):
            try:
                return self._start(args, timeout)
            except RuntimeError:
                if PORT_TAKEN not in self.logs() or attempt == 2:
                    raise
                self.log_path.rename(self.log_path.with_suffix(".port-taken"))
                self.port = vk.free_port()
                self.url = f"{self.url.rsplit(':', 1)[0]}:{self.port}"
        raise AssertionError("unreachable")

    def _start(self, args: tuple[str, ...], timeout: float) -> Served:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the subprocess
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pixelagg", "serve", "--port", str(self.port), *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.cwd,
            start_new_session=True,  # its own process group: granian's workers are children
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited {self.proc.returncode}:\n{self.logs()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"serve did not answer in {timeout}s:\n{self.logs()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def kill_group(self) -> None:
        """SIGKILL whatever is left of the process group (a SIGKILLed parent leaves its workers)."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def create(self, client: httpx.Client, **body: Any) -> dict[str, Any]:
        body.setdefault("name", "Served campaign")
        response = client.post(self.url + "/api/campaigns", json=body, headers=AUTH)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def stats(self, client: httpx.Client, campaign_id: str) -> dict[str, Any]:
        response = client.get(f"{self.url}/api/campaigns/{campaign_id}/stats", headers=AUTH)
        assert response.status_code == 200, response.text
        return dict(response.json())


class Stream:
    """Sends pixel hits from many addresses in a thread and records what was answered."""

    def __init__(self, url: str, campaign_id: str) -> None:
        self.url = url
        self.campaign_id = campaign_id
        self.counted = 0
        self.other = 0
        self.slowest = 0.0
        self.answered_at: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with httpx.Client() as http:
            n = 0
            while not self._stop.is_set():
                start = time.monotonic()
                r = http.get(
                    f"{self.url}/p/{self.campaign_id}.gif",
                    headers={"X-Forwarded-For": f"83.{n % 7}.{n // 7 % 250}.{n % 250}"},
                    timeout=5,
                )
                self.slowest = max(self.slowest, time.monotonic() - start)
                assert r.status_code == 200 and len(r.content) == 43
                if r.headers["x-pixelagg"] == "counted":
                    self.counted += 1
                    self.answered_at.append(time.monotonic())
                else:
                    self.other += 1
                n += 1
                time.sleep(0.001)

    def __enter__(self) -> Stream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is pid (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll until predicate() is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def json_lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def read_samples():
    with SAMPLES.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows[0] == ["expected_class", "user_agent", "source"]
    return [(number, *row) for number, row in enumerate(rows[1:], start=2)]


SAMPLE_ROWS = read_samples()


def make_store(env: dict[str, str]) -> None:
    """Save an (empty) embedded store in the env's data dir, as a service that ran there would."""
    from pixelagg.config import load
    from pixelagg.store.embedded_file import StoreFile

    config = load(environ=env)
    if config.is_embedded:
        StoreFile.open(config.data_dir).close()


class LockHolder:
    """Another process that holds an embedded store's lock and wrote serve.json, until killed."""

    CODE = (
        "import time\n"
        "from pixelagg.config import load\n"
        "from pixelagg.serve_file import advertise\n"
        "from pixelagg.store import open_store\n"
        "config = load()\n"
        "store = open_store(config)\n"
        "advertise(config, supervisor=0)\n"
        "print('ready', flush=True)\n"
        "time.sleep(120)\n"
    )

    def __init__(self, env: dict[str, str]) -> None:
        full = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", self.CODE], env=full, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class Clock:
    """The click window's clock, moved by the test (click times are the window's)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class RecordingServer:
    """An HTTP server on loopback that answers 200 to anything and records each request's headers."""

    def __init__(self) -> None:
        import http.server

        self.requests: list[dict[str, str]] = []
        recorded = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorded.append(dict(self.headers))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            do_POST = do_PATCH = do_DELETE = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# the dashboard in headless Chromium

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]
"""The marks of a module of browser tests: slow, and skipped without Debian's Chromium."""


@contextlib.contextmanager
def served_campaign(
    tmp_path: Path, env: dict[str, str], opens: list[tuple[str, str]], **campaign: Any
) -> Iterator[Served]:
    """A real `serve` with one campaign (`served.campaign`) whose opens, (address, user agent)
    pairs, are counted and stored; SIGKILLed at the end."""
    served = Served(env, tmp_path).start()
    try:
        with httpx.Client(timeout=5) as http:
            made = served.campaign = served.create(http, **campaign)
            for ip, ua in opens:
                response = http.get(
                    f"{served.url}/p/{made['id']}.gif", headers={"X-Forwarded-For": ip, "User-Agent": ua}
                )
                assert response.headers["x-pixelagg"] == "counted"
            stored = wait_for(lambda: served.stats(http, made["id"])["opens"]["total"] == len(opens), 30)
            assert stored, f"the {len(opens)} opens were not stored"
        yield served
    finally:
        served.stop(signal.SIGKILL)


class Watched:
    """A page with every request URL and every script or console error it caused."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.page = context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)


def sign_in(watched: Watched, url: str, token: str = TOKEN, start: str = "/dashboard") -> Any:
    """Sign in to the dashboard of the server at `url` from its page `start`; the signed-in page."""
    page = watched.page
    page.goto(url + start)
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(url + "/dashboard")
    return page
