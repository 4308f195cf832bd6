"""Configuration keys that are valid alone but not together, and the new store keys' checks."""

from __future__ import annotations

import pytest

from pixelagg.config import load
from pixelagg.exceptions import ConfigError
from tests.helpers import make_env


def test_salt_url_needs_a_redis_store(tmp_path):
    """store.salt_url without store.url is an error: the embedded store keeps salts in memory."""
    env = make_env(tmp_path, None, PIXELAGG_STORE_SALT_URL="redis://salts:6379")
    with pytest.raises(ConfigError, match=r"Config 'store\.salt_url'.*'store\.url' is empty"):
        load(environ=env)


@pytest.mark.parametrize(
    "url",
    ["redis://u:s3cret-pw@salts:6379", "ftp://u:s3cret-pw@salts"],
    ids=["without-store-url", "bad-scheme"],
)
def test_salt_url_errors_hide_the_password(tmp_path, url):
    """A configuration error about store.salt_url never shows its password."""
    with pytest.raises(ConfigError) as error:
        load(environ=make_env(tmp_path, None, PIXELAGG_STORE_SALT_URL=url))
    assert "s3cret-pw" not in str(error.value) and "store.salt_url" in str(error.value)


def test_salt_url_with_a_redis_store_loads(tmp_path):
    """store.salt_url beside store.url loads; allow_persistent_salts defaults to false."""
    env = make_env(tmp_path, "redis://main:6379", PIXELAGG_STORE_SALT_URL="redis://salts:6379")
    del env["PIXELAGG_STORE_ALLOW_PERSISTENT_SALTS"]
    config = load(environ=env)
    assert config.store.salt_url == "redis://salts:6379" and config.store.allow_persistent_salts is False


def test_campaign_labels_load_when_epsilon_is_off(tmp_path):
    """metrics.campaign_labels is accepted with exact figures (epsilon off)."""
    env = make_env(tmp_path, None, PIXELAGG_PRIVACY_EPSILON="off", PIXELAGG_METRICS_CAMPAIGN_LABELS="true")
    assert load(environ=env).metrics.campaign_labels is True
