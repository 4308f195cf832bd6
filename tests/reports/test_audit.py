"""The audit: patterns, counts, TTLs and checks of the live store, on both stores, CLI and API."""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time

import pytest
import redis
from click.testing import CliRunner

from pixelagg.cli import cli
from pixelagg.config import load
from pixelagg.core.campaign import Campaign, new_campaign_id
from pixelagg.core.privacy import SALT_GRACE_SECONDS
from pixelagg.reports.audit import AuditReport, format_report, run_audit
from pixelagg.store import Batch, open_store
from pixelagg.store.embedded_file import Entry
from pixelagg.web.openapi import openapi_spec
from tests import valkey as vk
from tests.helpers import AUTH, READ_AUTH, make_env, store_url

pytestmark = pytest.mark.anyio

QUIET = {"PIXELAGG_PRIVACY_EPSILON": "1.0", "PIXELAGG_STORE_ALLOW_PERSISTENT_SALTS": "false"}
"""Settings that weaken nothing, so the settings check stays quiet unless a test wants it."""


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A Valkey of this module's own: the audit reports keys outside the prefix, and the
    session's server holds other tests' prefixes."""
    with vk.ValkeyProcess(tmp_path_factory.mktemp("audit")) as server:
        yield server.url


@pytest.fixture(autouse=True)
def _empty_server(request):
    """Each Redis test starts on an empty server (the large store's tests share theirs)."""
    names = request.fixturenames
    if (
        "store_kind" in names
        and "large_env" not in names
        and request.getfixturevalue("store_kind") == "redis"
    ):
        vk.resp_command(int(request.getfixturevalue("redis_url").rsplit(":", 1)[1]), "FLUSHALL")


@pytest.fixture
def env(store_kind, request, tmp_path):
    return make_env(tmp_path, store_url(store_kind, request), **QUIET)


WINDOW = 7 * 86400
NOW = time.time()
"""When the seeded opens happen: pinned, so a test run after midnight UTC finds them on DAY."""
DAY = time.strftime("%Y%m%d", time.gmtime(NOW))
PATTERNS = {
    "campaigns": 1,
    "{c:ID}:meta": 1,
    "{c:ID}:salt:{window}": 1,
    "{c:ID}:d:{YYYYMMDD}": 1,
    "{c:ID}:u:{YYYYMMDD}:{class}": 1,
    "{c:ID}:r:{YYYYMMDD}:{region}": 1,
}


async def _seed(store, name="Spring newsletter", **fields) -> Campaign:
    """A campaign with a salt and three opens: one key of every pattern."""
    campaign = Campaign(id=new_campaign_id(), name=name, created_at=time.time(), **fields)
    await store.create_campaign(campaign)
    await store.window_salt(campaign.id, time.time(), WINDOW)
    batch = Batch()
    for _ in range(3):
        batch.add_open(campaign.id, NOW, "human", "NL", secrets.token_bytes(16))
    await store.write_batch(batch)
    return campaign


async def _plant_hash(store, key, fields, ttl):
    """Write a hash behind the store's back; ttl None means no expiry."""
    if store.kind == "redis":
        await store.redis.hset(key, mapping=fields)
        if ttl is not None:
            await store.redis.expire(key, int(ttl))
    else:
        store.put(key, Entry("hash", dict(fields), time.time() + ttl if ttl else math.inf))


async def _set_ttl(store, key, ttl):
    if store.kind == "redis":
        await store.redis.expire(key, int(ttl))
    elif store.keys.is_salt(key):
        value, _ = store.salts._salts[key]
        store.salts._salts[key] = (value, time.monotonic() + ttl)
    else:
        store._data[key].expires_at = time.time() + ttl


async def _set_first_hit(store, campaign_id, first_hit):
    key = store.keys.meta(campaign_id)
    if store.kind == "redis":
        await store.redis.hset(key, "first_hit", repr(first_hit))
    else:
        store._data[key].value["first_hit"] = repr(first_hit)


def _checks(report, severity="error"):
    return {f.check for f in report.findings if f.severity == severity}


def _pattern(report, suffix):
    (summary,) = [p for p in report.patterns if p.pattern.endswith(suffix)]
    return summary


# the store-level audit, on both stores


async def test_empty_store_passes(store, config):
    """An empty store has no keys and no findings."""
    report = await run_audit(store, config)
    assert (report.ok, report.keys, report.findings) == (True, 0, [])


async def test_store_in_use_passes(store, config):
    """A store with campaigns, salts, counters and sketches passes every check."""
    await _seed(store)
    report = await run_audit(store, config)
    assert report.ok and report.findings == []


async def test_lists_every_pattern_with_counts(store, config):
    """After hits the report lists meta, salt, day, u and r sketches and the index, with counts."""
    await _seed(store)
    report = await run_audit(store, config)
    prefix = config.store.key_prefix
    assert {p.pattern: p.count for p in report.patterns} == {
        f"{prefix}:{pattern}": n for pattern, n in PATTERNS.items()
    }
    assert report.keys == len(PATTERNS)


async def test_ttl_ranges_are_within_retention(store, config):
    """Each pattern shows its shortest and longest TTL; aggregates live about the retention."""
    await _seed(store)
    report = await run_audit(store, config)
    day = _pattern(report, ":d:{YYYYMMDD}")
    retention = config.privacy.retention_days * 86400
    assert retention - 60 < day.ttl_min <= day.ttl_max <= retention
    assert _pattern(report, ":salt:{window}").ttl_max <= WINDOW + SALT_GRACE_SECONDS + 2


async def test_campaigns_show_their_legal_basis(store, config):
    """Each campaign is listed with its name, legal basis, reference and status."""
    c = await _seed(store, legal_basis="public_task", legal_reference="Wet X art. 3", paused=True)
    report = await run_audit(store, config)
    assert report.campaigns == [
        {
            "id": c.id,
            "name": "Spring newsletter",
            "legal_basis": "public_task",
            "legal_reference": "Wet X art. 3",
            "paused": True,
        }
    ]


async def test_malformed_campaign_fields_show_their_defaults(store, config):
    """A meta whose values pixelagg never wrote is listed with the declared defaults, not a crash."""
    campaign_id = new_campaign_id()
    meta = {"name": "Planted", "created_at": "soon", "paused": "yes", "legal_basis": ""}
    await _plant_hash(store, store.keys.meta(campaign_id), meta, 3600)
    report = await run_audit(store, config)
    assert report.campaigns == [
        {
            "id": campaign_id,
            "name": "Planted",
            "legal_basis": "legitimate_interest",
            "legal_reference": None,
            "paused": False,
        }
    ]


async def test_key_without_ttl_is_an_error(store, config):
    """A key that never expires is an error of the ttl check (P5)."""
    c = await _seed(store)
    await _plant_hash(store, store.keys.day(c.id, "20240101"), {"01|human|NL": "1"}, None)
    report = await run_audit(store, config)
    assert not report.ok and _checks(report) == {"ttl"}


async def test_ttl_above_retention_is_an_error(store, config):
    """A TTL longer than privacy.retention_days is an error of the retention check (P5)."""
    c = await _seed(store)
    retention = config.privacy.retention_days * 86400
    await _set_ttl(store, store.keys.day(c.id, DAY), retention + 86400)
    report = await run_audit(store, config)
    assert _checks(report) == {"retention"}


async def test_salt_of_a_closed_window_is_an_error(store, config):
    """A salt whose window closed (grace included) more than a moment ago is an error (P4)."""
    c = await _seed(store)
    await _set_first_hit(store, c.id, time.time() - 3 * WINDOW)
    report = await run_audit(store, config)
    assert "salt-window" in _checks(report)
    assert any("closed window" in f.message for f in report.findings)


async def test_previous_salt_within_grace_passes(store, config):
    """The previous window's salt is fine during the grace period after its window."""
    c = await _seed(store)
    await _set_first_hit(store, c.id, time.time() - WINDOW - 60)
    await _set_ttl(store, store.keys.salt(c.id, 0), SALT_GRACE_SECONDS - 120)
    report = await run_audit(store, config)
    assert report.ok, report.findings


async def test_salt_outliving_its_window_is_an_error(store, config):
    """A salt whose TTL reaches past its window plus grace is an error (P4)."""
    c = await _seed(store)
    await _set_ttl(store, store.keys.salt(c.id, 0), WINDOW + 3600)
    report = await run_audit(store, config)
    assert _checks(report) == {"salt-ttl"}


async def test_salt_without_campaign_is_an_error(store, config):
    """A salt whose campaign meta is gone belongs to no open window."""
    c = await _seed(store)
    meta = store.keys.meta(c.id)
    if store.kind == "redis":
        await store.redis.unlink(meta)
    else:
        del store._data[meta]
    report = await run_audit(store, config)
    assert "salt-window" in _checks(report)
    assert "orphan" in _checks(report, "warning")


async def test_foreign_key_is_an_error(store, config):
    """A key under the prefix that matches no pixelagg pattern is an error."""
    await _seed(store)
    await _plant_hash(store, f"{config.store.key_prefix}:other", {"a": "b"}, 3600)
    report = await run_audit(store, config)
    assert _checks(report) == {"foreign"}
    assert _pattern(report, "(foreign key)").count == 1


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        ("01|human|203.0.113.7", "203.0.113.7"),
        ("01|human|2001:db8::1", "2001:db8::1"),
        ("01|Mozilla/5.0 (iPhone)|NL", "Mozilla"),
    ],
    ids=["ipv4", "ipv6", "user-agent"],
)
async def test_raw_data_in_day_field_name_is_an_error(store, config, field, raw):
    """An IP-like or UA-like day-hash field name is a raw-data error; the value is not shown."""
    c = await _seed(store)
    await _plant_hash(store, store.keys.day(c.id, DAY), {field: "1"}, 3600)
    report = await run_audit(store, config)
    assert _checks(report) == {"raw-data"}
    assert raw not in format_report(report) + json.dumps(report.to_json())


