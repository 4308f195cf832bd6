"""The audit catches planted violations, on both stores: raw data where sketches should be, in key
names and values, wrong key types, copied salts, keys outside the prefix, salts that persist,
weakening settings and patterns of per-recipient tracking."""

from __future__ import annotations

import base64
import secrets
import time

import pytest

from pixelagg.config import load
from pixelagg.core.campaign import Campaign, new_campaign_id
from pixelagg.reports.audit import format_report, run_audit
from pixelagg.reports.audit_campaigns import looks_like_a_person
from pixelagg.store import Batch, open_store
from pixelagg.store.embedded_file import Entry
from tests import valkey as vk
from tests.helpers import make_env, store_url

pytestmark = pytest.mark.anyio

WINDOW = 7 * 86400
DAY = time.strftime("%Y%m%d", time.gmtime())
QUIET = {"PIXELAGG_PRIVACY_EPSILON": "1.0", "PIXELAGG_STORE_ALLOW_PERSISTENT_SALTS": "false"}
IP = "203.0.113.7"
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """This module's own Valkey: nothing outside the prefix but what a test plants."""
    with vk.ValkeyProcess(tmp_path_factory.mktemp("planted")) as server:
        yield server.url


@pytest.fixture(autouse=True)
def _empty_server(request):
    """Each test that uses this module's Valkey starts on an empty server."""
    names = request.fixturenames
    if "redis_url" in names or ("store_kind" in names and request.getfixturevalue("store_kind") == "redis"):
        vk.resp_command(int(request.getfixturevalue("redis_url").rsplit(":", 1)[1]), "FLUSHALL")


@pytest.fixture
def env(store_kind, request, tmp_path):
    return make_env(tmp_path, store_url(store_kind, request), **QUIET)


async def _seed(store, **fields) -> Campaign:
    """A campaign with a salt, three opens and their first opens: every pattern, seen sets too."""
    fields.setdefault("name", "Spring newsletter")
    fields.setdefault("recipients", 1000)
    campaign = Campaign(id=new_campaign_id(), created_at=fields.pop("created_at", time.time()), **fields)
    await store.create_campaign(campaign)
    salt = await store.window_salt(campaign.id, time.time(), WINDOW)
    batch = Batch()
    for _ in range(3):
        element = secrets.token_bytes(16)
        batch.add_open(campaign.id, time.time(), "human", "NL", element, (salt.window, salt.expires_at))
    await store.write_batch(batch)
    return campaign


async def _plant(store, key, kind, value, ttl=3600):
    """Write a key behind the store's back: a string, a hash or a set."""
    if store.kind == "redis":
        if kind == "string":
            await store.redis.set(key, value, ex=ttl)
        elif kind == "hash":
            await store.redis.hset(key, mapping=value)
            await store.redis.expire(key, ttl)
        else:
            await store.redis.sadd(key, *value)
            await store.redis.expire(key, ttl)
    elif kind == "set":
        store._seen[key] = ({v.encode() if isinstance(v, str) else v for v in value}, time.time() + ttl)
    elif kind == "hash":  # HSET adds fields to a hash: so does this
        old = store._data.get(key)
        store.put(key, Entry("hash", {**(old.value if old else {}), **value}, time.time() + ttl))
    else:
        store.put(key, Entry(kind, bytes(value), time.time() + ttl))


async def _salt(store, campaign_id) -> bytes:
    value, _ = await store.salts.get_or_create(store.keys.salt(campaign_id, 0), b"", 1)
    return value


def _checks(report, severity="error"):
    return {f.check for f in report.findings if f.severity == severity}


def _text(report):
    return format_report(report) + repr(report.to_json())


async def test_seen_sets_of_keyed_hashes_pass(store, config):
    """A store in use, seen sets of 16-byte keyed hashes included, passes every check."""
    await _seed(store)
    report = await run_audit(store, config)
    assert any(p.pattern.endswith(":seen:{window}") for p in report.patterns)
    assert report.findings == []


@pytest.mark.parametrize(
    ("kind", "dimension", "value", "raw"),
    [("u", "human", IP, "IPv4"), ("r", "NL", UA, "user agent")],
    ids=["ip-as-sketch", "user-agent-as-sketch"],
)
async def test_raw_data_under_a_sketch_name_is_an_error(store, config, kind, dimension, value, raw):
    """A plain string stored under a sketch's key name is a type error and a raw-data error."""
    c = await _seed(store)
    await _plant(store, store.keys.sketch(c.id, kind, "20240101", dimension), "string", value.encode())
    report = await run_audit(store, config)
    assert _checks(report) == {"types", "raw-data"}
    assert f"{raw}-like text in string values" in _text(report) and value not in _text(report)


