"""The JSON API through the real app on both stores: campaigns, stats, auth, errors, privacy."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from pixelagg.actions import pixel_snippet
from pixelagg.config import load
from pixelagg.store import Batch
from pixelagg.web.pixel import GIF
from tests.helpers import AUTH, READ_AUTH, make_env

UNKNOWN_ID = "AAAAAAAAAAAAAAAA"
US_IP, GB_IP, NL_IP = "8.8.8.8", "81.2.69.160", "80.80.80.80"
PER_PERSON_KEYS = {"ip", "user_agent", "visitor", "element", "hash", "salt"}

# (method, path, body, role needed); {id} is a live campaign.
ENDPOINTS = [
    ("POST", "/api/campaigns", {"name": "Another"}, "admin"),
    ("GET", "/api/campaigns", None, "read"),
    ("GET", "/api/campaigns/{id}", None, "read"),
    ("PATCH", "/api/campaigns/{id}", {"name": "Renamed"}, "admin"),
    ("POST", "/api/campaigns/{id}/pause", None, "admin"),
    ("POST", "/api/campaigns/{id}/resume", None, "admin"),
    ("POST", "/api/campaigns/{id}/links", {"url": "https://example.org/"}, "admin"),
    ("GET", "/api/campaigns/{id}/links", None, "read"),
    ("GET", "/api/campaigns/{id}/stats", None, "read"),
    ("GET", "/api/campaigns/{id}/stats.csv", None, "read"),
    ("GET", "/api/stats?campaigns={id}", None, "read"),
    ("DELETE", "/api/campaigns/{id}", None, "admin"),
]
ENDPOINT_IDS = [f"{m} {p.split('?')[0]}" for m, p, _, _ in ENDPOINTS]
WRITES = [e for e in ENDPOINTS if e[3] == "admin"]
READS = [e for e in ENDPOINTS if e[3] == "read"]


def call(client, endpoint, campaign_id, headers):
    method, path, body, _ = endpoint
    return client.request(method, path.format(id=campaign_id), json=body, headers=headers)


def assert_error(response, status: int, code: str) -> dict[str, Any]:
    """The response is the one error shape with this status and code; returns the error."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return dict(body["error"])


def stored(client) -> list[Any]:
    """Every key of the test's keyspace, with its value, read through the store's scan."""
    store = client.service.store

    async def collect() -> list[Any]:
        return [info async for info in store.scan()]

    return client.portal.call(collect)  # type: ignore[no-any-return]


def campaign_keys(client, campaign_id: str) -> list[str]:
    tag = "{c:" + campaign_id + "}"
    return sorted(info.key for info in stored(client) if tag in info.key)


def key_kind(key: str) -> str:
    """'meta', 'salt', 'd', 'u' or 'r': the part after the campaign's hash tag."""
    return key.split("}:", 1)[1].split(":", 1)[0]


def write_open(client, campaign_id: str, timestamp: float, region: str = "US") -> None:
    """Write one open straight through the store, as the aggregator would."""
    batch = Batch()
    batch.add_open(campaign_id, timestamp, "human", region, os.urandom(16))
    client.portal.call(client.service.store.write_batch, batch)


def set_first_hit(client, campaign_id: str, timestamp: float) -> None:
    client.portal.call(client.service.store.window_salt, campaign_id, timestamp, 86400)


def keys_anywhere(value: Any) -> set[str]:
    """Every mapping key in a JSON document, however deep."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_anywhere(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_anywhere(v)}
    return set()


@pytest.fixture
def client_with(store_kind, request, tmp_path, client_for):
    """Start an app on this test's store with extra PIXELAGG_* settings."""

    def start(**extra: str):
        url = request.getfixturevalue("redis_url") if store_kind == "redis" else None
        return client_for(load(environ=make_env(tmp_path, url, **extra)))

    return start


# campaigns


def test_create_returns_the_campaign(client):
    """POST /api/campaigns answers 201 with the campaign, its pixel URL and snippet."""
    response = client.post("/api/campaigns", json={"name": "  Spring  ", "recipients": 500}, headers=AUTH)
    assert response.status_code == 201
    view = response.json()
    assert len(view["id"]) == 16
    assert view["name"] == "Spring"
    assert view["recipients"] == 500
    assert view["legal_basis"] == "legitimate_interest"
    assert view["paused"] is False
    assert view["first_hit_at"] is None
    assert view["pixel_url"].endswith(f"/p/{view['id']}.gif")
    assert view["snippet"] == pixel_snippet(view["pixel_url"])