async def test_raw_data_in_meta_field_is_an_error(store, config):
    """An IP address in a generated meta field is an error."""
    c = await _seed(store)
    await _plant_hash(store, store.keys.meta(c.id), {"first_hit": "198.51.100.23"}, 3600)
    report = await run_audit(store, config)
    assert "raw-data" in _checks(report)


async def test_raw_data_in_campaign_name_is_a_warning(store, config):
    """An IP-like campaign name is a warning only: names are typed by people."""
    await _seed(store, name="Test from 192.0.2.1 with Outlook")
    report = await run_audit(store, config)
    assert report.ok
    assert _checks(report, "warning") == {"raw-data"}


async def test_keys_of_a_missing_campaign_are_a_warning(store, config):
    """Counters left behind by a campaign whose meta is gone are an orphan warning (P9)."""
    orphan = new_campaign_id()
    await _plant_hash(store, store.keys.day(orphan, DAY), {"01|human|NL": "1"}, 3600)
    report = await run_audit(store, config)
    assert report.ok and _checks(report, "warning") == {"orphan"}


async def test_progress_is_called_every_thousand_keys(store, config):
    """progress(n) is called with the keys seen so far, every 1,000 keys."""
    for n in range(2500):
        await _plant_hash(store, store.keys.day(f"c{n}", DAY), {"01|human|NL": "1"}, 3600)
    calls = []
    await run_audit(store, config, calls.append)
    assert calls == [1000, 2000]


