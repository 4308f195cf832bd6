"""Privacy-weakening settings (reports/settings_check.py) and what `serve` prints about them."""

from __future__ import annotations

import pytest

from pixelagg.config import load
from pixelagg.reports.settings_check import salt_findings, weak_settings
from pixelagg.reports.startup import startup_notices
from pixelagg.store.salts import Persistence
from tests.helpers import make_env

SAFE = {"PIXELAGG_PRIVACY_EPSILON": "1.0", "PIXELAGG_STORE_ALLOW_PERSISTENT_SALTS": "false"}


def _config(tmp_path, **env):
    return load(environ=make_env(tmp_path, None, **{**SAFE, **env}))


def test_defaults_weaken_nothing(tmp_path):
    """The default settings (epsilon on) give no warning."""
    assert weak_settings(_config(tmp_path)) == []


@pytest.mark.parametrize(
    ("env", "words"),
    [
        (
            {"PIXELAGG_PRIVACY_EPSILON": "off"},
            "figures are exact and live: nothing protects a single recipient",
        ),
        ({"PIXELAGG_PRIVACY_MIN_RECIPIENTS": "49"}, "privacy.min_recipients is 49, below 50"),
        ({"PIXELAGG_PRIVACY_HONOR_DNT": "false"}, "privacy.honor_dnt is off"),
        ({"PIXELAGG_PRIVACY_RETENTION_DAYS": "397"}, "privacy.retention_days is 397, above 396"),
        ({"PIXELAGG_SERVER_TRUSTED_PROXIES": "0.0.0.0/0"}, "server.trusted_proxies trusts 0.0.0.0/0"),
        ({"PIXELAGG_SERVER_TRUSTED_PROXIES": "::/0"}, "server.trusted_proxies trusts ::/0"),
        ({"PIXELAGG_SERVER_TRUSTED_PROXIES": "64.0.0.0/11"}, "trusts 64.0.0.0/11"),
        ({"PIXELAGG_SERVER_HOST": "0.0.0.0"}, "/metrics answers 404. Set metrics.token"),
        (
            {"PIXELAGG_PRIVACY_EPSILON": "off", "PIXELAGG_METRICS_CAMPAIGN_LABELS": "true"},
            "metrics.campaign_labels is on",
        ),
        ({"PIXELAGG_STORE_ALLOW_PERSISTENT_SALTS": "true"}, "store.allow_persistent_salts is on"),
    ],
    ids=[
        "epsilon-off",
        "min-recipients",
        "dnt",
        "retention",
        "proxies-v4-all",
        "proxies-v6-all",
        "proxies-wide",
        "metrics-public",
        "campaign-labels",
        "persistent-salts",
    ],
)
def test_weak_setting_is_a_warning(tmp_path, env, words):
    """Each privacy-weakening setting is one warning of the settings check, naming it."""
    findings = weak_settings(_config(tmp_path, **env))
    assert any(words in f.message for f in findings), findings
    assert {(f.severity, f.check) for f in findings} == {("warning", "settings")}


@pytest.mark.parametrize(
    "env",
    [
        {"PIXELAGG_SERVER_TRUSTED_PROXIES": "10.0.0.0/8,fd00::/8,100.64.0.0/10"},
        {"PIXELAGG_SERVER_TRUSTED_PROXIES": "104.16.0.0/13,2a06:98c0::/29"},
        {"PIXELAGG_SERVER_HOST": "0.0.0.0", "PIXELAGG_METRICS_TOKEN": "m" * 16},
        {"PIXELAGG_SERVER_HOST": "::1"},
        {"PIXELAGG_PRIVACY_EPSILON": "off", "PIXELAGG_PRIVACY_MIN_RECIPIENTS": "0"},
    ],
    ids=["private-proxies", "cdn-proxies", "metrics-token", "loopback-v6", "min-recipients-when-exact"],
)
def test_settings_that_weaken_nothing_pass(tmp_path, env):
    """Private or CDN-sized proxy networks, a metrics token, a loopback bind: no warning for them."""
    findings = weak_settings(_config(tmp_path, **env))
    assert [f for f in findings if "epsilon" not in f.message] == []


@pytest.mark.parametrize(
    ("allowed", "severity"), [(False, "error"), (True, "warning")], ids=["refused", "allowed"]
)
def test_persisting_salts_are_an_error_unless_allowed(allowed, severity):
    """Salts on a server that writes to disk are an error, or a warning when allowed."""
    (finding,) = salt_findings(Persistence("the salt server (h:1)", ("appendonly yes",)), allowed)
    assert (finding.severity, finding.check) == (severity, "salt-persistence")


def test_salts_in_memory_raise_nothing(tmp_path):
    """With the embedded store (salts in memory) start-up says nothing but the settings' warnings."""
    assert startup_notices(_config(tmp_path, PIXELAGG_PRIVACY_EPSILON="off")) == [
        f"Warning: {f.message}" for f in weak_settings(_config(tmp_path, PIXELAGG_PRIVACY_EPSILON="off"))
    ]


@pytest.mark.slow
def test_serve_warns_that_figures_are_exact(serve, tmp_path):
    """With epsilon off and a public bind, `serve` warns about exact figures and says how to get /metrics."""
    server = serve(make_env(tmp_path, None, PIXELAGG_SERVER_HOST="0.0.0.0"))
    logs = server.logs()
    assert "Warning: privacy.epsilon is off: figures are exact and live" in logs
    assert "/metrics answers 404. Set metrics.token (PIXELAGG_METRICS_TOKEN)" in logs
