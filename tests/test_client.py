"""Tests for pixelagg.client: which client the CLI uses, and what it does without a service."""

from __future__ import annotations

import os

import pytest

from pixelagg.client import ApiClient, ServiceError, StoreClient, open_client
from pixelagg.config import load
from pixelagg.serve_file import advertise
from pixelagg.store.embedded import DB_NAME
from pixelagg.store.embedded_file import StoreFile
from tests.helpers import LockHolder, make_env, make_store


def test_url_chooses_the_api(tmp_path):
    """With a URL the client is the API's, with the configured token."""
    client = open_client(load(environ=make_env(tmp_path, None)), "http://127.0.0.1:9")
    assert isinstance(client, ApiClient) and client.url == "http://127.0.0.1:9"


def test_running_service_is_chosen_for_the_embedded_store(tmp_path):
    """The service that holds the embedded store and wrote serve.json gets the commands."""
    config = load(environ=make_env(tmp_path, None, PIXELAGG_SERVER_PORT="8123"))
    store_file = StoreFile.open(config.data_dir)
    try:
        advertise(config, supervisor=os.getpid())
        client = open_client(config, None)
    finally:
        store_file.close()
    assert isinstance(client, ApiClient) and client.url == "http://127.0.0.1:8123"


def test_stale_serve_file_sends_commands_to_the_store_with_a_note(tmp_path):
    """serve.json of a killed service is ignored: the store is used and a note says so."""
    env = make_env(tmp_path, None)
    LockHolder(env).kill()
    client = open_client(load(environ=env), None)
    assert isinstance(client, StoreClient)
    assert "stale" in client.notes[0] and "no token is sent" in client.notes[0]


def test_redis_store_is_used_directly(tmp_path, redis_url):
    """On Redis the commands use the store, whatever serve.json says."""
    config = load(environ=make_env(tmp_path, redis_url))
    store_file = StoreFile.open(config.data_dir)
    try:
        advertise(config, supervisor=os.getpid())
        assert isinstance(open_client(config, None), StoreClient)
    finally:
        store_file.close()


def test_api_without_a_token_is_an_error(tmp_path, monkeypatch):
    """The API client needs a token: from PIXELAGG_ADMIN_TOKEN or the service's data dir."""
    monkeypatch.delenv("PIXELAGG_ADMIN_TOKEN", raising=False)
    env = make_env(tmp_path, None)
    del env["PIXELAGG_ADMIN_TOKEN"]
    with pytest.raises(ServiceError, match="No API token"):
        open_client(load(environ=env), "http://127.0.0.1:9")


def test_only_an_unsaved_embedded_store_is_new(tmp_path, redis_url):
    """store_is_new is true until the embedded store's file exists, and never for Redis or the API."""
    env = make_env(tmp_path, None)
    embedded = StoreClient(load(environ=env))
    assert embedded.store_is_new()
    make_store(env)
    assert not embedded.store_is_new()
    assert not StoreClient(load(environ=make_env(tmp_path, redis_url))).store_is_new()
    assert not open_client(embedded.config, "http://127.0.0.1:9").store_is_new()


def test_no_service_and_no_store_is_an_error_that_creates_nothing(tmp_path):
    """Without a service or a saved store the client says where it looked and makes no store."""
    config = load(environ=make_env(tmp_path, None))
    with pytest.raises(ServiceError) as caught:
        StoreClient(config).create({"name": "First"})
    message = str(caught.value)
    assert str(config.data_dir.resolve()) in message and "PIXELAGG_DATA_DIR" in message
    assert "--url" in message and not config.data_dir.exists()


def test_snippets_without_a_service_carry_the_last_served_url(tmp_path):
    """With the service stopped, a snippet carries the URL it last served, with a note."""
    config = load(environ=make_env(tmp_path, None, PIXELAGG_SERVER_PORT="9123"))
    store_file = StoreFile.open(config.data_dir)
    advertise(config, supervisor=os.getpid())
    store_file.close()
    stopped = load(environ=make_env(tmp_path, None))  # the CLI's own config: port 8000
    view, _ = StoreClient(stopped).create({"name": "First"})
    assert view["pixel_url"].startswith("http://127.0.0.1:9123/p/")
    assert any("server.public_url" in note for note in view["notes"])


def test_public_url_needs_no_note(tmp_path):
    """With server.public_url set, a snippet made from the store carries it and no note."""
    env = make_env(tmp_path, None, PIXELAGG_SERVER_PUBLIC_URL="https://stats.example.org")
    make_store(env)
    view, _ = StoreClient(load(environ=env)).create({"name": "First"})
    assert view["pixel_url"].startswith("https://stats.example.org/p/") and view["notes"] == []


def test_the_store_file_is_not_made_by_reading(tmp_path):
    """A read on a data dir without a store fails and leaves no store file."""
    config = load(environ=make_env(tmp_path, None))
    config.data_dir.mkdir(parents=True)
    with pytest.raises(ServiceError):
        StoreClient(config).list()
    assert not (config.data_dir / DB_NAME).exists()


def test_both_clients_register_and_list_links_alike(tmp_path, redis_url, serve):
    """The API client and the store client give the same link for a URL, and list it alike."""
    env = make_env(tmp_path, redis_url, PIXELAGG_SERVER_PUBLIC_URL="https://stats.example.org")
    config = load(environ=env)
    served = serve(env)
    api, direct = ApiClient(config, served.url), StoreClient(config)
    campaign, _ = api.create({"name": "Links"})
    link, new = api.add_link(campaign["id"], "https://example.org/a")
    assert new and link["tracking_url"] == f"https://stats.example.org/l/{campaign['id']}/{link['id']}"
    assert direct.add_link(campaign["id"], "https://example.org/a") == (link, False)
    assert api.links(campaign["id"]) == direct.links(campaign["id"]) == [link]


def test_refused_link_is_a_service_error(tmp_path, redis_url, serve):
    """A URL the API refuses is a ServiceError with its message, for the CLI's 'Error: ...'."""
    env = make_env(tmp_path, redis_url)
    served = serve(env)
    api = ApiClient(load(environ=env), served.url)
    campaign, _ = api.create({"name": "Links"})
    with pytest.raises(ServiceError, match=r"http or https URL .*\(HTTP 422\)"):
        api.add_link(campaign["id"], "javascript:alert(1)")
