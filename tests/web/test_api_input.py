"""The API on input that must never give a 500, and idempotent create with external_id, on both stores."""

from __future__ import annotations

import asyncio
import time

import pytest

from pixelagg import actions
from pixelagg.config import load
from pixelagg.core.campaign import Campaign, new_campaign_id
from tests.helpers import AUTH, TOKEN, make_env

ORIGIN = {"Origin": "http://testserver"}


def assert_invalid(response, details):
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid"
    assert response.json()["error"]["details"] == details


# idempotent create


def test_create_with_a_known_external_id_returns_the_same_campaign(client):
    """The first create answers 201, a second with the same external_id 200 with that campaign."""
    first = client.post("/api/campaigns", json={"name": "Nov", "external_id": "listmonk-42"}, headers=AUTH)
    again = client.post("/api/campaigns", json={"name": "Other", "external_id": "listmonk-42"}, headers=AUTH)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert len(client.get("/api/campaigns", headers=AUTH).json()["campaigns"]) == 1


def test_another_external_id_is_another_campaign(client):
    """Different external ids make different campaigns."""
    a = client.create(external_id="tool-1")
    b = client.create(external_id="tool-2")
    assert a["id"] != b["id"]


def test_creates_without_external_id_are_never_merged(client):
    """Two creates without an external_id make two campaigns."""
    assert client.create()["id"] != client.create()["id"]


def test_external_id_taken_by_another_campaign_is_refused_on_patch(client):
    """PATCHing an external_id that another campaign has is 422 naming that campaign."""
    a = client.create(external_id="tool-1")
    b = client.create()
    response = client.patch(f"/api/campaigns/{b['id']}", json={"external_id": "tool-1"}, headers=AUTH)
    assert_invalid(response, {"field": "external_id", "campaign": a["id"]})


def test_external_id_moved_away_is_free_again(client):
    """After a campaign's external_id changes, the old one makes a new campaign."""
    a = client.create(external_id="tool-1")
    client.patch(f"/api/campaigns/{a['id']}", json={"external_id": "tool-1b"}, headers=AUTH)
    b = client.post("/api/campaigns", json={"name": "New", "external_id": "tool-1"}, headers=AUTH)
    assert b.status_code == 201 and b.json()["id"] != a["id"]
    assert client.get(f"/api/campaigns/{a['id']}", headers=AUTH).json()["name"] == "Test campaign"


@pytest.mark.anyio
async def test_creates_racing_with_one_external_id_make_one_campaign(store, config):
    """Two creates at once with the same external_id (and key) end as one campaign."""
    body = {"name": "Nov", "external_id": "listmonk-42"}
    made = await asyncio.gather(*(actions.create_campaign(store, config, body, b"key") for _ in range(2)))
    assert made[0][0].id == made[1][0].id
    assert len(await store.list_campaigns()) == 1


# text the stores and pages cannot hold


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "a\\u0000b"}',
        b'{"name": "Red \\u001b[31m"}',
        b'{"name": "bad \\ud800"}',
        b'{"name": "\\u202egnp.exe"}',
    ],
    ids=["nul", "escape", "lone-surrogate", "rtl-override"],
)
def test_unprintable_names_are_422(client, raw):
    """Names with control characters, overrides or lone surrogates are refused naming the field."""
    response = client.post("/api/campaigns", content=raw, headers=AUTH)
    assert_invalid(response, {"field": "name"})
    assert client.get("/api/campaigns", headers=AUTH).status_code == 200


@pytest.fixture
def embedded(tmp_path, client_for):
    """An app on the embedded store, the only one that could hold such a name (Redis cannot)."""
    return client_for(load(environ=make_env(tmp_path, None)))


@pytest.fixture
def stored_badly(embedded):
    """A campaign an older release stored with a lone surrogate in its name."""
    campaign = Campaign(id=new_campaign_id(), name="News \ud800 letter", created_at=time.time(), recipients=5)
    embedded.portal.call(embedded.service.store.create_campaign, campaign)
    return campaign


@pytest.mark.parametrize(
    "path",
    ["/api/campaigns", "/api/campaigns/{id}", "/api/campaigns/{id}/stats", "/api/audit"],
    ids=["list", "get", "stats", "audit"],
)
def test_a_stored_lone_surrogate_breaks_no_api_answer(embedded, stored_badly, path):
    """The list, the campaign, its stats and the audit answer 200 with the name escaped."""
    response = embedded.get(path.format(id=stored_badly.id), headers=AUTH)
    assert response.status_code == 200
    assert "\\ud800" in response.text


def test_a_stored_lone_surrogate_breaks_no_dashboard_page(embedded, stored_badly):
    """The dashboard's list and campaign page render, with U+FFFD for the lone surrogate."""
    embedded.post("/dashboard/login", data={"token": TOKEN}, headers=ORIGIN)
    for path in ("/dashboard", f"/dashboard/campaigns/{stored_badly.id}"):
        response = embedded.get(path)
        assert response.status_code == 200 and "News \ufffd letter" in response.text


def test_a_campaign_with_a_stored_lone_surrogate_can_be_deleted(embedded, stored_badly):
    """Such a campaign is erased like any other."""
    assert embedded.delete(f"/api/campaigns/{stored_badly.id}", headers=AUTH).status_code == 204
    assert embedded.get("/api/campaigns", headers=AUTH).json() == {"campaigns": []}


# bodies and queries


def test_deeply_nested_json_is_422(client):
    """30,000 nested brackets (60 KB, under the body limit) are 422, not a RecursionError."""
    body = b'{"name": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    response = client.post("/api/campaigns", content=body, headers=AUTH)
    assert response.status_code == 422 and "nested too deeply" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"from": "9999-12-30", "to": "9999-12-31"}, "from"),
        ({"from": "0001-01-01", "to": "0001-01-02"}, "from"),
        ({"from": "1970-01-01"}, "from"),
        ({"to": "9999-12-31"}, "to"),
    ],
    ids=["year-9999", "year-1", "epoch-day", "last-day"],
)
@pytest.mark.parametrize(
    "tz", ["UTC", "Pacific/Kiritimati", "Etc/GMT+12"], ids=["utc", "plus-14", "minus-12"]
)
def test_out_of_range_dates_are_422(client, params, parameter, tz):
    """Days a timestamp cannot hold in every zone are 422 naming the parameter."""
    view = client.create()
    response = client.get(f"/api/campaigns/{view['id']}/stats", params={**params, "tz": tz}, headers=AUTH)
    assert_invalid(response, {"parameter": parameter})


@pytest.mark.parametrize("tz", ["Pacific/Kiritimati", "Etc/GMT+12"], ids=["plus-14", "minus-12"])
@pytest.mark.parametrize(
    "params",
    [{"from": "1970-01-02", "to": "1970-01-03"}, {"from": "9998-12-29", "to": "9998-12-30"}],
    ids=["first-days", "last-days"],
)
def test_the_outermost_days_answer(client, params, tz):
    """The first and last days allowed give a report in the farthest zones."""
    view = client.create()
    response = client.get(f"/api/campaigns/{view['id']}/stats.csv", params={**params, "tz": tz}, headers=AUTH)
    assert response.status_code == 200
