"""Configuration: declared once as data, loaded from YAML and the environment, validated once.

Every key is a dataclass field whose metadata carries its help line, its environment
variable and its check. ``load()`` reads the YAML file, applies ``PIXELAGG_*`` overrides
and refuses to start with an error that names the key and the value.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast, get_type_hints

import yaml

from .config_checks import (
    Check,
    between,
    divides_an_hour,
    epsilon,
    networks,
    one_of,
    prefix,
    server_implementation,
    store_url,
    token,
    tokens,
    without_password,
)
from .core.campaign import LEGAL_BASES
from .exceptions import ConfigError

__all__ = ["Config", "iter_settings", "load"]


def _key(
    default: Any,
    help: str,
    check: Check | None = None,
    env: str | None = None,
) -> Any:
    """Declare one configuration key."""
    meta = {"help": help, "check": check, "env": env}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ServerConfig:
    host: str = _key("127.0.0.1", "Address the HTTP server binds to.")
    port: int = _key(8000, "TCP port of the HTTP server.", between(1, 65535))
    public_url: str | None = _key(
        None,
        "Base URL used in pixel snippets, e.g. https://stats.example.org (default: from request).",
    )
    trusted_proxies: list[str] = _key(
        ["127.0.0.1/32", "::1/128"],
        "Networks whose X-Forwarded-For header is trusted for the client address.",
        networks,
    )
    workers: int = _key(1, "Worker processes (more than 1 needs a Redis store).", between(1, 64))
    access_log: bool = _key(True, "Log each request (method, route, status, time; never the client).")
    implementation: str = _key(
        "uvicorn",
        "HTTP server: uvicorn, or granian (about 1.25x the hits per core; pip install 'pixelagg[granian]').",
        server_implementation,
    )


@dataclass(frozen=True)
class StoreConfig:
    url: str | None = _key(
        None,
        "Redis URL (redis://, rediss://, unix://, redis+cluster://); empty = embedded store.",
        store_url,
    )
    data_dir: str = _key(
        "./pixelagg-data",
        "Directory of the embedded store, token file and lock.",
        env="PIXELAGG_DATA_DIR",
    )
    salt_url: str | None = _key(
        None,
        "Redis URL of the salts' server, which must write nothing to disk; empty = store.url's server.",
        store_url,
    )
    allow_persistent_salts: bool = _key(
        False, "Start even when the salts' server writes to disk (appendonly, save) or cannot say."
    )
    key_prefix: str = _key("pixelagg", "Prefix of every Redis key.", prefix)
    flush_interval_ms: int = _key(25, "How often buffered hits are written, in ms.", between(1, 10_000))
    buffer_max_events: int = _key(
        200_000,
        "Hits kept in memory while the store is unreachable; more are dropped.",
        between(100, 100_000_000),
    )
    persist_interval_ms: int = _key(
        1000, "Embedded store: how often it is saved to disk, in ms.", between(50, 60_000)
    )
    campaign_refresh_seconds: int = _key(
        5, "How often each process re-reads campaign settings from the store.", between(1, 3600)
    )


@dataclass(frozen=True)
class PrivacyConfig:
    retention_days: int = _key(
        396,
        "Days aggregates are kept (every key has this TTL; CNIL: at most 13 months).",
        between(1, 761),
    )
    salt_window_days: int = _key(
        7, "Days one random salt is used for unique opens, from the first hit.", between(1, 31)
    )
    min_bucket: int = _key(
        10,
        "Region buckets with fewer unique opens are merged into 'other'.",
        between(0, 1_000_000),
    )
    honor_dnt: bool = _key(True, "Treat DNT: 1 like Sec-GPC: 1 (serve the GIF, count nothing).")
    regions: str = _key("country", "Region granularity: country or none.", one_of("country", "none"))
    epsilon: float | None = _key(
        1.0,
        "Differential-privacy budget per campaign for every released figure; off = exact, live figures.",
        epsilon,
    )
    release_period_seconds: int = _key(
        3600,
        "Figures are released per period of this many seconds, once it has closed (divides 3600).",
        divides_an_hour,
    )
    min_recipients: int = _key(
        50,
        "Campaigns with fewer recipients (or none set) report no figures while epsilon is on.",
        between(0, 1_000_000),
    )
    uniques: bool = _key(
        True,
        "Count unique opens with a salted keyed hash; off = counts only (no salt, hash or sketch).",
    )

    @property
    def noisy(self) -> bool:
        """Whether figures leave through the differentially private release (epsilon is on)."""
        return self.epsilon is not None


@dataclass(frozen=True)
class ApiConfig:
    admin_token: str | None = _key(
        None,
        "Bearer token for the API; empty = generated in the data dir.",
        token,
        env="PIXELAGG_ADMIN_TOKEN",
    )
    read_tokens: list[str] = _key([], "Extra tokens that may only read campaigns and statistics.", tokens)


@dataclass(frozen=True)
class CampaignsConfig:
    default_legal_basis: str = _key(
        "legitimate_interest", "Legal basis recorded with new campaigns.", one_of(*LEGAL_BASES)
    )


@dataclass(frozen=True)
class LinksConfig:
    max_per_campaign: int = _key(
        200, "Links a campaign may register for click counting; more are refused.", between(1, 10_000)
    )


@dataclass(frozen=True)
class ClassifyConfig:
    apple_egress_file: str | None = _key(
        None, "Apple's egress-ip-ranges.csv (MPP / Private Relay), for apple_mpp by address."
    )
    scanner_networks_file: str | None = _key(
        None, "File of CIDR networks of mail security scanners, one per line."
    )
    cache_size: int = _key(
        10_000, "User agents whose class is cached in memory (LRU).", between(0, 10_000_000)
    )


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = _key(True, "Serve Prometheus metrics at /metrics.")
    token: str | None = _key(
        None, "Bearer token required for /metrics; empty = served on a loopback bind only.", token
    )
    campaign_labels: bool = _key(
        False, "Label hit metrics by campaign id: exact per-campaign counts (only with epsilon off)."
    )


@dataclass(frozen=True)
class NoticeConfig:
    organisation: str | None = _key(None, "Who sends the newsletter, named in the privacy notice.")
    contact: str | None = _key(None, "Where recipients object or ask questions (e-mail or URL).")


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    campaigns: CampaignsConfig = field(default_factory=CampaignsConfig)
    links: LinksConfig = field(default_factory=LinksConfig)
    classify: ClassifyConfig = field(default_factory=ClassifyConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    notice: NoticeConfig = field(default_factory=NoticeConfig)

    @property
    def data_dir(self) -> Path:
        return Path(self.store.data_dir)

    @property
    def is_embedded(self) -> bool:
        return not self.store.url


@dataclass(frozen=True)
class Setting:
    """One key as declared: its dotted name, type, default, help and environment variable."""

    name: str
    type: Any
    default: Any
    help: str
    env: str
    check: Check | None


def iter_settings() -> Iterator[Setting]:
    """Every configuration key, in declaration order."""
    for section in dataclasses.fields(Config):
        section_type = get_type_hints(Config)[section.name]
        hints = get_type_hints(section_type)
        for f in dataclasses.fields(section_type):
            if f.default is dataclasses.MISSING:
                default = cast(Callable[[], Any], f.default_factory)()
            else:
                default = f.default
            env = f.metadata["env"] or f"PIXELAGG_{section.name}_{f.name}".upper()
            yield Setting(
                f"{section.name}.{f.name}",
                hints[f.name],
                default,
                f.metadata["help"],
                env,
                f.metadata["check"],
            )


def _parse_env(setting: Setting, raw: str) -> Any:
    """Turn an environment string into the key's type (YAML rules for scalars and lists)."""
    if setting.type == (str | None):
        return raw or None
    if setting.type is str:
        return raw
    if setting.type == list[str]:
        return [item.strip() for item in raw.split(",") if item.strip()]
    if setting.type == (float | None) and raw.strip().lower() in ("off", "none", ""):
        return None
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def _coerce(setting: Setting, value: Any) -> Any:
    """Check the type of one value; raise ConfigError naming the key and the value."""

    def fail(why: str) -> ConfigError:
        # A secret is never echoed, not even a too-short one: error output reaches logs.
        shown = "(hidden)" if setting.name.endswith(("token", "tokens")) else repr(value)
        if setting.name == "store.salt_url" and isinstance(value, str) and "@" in value:
            shown = repr(without_password(value))
        return ConfigError(f"Config '{setting.name}' has value {shown}. {why}")

    t = setting.type
    if t is bool:
        if not isinstance(value, bool):
            raise fail("Not a valid bool (use true or false).")
    elif t is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("Not a valid integer.")
    elif t is str:
        if not isinstance(value, str):
            raise fail("Not a valid string.")
    elif t == (str | None):
        if value is not None and not isinstance(value, str):
            raise fail("Not a valid string.")
        value = value or None
    elif t == (float | None):
        if value is False or value == "off":  # YAML reads a bare `off` as false
            value = None
        elif isinstance(value, bool) or not isinstance(value, int | float | None):
            raise fail("Not a number (or off).")
        else:
            value = None if value is None else float(value)
    elif t == list[str] and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise fail("Not a list of strings.")
    problem = setting.check(value) if setting.check is not None else None
    if problem:
        raise fail(problem)
    return value