def test_campaign_json_keys(client):
    """A campaign's JSON has these keys, in this order: one per field, then the pixel's."""
    assert list(client.create()) == [
        "id",
        "name",
        "recipients",
        "created_at",
        "legal_basis",
        "legal_reference",
        "paused",
        "first_hit_at",
        "external_id",
        "pixel_url",
        "snippet",
        "notes",
    ]


def test_snippet_names_the_campaign_only(client):
    """The pixel URL has no query string: every recipient gets the same bytes (P1)."""
    view = client.create()
    again = client.get(f"/api/campaigns/{view['id']}", headers=AUTH).json()
    assert "?" not in view["pixel_url"]
    assert again["snippet"] == view["snippet"]


def test_list_returns_every_campaign(client):
    """GET /api/campaigns lists the campaigns in creation order."""
    first, second = client.create(name="First"), client.create(name="Second")
    response = client.get("/api/campaigns", headers=AUTH)
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["campaigns"]] == [first["id"], second["id"]]


def test_get_returns_the_campaign(client):
    """GET /api/campaigns/{id} answers the same view as creation."""
    view = client.create(name="Shown", recipients=3)
    response = client.get(f"/api/campaigns/{view['id']}", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == view


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/pause"),
        ("POST", "/resume"),
        ("GET", "/stats"),
        ("GET", "/stats.csv"),
    ],
    ids=["get", "patch", "delete", "pause", "resume", "stats", "stats-csv"],
)
@pytest.mark.parametrize("campaign_id", [UNKNOWN_ID, "not-an-id"], ids=["unknown", "malformed"])
def test_missing_campaign_is_404(client, method, suffix, campaign_id):
    """Every campaign endpoint answers 404 in the error shape for an unknown or malformed id."""
    body = {"name": "x"} if method == "PATCH" else None
    response = client.request(method, f"/api/campaigns/{campaign_id}{suffix}", json=body, headers=AUTH)
    assert_error(response, 404, "not_found")


def test_patch_changes_fields(client):
    """PATCH changes only the given fields and the change is kept."""
    view = client.create(name="Before", recipients=10)
    response = client.patch(
        f"/api/campaigns/{view['id']}", json={"name": "After", "recipients": 20}, headers=AUTH
    )
    assert response.status_code == 200
    assert response.json()["name"] == "After"
    kept = client.get(f"/api/campaigns/{view['id']}", headers=AUTH).json()
    assert (kept["name"], kept["recipients"], kept["legal_basis"]) == (
        "After",
        20,
        "legitimate_interest",
    )


def test_patch_null_clears_recipients(client):
    """PATCH with recipients null removes the recipient count."""
    view = client.create(recipients=10)
    response = client.patch(f"/api/campaigns/{view['id']}", json={"recipients": None}, headers=AUTH)
    assert response.status_code == 200
    assert client.get(f"/api/campaigns/{view['id']}", headers=AUTH).json()["recipients"] is None


def test_delete_answers_204_and_forgets_the_campaign(client):
    """DELETE answers 204; the campaign is gone from GET and the list."""
    view = client.create()
    response = client.delete(f"/api/campaigns/{view['id']}", headers=AUTH)
    assert response.status_code == 204
    assert response.content == b""
    assert_error(client.get(f"/api/campaigns/{view['id']}", headers=AUTH), 404, "not_found")
    assert client.get("/api/campaigns", headers=AUTH).json() == {"campaigns": []}


def test_delete_erases_every_key(client):
    """After DELETE no key of the campaign is left and the index no longer names it (P9)."""
    view = client.create(recipients=10)
    kept = client.create(name="Kept")
    for ip in (US_IP, GB_IP):
        client.hit(view["id"], ip=ip)
        client.hit(kept["id"], ip=ip)
    client.hit(view["id"], **{"Sec-GPC": "1"})
    client.flush()
    every_kind = {"meta", "salt", "d", "u", "r"}
    assert {key_kind(k) for k in campaign_keys(client, view["id"])} >= every_kind

    assert client.delete(f"/api/campaigns/{view['id']}", headers=AUTH).status_code == 204

    assert campaign_keys(client, view["id"]) == []
    assert not [i.key for i in stored(client) if view["id"].encode() in i.value]
    assert {key_kind(k) for k in campaign_keys(client, kept["id"])} >= every_kind


