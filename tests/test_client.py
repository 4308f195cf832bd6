"""Tests for pixelagg.client: which client the CLI uses, and the URLs it builds and advertises."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pixelagg.client import (
    SERVE_FILE,
    ApiClient,
    ServiceError,
    StoreClient,
    advertise,
    http_url,
    open_client,
    running_service,
)
from pixelagg.config import load
from pixelagg.store.embedded import DB_NAME
from tests.helpers import make_env


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("0.0.0.0", "http://0.0.0.0:8000"),
        ("localhost", "http://localhost:8000"),
        ("::", "http://[::]:8000"),
        ("::1", "http://[::1]:8000"),
        ("2001:db8::5", "http://[2001:db8::5]:8000"),
    ],
    ids=["ipv4", "ipv4-wildcard", "name", "ipv6-wildcard", "ipv6-loopback", "ipv6"],
)
def test_http_url(host, url):
    """An IPv6 address goes in brackets; IPv4 addresses and names do not."""
    assert http_url(host, 8000) == url


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("0.0.0.0", "http://127.0.0.1:8123"),
        ("::", "http://[::1]:8123"),
        ("192.0.2.5", "http://192.0.2.5:8123"),
        ("2001:db8::5", "http://[2001:db8::5]:8123"),
    ],
    ids=["ipv4-wildcard", "ipv6-wildcard", "ipv4", "ipv6"],
)
def test_advertise_points_at_a_reachable_address(tmp_path, host, url):
    """While serving, serve.json names the bind address, a wildcard as its family's loopback."""
    config = load(environ=make_env(tmp_path, None, PIXELAGG_SERVER_HOST=host, PIXELAGG_SERVER_PORT="8123"))
    with advertise(config):
        assert json.loads((config.data_dir / SERVE_FILE).read_text())["url"] == url
        assert running_service(config) == url
    assert not (config.data_dir / SERVE_FILE).exists()


def test_url_chooses_the_api(tmp_path):
    """With a URL the client is the API's, with the configured token."""
    client = open_client(load(environ=make_env(tmp_path, None)), "http://127.0.0.1:9")
    assert isinstance(client, ApiClient) and client.url == "http://127.0.0.1:9"


def test_running_service_is_chosen_for_the_embedded_store(tmp_path):
    """A live service named in serve.json gets the embedded store's commands."""
    config = load(environ=make_env(tmp_path, None))
    config.data_dir.mkdir(parents=True)
    url = "http://127.0.0.1:8123"
    (config.data_dir / SERVE_FILE).write_text(json.dumps({"url": url, "pid": os.getpid()}))
    client = open_client(config, None)
    assert isinstance(client, ApiClient) and client.url == url


def test_stale_serve_file_is_ignored(tmp_path):
    """serve.json of a process that has exited sends commands to the store."""
    config = load(environ=make_env(tmp_path, None))
    config.data_dir.mkdir(parents=True)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    pid = int(gone.stdout)
    (config.data_dir / SERVE_FILE).write_text(json.dumps({"url": "http://127.0.0.1:1", "pid": pid}))
    assert isinstance(open_client(config, None), StoreClient)


def test_redis_store_is_used_directly(tmp_path, redis_url):
    """On Redis the commands use the store, whatever serve.json says."""
    config = load(environ=make_env(tmp_path, redis_url))
    with advertise(config):
        assert isinstance(open_client(config, None), StoreClient)


def test_api_without_a_token_is_an_error(tmp_path, monkeypatch):
    """The API client needs a token: from PIXELAGG_ADMIN_TOKEN or the service's data dir."""
    monkeypatch.delenv("PIXELAGG_ADMIN_TOKEN", raising=False)
    env = make_env(tmp_path, None)
    del env["PIXELAGG_ADMIN_TOKEN"]
    with pytest.raises(ServiceError, match="No API token"):
        open_client(load(environ=env), "http://127.0.0.1:9")


def test_only_an_unsaved_embedded_store_is_new(tmp_path, redis_url):
    """store_is_new is true until the embedded store's file exists, and never for Redis or the API."""
    embedded = StoreClient(load(environ=make_env(tmp_path, None)))
    assert embedded.store_is_new()
    embedded.create({"name": "First"})
    assert (embedded.config.data_dir / DB_NAME).exists() and not embedded.store_is_new()
    assert not StoreClient(load(environ=make_env(tmp_path, redis_url))).store_is_new()
    assert not open_client(embedded.config, "http://127.0.0.1:9").store_is_new()
