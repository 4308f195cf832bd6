"""The notice states what the configuration guarantees, and nothing more (en and nl)."""

from __future__ import annotations

import pytest

from pixelagg.config import load
from pixelagg.reports.notice import FORMATS, LANGUAGES, render_notice

BOTH = [(lang, fmt) for lang in LANGUAGES for fmt in FORMATS]
BOTH_IDS = [f"{lang}-{fmt}" for lang, fmt in BOTH]
DP = {"en": "differential privacy", "nl": "differentiële privacy"}
EXACT = {"en": "The counts are exact", "nl": "De tellingen zijn exact"}
HASH = {"en": "keyed hash", "nl": "hashwaarde"}
COUNTS_ONLY = {"en": "We count opens only", "nl": "Wij tellen alleen openingen"}
UNIQUE = {"en": "unique opens", "nl": "unieke openingen"}


def notice(lang="en", fmt="markdown", **env):
    return render_notice(load(environ={f"PIXELAGG_{k.upper()}": str(v) for k, v in env.items()}), lang, fmt)


@pytest.mark.parametrize(("lang", "fmt"), BOTH, ids=BOTH_IDS)
def test_epsilon_on_states_the_budget_and_the_period(lang, fmt):
    """With epsilon on the notice gives ε, the release period and the minimum size, not exactness."""
    text = notice(
        lang, fmt, privacy_epsilon=0.5, privacy_release_period_seconds=900, privacy_min_recipients=80
    )
    period = {"en": "once per 15 minutes", "nl": "eens per 15 minuten"}[lang]
    assert all(w in text for w in (DP[lang], "ε = 0.5", period, "80"))
    assert EXACT[lang] not in text


@pytest.mark.parametrize(("lang", "words"), [("en", "once per hour"), ("nl", "eens per uur")], ids=LANGUAGES)
def test_default_period_is_an_hour(lang, words):
    """The default release period (3600 s) reads as an hour, with the default ε = 1."""
    text = notice(lang)
    assert words in text and "ε = 1 " in text


@pytest.mark.parametrize(("lang", "fmt"), BOTH, ids=BOTH_IDS)
def test_epsilon_off_says_the_figures_are_exact(lang, fmt):
    """With epsilon off the notice says the counts are exact and can single out a recipient; no ε."""
    text = notice(lang, fmt, privacy_epsilon="off")
    assert EXACT[lang] in text
    assert DP[lang] not in text and "ε" not in text


@pytest.mark.parametrize("lang", LANGUAGES, ids=LANGUAGES)
def test_no_minimum_size_promised_when_it_is_zero(lang):
    """With privacy.min_recipients 0 no campaign is said to go unreported."""
    text = notice(lang, privacy_min_recipients=0)
    assert "not reported" not in text and "rapporteren we helemaal niet" not in text


@pytest.mark.parametrize(("lang", "fmt"), BOTH, ids=BOTH_IDS)
@pytest.mark.parametrize("epsilon", ["1.0", "off"], ids=["noisy", "exact"])
def test_counts_only_mentions_no_hash_key_or_uniques(lang, fmt, epsilon):
    """With privacy.uniques off: counts only, and no keyed hash, key, salt window or unique opens."""
    text = notice(lang, fmt, privacy_uniques="false", privacy_salt_window_days=5, privacy_epsilon=epsilon)
    assert COUNTS_ONLY[lang] in text
    assert HASH[lang] not in text and UNIQUE[lang] not in text and "5 d" not in text


@pytest.mark.parametrize("lang", LANGUAGES, ids=LANGUAGES)
def test_uniques_on_explains_the_hash_and_its_key(lang):
    """With unique opens counted, the keyed hash and the key's lifetime are explained."""
    text = notice(lang, privacy_salt_window_days=5)
    assert HASH[lang] in text and {"en": "5 days", "nl": "5 dagen"}[lang] in text
    assert COUNTS_ONLY[lang] not in text