def test_deleted_campaign_pixel_is_unknown_and_stores_nothing(client):
    """The pixel of a deleted campaign answers the GIF with unknown-campaign and writes no key."""
    view = client.create()
    client.hit(view["id"])
    client.flush()
    client.delete(f"/api/campaigns/{view['id']}", headers=AUTH)
    response = client.hit(view["id"], ip=GB_IP)
    client.flush()
    assert response.content == GIF
    assert response.headers["x-pixelagg"] == "unknown-campaign"
    assert campaign_keys(client, view["id"]) == []


def test_pause_serves_the_gif_and_counts_nothing(client):
    """A paused campaign still gets the GIF, says 'paused' and counts nothing."""
    view = client.create()
    response = client.post(f"/api/campaigns/{view['id']}/pause", headers=AUTH)
    assert response.status_code == 200
    assert response.json()["paused"] is True
    hit = client.hit(view["id"])
    assert hit.content == GIF
    assert hit.headers["x-pixelagg"] == "paused"
    stats = client.stats(view["id"])
    assert (stats["opens"]["total"], stats["opens"]["declined"]) == (0, 0)


def test_resume_counts_again(client):
    """After resume the campaign is unpaused and hits count again."""
    view = client.create()
    client.post(f"/api/campaigns/{view['id']}/pause", headers=AUTH)
    client.hit(view["id"], ip=GB_IP)
    response = client.post(f"/api/campaigns/{view['id']}/resume", headers=AUTH)
    assert response.status_code == 200
    assert response.json()["paused"] is False
    assert client.hit(view["id"]).headers["x-pixelagg"] == "counted"
    assert client.stats(view["id"])["opens"]["total"] == 1


# statistics


def test_stats_count_opens_and_unique_opens(client):
    """Stats count every open, unique visitors once, per class, day and region."""
    view = client.create()
    for ip in (US_IP, US_IP, GB_IP):
        client.hit(view["id"], ip=ip)
    stats = client.stats(view["id"])
    today = datetime.now(UTC).date().isoformat()
    assert stats["opens"]["total"] == 3
    assert stats["opens"]["by_class"]["human"] == 3
    assert stats["unique_opens"]["estimate"] == 2
    assert stats["range"] == {"from": today, "to": today, "tz": "UTC"}
    assert stats["by_day"] == [
        {"date": today, "opens": 3, "human_opens": 3, "machine_opens": 0, "unique_opens": 2}
    ]
    assert sum(row["opens"] for row in stats["by_hour"]) == 3


