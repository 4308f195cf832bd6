"""GET /l/{campaign}/{link} through the real app on both stores: redirect, count, never an open redirect."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from pixelagg.config import load
from pixelagg.core.links import link_id
from tests.helpers import AUTH, BROWSER_UA, make_env, store_url
from tests.web.test_api import campaign_keys, stored

URL = "https://example.org/spring?utm_source=newsletter"
EVIL = "evil.example"


def register(client, campaign_id: str, url: str = URL) -> dict[str, Any]:
    response = client.post(f"/api/campaigns/{campaign_id}/links", json={"url": url}, headers=AUTH)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def path_of(link: dict[str, Any]) -> str:
    return str(link["tracking_url"]).removeprefix("http://testserver")


def follow(client, path: str, ip: str = "81.2.69.160", ua: str = BROWSER_UA, method: str = "GET", **headers):
    """Follow a link once as a browser would, without following the redirect itself."""
    headers = {"X-Forwarded-For": ip, "User-Agent": ua, **headers}
    return client.request(method, path, headers=headers, follow_redirects=False)


def release(client) -> None:
    """Count every click held in the click window now, then write the buffer."""
    client.portal.call(client.service.clicks.release, True)
    client.flush()


def clicks_of(client, campaign_id: str) -> dict[str, Any]:
    release(client)
    return dict(client.stats(campaign_id)["clicks"])


@pytest.fixture
def link(client):
    campaign = client.create(recipients=100)
    return campaign["id"], register(client, campaign["id"])


# the redirect


def test_redirects_to_the_registered_url(client, link):
    """A registered link answers 302 to its URL, exactly as registered."""
    response = follow(client, path_of(link[1]))
    assert response.status_code == 302
    assert response.headers["location"] == URL
    assert response.content == b""


def test_redirect_sends_nothing_onwards(client, link):
    """No referrer, no caching: the target learns nothing of the mail, and a proxy keeps nothing."""
    headers = follow(client, path_of(link[1])).headers
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert "set-cookie" not in headers


def test_query_of_the_request_is_neither_added_nor_stored(client, link):
    """A query string on the tracking URL does not reach the target and creates no key (P1)."""
    _, made = link
    response = follow(client, path_of(made) + "?r=alice%40example.org&url=https://evil.example/")
    assert response.headers["location"] == URL
    release(client)
    assert not any("alice" in info.value.decode("latin-1") for info in stored(client))


def test_a_followed_link_is_counted_as_a_human_click(client, link):
    """A browser's click is counted once, as human, on its link, day and country."""
    campaign_id, made = link
    assert follow(client, path_of(made)).headers["x-pixelagg"] == "counted"
    clicks = clicks_of(client, campaign_id)
    assert clicks["by_class"] == {"human": 1, "scanner": 0, "bot": 0}
    assert clicks["unique_clickers"]["human"]["estimate"] == 1
    assert sum(row["clicks"] for row in clicks["by_day"]) == 1
    assert [r["region"] for r in clicks["by_region"]] == ["other"]  # one click: below min_bucket
    assert clicks["links"] == 1


def test_link_rows_show_links_clicked_by_enough_people(tmp_path, store_kind, request, client_for):
    """With min_bucket people a link has a row of its own, with its id, URL and clicks."""
    env = make_env(tmp_path, store_url(store_kind, request), PIXELAGG_PRIVACY_MIN_BUCKET="2")
    client = client_for(load(environ=env))
    campaign = client.create(recipients=100)
    made = register(client, campaign["id"])
    for n in range(2):
        follow(client, path_of(made), ip=f"81.2.69.{160 + n}")
    row = {r["id"]: r for r in clicks_of(client, campaign["id"])["by_link"]}[made["id"]]
    assert (row["url"], row["clicks"], row["unique_human_clickers"]["estimate"]) == (URL, 2, 2)