async def test_report_survives_json(store, config):
    """from_json(to_json()) gives the same report back (the CLI reads the API's JSON)."""
    await _seed(store, name="Test from 192.0.2.1")
    report = await run_audit(store, config)
    assert AuditReport.from_json(json.loads(json.dumps(report.to_json()))) == report


async def test_readable_report_names_patterns_and_result(store, config):
    """The readable report shows each pattern, each campaign's legal basis and the verdict."""
    await _seed(store, legal_basis="consent")
    text = format_report(await run_audit(store, config))
    assert f"{config.store.key_prefix}:{{c:ID}}:salt:{{window}}" in text
    assert "consent" in text and "Result: PASSED" in text


@pytest.mark.parametrize("store_kind", ["redis"], indirect=True)
async def test_non_hash_foreign_key_is_reported(store, config):
    """A foreign list key under the prefix is reported, not a crash of the scan."""
    await store.redis.rpush(f"{config.store.key_prefix}:list", "x")
    report = await run_audit(store, config)
    assert _checks(report) == {"foreign", "ttl"}


# the CLI


def _seed_sync(config, **fields):
    async def go():
        store = open_store(config)
        try:
            campaign = await _seed(store)
            if fields:
                await _plant_hash(store, store.keys.day(campaign.id, DAY), fields, 3600)
        finally:
            await store.close()

    asyncio.run(go())


def _cli(env, *args):
    return CliRunner().invoke(cli, ["audit", *args], env=env)


def test_audit_lists_patterns_counts_and_ttls(env, config):
    """`pixelagg audit` prints every pattern with counts and TTLs and exits 0 on a clean store."""
    _seed_sync(config)
    result = _cli(env)
    assert result.exit_code == 0, result.output
    assert f"{config.store.key_prefix}:{{c:ID}}:d:{{YYYYMMDD}}" in result.stdout
    assert "396d" in result.stdout and "Result: PASSED" in result.stdout


