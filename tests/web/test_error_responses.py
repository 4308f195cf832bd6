"""Tests for pixelagg.web.error_responses: the API's one JSON error shape."""

from __future__ import annotations

import pytest

from pixelagg.web.error_responses import error_response
from tests.helpers import AUTH, READ_AUTH

UNKNOWN_ID = "AAAAAAAAAAAAAAAA"

CASES = [
    ("GET", "/api/campaigns", {}, None, 401, "unauthorized"),
    (
        "GET",
        "/api/campaigns",
        {"Authorization": "Bearer wrong-token-123456789"},
        None,
        401,
        "unauthorized",
    ),
    ("POST", "/api/campaigns", READ_AUTH, b'{"name": "x"}', 403, "forbidden"),
    ("GET", f"/api/campaigns/{UNKNOWN_ID}", AUTH, None, 404, "not_found"),
    ("DELETE", "/api/campaigns/not-an-id", AUTH, None, 404, "not_found"),
    ("GET", "/api/nothing-here", AUTH, None, 404, "not_found"),
    ("GET", "/api/nothing-here", {}, None, 404, "not_found"),
    ("PUT", "/api/campaigns", AUTH, b"{}", 405, "method_not_allowed"),
    ("POST", "/api/campaigns", AUTH, b'{"name": ""}', 422, "invalid"),
    ("POST", "/api/campaigns", AUTH, b'{"name": "x", "email": "a@b.c"}', 422, "invalid"),
    ("POST", "/api/campaigns", AUTH, b'{"name": "x", "recipients": 0}', 422, "invalid"),
    ("POST", "/api/campaigns", AUTH, b"{not json", 422, "invalid"),
    ("POST", "/api/campaigns", AUTH, b"\xff\xfe", 422, "invalid"),
    ("POST", "/api/campaigns", AUTH, b"[1, 2]", 422, "invalid"),
    ("GET", f"/api/campaigns/{UNKNOWN_ID}/stats", READ_AUTH, None, 404, "not_found"),
]
CASE_IDS = [
    "401-no-token",
    "401-wrong-token",
    "403-read-token-writes",
    "404-unknown-campaign",
    "404-malformed-id",
    "404-unknown-api-route",
    "404-unknown-api-route-no-token",
    "405-method",
    "422-invalid-field",
    "422-unknown-field",
    "422-recipients-0",
    "422-invalid-json",
    "422-not-utf8",
    "422-not-an-object",
    "404-stats-unknown-campaign",
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status", "code"),
    CASES,
    ids=CASE_IDS,
)
def test_error_shape(client, method, path, headers, body, status, code):
    """Every API error is JSON {"error": {"code", "message", "details"}} with the right status."""
    response = client.request(method, path, headers=headers, content=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    payload = response.json()
    assert list(payload) == ["error"]
    error = payload["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"].strip()
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    if status == 405:
        assert {"GET", "POST"} <= set(response.headers["allow"].split(", "))


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({"name": ""}, {"field": "name"}),
        ({"name": "x", "recipients": "many"}, {"field": "recipients"}),
        ({"name": "x", "email": "a@b.example"}, {"fields": ["email"]}),
    ],
    ids=["name", "recipients", "unknown-field"],
)
def test_invalid_field_is_named_in_details(client, body, details):
    """A 422 for a bad field names the field in details."""
    response = client.post("/api/campaigns", json=body, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["error"]["details"] == details


def test_error_response_builds_the_shape():
    """error_response is the one helper: code from the status unless given, details kept."""
    response = error_response(422, "Bad.", {"field": "name"})
    assert response.status_code == 422
    details = b'"details":{"field":"name"}'
    assert response.body == b'{"error":{"code":"invalid","message":"Bad.",' + details + b"}}"
    custom = error_response(400, "Odd.", code="odd")
    assert custom.body == b'{"error":{"code":"odd","message":"Odd.","details":null}}'