def test_a_link_per_recipient_is_folded_into_other(client):
    """Links clicked by fewer than min_bucket people (10) are summed in 'other', never shown alone."""
    campaign = client.create(recipients=100)
    for n in range(5):  # a sender's link for each of five recipients, each clicked once
        follow(
            client, path_of(register(client, campaign["id"], f"https://example.org/r/{n}")), ip=f"81.2.69.{n}"
        )
    rows = clicks_of(client, campaign["id"])["by_link"]
    assert [(r["id"], r["url"], r["clicks"], r["unique_human_clickers"]) for r in rows] == [
        ("other", None, 5, None)
    ]


def test_head_redirects_and_counts_a_scanner(client, link):
    """HEAD gets the redirect too, and counts as a scanner's click, not a person's."""
    campaign_id, made = link
    response = follow(client, path_of(made), method="HEAD")
    assert (response.status_code, response.headers["location"]) == (302, URL)
    assert clicks_of(client, campaign_id)["by_class"] == {"human": 0, "scanner": 1, "bot": 0}


def test_prefetch_redirects_and_counts_nothing(client, link):
    """A browser's prefetch of a link is not a click."""
    campaign_id, made = link
    response = follow(client, path_of(made), **{"Sec-Purpose": "prefetch"})
    assert (response.headers["location"], response.headers["x-pixelagg"]) == (URL, "not-counted")
    assert clicks_of(client, campaign_id)["total"] == 0


@pytest.mark.parametrize("header", [{"Sec-GPC": "1"}, {"DNT": "1"}], ids=["gpc", "dnt"])
def test_declined_click_redirects_and_stores_nothing(client, link, header):
    """Sec-GPC / DNT: the reader gets the link, and nothing about the request is stored (P8)."""
    campaign_id, made = link
    before = campaign_keys(client, campaign_id)
    response = follow(client, path_of(made), **header)
    assert (response.headers["location"], response.headers["x-pixelagg"]) == (URL, "declined")
    release(client)
    assert campaign_keys(client, campaign_id) == before


def test_paused_campaign_still_redirects_and_counts_nothing(client, link):
    """A paused campaign's links keep working; nothing is counted."""
    campaign_id, made = link
    client.post(f"/api/campaigns/{campaign_id}/pause", headers=AUTH)
    response = follow(client, path_of(made))
    assert (response.headers["location"], response.headers["x-pixelagg"]) == (URL, "paused")
    client.post(f"/api/campaigns/{campaign_id}/resume", headers=AUTH)
    assert clicks_of(client, campaign_id)["total"] == 0


def test_deleted_campaign_known_link_still_redirects_and_recreates_nothing(client, link):
    """A link this process knows keeps redirecting after its campaign is deleted; no key comes back."""
    campaign_id, made = link
    client.delete(f"/api/campaigns/{campaign_id}", headers=AUTH)
    response = follow(client, path_of(made))
    assert (response.headers["location"], response.headers["x-pixelagg"]) == (URL, "deleted")
    release(client)
    assert campaign_keys(client, campaign_id) == []


def test_link_registered_by_another_process_is_looked_up(tmp_path, redis_url, client_for):
    """A link registered through another replica is found in the store and redirects."""
    env = make_env(tmp_path, redis_url)
    one, two = client_for(load(environ=env)), client_for(load(environ=env))
    campaign = one.create(recipients=100)
    made = register(one, campaign["id"])
    assert follow(two, path_of(made)).headers["location"] == URL


# never an open redirect


def test_unknown_link_gets_a_page_and_no_redirect(client, link):
    """A link id the campaign does not have: a 404 page from the template, no Location."""
    campaign_id, _ = link
    response = follow(client, f"/l/{campaign_id}/{link_id(campaign_id, 'https://other.example/')}")
    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>This link does not exist</h1>" in response.text
    assert response.headers["x-pixelagg"] == "unknown-link"


