"""The links API through the real app on both stores: register, list, refuse, erase."""

from __future__ import annotations

import pytest

from pixelagg.config import load
from pixelagg.core.links import is_link_id
from tests.helpers import AUTH, READ_AUTH, make_env
from tests.web.test_api import assert_error, campaign_keys, stored

URL = "https://example.org/spring?utm_source=newsletter"


def register(client, campaign_id: str, url: object, headers=AUTH):
    return client.post(f"/api/campaigns/{campaign_id}/links", json={"url": url}, headers=headers)


def test_register_answers_201_with_id_url_and_tracking_url(client):
    """A new link answers 201 with its id, its URL and the /l/ URL to put in the mail."""
    campaign = client.create()
    response = register(client, campaign["id"], URL)
    assert response.status_code == 201
    link = response.json()
    assert set(link) == {"id", "url", "tracking_url"}
    assert is_link_id(link["id"])
    assert link["url"] == URL
    assert link["tracking_url"] == f"http://testserver/l/{campaign['id']}/{link['id']}"


def test_registering_the_same_url_again_gives_the_same_link(client):
    """The same URL again answers 200 with the same link: a mail rewritten twice is the same."""
    campaign = client.create()
    first = register(client, campaign["id"], URL).json()
    again = register(client, campaign["id"], URL)
    assert again.status_code == 200
    assert again.json() == first


def test_the_same_url_in_two_campaigns_gets_two_links(client):
    """Link ids belong to their campaign: the same URL elsewhere is another link."""
    one, two = client.create(), client.create(name="Other")
    assert register(client, one["id"], URL).json()["id"] != register(client, two["id"], URL).json()["id"]


def test_list_shows_every_link_sorted_by_url(client):
    """GET lists the campaign's links, sorted by URL, each as POST answered it."""
    campaign = client.create()
    made = [register(client, campaign["id"], f"https://example.org/{n}").json() for n in (3, 1, 2)]
    response = client.get(f"/api/campaigns/{campaign['id']}/links", headers=READ_AUTH)
    assert response.status_code == 200
    assert response.json() == {"links": sorted(made, key=lambda link: link["url"])}


def test_a_new_campaign_has_no_links(client):
    """A campaign without links lists none."""
    campaign = client.create()
    assert client.get(f"/api/campaigns/{campaign['id']}/links", headers=AUTH).json() == {"links": []}


def test_tracking_url_uses_the_public_url(tmp_path, store_kind, request, client_for):
    """With server.public_url set, tracking URLs carry it, as pixel URLs do."""
    from tests.helpers import store_url

    env = make_env(
        tmp_path, store_url(store_kind, request), PIXELAGG_SERVER_PUBLIC_URL="https://stats.example.org/"
    )
    client = client_for(load(environ=env))
    campaign = client.create()
    link = register(client, campaign["id"], URL).json()
    assert link["tracking_url"] == f"https://stats.example.org/l/{campaign['id']}/{link['id']}"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://example.org/file",
        "https://user:secret@example.org/",
        "https://user@example.org/",
        "//example.org/",
        "https:///path",
        "https://exa mple.org/",
        "https:\\\\evil.example/",
        "https://example.org/caf\u00e9",
        "https://example.org/%zz",
        "https://example.org:99999/",
        "",
        "https://example.org/" + "a" * 2048,
        42,
        None,
    ],
    ids=[
        "javascript",
        "data",
        "ftp",
        "credentials",
        "user",
        "no-scheme",
        "no-host",
        "space",
        "backslash",
        "non-ascii",
        "bad-percent",
        "bad-port",
        "empty",
        "too-long",
        "number",
        "null",
    ],
)
def test_urls_that_are_not_plain_http_are_refused(client, url):
    """Anything but a plain http(s) URL answers 422 in the one error shape and stores nothing."""
    campaign = client.create()
    error = assert_error(register(client, campaign["id"], url), 422, "invalid")
    assert error["details"] == {"field": "url"}
    assert not [k for k in campaign_keys(client, campaign["id"]) if k.endswith(":links")]


@pytest.mark.parametrize(
    "body",
    [{}, {"url": URL, "name": "x"}, [URL], "https://example.org/"],
    ids=["no-url", "unknown-field", "list", "string"],
)
def test_bodies_without_just_a_url_are_refused(client, body):
    """A body that is not {"url": ...} answers 422."""
    campaign = client.create()
    response = client.post(f"/api/campaigns/{campaign['id']}/links", json=body, headers=AUTH)
    assert_error(response, 422, "invalid")


def test_at_most_max_per_campaign_links(tmp_path, store_kind, request, client_for):
    """Past links.max_per_campaign a new URL answers 409 naming the key; known URLs still answer."""
    from tests.helpers import store_url

    env = make_env(tmp_path, store_url(store_kind, request), PIXELAGG_LINKS_MAX_PER_CAMPAIGN="2")
    client = client_for(load(environ=env))
    campaign = client.create()
    assert register(client, campaign["id"], "https://example.org/1").status_code == 201
    assert register(client, campaign["id"], "https://example.org/2").status_code == 201
    error = assert_error(register(client, campaign["id"], "https://example.org/3"), 409, "conflict")
    assert "links.max_per_campaign" in error["message"]
    assert register(client, campaign["id"], "https://example.org/1").status_code == 200
    assert len(client.get(f"/api/campaigns/{campaign['id']}/links", headers=AUTH).json()["links"]) == 2


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_links_of_an_unknown_campaign_are_404(client, method):
    """Listing or registering links of a campaign that does not exist answers 404."""
    response = client.request(
        method, "/api/campaigns/AAAAAAAAAAAAAAAA/links", json={"url": URL}, headers=AUTH
    )
    assert_error(response, 404, "not_found")


def test_links_key_has_the_retention_ttl(client):
    """The links' key expires like the campaign's other keys (P5)."""
    campaign = client.create()
    register(client, campaign["id"], URL)
    retention = client.service.config.privacy.retention_days * 86400
    (info,) = [i for i in stored(client) if i.key.endswith(":links")]
    assert info.ttl is not None and retention - 60 < info.ttl <= retention


def test_deleting_the_campaign_erases_its_links(client):
    """A deleted campaign's links are gone from the store with it (P9)."""
    campaign = client.create()
    register(client, campaign["id"], URL)
    assert client.delete(f"/api/campaigns/{campaign['id']}", headers=AUTH).status_code == 204
    assert campaign_keys(client, campaign["id"]) == []
