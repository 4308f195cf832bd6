"""Tests for pixelagg.serve_file: serve.json written by the store's holder, withdrawn by its owner."""

from __future__ import annotations

import json
import os

import pytest

from pixelagg.config import load
from pixelagg.exceptions import ConfigError
from pixelagg.serve_file import (
    SERVE_FILE,
    advertise,
    check_advertisable,
    find_service,
    http_url,
    last_served_url,
    lock_holder,
    withdraw,
)
from pixelagg.store.embedded_file import StoreFile
from tests.helpers import LockHolder, make_env


@pytest.fixture
def config(tmp_path):
    return load(environ=make_env(tmp_path, None, PIXELAGG_SERVER_PORT="8123"))


@pytest.fixture
def held(config):
    """This process holds the store's lock, as a running service does."""
    store_file = StoreFile.open(config.data_dir)
    yield config
    store_file.close()


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
    """serve.json names the bind address, a wildcard as its family's loopback."""
    config = load(environ=make_env(tmp_path, None, PIXELAGG_SERVER_HOST=host, PIXELAGG_SERVER_PORT="8123"))
    store_file = StoreFile.open(config.data_dir)
    try:
        advertise(config, supervisor=os.getpid())
        assert find_service(config).url == url
    finally:
        store_file.close()


def test_lock_holder_is_the_process_with_the_lock(held):
    """lock_holder names the pid that holds the store's lock."""
    assert lock_holder(held.data_dir) == os.getpid()


def test_nobody_holds_a_store_that_is_closed(config):
    """Once the store is closed, nobody holds its lock."""
    StoreFile.open(config.data_dir).close()
    assert lock_holder(config.data_dir) is None


def test_serve_file_of_a_killed_service_is_stale(config):
    """After SIGKILL the file stays, but nobody holds the store: the file is stale."""
    holder = LockHolder(make_env(config.data_dir.parent, None, PIXELAGG_SERVER_PORT="8123"))
    assert find_service(config).url == "http://127.0.0.1:8123"
    holder.kill()
    found = find_service(config)
    assert (config.data_dir / SERVE_FILE).exists()
    assert found.url is None and "no process holds the store" in found.why_stale


def test_serve_file_of_another_pid_than_the_holder_is_stale(held):
    """A file naming a process other than the lock's holder is stale."""
    (held.data_dir / SERVE_FILE).write_text(json.dumps({"url": "http://127.0.0.1:1", "pid": 1}))
    found = find_service(held)
    assert found.url is None and f"held by process {os.getpid()}" in found.why_stale


def test_unreadable_serve_file_is_stale(held):
    """A serve.json that is not JSON is stale, not an error."""
    (held.data_dir / SERVE_FILE).write_text("{")
    assert find_service(held).url is None


def test_no_serve_file_is_no_service(held):
    """Without serve.json there is no service to find."""
    assert find_service(held) is None


def test_withdraw_leaves_another_process_s_file(held):
    """withdraw removes serve.json only for the process (or supervisor) it names."""
    path = held.data_dir / SERVE_FILE
    path.write_text(json.dumps({"url": "http://127.0.0.1:1", "pid": 1, "supervisor": 1}))
    withdraw(held)
    assert path.exists()
    advertise(held, supervisor=1)
    withdraw(held)
    assert not path.exists()


def test_withdraw_by_the_supervisor(held):
    """The supervisor of the process named in serve.json may remove it."""
    (held.data_dir / SERVE_FILE).write_text(json.dumps({"url": "x", "pid": 1, "supervisor": os.getpid()}))
    withdraw(held)
    assert not (held.data_dir / SERVE_FILE).exists()


def test_the_last_served_url_outlives_serve_json(held):
    """served-url keeps the URL after serve.json is withdrawn."""
    assert last_served_url(held) is None
    advertise(held, supervisor=os.getpid())
    withdraw(held)
    assert last_served_url(held) == "http://127.0.0.1:8123"


def test_advertise_that_cannot_replace_serve_json_is_a_config_error_leaving_nothing(held):
    """advertise over a serve.json it cannot replace raises ConfigError naming it, and leaves no part file."""
    (held.data_dir / SERVE_FILE).mkdir()
    with pytest.raises(ConfigError, match=f"holds {SERVE_FILE}, which 'pixelagg serve' must replace"):
        advertise(held, supervisor=os.getpid())
    assert not list(held.data_dir.glob(f".{SERVE_FILE}.*"))


def test_check_advertisable_refuses_a_serve_json_it_cannot_replace(config):
    """check_advertisable raises ConfigError for a serve.json that is a directory, and not for a file."""
    config.data_dir.mkdir()
    (config.data_dir / SERVE_FILE).write_text("{}")
    check_advertisable(config.data_dir)
    (config.data_dir / SERVE_FILE).unlink()
    (config.data_dir / SERVE_FILE).mkdir()
    with pytest.raises(ConfigError, match="remove it"):
        check_advertisable(config.data_dir)