def test_stats_csv_is_an_attachment_with_rows(client):
    """stats.csv is a CSV attachment whose rows carry the same totals as the JSON."""
    view = client.create()
    client.hit(view["id"])
    client.flush()
    response = client.get(f"/api/campaigns/{view['id']}/stats.csv", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f'filename="pixelagg-{view["id"]}.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["section", "key", "opens", "unique_opens", "unique_low", "unique_high"]
    assert rows[1][:4] == ["total", "all", "1", "1"]


def test_compare_lists_each_campaign(client):
    """GET /api/stats?campaigns=a,b answers one row per campaign, in the order asked."""
    a, b = client.create(name="A", recipients=100), client.create(name="B")
    for ip in (US_IP, GB_IP):
        client.hit(a["id"], ip=ip)
    client.hit(b["id"])
    client.flush()
    response = client.get("/api/stats", params={"campaigns": f"{b['id']},{a['id']}"}, headers=AUTH)
    assert response.status_code == 200
    rows = response.json()["campaigns"]
    assert [r["campaign"]["id"] for r in rows] == [b["id"], a["id"]]
    assert [r["opens"] for r in rows] == [1, 2]
    assert [r["unique_opens"]["estimate"] for r in rows] == [1, 2]
    assert [r["unique_human_opens"]["estimate"] for r in rows] == [1, 2]
    assert rows[0]["open_rate"] is None
    # The compare rows use the same estimator as each campaign's own report.
    assert rows[1]["open_rate"] == client.stats(a["id"])["open_rate"]


@pytest.mark.parametrize(
    "campaigns",
    [None, "", ",,", ",".join([UNKNOWN_ID] * 21)],
    ids=["missing", "empty", "only-commas", "more-than-20"],
)
def test_compare_needs_one_to_twenty_ids(client, campaigns):
    """Comparison without ids, or with more than 20, is 422 naming the parameter."""
    params = {} if campaigns is None else {"campaigns": campaigns}
    error = assert_error(client.get("/api/stats", params=params, headers=AUTH), 422, "invalid")
    assert error["details"] == {"parameter": "campaigns"}


def test_compare_unknown_campaign_is_404(client):
    """Comparison with an unknown id is 404."""
    view = client.create()
    response = client.get("/api/stats", params={"campaigns": f"{view['id']},{UNKNOWN_ID}"}, headers=AUTH)
    assert_error(response, 404, "not_found")


def test_open_rate_is_null_without_recipients(client):
    """Without a recipient count there is no open rate."""
    view = client.create()
    client.hit(view["id"])
    assert client.stats(view["id"])["open_rate"] is None


def test_observed_rate_divides_human_uniques_by_recipients(client):
    """open_rate_observed is unique human opens over recipients; open_rate (readers, estimated)
    has bounds around its estimate, inside [0, 1]."""
    view = client.create(recipients=4)
    client.hit(view["id"], ip=US_IP)
    client.hit(view["id"], ip=GB_IP)
    client.hit(view["id"], ip=NL_IP, ua="python-requests/2.31.0")  # a bot: not in the rate
    report = client.stats(view["id"])
    assert report["open_rate_observed"] == 0.5
    rate = report["open_rate"]
    assert 0 <= rate["low"] <= rate["estimate"] <= rate["high"] <= 1


@pytest.mark.parametrize(
    ("tz", "days", "hour"),
    [
        ("UTC", {"2025-01-14": 1, "2025-01-15": 0}, "2025-01-14T23:00:00+00:00"),
        ("Europe/Amsterdam", {"2025-01-14": 0, "2025-01-15": 1}, "2025-01-15T00:00:00+01:00"),
    ],
    ids=["utc", "amsterdam"],
)
def test_time_zone_shifts_days_and_hours(client, tz, days, hour):
    """An open at 23:30 UTC falls on the next local day in Amsterdam, and its hour shifts."""
    view = client.create()
    moment = datetime(2025, 1, 14, 23, 30, tzinfo=UTC).timestamp()
    set_first_hit(client, view["id"], moment)
    write_open(client, view["id"], moment)
    stats = client.stats(view["id"], **{"from": "2025-01-14", "to": "2025-01-15", "tz": tz})
    assert {row["date"]: row["opens"] for row in stats["by_day"]} == days
    assert [(row["hour"], row["opens"]) for row in stats["by_hour"]] == [(hour, 1)]
    assert stats["range"]["tz"] == tz


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"from": "2025-13-01"}, "from"),
        ({"from": "14/01/2025"}, "from"),
        ({"from": "20250114"}, "from"),
        ({"to": "2025-W03-2"}, "to"),
        ({"to": "yesterday"}, "to"),
        ({"tz": "Mars/Olympus_Mons"}, "tz"),
        ({"tz": "../../etc/passwd"}, "tz"),
        ({"tz": "zone.tab"}, "tz"),
        ({"from": "2025-01-10", "to": "2025-01-09"}, "to"),
        ({"from": "2020-01-01", "to": "2025-01-01"}, "from"),
    ],
    ids=[
        "bad-month",
        "not-iso",
        "basic-format",
        "week-date",
        "bad-to",
        "unknown-tz",
        "path-as-tz",
        "tzdata-file",
        "to-before-from",
        "range-too-long",
    ],
)
@pytest.mark.parametrize("suffix", ["stats", "stats.csv"], ids=["json", "csv"])
def test_invalid_stats_query_is_422(client, params, parameter, suffix):
    """A bad from, to or tz is 422 in the error shape, naming the parameter."""
    view = client.create()
    response = client.get(f"/api/campaigns/{view['id']}/{suffix}", params=params, headers=AUTH)
    assert assert_error(response, 422, "invalid")["details"] == {"parameter": parameter}