@pytest.mark.parametrize(
    ("suffix", "raw"),
    [
        (f"r:{DAY}:{IP}", "IPv4"),
        ("d:jan.devries@example.nl", "e-mail address"),
        ("u:20240101:2001:db8::7", "IPv6"),
    ],
    ids=["ip-as-region", "email-as-day", "ipv6-as-class"],
)
async def test_raw_data_in_a_key_name_is_an_error(store, config, suffix, raw):
    """An IP or e-mail address in a key's name is a key-names error; the name is not shown."""
    c = await _seed(store)
    key = f"{store.keys.tag(c.id)}:{suffix}"
    await _plant(store, key, "hash", {"x": "1"})
    report = await run_audit(store, config)
    assert "key-names" in _checks(report)
    assert f"hold {raw}-like text" in _text(report) and suffix not in _text(report)


async def test_a_set_holding_addresses_is_an_error(store, config):
    """A seen set whose members are addresses, not 16-byte keyed hashes, is a type and raw-data error."""
    c = await _seed(store)
    await _plant(store, store.keys.seen(c.id, 0), "set", [IP, "198.51.100.23"])
    report = await run_audit(store, config)
    assert _checks(report) == {"types", "raw-data"}
    assert "IPv4-like text in set members" in _text(report)


@pytest.mark.parametrize(
    ("key", "kind", "value"),
    [
        ("day", "set", [secrets.token_bytes(16)]),
        ("meta2", "string", b"x"),
        ("salt", "string", b"short"),
    ],
    ids=["set-for-day-hash", "string-for-meta", "short-salt"],
)
async def test_wrong_key_type_is_an_error(store, config, key, kind, value):
    """A key whose type (or a salt whose length) is not its pattern's is a type error."""
    c = await _seed(store)
    other = await _seed(store)
    name = {
        "day": store.keys.day(c.id, "20240101"),
        "meta2": store.keys.meta(c.id).replace(c.id, new_campaign_id()),
        "salt": store.keys.salt(other.id, 0),
    }[key]
    if key == "salt":
        await store.salts.delete(name)
        if store.kind == "embedded":
            await store.salts.get_or_create(name, value, 3600)
        else:
            await store.salts.redis.set(name, value, ex=3600)
    else:
        await _plant(store, name, kind, value)
    report = await run_audit(store, config)
    assert "types" in _checks(report)


async def test_a_salt_stored_twice_is_an_error(store, config):
    """The same salt under a second key (another window's name) is a salt-copies error."""
    c = await _seed(store)
    salt = await _salt(store, c.id)
    await store.salts.get_or_create(store.keys.salt(c.id, 1), salt, 3600)
    report = await run_audit(store, config)
    assert "salt-copies" in _checks(report)
    assert "salt(s) are stored under more than one key" in _text(report)


@pytest.mark.parametrize(
    "encode",
    [
        bytes.hex,
        lambda s: s.hex().upper(),
        lambda s: base64.b64encode(s).decode(),
        lambda s: base64.urlsafe_b64encode(s).decode().rstrip("="),
    ],
    ids=["hex", "hex-upper", "base64", "base64-url"],
)
async def test_a_salt_copied_into_a_meta_field_is_an_error(store, config, encode):
    """A salt written into a campaign's meta, as hex or base64, is a salt-copies error."""
    c = await _seed(store)
    salt = await _salt(store, c.id)
    await _plant(
        store, store.keys.meta(c.id), "hash", {"name": "Spring newsletter", "note": f"k={encode(salt)}"}
    )
    report = await run_audit(store, config)
    assert _checks(report) == {"salt-copies"}
    assert encode(salt) not in _text(report)


async def test_a_raw_salt_copied_into_a_string_is_an_error(store, config):
    """A salt's raw bytes inside another stored value are a salt-copies error."""
    c = await _seed(store)
    salt = await _salt(store, c.id)
    await _plant(store, f"{store.keys.prefix}:backup", "string", b"\x00" + salt + b"\x00")
    report = await run_audit(store, config)
    assert "salt-copies" in _checks(report) and "(raw bytes)" in _text(report)


