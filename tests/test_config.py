"""Tests for pixelagg.config: defaults, the YAML file, environment overrides, validation."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from pixelagg.config import Config, iter_settings, load
from pixelagg.exceptions import ConfigError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config.example.yaml"
README = ROOT / "README.md"
SETTINGS = list(iter_settings())
SETTING_IDS = [s.name for s in SETTINGS]
TOKEN = "0123456789abcdef-token"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pixelagg.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# defaults and the file


def test_defaults_load_without_file_or_environment():
    """With no file and no environment, load() gives the declared defaults."""
    config = load(environ={})
    assert config == Config()
    assert config.server.port == 8000
    assert config.privacy.retention_days == 396
    assert config.is_embedded


def test_every_setting_has_help_and_env():
    """Every key declares a help line and a PIXELAGG_* environment variable."""
    for setting in SETTINGS:
        assert setting.help.strip(), setting.name
        assert re.fullmatch(r"PIXELAGG_[A-Z_]+", setting.env), setting.name


def test_yaml_file_sets_values(tmp_path):
    """Keys in the YAML file replace the defaults; the others keep theirs."""
    path = write(
        tmp_path,
        "server:\n  port: 9000\n  trusted_proxies: [10.0.0.0/8]\n"
        "privacy:\n  min_bucket: 0\n  regions: none\n"
        "store:\n  url: redis://localhost:6379/0\n",
    )
    config = load(path, environ={})
    assert config.server.port == 9000
    assert config.server.trusted_proxies == ["10.0.0.0/8"]
    assert config.privacy.min_bucket == 0
    assert config.privacy.regions == "none"
    assert config.store.url == "redis://localhost:6379/0"
    assert not config.is_embedded
    assert config.server.host == "127.0.0.1"


def test_pixelagg_config_names_the_file(tmp_path):
    """PIXELAGG_CONFIG in the environment names the file when no path is given."""
    path = write(tmp_path, "server:\n  port: 9001\n")
    assert load(environ={"PIXELAGG_CONFIG": str(path)}).server.port == 9001


@pytest.mark.parametrize(
    "text",
    ["", "# only comments\n", "---\n"],
    ids=["empty", "comments", "doc"],
)
def test_empty_file_gives_defaults(tmp_path, text):
    """An empty file (or one of comments only) is the defaults."""
    assert load(write(tmp_path, text), environ={}) == Config()


def test_empty_section_gives_its_defaults(tmp_path):
    """A section whose keys are all commented out keeps its defaults."""
    path = write(tmp_path, "server:\n  # port: 9000\nprivacy:\n  min_bucket: 3\n")
    config = load(path, environ={})
    assert config.server == Config().server
    assert config.privacy.min_bucket == 3


def test_empty_string_clears_an_optional_key(tmp_path):
    """An empty string for an optional key means null (e.g. the embedded store)."""
    config = load(write(tmp_path, "store:\n  url: ''\napi:\n  admin_token: ''\n"), environ={})
    assert config.store.url is None
    assert config.api.admin_token is None


# environment overrides


@pytest.mark.parametrize(
    ("variable", "raw", "attribute", "expected"),
    [
        ("PIXELAGG_STORE_URL", "redis://cache:6379/1", ("store", "url"), "redis://cache:6379/1"),
        ("PIXELAGG_DATA_DIR", "/srv/pixelagg", ("store", "data_dir"), "/srv/pixelagg"),
        ("PIXELAGG_ADMIN_TOKEN", TOKEN, ("api", "admin_token"), TOKEN),
        ("PIXELAGG_SERVER_PORT", "9100", ("server", "port"), 9100),
        ("PIXELAGG_PRIVACY_HONOR_DNT", "false", ("privacy", "honor_dnt"), False),
        ("PIXELAGG_STORE_KEY_PREFIX", "123", ("store", "key_prefix"), "123"),
        ("PIXELAGG_STORE_URL", "", ("store", "url"), None),
    ],
    ids=["store-url", "data-dir", "admin-token", "int", "bool", "str-stays-str", "empty-is-null"],
)
def test_environment_wins_over_the_file(tmp_path, variable, raw, attribute, expected):
    """A PIXELAGG_* variable overrides the file's value, parsed to the key's type."""
    path = write(
        tmp_path,
        "server:\n  port: 9000\nprivacy:\n  honor_dnt: true\n"
        "store:\n  url: redis://file:6379/0\n  data_dir: /from/file\n  key_prefix: fromfile\n"
        "api:\n  admin_token: file-token-0123456789\n",
    )
    config = load(path, environ={variable: raw})
    section, key = attribute
    assert getattr(getattr(config, section), key) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("10.0.0.0/8,192.168.0.0/16", ["10.0.0.0/8", "192.168.0.0/16"]),
        (" 10.0.0.0/8 , ::1/128 ,", ["10.0.0.0/8", "::1/128"]),
        ("", []),
    ],
    ids=["two", "spaces-and-trailing-comma", "empty"],
)
def test_list_environment_is_comma_separated(raw, expected):
    """List keys read their environment variable as comma-separated items."""
    config = load(environ={"PIXELAGG_SERVER_TRUSTED_PROXIES": raw})
    assert config.server.trusted_proxies == expected


def test_read_tokens_from_environment():
    """PIXELAGG_API_READ_TOKENS gives several read tokens."""
    tokens = [TOKEN + "1", TOKEN + "2"]
    config = load(environ={"PIXELAGG_API_READ_TOKENS": ",".join(tokens)})
    assert config.api.read_tokens == tokens


# invalid values


@pytest.mark.parametrize(
    ("yaml_text", "key", "value"),
    [
        ("server:\n  port: 0\n", "server.port", "0"),
        ("server:\n  port: 70000\n", "server.port", "70000"),
        ("server:\n  port: eighty\n", "server.port", "'eighty'"),
        ("server:\n  workers: 0\n", "server.workers", "0"),
        ("server:\n  access_log: maybe\n", "server.access_log", "'maybe'"),
        ("server:\n  trusted_proxies: [10.0.0.0/33]\n", "server.trusted_proxies", "10.0.0.0/33"),
        ("server:\n  trusted_proxies: [not-a-net]\n", "server.trusted_proxies", "not-a-net"),
        ("server:\n  trusted_proxies: 10.0.0.0/8\n", "server.trusted_proxies", "'10.0.0.0/8'"),
        ("privacy:\n  retention_days: 0\n", "privacy.retention_days", "0"),
        ("privacy:\n  retention_days: 762\n", "privacy.retention_days", "762"),
        ("privacy:\n  salt_window_days: 32\n", "privacy.salt_window_days", "32"),
        ("privacy:\n  min_bucket: -1\n", "privacy.min_bucket", "-1"),
        ("privacy:\n  regions: city\n", "privacy.regions", "'city'"),
        ("privacy:\n  honor_dnt: 1\n", "privacy.honor_dnt", "1"),
        ("store:\n  url: http://localhost:6379\n", "store.url", "'http://localhost:6379'"),
        ("store:\n  url: 6379\n", "store.url", "6379"),
        ("store:\n  key_prefix: 'a:b'\n", "store.key_prefix", "'a:b'"),
        ("store:\n  flush_interval_ms: 0\n", "store.flush_interval_ms", "0"),
        ("api:\n  admin_token: short\n", "api.admin_token", "(hidden)"),
        ("api:\n  read_tokens: [short]\n", "api.read_tokens", "(hidden)"),
        ("metrics:\n  token: short\n", "metrics.token", "(hidden)"),
        ("campaigns:\n  default_legal_basis: vibes\n", "campaigns.default_legal_basis", "vibes"),
        ("classify:\n  cache_size: -5\n", "classify.cache_size", "-5"),
    ],
    ids=[
        "port-0",
        "port-too-big",
        "port-not-int",
        "workers-0",
        "bool-not-bool",
        "cidr-prefix",
        "cidr-garbage",
        "list-is-str",
        "retention-0",
        "retention-too-long",
        "salt-window-32",
        "min-bucket-negative",
        "regions-unknown",
        "bool-is-int",
        "store-url-scheme",
        "store-url-int",
        "key-prefix-colon",
        "flush-0",
        "admin-token-short",
        "read-token-short",
        "metrics-token-short",
        "legal-basis-unknown",
        "cache-size-negative",
    ],
)
def test_invalid_file_value_names_key_and_value(tmp_path, yaml_text, key, value):
    """An invalid value in the file stops loading with a message naming the key and the value."""
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, yaml_text), environ={})
    message = str(info.value)
    assert message.startswith(f"Config '{key}' has value ")
    assert value in message


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        ("PIXELAGG_SERVER_PORT", "0", "Config 'server.port' has value 0. Must be between 1 and"),
        (
            "PIXELAGG_SERVER_PORT",
            "abc",
            "Config 'server.port' has value 'abc'. Not a valid integer.",
        ),
        ("PIXELAGG_PRIVACY_SALT_WINDOW_DAYS", "32", "'privacy.salt_window_days' has value 32."),
        ("PIXELAGG_PRIVACY_MIN_BUCKET", "-1", "Config 'privacy.min_bucket' has value -1."),
        ("PIXELAGG_STORE_URL", "memcached://x", "Config 'store.url' has value 'memcached://x'."),
        ("PIXELAGG_SERVER_TRUSTED_PROXIES", "10.0.0.1/8,nope", "'nope' is not an IP network"),
        ("PIXELAGG_ADMIN_TOKEN", "tooshort", "Config 'api.admin_token' has value (hidden)."),
        ("PIXELAGG_SERVER_ACCESS_LOG", "perhaps", "Not a valid bool"),
        (
            "PIXELAGG_SERVER_IMPLEMENTATION",
            "hypercorn",
            "Config 'server.implementation' has value 'hypercorn'. Must be one of: uvicorn, granian.",
        ),
    ],
    ids=["port-0", "port-abc", "salt-window", "min-bucket", "url-scheme", "cidr", "token", "bool", "server"],
)
def test_invalid_environment_value_names_key_and_value(variable, raw, message):
    """An invalid environment value stops loading with a message naming the key and the value."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        load(environ={variable: raw})