def test_cli_exits_1_on_raw_data(env, config):
    """An IP address in a day-hash field makes `pixelagg audit` exit 1 with an error line."""
    _seed_sync(config, **{"01|human|203.0.113.7": "1"})
    result = _cli(env)
    assert result.exit_code == 1
    assert "Error: audit found 1 problem(s)" in result.stderr
    assert "203.0.113.7" not in result.output


def test_cli_json_parses(env, config):
    """`pixelagg audit --json` prints the report as JSON."""
    _seed_sync(config)
    result = _cli(env, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # The embedded store's salts live in memory: a second process (the CLI's) sees none.
    assert report["ok"] is True and report["keys"] == len(PATTERNS) - config.is_embedded


@pytest.mark.slow
def test_cli_uses_running_service_on_embedded_store(serve, tmp_path):
    """With a running serve holding the embedded store, the CLI audits through GET /api/audit."""
    env = make_env(tmp_path, None)
    serve(env)  # holds the store's lock: a direct audit would fail
    result = _cli(env, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["store"] == "embedded"


# the API


def test_api_audit_needs_admin_token(client):
    """GET /api/audit is refused for a read token (403) and answers the admin token."""
    client.create()
    assert client.get("/api/audit", headers=READ_AUTH).status_code == 403
    response = client.get("/api/audit", headers=AUTH)
    assert response.status_code == 200
    assert response.json()["ok"] is True


def test_api_audit_is_documented():
    """/api/audit is in the OpenAPI description with its schema."""
    spec = openapi_spec()
    assert "200" in spec["paths"]["/api/audit"]["get"]["responses"]
    assert "Audit" in spec["components"]["schemas"]


# a large Redis store

CAMPAIGNS = 10_000


@pytest.fixture(scope="module")
def large_env(redis_url, tmp_path_factory):
    """A Redis prefix with 10,000 campaigns' keys (meta, a day hash, a sketch), seeded raw,
    created over 46 days (at most 9 an hour: no burst)."""
    env = make_env(tmp_path_factory.mktemp("large"), redis_url, **QUIET)
    prefix = env["PIXELAGG_STORE_KEY_PREFIX"]
    client = redis.Redis.from_url(redis_url)
    now = time.time()
    try:
        for start in range(0, CAMPAIGNS, 1000):
            pipe = client.pipeline(transaction=False)
            for n in range(start, start + 1000):
                tag = f"{prefix}:{{c:{n:016d}}}"
                pipe.hset(f"{tag}:meta", mapping={"name": f"c{n}", "created_at": now - n * 400})
                pipe.hset(f"{tag}:d:{DAY}", "09|human|NL", 3)
                pipe.pfadd(f"{tag}:u:{DAY}:human", secrets.token_bytes(16))
                pipe.zadd(f"{prefix}:campaigns", {f"{n:016d}": now})
                for key in (f"{tag}:meta", f"{tag}:d:{DAY}", f"{tag}:u:{DAY}:human"):
                    pipe.expire(key, 86400)
            pipe.expire(f"{prefix}:campaigns", 86400)
            pipe.execute()
        yield env
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.unlink(*keys[start : start + 1000])
        client.close()


async def test_audits_ten_thousand_campaigns(large_env):
    """A Redis store with 10,000 campaigns is audited in one pass, every key counted."""
    config = load(environ=large_env)
    store = open_store(config)
    calls = []
    try:
        report = await run_audit(store, config, calls.append)
    finally:
        await store.close()
    assert report.ok, report.findings
    assert report.keys == 3 * CAMPAIGNS + 1
    assert len(report.campaigns) == CAMPAIGNS
    assert {p.pattern.split(":", 1)[1]: p.count for p in report.patterns} == {
        "campaigns": 1,
        "{c:ID}:meta": CAMPAIGNS,
        "{c:ID}:d:{YYYYMMDD}": CAMPAIGNS,
        "{c:ID}:u:{YYYYMMDD}:{class}": CAMPAIGNS,
    }
    assert calls == list(range(1000, 3 * CAMPAIGNS + 1, 1000))


def test_cli_shows_progress_on_a_large_store(large_env):
    """Without a terminal, progress goes to stderr only for audits past 5,000 keys."""
    result = _cli(large_env)
    assert result.exit_code == 0, result.output
    assert "Scanned 5000 keys" in result.stderr
    assert "Scanned" not in result.stdout