@pytest.mark.parametrize("store_kind", ["embedded"], indirect=True)  # Redis: the next section
async def test_a_salt_in_the_store_itself_is_an_error(store, config):
    """A salt key in the embedded store's saved keys, not in memory where salts live, is an error."""
    c = await _seed(store)
    await _plant(store, store.keys.salt(c.id, 1), "string", secrets.token_bytes(32))
    report = await run_audit(store, config)
    assert "salt-copies" in _checks(report) and "in the store itself" in _text(report)


@pytest.mark.parametrize(
    ("value", "raw"),
    [("203.0.113", "truncated IPv4"), ("198.51.100.x", "truncated IPv4"),
     ("2001:0db8:cafe", "truncated IPv6"), ("rcpt-0001@example.com", "e-mail address")],
    ids=["three-octets", "masked-octet", "ipv6-groups", "email"],
)  # fmt: skip
async def test_truncated_addresses_and_emails_in_values_are_errors(store, config, value, raw):
    """A truncated IP or an e-mail address in a day hash's field names is a raw-data error."""
    c = await _seed(store)
    await _plant(store, store.keys.day(c.id, DAY), "hash", {f"r|{value}": "1"})
    report = await run_audit(store, config)
    assert _checks(report) == {"raw-data"} and f"{raw}-like text in field names" in _text(report)


async def test_keys_outside_the_prefix_are_a_warning(store, config):
    """Keys outside the prefix are counted (names only) as a warning; an IP in one's name is an error."""
    await _seed(store)
    await _plant(store, "legacy:stats", "hash", {"a": "1"})
    await _plant(store, f"visits:{IP}", "string", b"1")
    report = await run_audit(store, config)
    assert _checks(report, "warning") == {"outside"} and _checks(report) == {"key-names"}
    assert "2 key(s) outside the prefix" in _text(report) and IP not in _text(report)


# where salts live


@pytest.mark.parametrize(
    ("allowed", "severity"), [("false", "error"), ("true", "warning")], ids=["refused", "allowed"]
)
async def test_salts_on_a_persisting_server(tmp_path, allowed, severity):
    """Salts on a server with an AOF are a salt-persistence error, a warning when allowed."""
    with vk.ValkeyProcess(tmp_path / "main", appendonly="yes") as main:
        env = {**QUIET, "PIXELAGG_STORE_ALLOW_PERSISTENT_SALTS": allowed}
        config = load(environ=make_env(tmp_path, main.url, **env))
        store = open_store(config)
        try:
            report = await run_audit(store, config)
        finally:
            await store.close()
    (finding,) = [f for f in report.findings if f.check == "salt-persistence"]
    assert finding.severity == severity and "appendonly yes" in finding.message


async def test_salt_server_that_writes_nothing_passes(tmp_path, redis_url):
    """With store.salt_url on a server that writes nothing, the salt checks pass."""
    with vk.ValkeyProcess(tmp_path / "salts", appendonly="no", save="") as salts:
        config = load(environ=make_env(tmp_path, redis_url, PIXELAGG_STORE_SALT_URL=salts.url, **QUIET))
        store = open_store(config)
        try:
            await _seed(store)
            report = await run_audit(store, config)
        finally:
            await store.close()
    assert report.findings == [] and any(p.pattern.endswith(":salt:{window}") for p in report.patterns)


async def test_salt_on_the_main_server_beside_a_salt_server_is_an_error(tmp_path, redis_url):
    """A salt key on the main server while store.salt_url is set: twice, or in the store itself."""
    with vk.ValkeyProcess(tmp_path / "salts", appendonly="no", save="") as salts:
        config = load(environ=make_env(tmp_path, redis_url, PIXELAGG_STORE_SALT_URL=salts.url, **QUIET))
        store = open_store(config)
        try:
            c = await _seed(store)
            salt = await _salt(store, c.id)
            await store.redis.set(store.keys.salt(c.id, 0), salt, ex=3600)
            await store.redis.set(store.keys.salt(c.id, 1), secrets.token_bytes(32), ex=3600)
            report = await run_audit(store, config)
        finally:
            await store.close()
    text = _text(report)
    assert "are stored twice: in the store and in the salt server" in text
    assert "in the store itself, not in the salt server" in text


# settings