@pytest.mark.parametrize(
    "path",
    [
        "/l/AAAAAAAAAAAAAAAA/AAAAAAAAAA",
        f"/l/https://{EVIL}/",
        f"/l//{EVIL}/x",
        f"/l/%2F%2F{EVIL}",
        f"/l/{{cid}}/{{link}}/https://{EVIL}",
        f"/l/{{cid}}/https:%2F%2F{EVIL}",
        f"/l/{{cid}}?url=https://{EVIL}/",
        "/l/{cid}/{link}x",
        "/l/",
        "/l",
    ],
    ids=[
        "unknown-campaign",
        "url-as-path",
        "protocol-relative",
        "encoded-slashes",
        "url-after-link",
        "url-as-link",
        "url-in-query",
        "longer-link-id",
        "empty",
        "bare",
    ],
)
def test_no_request_chooses_where_a_link_leads(client, link, path):
    """Whatever the path or query, nothing but a registered URL is ever a redirect's target."""
    campaign_id, made = link
    response = follow(client, path.format(cid=campaign_id, link=made["id"]))
    assert response.status_code in (404, 405)
    assert "location" not in response.headers
    assert EVIL not in response.text


def test_a_link_leads_only_where_it_was_registered(client):
    """Registering a URL with the target's name in its query does not change where others lead."""
    campaign = client.create(recipients=100)
    made = register(client, campaign["id"])
    other = register(client, campaign["id"], f"https://example.org/?next=https://{EVIL}/")
    assert follow(client, path_of(made)).headers["location"] == URL
    assert follow(client, path_of(other)).headers["location"] == other["url"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_other_methods_get_405_and_no_redirect(client, link, method):
    """Only GET and HEAD follow a link."""
    response = follow(client, path_of(link[1]), method=method)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert "location" not in response.headers


def test_head_of_an_unknown_link_has_no_body(client):
    """HEAD of an unknown link: the page's headers without its body."""
    response = follow(client, "/l/AAAAAAAAAAAAAAAA/AAAAAAAAAA", method="HEAD")
    assert response.status_code == 404 and response.content == b""


# what is kept, logged and measured


def test_clicks_are_in_the_metrics_by_result_and_class(client, link):
    """pixelagg_clicks_total counts requests by result, pixelagg_clicks_by_class_total by class."""
    _, made = link
    follow(client, path_of(made))
    follow(client, "/l/AAAAAAAAAAAAAAAA/AAAAAAAAAA")
    release(client)
    text = client.get("/metrics").text
    assert 'pixelagg_clicks_total{result="counted"} 1.0' in text
    assert 'pixelagg_clicks_total{result="unknown_link"} 1.0' in text
    assert 'pixelagg_clicks_by_class_total{class="human"} 1.0' in text


def test_clicks_get_a_summary_line_not_a_line_each(tmp_path, client_for, caplog):
    """The access log counts clicks by result every interval, never one line per click."""
    client = client_for(load(environ=make_env(tmp_path, None)))
    campaign = client.create(recipients=100)
    made = register(client, campaign["id"])
    with caplog.at_level(logging.INFO, logger="pixelagg.access"):
        follow(client, path_of(made))
        release(client)
        client.app.log.summarize()
    lines = [r.getMessage() for r in caplog.records if r.name == "pixelagg.access"]
    assert not any(line.startswith("GET /l/{campaign}/{link} 302") for line in lines)
    assert any(line.startswith("GET /l/{campaign}/{link}: 1 requests") for line in lines)


def test_the_click_window_holds_a_click_until_it_closes(client, link):
    """A click is written only once its window has closed (so a burst is seen whole)."""
    campaign_id, made = link
    window = client.service.clicks
    now = time.time()
    window.clock = lambda: now
    follow(client, path_of(made))
    client.flush()
    assert window.held == 1
    window.clock = lambda: now + 2.0
    client.portal.call(window.release)
    client.flush()
    assert window.held == 0
    assert client.stats(campaign_id)["clicks"]["total"] == 1
