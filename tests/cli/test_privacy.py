"""Tests for `pixelagg privacy-notice` (the notice and its placeholders); the audit has its own."""

from __future__ import annotations

import pytest

from pixelagg.cli.privacy import LEGITIMATE_INTEREST_NOTE
from pixelagg.store.embedded import DB_NAME
from tests.cli.runner import create, run
from tests.helpers import make_env, make_store

FILLED = {"PIXELAGG_NOTICE_ORGANISATION": "Stichting X", "PIXELAGG_NOTICE_CONTACT": "privacy@example.org"}


def test_privacy_notice_in_dutch(env):
    """privacy-notice --lang nl prints the Dutch section."""
    result = run(env, "privacy-notice", "--lang", "nl")
    assert result.exit_code == 0, result.output
    assert "Nieuwsbrief en volgsysteem" in result.stdout


def test_privacy_notice_names_the_campaigns_bases(env):
    """privacy-notice names the legal basis of the stored campaigns, not the default."""
    create(env, "--legal-basis", "consent")
    result = run(env, "privacy-notice")
    assert result.exit_code == 0, result.output
    assert "The legal basis is your consent" in result.stdout


def test_privacy_notice_on_a_new_store_names_the_default_basis(tmp_path):
    """On an embedded store not made yet, privacy-notice names the default basis and makes no store."""
    env = make_env(tmp_path, None, PIXELAGG_CAMPAIGNS_DEFAULT_LEGAL_BASIS="consent")
    result = run(env, "privacy-notice")
    assert result.exit_code == 0, result.output
    assert "The legal basis is your consent" in result.stdout
    assert not (tmp_path / "data" / DB_NAME).exists()


@pytest.mark.parametrize(
    ("lang", "placeholder"), [("en", "[contact address]"), ("nl", "[contactadres]")], ids=["en", "nl"]
)
def test_privacy_notice_warns_about_every_placeholder(tmp_path, lang, placeholder):
    """Without notice settings, stderr names the contact placeholder and the missing organisation."""
    result = run(make_env(tmp_path, None), "privacy-notice", "--lang", lang)
    assert result.exit_code == 0, result.output
    assert placeholder in result.stdout
    assert f"Warning: The notice says {placeholder}: set notice.contact" in result.stderr
    assert "Warning: The notice does not name who sends the newsletter" in result.stderr


def test_privacy_notice_warns_about_a_missing_statutory_reference(tmp_path):
    """A default public_task basis without a reference is a placeholder, and a warning names it."""
    env = make_env(tmp_path, None, PIXELAGG_CAMPAIGNS_DEFAULT_LEGAL_BASIS="public_task", **FILLED)
    result = run(env, "privacy-notice")
    assert "[statutory reference]" in result.stdout
    assert result.stderr.strip() == (
        "Warning: The notice says [statutory reference]: give the campaign its --legal-reference "
        "(pixelagg campaign update ID)."
    )  # and no note: public_task is not legitimate interest


def test_privacy_notice_with_its_settings_has_no_warning(tmp_path):
    """With organisation and contact set (and consent), the notice has no placeholder and stderr is empty."""
    env = make_env(tmp_path, None, PIXELAGG_CAMPAIGNS_DEFAULT_LEGAL_BASIS="consent", **FILLED)
    result = run(env, "privacy-notice", "--strict")
    assert result.exit_code == 0, result.output
    assert "[" not in result.stdout and result.stderr == ""


def test_legitimate_interest_gets_a_note_that_does_not_fail_strict(tmp_path):
    """With the default basis, stderr notes that it does not answer ePrivacy; --strict still passes."""
    result = run(make_env(tmp_path, None, **FILLED), "privacy-notice", "--strict")
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"Note: {LEGITIMATE_INTEREST_NOTE}"


def test_strict_privacy_notice_with_placeholders_fails(tmp_path):
    """--strict with placeholders prints no notice, only the warnings and Error:, exit 1."""
    result = run(make_env(tmp_path, None), "privacy-notice", "--strict")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Error: the notice has 2 gap(s) to fill in first (--strict)" in result.stderr


@pytest.mark.parametrize(
    ("extra", "args", "message"),
    [
        ({}, ("--url", "http://127.0.0.1:9"), "Error: Cannot reach the service at http://127.0.0.1:9"),
        ({"PIXELAGG_STORE_URL": "redis://127.0.0.1:9"}, (), "Error: Redis store error: ConnectionError"),
    ],
    ids=["service-down", "redis-down"],
)
def test_privacy_notice_fails_when_campaigns_cannot_be_read(tmp_path, extra, args, message):
    """privacy-notice prints no legal text when it cannot read the campaigns: Error:, exit 1."""
    env = make_env(tmp_path, None, **extra)
    make_store(env)
    result = run(env, "privacy-notice", *args)
    assert result.exit_code == 1
    assert result.stderr.startswith(message)
    assert result.stdout == ""


def test_unknown_language_is_a_usage_error(tmp_path):
    """--lang xx is a usage error, exit 2."""
    result = run(make_env(tmp_path, None), "privacy-notice", "--lang", "xx")
    assert result.exit_code == 2 and "--lang" in result.stderr


@pytest.mark.slow
def test_privacy_notice_with_a_wrong_token_fails(tmp_path, serve):
    """privacy-notice against a service that refuses the token fails with Error:, exit 1."""
    env = make_env(tmp_path, None)
    served = serve(env)
    wrong = {**env, "PIXELAGG_ADMIN_TOKEN": "wrong-token-0123456789abcdef"}
    result = run(wrong, "privacy-notice", "--url", served.url)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "(HTTP 401)" in result.stderr
    assert result.stdout == ""