def load(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Load and validate the configuration: defaults, then the YAML file, then the environment."""
    environ = os.environ if environ is None else environ
    path = path or environ.get("PIXELAGG_CONFIG") or None
    data: dict[str, Any] = {}
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"Config file {str(path)!r} cannot be read: {exc.strerror}.") from None
        except UnicodeDecodeError:
            raise ConfigError(f"Config file {str(path)!r} is not UTF-8 text.") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"Config file {str(path)!r} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"Config file {str(path)!r} must hold a mapping of sections.")
        # A section whose keys are all commented out parses as null: it keeps its defaults.
        data = {section: {} if body is None else body for section, body in data.items()}

    settings = list(iter_settings())
    known_sections = {s.name.split(".")[0] for s in settings}
    for section, body in data.items():
        if section not in known_sections:
            raise ConfigError(f"Config '{section}' is not a known section.")
        if not isinstance(body, dict):
            raise ConfigError(f"Config '{section}' has value {body!r}. Must be a mapping of keys.")
        for key in body:
            if f"{section}.{key}" not in {s.name for s in settings}:
                raise ConfigError(f"Config '{section}.{key}' is not a known key.")

    sections: dict[str, dict[str, Any]] = {}
    for setting in settings:
        section, key = setting.name.split(".")
        value = data.get(section, {}).get(key, setting.default)
        if setting.env in environ:
            value = _parse_env(setting, environ[setting.env])
        sections.setdefault(section, {})[key] = _coerce(setting, value)

    hints = get_type_hints(Config)
    config = Config(**{name: hints[name](**values) for name, values in sections.items()})
    _check_together(config)
    return config


def _check_together(config: Config) -> None:
    """Keys that are valid alone but not together."""
    if config.metrics.campaign_labels and config.privacy.epsilon is not None:
        raise ConfigError(
            "Config 'metrics.campaign_labels' is on while 'privacy.epsilon' is "
            f"{config.privacy.epsilon}: per-campaign metric labels publish exact counts, which "
            "the release step's guarantee forbids. Turn metrics.campaign_labels off, or set "
            "privacy.epsilon: off (exact figures)."
        )
    if config.store.salt_url and not config.store.url:
        raise ConfigError(
            f"Config 'store.salt_url' has value {without_password(config.store.salt_url)!r} but "
            "'store.url' is empty: the embedded store keeps salts in memory. Set store.url, or "
            "leave store.salt_url empty."
        )