@pytest.mark.parametrize(
    "variable", ["PIXELAGG_ADMIN_TOKEN", "PIXELAGG_METRICS_TOKEN", "PIXELAGG_API_READ_TOKENS"], ids=str
)
def test_invalid_token_is_not_echoed(variable):
    """A rejected token is named by its key but its value never appears in the error."""
    with pytest.raises(ConfigError) as info:
        load(environ={variable: "secret-ish"})
    assert "secret-ish" not in str(info.value)


def test_server_implementation_must_be_installed(monkeypatch):
    """Choosing granian without the granian extra stops loading with the command that installs it."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "granian" else real(name, *a)
    )
    with pytest.raises(
        ConfigError, match=re.escape("granian is not installed: pip install 'pixelagg[granian]'")
    ):
        load(environ={"PIXELAGG_SERVER_IMPLEMENTATION": "granian"})


def test_environment_is_checked_even_when_the_file_is_valid(tmp_path):
    """A valid file does not shield an invalid environment override."""
    path = write(tmp_path, "privacy:\n  retention_days: 30\n")
    with pytest.raises(ConfigError, match=r"'privacy\.retention_days' has value 0\."):
        load(path, environ={"PIXELAGG_PRIVACY_RETENTION_DAYS": "0"})


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("serverr:\n  port: 1\n", "Config 'serverr' is not a known section."),
        ("server:\n  prot: 1\n", "Config 'server.prot' is not a known key."),
        ("server: 8000\n", "Config 'server' has value 8000. Must be a mapping of keys."),
        ("server: [port]\n", "Config 'server' has value ['port']. Must be a mapping of keys."),
        ("- server\n- store\n", "must hold a mapping of sections."),
        ("just a string\n", "must hold a mapping of sections."),
        ("server:\n  port: [1\n", "is not valid YAML"),
        ("server:\n\tport: 1\n", "is not valid YAML"),
    ],
    ids=[
        "unknown-section",
        "unknown-key",
        "section-scalar",
        "section-list",
        "file-list",
        "file-scalar",
        "yaml-unclosed",
        "yaml-tab",
    ],
)
def test_invalid_file_structure_is_refused(tmp_path, yaml_text, message):
    """Unknown sections and keys, non-mappings and bad YAML stop loading with a clear message."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        load(write(tmp_path, yaml_text), environ={})