# service endpoints


def test_healthz_answers_ok(client):
    """/healthz answers 200 without a token."""
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_is_ready_with_a_store(client):
    """/readyz answers 200 'ready' when the store answers."""
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert response.json()["store"] == "ok"


def test_openapi_is_json_with_paths(client):
    """/openapi.json is a JSON OpenAPI document describing the campaign endpoints."""
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = json.loads(response.content)
    assert spec["openapi"].startswith("3.")
    assert {"/api/campaigns", "/api/campaigns/{id}", "/api/stats"} <= set(spec["paths"])


def test_openapi_campaign_schema_describes_the_json(client):
    """The Campaign schema requires every key the campaign JSON has, each of its type."""
    view = client.create(recipients=5, legal_reference="Art. 1", external_id="tool-1")
    client.hit(view["id"])
    view = client.get(f"/api/campaigns/{view['id']}", headers=AUTH).json()
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Campaign"]
    assert set(schema["required"]) | {"notes"} == set(view) == set(schema["properties"])
    python_types = {"string": str, "integer": int, "boolean": bool, "array": list}
    for key, value in view.items():
        assert isinstance(value, python_types[schema["properties"][key]["type"]]), key


# auth


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-0123456789abcdef"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dGVzdDp0ZXN0"},
        {"Authorization": AUTH["Authorization"].replace("Bearer ", "Token ")},
    ],
    ids=["no-token", "wrong-token", "empty-token", "basic-auth", "wrong-scheme"],
)
def test_without_a_valid_token_every_endpoint_is_401(client, headers):
    """Every API endpoint answers 401 with WWW-Authenticate and changes nothing."""
    view = client.create()
    for endpoint in ENDPOINTS:
        response = call(client, endpoint, view["id"], headers)
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/campaigns", headers=AUTH).json()["campaigns"] == [view]


@pytest.mark.parametrize("endpoint", READS, ids=[f"{e[0]} {e[1].split('?')[0]}" for e in READS])
def test_read_token_may_read(client, endpoint):
    """A read token may GET campaigns and statistics."""
    view = client.create()
    assert call(client, endpoint, view["id"], READ_AUTH).status_code == 200


@pytest.mark.parametrize("endpoint", WRITES, ids=[f"{e[0]} {e[1]}" for e in WRITES])
def test_read_token_may_not_write(client, endpoint):
    """A read token gets 403 on every write and the campaign is unchanged."""
    view = client.create()
    assert_error(call(client, endpoint, view["id"], READ_AUTH), 403, "forbidden")
    assert client.get("/api/campaigns", headers=AUTH).json()["campaigns"] == [view]


def test_admin_token_may_do_everything(client):
    """The admin token may call every endpoint."""
    view = client.create()
    statuses = [call(client, e, view["id"], AUTH).status_code for e in ENDPOINTS]
    assert statuses == [201, 200, 200, 200, 200, 200, 201, 200, 200, 200, 200, 204]


# invalid input


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"\xff\xfe", b"", b'{"name": "x"', b"{'name': 'x'}"],
    ids=["garbage", "not-utf8", "empty", "truncated", "single-quotes"],
)
@pytest.mark.parametrize("method", ["POST", "PATCH"], ids=["create", "update"])
def test_invalid_json_is_422(client, method, body):
    """A body that is not JSON is 422 in the error shape."""
    view = client.create()
    path = "/api/campaigns" if method == "POST" else f"/api/campaigns/{view['id']}"
    headers = {**AUTH, "Content-Type": "application/json"}
    response = client.request(method, path, content=body, headers=headers)
    assert_error(response, 422, "invalid")