@pytest.mark.parametrize(
    "setting",
    [
        {"PIXELAGG_PRIVACY_EPSILON": "off"},
        {"PIXELAGG_PRIVACY_MIN_RECIPIENTS": "10"},
        {"PIXELAGG_PRIVACY_HONOR_DNT": "false"},
        {"PIXELAGG_PRIVACY_RETENTION_DAYS": "700"},
        {"PIXELAGG_SERVER_TRUSTED_PROXIES": "0.0.0.0/0"},
        {"PIXELAGG_SERVER_HOST": "0.0.0.0"},
        {"PIXELAGG_PRIVACY_EPSILON": "off", "PIXELAGG_METRICS_CAMPAIGN_LABELS": "true"},
        {"PIXELAGG_STORE_ALLOW_PERSISTENT_SALTS": "true"},
    ],
    ids=["epsilon-off", "min-recipients", "dnt", "retention", "proxies", "metrics", "labels", "salts"],
)
async def test_weakening_setting_is_an_audit_warning(store, env, setting):
    """Each privacy-weakening setting is a settings warning in the audit; the audit still passes."""
    config = load(environ={**env, **setting})
    report = await run_audit(store, config)
    assert report.ok and "settings" in _checks(report, "warning")


# per-recipient patterns


async def _campaigns(store, n, **fields):
    for i in range(n):
        await store.create_campaign(
            Campaign(id=new_campaign_id(), name=fields.get("name", f"Edition {i}"), created_at=fields.get(
                "created_at", time.time() - i * 7200), recipients=fields.get("recipients", 1000))
        )  # fmt: skip


@pytest.mark.parametrize(("n", "severity"), [(4, None), (5, "warning"), (20, "error")], ids=["4", "5", "20"])
async def test_many_small_campaigns(store, config, n, severity):
    """Campaigns of fewer than 10 recipients: a warning from 5, an error from 20."""
    await _campaigns(store, n, recipients=1)
    report = await run_audit(store, config)
    found = [f.severity for f in report.findings if f.check == "small-campaigns"]
    assert found == ([severity] if severity else [])


async def test_few_opens_count_as_small_only_when_exact(store, env):
    """Old campaigns with fewer than 5 opens count as small with epsilon off; with it on, no count is read."""
    await _campaigns(store, 5, created_at=time.time() - 4 * 86400)
    exact = await run_audit(store, load(environ={**env, "PIXELAGG_PRIVACY_EPSILON": "off"}))
    noisy = await run_audit(store, load(environ=env))
    assert "small-campaigns" in _checks(exact, "warning") and "small-campaigns" not in _checks(
        noisy, "warning"
    )


@pytest.mark.parametrize(
    ("names", "severity"),
    [
        (["Spring newsletter", "Members Update", "Tax reminder"], None),
        (["rcpt-0001@example.com"], "warning"),
        (["Jan de Vries"], "warning"),
        ([f"rcpt-{i:04d}@example.com" for i in range(3)] + ["Anna Schmidt", "Peter van den Berg"], "error"),
    ],
    ids=["ordinary", "one-email", "one-person", "five"],
)
async def test_names_that_look_like_recipients(store, config, names, severity):
    """Names like an e-mail address or a person: a warning from 1, an error from 5."""
    for name in names:
        await _campaigns(store, 1, name=name)
    report = await run_audit(store, config)
    found = [f.severity for f in report.findings if f.check == "personal-names"]
    assert found == ([severity] if severity else [])


@pytest.mark.parametrize(
    ("n", "severity"), [(19, None), (20, "warning"), (100, "error")], ids=["19", "20", "100"]
)
async def test_bursts_of_campaign_creation(store, config, n, severity):
    """Campaigns created within an hour: a warning from 20, an error from 100."""
    await _campaigns(store, n, created_at=time.time())
    report = await run_audit(store, config)
    found = [f.severity for f in report.findings if f.check == "creation-bursts"]
    assert found == ([severity] if severity else [])


@pytest.mark.parametrize(
    ("name", "person"),
    [("Jan de Vries", True), ("John Smith", True), ("Maria Garcia-Lopez", True), ("Peter van den Berg", True),
     ("Anna Update", False), ("Spring Newsletter", False), ("Black Friday Sale", False), ("Jan", False),
     ("Peter Pan newsletter", False), ("Emma 2024", False)],
    ids=["dutch", "english", "double-surname", "particles", "newsletter-word", "title-case",
         "not-a-given-name", "one-word", "lower-case", "digits"],
)  # fmt: skip
def test_looks_like_a_person(name, person):
    """A common given name followed by surname-like words reads as a person's name."""
    assert looks_like_a_person(name) is person