@pytest.mark.parametrize("kind", ["missing", "directory"], ids=["missing", "directory"])
def test_unreadable_file_is_refused(tmp_path, kind):
    """A config file that cannot be read stops loading, naming the file."""
    path = tmp_path / "nope.yaml"
    if kind == "directory":
        path.mkdir()
    with pytest.raises(ConfigError, match=r"cannot be read") as info:
        load(path, environ={})
    assert str(path) in str(info.value)


def test_undecodable_file_is_refused(tmp_path):
    """A config file that is not UTF-8 stops loading with a ConfigError, not a traceback."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"notice:\n  organisation: Caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load(path, environ={})
    assert str(path) in str(info.value)


# documentation


def test_example_file_loads_as_the_defaults():
    """config.example.yaml is valid and equals the defaults."""
    assert load(EXAMPLE, environ={}) == Config()


@pytest.mark.parametrize("setting", SETTINGS, ids=SETTING_IDS)
def test_every_setting_is_in_the_example(setting):
    """config.example.yaml shows every key with its default, its help line and its variable."""
    text = EXAMPLE.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    section, key = setting.name.split(".")
    assert key in data[section], f"{setting.name} is missing from config.example.yaml"
    assert data[section][key] == setting.default
    assert setting.help in text
    assert setting.env in text


def test_every_setting_is_in_the_readme():
    """README.md names every key by its dotted name."""
    readme = README.read_text(encoding="utf-8")
    missing = [s.name for s in SETTINGS if s.name not in readme]
    assert not missing, f"README.md does not document: {', '.join(missing)}"


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [("epsilon: off", None), ("epsilon: 0.5", 0.5), ("epsilon: 2", 2.0), ("{}", 1.0)],
    ids=["off", "float", "int", "default"],
)
def test_epsilon_from_yaml(tmp_path, yaml_text, expected):
    """privacy.epsilon is a number, or off (YAML's bare off) for exact figures."""
    path = tmp_path / "c.yaml"
    path.write_text(f"privacy:\n  {yaml_text}\n" if yaml_text != "{}" else "privacy: {}\n")
    config = load(path, environ={})
    assert config.privacy.epsilon == expected
    assert config.privacy.noisy is (expected is not None)


@pytest.mark.parametrize(
    ("raw", "expected"), [("off", None), ("OFF", None), ("0.25", 0.25)], ids=["off", "upper", "num"]
)
def test_epsilon_from_environment(raw, expected):
    """PIXELAGG_PRIVACY_EPSILON takes a number or off."""
    assert load(environ={"PIXELAGG_PRIVACY_EPSILON": raw}).privacy.epsilon == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"PIXELAGG_PRIVACY_EPSILON": "lots"},
            "Config 'privacy.epsilon' has value 'lots'. Not a number (or off).",
        ),
        (
            {"PIXELAGG_PRIVACY_EPSILON": "0"},
            "Config 'privacy.epsilon' has value 0.0. Must be between 0.01 and 10, or off.",
        ),
        (
            {"PIXELAGG_PRIVACY_RELEASE_PERIOD_SECONDS": "7"},
            "Config 'privacy.release_period_seconds' has value 7. Must divide 3600",
        ),
    ],
    ids=["word", "zero", "period"],
)
def test_release_settings_are_checked(env, message):
    """A bad budget or release period stops start-up, naming the key and the value."""
    with pytest.raises(ConfigError) as caught:
        load(environ=env)
    assert str(caught.value).startswith(message)
