"""Property tests: the pixel under arbitrary input, and the API against its own OpenAPI schema."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, quote_from_bytes

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import positive_data_acceptance
from schemathesis.python.asgi import get_client, shutdown_lifespans

from pixelagg.config import load
from pixelagg.core.campaign import LEGAL_BASES, Campaign
from pixelagg.core.classify import CLASSES
from pixelagg.web.app import create_app
from pixelagg.web.openapi import openapi_spec
from pixelagg.web.pixel import GIF
from tests.helpers import AUTH, BROWSER_UA, make_env

FUZZ = settings(max_examples=150, deadline=None, database=None)
STATS_OPERATIONS = {"/api/campaigns/{id}/stats", "/api/campaigns/{id}/stats.csv", "/api/stats"}

# Bytes a server lets through in a header value (RFC 9110 field-vchar, obs-text, SP, HTAB).
HEADER_BYTES = [0x09, *range(0x20, 0x7F), *range(0x80, 0x100)]
header_values = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300),
    st.lists(st.sampled_from(HEADER_BYTES), max_size=300).map(bytes),
)
forwarded_for = st.one_of(
    header_values,
    st.lists(st.ip_addresses().map(str), min_size=1, max_size=4).map(", ".join),
)
flags = st.one_of(st.sampled_from(["1", "0", " 1 ", "1, 1", "", "true"]), header_values)
request_headers = st.fixed_dictionaries(
    {},
    optional={
        "User-Agent": header_values,
        "X-Forwarded-For": forwarded_for,
        "Sec-GPC": flags,
        "DNT": flags,
    },
)
# (raw bytes, percent-encoded form); dots are encoded too, so no client folds '..' away.
raw_tails = st.one_of(st.text(max_size=200).map(str.encode), st.binary(max_size=200))
tails = raw_tails.map(lambda raw: (raw, quote_from_bytes(raw, safe="/").replace(".", "%2E")))
queries = st.one_of(
    st.text(max_size=200).map(lambda t: (t.encode(), quote(t, safe="=&"))),
    st.dictionaries(st.text(max_size=20), st.text(max_size=50), max_size=5).map(
        lambda d: ("&".join(f"{k}={v}" for k, v in d.items()).encode(), _encode_params(d))
    ),
)


def _encode_params(params: dict[str, str]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params.items())


def _as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")


def assert_pixel(response: Any, *reasons: str) -> None:
    """200, the GIF, and one of the expected reasons: never a 500 or a hidden 'error'."""
    assert response.status_code == 200, (response.request.url, response.text[:200])
    assert response.content == GIF
    assert response.headers["content-type"] == "image/gif"
    assert response.headers["x-pixelagg"] in reasons


def stored(client) -> list[Any]:
    store = client.service.store

    async def collect() -> list[Any]:
        return [info async for info in store.scan()]

    return client.portal.call(collect)  # type: ignore[no-any-return]


# Words the store writes by design: hypothesis also draws strings from this project's source,
# so a header may be 'created_at' or 'image_proxy', and finding those proves nothing.
_STORE_WORDS = sorted(
    {
        *CLASSES,
        *LEGAL_BASES,
        *Campaign.__dataclass_fields__,
        "declined",
        "other",
        "proxy",
        "unknown",
        "campaigns",
        "meta",
        "salt",
        "Test campaign",
    },
    key=len,
    reverse=True,
)
_STORE_TOKENS = re.compile(b"|".join(re.escape(w.encode()) for w in _STORE_WORDS) + rb"|[0-9A-Z|:{}_,=\" -]")


def _distinctive(needle: bytes) -> bool:
    """Long and varied enough that finding it in the store cannot be chance.

    Left out: runs of digits or control bytes (timestamps, counts and sketch registers hold
    those) and text made only of the store's own words and separators.
    """
    return (
        len(needle) >= 6
        and len(set(needle)) >= 3
        and any(b >= 0x20 and not 0x30 <= b <= 0x39 for b in needle)
        and bool(_STORE_TOKENS.sub(b"", needle))
    )


def assert_stored_nowhere(client, inputs: list[bytes]) -> None:
    """No fuzzed input (as sent, stripped, or re-encoded as UTF-8) is in any key or value."""
    client.flush()
    blobs = [blob for info in stored(client) for blob in (info.key.encode(), info.value)]
    for raw in inputs:
        text = raw.decode("latin-1")
        variants = {raw, raw.strip(), text.encode("utf-8"), text.strip().encode("utf-8")}
        for needle in filter(_distinctive, variants):
            leaked = [blob[:60] for blob in blobs if needle in blob]
            assert not leaked, (needle, leaked)


@pytest.fixture
def embedded_client(tmp_path, client_for):
    return client_for(load(environ=make_env(tmp_path, None)))


# the pixel


def test_arbitrary_path_tails_get_the_gif(embedded_client):
    """Any path after /p/ gets 200 and the GIF as an unknown campaign, and stores nothing."""
    client = embedded_client
    client.create()
    before = sorted((i.key, i.value) for i in stored(client))
    sent: list[bytes] = []

    @FUZZ
    @given(tail=tails)
    def run(tail: tuple[bytes, str]) -> None:
        raw, encoded = tail
        sent.append(raw)
        assert_pixel(client.get("/p/" + encoded), "unknown-campaign")

    run()
    client.flush()
    assert sorted((i.key, i.value) for i in stored(client)) == before
    assert_stored_nowhere(client, sent)


def test_arbitrary_headers_get_the_gif(client):
    """Any User-Agent, X-Forwarded-For, Sec-GPC or DNT gets the GIF and none of it is stored."""
    campaign_id = client.create()["id"]
    sent: list[bytes] = []

    @FUZZ
    @given(headers=request_headers)
    def run(headers: dict[str, str | bytes]) -> None:
        sent.extend(_as_bytes(v) for v in headers.values())
        response = client.get(f"/p/{campaign_id}.gif", headers=headers)
        assert_pixel(response, "counted", "declined")

    run()
    assert_stored_nowhere(client, sent)


def test_arbitrary_query_strings_are_ignored(embedded_client):
    """Any query string on a live pixel is counted as a plain hit and stored nowhere (P1)."""
    client = embedded_client
    campaign_id = client.create()["id"]
    sent: list[bytes] = []

    @FUZZ
    @given(query=queries)
    def run(query: tuple[bytes, str]) -> None:
        raw, encoded = query
        sent.extend([raw, encoded.encode()])
        response = client.get(
            f"/p/{campaign_id}.gif?{encoded}",
            headers={"User-Agent": BROWSER_UA, "X-Forwarded-For": "8.8.8.8"},
        )
        assert_pixel(response, "counted")

    run()
    assert_stored_nowhere(client, sent)
    kinds = {i.key.split("}:", 1)[1].split(":")[0] for i in stored(client) if "}:" in i.key}
    assert kinds <= {"meta", "salt", "seen", "d", "u", "r", "w"}


# the API against its schema (schemathesis)


class _LateApp:
    """An ASGI app whose target a fixture sets, so importing this module starts nothing."""

    target: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.target(scope, receive, send)


APP = _LateApp()
LIVE: dict[str, str] = {}
schema = schemathesis.openapi.from_dict(openapi_spec())
schema.app = APP
# The tests send the admin token themselves; generated (or left-out) tokens would only blur
# which part of a negative case the server rejected.
schema.config.generation.update(with_security_parameters=False)


@schema.hook("flatmap_path_parameters")
def _live_campaign_half_the_time(context: Any, path_parameters: dict[str, Any]) -> Any:
    """Half the cases name a campaign that exists, so real 200 responses are checked too.

    PATCH and DELETE keep generated ids: they would change the campaign the others read.
    """
    if not path_parameters or context.operation.method.upper() in ("PATCH", "DELETE"):
        return st.just(path_parameters)
    return st.sampled_from([path_parameters, {**path_parameters, "id": LIVE["id"]}])


@schema.hook("flatmap_query")
def _compare_the_live_campaign_half_the_time(context: Any, query: dict[str, Any]) -> Any:
    if context.operation.path != "/api/stats" or not isinstance(query, dict):
        return st.just(query)
    return st.sampled_from([query, {**query, "campaigns": LIVE["id"]}])


@pytest.fixture
def live_app(tmp_path):
    """The app on an embedded store, with one campaign that has an open.

    One per test: schemathesis ends every ASGI lifespan (closing the store) after each test.
    """
    APP.target = create_app(load(environ=make_env(tmp_path, None)))
    with get_client(APP) as session:
        response = session.post("/api/campaigns", json={"name": "Live", "recipients": 10}, headers=AUTH)
        LIVE["id"] = response.json()["id"]
        session.get(f"/p/{LIVE['id']}.gif", headers={"User-Agent": BROWSER_UA})
    yield APP
    shutdown_lifespans()
    APP.target = None
    LIVE.clear()


def _names_live_campaign(case: Any) -> bool:
    values = [*(case.path_parameters or {}).values(), *(case.query or {}).values()]
    return LIVE["id"] in values


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    database=None,
    # One app (live_app) serves all examples of an operation: that sharing is intended.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_api_conforms_to_its_schema(case, live_app):
    """No 500s, and every response matches the schema, for schema-made and broken input.

    On a live campaign the stats range rules the schema cannot state (to >= from, at most
    800 days, an IANA zone) give 422 to schema-valid input, so that one check is left out.
    """
    excluded = []
    if case.operation.path in STATS_OPERATIONS and _names_live_campaign(case):
        excluded.append(positive_data_acceptance)
    case.call_and_validate(headers=AUTH, excluded_checks=excluded)


def test_served_schema_is_the_one_fuzzed(live_app):
    """/openapi.json serves exactly the document the schemathesis tests read."""
    with get_client(APP) as session:
        assert session.get("/openapi.json").json() == openapi_spec()


def test_real_responses_conform(live_app):
    """Every operation on a fresh campaign answers 2xx in the shape its schema gives."""
    create = schema["/api/campaigns"]["POST"].Case(
        body={"name": "Real", "recipients": 3, "legal_basis": "consent"},
        media_type="application/json",
    )
    response = create.call_and_validate(headers=AUTH)
    assert response.status_code == 201
    campaign_id = response.json()["id"]
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("/api/campaigns", "GET", {}),
        ("/api/campaigns/{id}", "GET", {}),
        ("/api/campaigns/{id}", "PATCH", {"body": {"recipients": None, "name": "Renamed"}}),
        ("/api/campaigns/{id}/pause", "POST", {}),
        ("/api/campaigns/{id}/resume", "POST", {}),
        ("/api/campaigns/{id}/stats", "GET", {"query": {"tz": "Europe/Amsterdam"}}),
        ("/api/campaigns/{id}/stats.csv", "GET", {}),
        ("/api/stats", "GET", {"query": {"campaigns": f"{campaign_id},{LIVE['id']}"}}),
        ("/api/campaigns/{id}", "DELETE", {}),
    ]
    for path, method, kwargs in calls:
        operation = schema[path][method]
        if "body" in kwargs:
            kwargs["media_type"] = "application/json"
        params = {"path_parameters": {"id": campaign_id}} if "{id}" in path else {}
        response = operation.Case(**params, **kwargs).call_and_validate(headers=AUTH)
        assert response.status_code < 300, (method, path, response.text)