def test_body_too_large_is_422(client):
    """A body over 64 KiB is refused with 422."""
    body = json.dumps({"name": "x" * 70_000}).encode()
    response = client.post("/api/campaigns", content=body, headers=AUTH)
    assert_error(response, 422, "invalid")


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({}, {"field": "name"}),
        ({"name": 5}, {"field": "name"}),
        ({"name": ""}, {"field": "name"}),
        ({"name": "   "}, {"field": "name"}),
        ({"name": None}, {"field": "name"}),
        ({"name": "x" * 201}, {"field": "name"}),
        ({"name": "x", "recipients": "10"}, {"field": "recipients"}),
        ({"name": "x", "recipients": True}, {"field": "recipients"}),
        ({"name": "x", "recipients": 0}, {"field": "recipients"}),
        ({"name": "x", "recipients": 1.5}, {"field": "recipients"}),
        ({"name": "x", "recipients": 1_000_000_001}, {"field": "recipients"}),
        ({"name": "x", "legal_basis": "vibes"}, {"field": "legal_basis"}),
        ({"name": "x", "legal_basis": ["consent"]}, {"field": "legal_basis"}),
        ({"name": "x", "legal_reference": 7}, {"field": "legal_reference"}),
        ({"name": "x", "legal_basis": "public_task"}, {"field": "legal_reference"}),
        ({"name": "x", "email": "a@example.org"}, {"fields": ["email"]}),
        ({"name": "x", "paused": True}, {"fields": ["paused"]}),
        ([{"name": "x"}], None),
        ("x", None),
        (None, None),
    ],
    ids=[
        "no-name",
        "name-int",
        "name-empty",
        "name-blank",
        "name-null",
        "name-too-long",
        "recipients-string",
        "recipients-bool",
        "recipients-zero",
        "recipients-float",
        "recipients-too-many",
        "legal-basis-unknown",
        "legal-basis-list",
        "legal-reference-int",
        "public-task-no-reference",
        "unknown-field",
        "paused-field",
        "list-body",
        "string-body",
        "null-body",
    ],
)
def test_wrong_types_are_422_and_create_nothing(client, body, details):
    """A body of the wrong shape is 422 naming the field, and no campaign is created."""
    response = client.post("/api/campaigns", content=json.dumps(body).encode(), headers=AUTH)
    assert assert_error(response, 422, "invalid")["details"] == details
    assert client.get("/api/campaigns", headers=AUTH).json() == {"campaigns": []}


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({"name": ""}, {"field": "name"}),
        ({"recipients": -1}, {"field": "recipients"}),
        ({"legal_basis": "public_task"}, {"field": "legal_reference"}),
        ({"id": UNKNOWN_ID}, {"fields": ["id"]}),
    ],
    ids=["name-empty", "recipients-negative", "public-task-no-reference", "id-field"],
)
def test_invalid_patch_is_422_and_changes_nothing(client, body, details):
    """An invalid PATCH is 422 naming the field and leaves the campaign as it was."""
    view = client.create()
    response = client.patch(f"/api/campaigns/{view['id']}", json=body, headers=AUTH)
    assert assert_error(response, 422, "invalid")["details"] == details
    assert client.get(f"/api/campaigns/{view['id']}", headers=AUTH).json() == view


# privacy


def test_query_string_is_ignored_and_stored_nowhere(client):
    """A query string changes nothing: same keys as a plain hit, none of its text stored (P1)."""
    plain, tagged = client.create(), client.create()
    client.hit(plain["id"])
    query = "email=alice.recipient%40example.org&uid=QzXv9Recipient&utm_source=spring"
    response = client.get(
        f"/p/{tagged['id']}.gif?{query}",
        headers={"X-Forwarded-For": "203.0.113.7", "User-Agent": "Mozilla/5.0 (X11) Firefox/120"},
    )
    client.flush()
    assert response.content == GIF
    assert response.headers["x-pixelagg"] == "counted"
    shape = [k.replace(plain["id"], "ID") for k in campaign_keys(client, plain["id"])]
    assert [k.replace(tagged["id"], "ID") for k in campaign_keys(client, tagged["id"])] == shape
    for info in stored(client):
        for needle in (b"alice", b"example.org", b"QzXv9Recipient", b"utm_source", b"spring"):
            assert needle not in info.key.encode() and needle not in info.value


def test_unknown_campaign_creates_no_key(client):
    """A well-formed but unknown campaign id gets the GIF and the store is unchanged."""
    client.create()
    before = sorted((i.key, i.value) for i in stored(client))
    response = client.hit(UNKNOWN_ID)
    client.flush()
    assert response.headers["x-pixelagg"] == "unknown-campaign"
    assert sorted((i.key, i.value) for i in stored(client)) == before


@pytest.mark.parametrize(
    ("method", "headers", "reason", "declined"),
    [
        ("GET", {"Sec-GPC": "1"}, "declined", 1),
        ("GET", {"DNT": "1"}, "declined", 1),
        ("HEAD", {}, "not-counted", 0),
        ("GET", {"Sec-Purpose": "prefetch"}, "not-counted", 0),
        ("GET", {"Sec-Purpose": "prefetch;prerender"}, "not-counted", 0),
        ("GET", {"Purpose": "prefetch"}, "not-counted", 0),
    ],
    ids=["gpc", "dnt", "head", "sec-purpose-prefetch", "prerender", "purpose-prefetch"],
)
def test_declines_and_prefetches_are_not_counted(client, method, headers, reason, declined):
    """GPC, DNT, HEAD and prefetches are not opens; only GPC and DNT count as declined (P8)."""
    view = client.create()
    response = client.request(
        method,
        f"/p/{view['id']}.gif",
        headers={"X-Forwarded-For": US_IP, "User-Agent": "Mozilla/5.0 (X11) Firefox/120", **headers},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.headers["x-pixelagg"] == reason
    stats = client.stats(view["id"])
    assert (stats["opens"]["total"], stats["opens"]["declined"]) == (0, declined)
    assert stats["unique_opens"]["estimate"] == 0


def test_declined_hit_stores_only_the_counter(client):
    """A GPC hit leaves no salt and no sketch: only the day's 'declined' counter (P8)."""
    view = client.create()
    before = datetime.now(UTC)
    client.hit(view["id"], **{"Sec-GPC": "1"})
    client.flush()
    kinds = {key_kind(k) for k in campaign_keys(client, view["id"])}
    assert "d" in kinds and not kinds & {"salt", "u", "r"}
    days = sorted({moment.strftime("%Y%m%d") for moment in (before, datetime.now(UTC))})  # midnight
    store = client.service.store
    assert list(client.portal.call(store.read_counters, view["id"], days).values()) == [{"declined": 1}]


def test_dnt_is_counted_when_not_honoured(client_with):
    """With privacy.honor_dnt false, DNT: 1 is an ordinary open; GPC still declines."""
    client = client_with(PIXELAGG_PRIVACY_HONOR_DNT="false")
    view = client.create()
    assert client.hit(view["id"], DNT="1").headers["x-pixelagg"] == "counted"
    assert client.hit(view["id"], ip=GB_IP, **{"Sec-GPC": "1"}).headers["x-pixelagg"] == "declined"
    stats = client.stats(view["id"])
    assert (stats["opens"]["total"], stats["opens"]["declined"]) == (1, 1)


@pytest.mark.parametrize("source", ["openapi", "stats", "compare", "campaigns"])
def test_no_per_person_field_anywhere(client, source):
    """Neither the schema nor any response has a per-person field, at any depth (P7)."""
    view = client.create(recipients=5)
    client.hit(view["id"], ip="198.51.100.77", ua="Mozilla/5.0 (X11) Sentinel-UA/9.9")
    client.flush()
    path = {
        "openapi": "/openapi.json",
        "stats": f"/api/campaigns/{view['id']}/stats",
        "compare": f"/api/stats?campaigns={view['id']}",
        "campaigns": "/api/campaigns",
    }[source]
    response = client.get(path, headers=AUTH)
    document = response.json()
    assert not keys_anywhere(document) & PER_PERSON_KEYS
    assert "198.51.100.77" not in response.text and "Sentinel-UA" not in response.text
    if source == "openapi":
        names = {
            p["name"]
            for item in document["paths"].values()
            for op in item.values()
            for p in (op if isinstance(op, list) else op.get("parameters", []))
        }
        assert not names & PER_PERSON_KEYS


def test_first_hit_is_shown_once_counted(client):
    """After the first counted open the campaign shows when it happened."""
    view = client.create()
    before = time.time()
    client.hit(view["id"])
    shown = client.get(f"/api/campaigns/{view['id']}", headers=AUTH).json()["first_hit_at"]
    assert datetime.fromisoformat(shown).timestamp() >= before - 1
