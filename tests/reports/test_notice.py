"""Tests for pixelagg.reports.notice: the generated privacy-statement section."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest

from pixelagg.config import load
from pixelagg.core.campaign import LEGAL_BASES
from pixelagg.exceptions import ValidationError
from pixelagg.reports.notice import FORMATS, LANGUAGES, LegalBasisUse, render_notice

BOTH = [(lang, fmt) for lang in LANGUAGES for fmt in FORMATS]
BOTH_IDS = [f"{lang}-{fmt}" for lang, fmt in BOTH]

ORGANISATION = "Stichting Voorbeeld & Zn"
CONTACT = "privacy@voorbeeld.example"
REFERENCE = "Wet op het onderwijstoezicht, art. 15"

# Words that name each legal basis, per language.
BASIS_WORDS = {
    "en": {
        "consent": "your consent",
        "legitimate_interest": "legitimate interest",
        "public_task": "task carried out in the public interest",
        "exempt_statistics": "quality or effectiveness",
    },
    "nl": {
        "consent": "uw toestemming",
        "legitimate_interest": "gerechtvaardigd belang",
        "public_task": "taak van algemeen belang",
        "exempt_statistics": "kwaliteit of effectiviteit",
    },
}
DAYS = {"en": "{} days", "nl": "{} dagen"}
ALL_BASES = [
    LegalBasisUse("consent"),
    LegalBasisUse("legitimate_interest"),
    LegalBasisUse("public_task", REFERENCE),
    LegalBasisUse("exempt_statistics"),
]


def config(**env):
    """A config from PIXELAGG_* environment names given without their prefix."""
    return load(environ={f"PIXELAGG_{key.upper()}": str(value) for key, value in env.items()})


def custom():
    return config(
        privacy_retention_days=200,
        privacy_salt_window_days=3,
        notice_organisation=ORGANISATION,
        notice_contact=CONTACT,
    )


def shown(value, fmt):
    """A configured value as it must appear in the output of fmt."""
    return html.escape(value) if fmt == "html" else value


@pytest.mark.parametrize(("lang", "fmt"), BOTH, ids=BOTH_IDS)
def test_every_configured_value_appears(lang, fmt):
    """Retention, salt window, organisation, contact, bases and reference are all in the text."""
    text = render_notice(custom(), lang, fmt, ALL_BASES)
    expected = [
        DAYS[lang].format(200),
        DAYS[lang].format(3),
        shown(ORGANISATION, fmt),
        shown(CONTACT, fmt),
        shown(REFERENCE, fmt),
        *BASIS_WORDS[lang].values(),
    ]
    missing = [value for value in expected if value not in text]
    assert not missing


@pytest.mark.parametrize("basis", LEGAL_BASES, ids=LEGAL_BASES)
@pytest.mark.parametrize("lang", LANGUAGES, ids=LANGUAGES)
def test_default_basis_used_when_none_given(lang, basis):
    """Without bases, the notice names config.campaigns.default_legal_basis and no other."""
    text = render_notice(config(campaigns_default_legal_basis=basis), lang)
    named = {b for b, words in BASIS_WORDS[lang].items() if words in text}
    assert named == {basis}


@pytest.mark.parametrize(("lang", "fmt"), BOTH, ids=BOTH_IDS)
def test_given_bases_replace_the_default(lang, fmt):
    """Bases passed in are the ones named; the configured default is not added."""
    cfg = config(campaigns_default_legal_basis="legitimate_interest")
    text = render_notice(cfg, lang, fmt, [LegalBasisUse("consent")])
    assert BASIS_WORDS[lang]["consent"] in text
    assert BASIS_WORDS[lang]["legitimate_interest"] not in text


@pytest.mark.parametrize(
    ("lang", "heading"),
    [("en", "Newsletter and tracking"), ("nl", "Nieuwsbrief en volgsysteem")],
    ids=LANGUAGES,
)
def test_markdown_starts_with_heading(lang, heading):
    """Markdown output opens with the '##' heading in its language."""
    assert render_notice(config(), lang).startswith(f"## {heading}\n")


def test_dutch_heading_in_html():
    """The Dutch HTML fragment carries the Dutch heading."""
    assert "<h2>Nieuwsbrief en volgsysteem</h2>" in render_notice(config(), "nl", "html")


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.opened = []
        self.stack = []
        self.balanced = True

    def handle_starttag(self, tag, attrs):
        self.opened.append(tag)
        self.stack.append(tag)

    def handle_endtag(self, tag):
        self.balanced = self.balanced and bool(self.stack) and self.stack.pop() == tag


@pytest.mark.parametrize("lang", LANGUAGES, ids=LANGUAGES)
def test_html_is_a_balanced_section_fragment(lang):
    """HTML is one <section> with <h2>, <p> and <ul> only, every tag closed."""
    text = render_notice(custom(), lang, "html", ALL_BASES)
    tags = _Tags()
    tags.feed(text)
    assert text.startswith(f'<section lang="{lang}">')
    assert tags.balanced
    assert not tags.stack
    assert set(tags.opened) == {"section", "h2", "p", "ul", "li"}


@pytest.mark.parametrize(
    "env",
    [
        {"notice_contact": "<a@b>"},
        {"notice_organisation": "<b>Evil & Co</b>"},
    ],
    ids=["contact", "organisation"],
)
def test_html_escapes_configured_values(env):
    """A configured value with markup is escaped in HTML, never emitted raw."""
    (value,) = env.values()
    text = render_notice(config(**env), "en", "html")
    assert html.escape(value) in text
    assert value not in text


def test_html_escapes_public_task_reference():
    """The public_task reference passed with the bases is escaped in HTML."""
    use = LegalBasisUse("public_task", "<i>Wet</i>")
    text = render_notice(config(), "nl", "html", [use])
    assert "&lt;i&gt;Wet&lt;/i&gt;" in text
    assert "<i>" not in text


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMATS)
@pytest.mark.parametrize(("lang", "pattern"), [("en", r"countr"), ("nl", r"\bland(en)?\b")], ids=LANGUAGES)
def test_regions_none_omits_country_wording(lang, pattern, fmt):
    """With privacy.regions 'none' the notice says nothing about countries."""
    text = render_notice(config(privacy_regions="none"), lang, fmt)
    assert not re.search(pattern, text, re.IGNORECASE)


@pytest.mark.parametrize(("lang", "pattern"), [("en", r"countr"), ("nl", r"\bland(en)?\b")], ids=LANGUAGES)
def test_regions_country_mentions_country(lang, pattern):
    """With privacy.regions 'country' the notice says the country is measured."""
    assert re.search(pattern, render_notice(config(privacy_regions="country"), lang))


@pytest.mark.parametrize(("lang", "fmt"), BOTH, ids=BOTH_IDS)
def test_honor_dnt_false_omits_dnt(lang, fmt):
    """With privacy.honor_dnt false, Do Not Track is not promised."""
    text = render_notice(config(privacy_honor_dnt="false"), lang, fmt)
    assert "DNT" not in text
    assert "Do Not Track" not in text


@pytest.mark.parametrize("lang", LANGUAGES, ids=LANGUAGES)
def test_honor_dnt_true_mentions_dnt(lang):
    """With privacy.honor_dnt true, Do Not Track is named."""
    assert "Do Not Track" in render_notice(config(privacy_honor_dnt="true"), lang)


@pytest.mark.parametrize("dnt", ["true", "false"], ids=["dnt", "no-dnt"])
@pytest.mark.parametrize("lang", LANGUAGES, ids=LANGUAGES)
def test_gpc_always_mentioned(lang, dnt):
    """Sec-GPC is honoured whatever honor_dnt says, so it is always named."""
    assert "Sec-GPC" in render_notice(config(privacy_honor_dnt=dnt), lang)


@pytest.mark.parametrize(
    ("lang", "placeholder"), [("en", "[contact address]"), ("nl", "[contactadres]")], ids=LANGUAGES
)
def test_missing_contact_gives_placeholder(lang, placeholder):
    """Without notice.contact a visible placeholder asks the sender to fill it in."""
    assert placeholder in render_notice(config(), lang)


@pytest.mark.parametrize(
    ("lang", "sentence"),
    [
        ("en", f"To object to this measurement or to ask about it, contact us at {CONTACT}."),
        (
            "nl",
            "Wilt u bezwaar maken tegen deze meting of heeft u er vragen over, neem dan contact "
            f"met ons op via {CONTACT}.",
        ),
    ],
    ids=LANGUAGES,
)
def test_the_notice_tells_recipients_how_to_object(lang, sentence):
    """The notice says how to object to the measurement: write to notice.contact."""
    assert sentence in render_notice(config(notice_contact=CONTACT), lang)


@pytest.mark.parametrize(
    ("lang", "placeholder"),
    [("en", "[statutory reference]"), ("nl", "[wettelijke grondslag]")],
    ids=LANGUAGES,
)
def test_public_task_without_reference_gives_placeholder(lang, placeholder):
    """public_task without a statutory reference shows a placeholder for it."""
    text = render_notice(config(campaigns_default_legal_basis="public_task"), lang)
    assert placeholder in text


@pytest.mark.parametrize(
    ("lang", "phrase"), [("en", "contact us at"), ("nl", "contact met ons op")], ids=LANGUAGES
)
def test_missing_organisation_addresses_us(lang, phrase):
    """Without notice.organisation the reader is told to contact 'us'."""
    assert phrase in render_notice(config(notice_contact=CONTACT), lang)


LINKS = {
    "en": ("address is the same for every recipient", "send no referrer", "nothing about that click is kept"),
    "nl": (
        "webadres van die link voor alle ontvangers hetzelfde",
        "geen verwijzing (referrer)",
        "van die klik bewaren we niets",
    ),
}
OBJECTED = {
    "en": "without the image and with links that lead straight to their destination",
    "nl": "zonder het plaatje en met links die rechtstreeks naar hun bestemming gaan",
}


@pytest.mark.parametrize("lang", LANGUAGES, ids=LANGUAGES)
def test_link_counting_is_described(lang):
    """Links are the same for everyone, nothing goes on to the site, a declined click keeps nothing."""
    text = render_notice(config(), lang)
    assert all(phrase in text for phrase in LINKS[lang])


@pytest.mark.parametrize("lang", LANGUAGES, ids=LANGUAGES)
def test_objecting_gives_a_mail_without_counted_links(lang):
    """Who objects is told the mail then comes without the image and with direct links."""
    assert OBJECTED[lang] in render_notice(config(), lang)


@pytest.mark.parametrize("lang", LANGUAGES, ids=LANGUAGES)
def test_the_tracking_address_is_named_with_a_public_url(lang):
    """With server.public_url the notice names the address counted links begin with."""
    text = render_notice(config(server_public_url="https://stats.example.org/"), lang)
    assert "https://stats.example.org/l/" in text
    assert "/l/" not in render_notice(config(), lang)


@pytest.mark.parametrize(
    ("lang", "phrase"),
    [
        ("en", "same for every recipient"),
        ("nl", "voor alle ontvangers van een nieuwsbrief hetzelfde"),
    ],
    ids=LANGUAGES,
)
def test_pixel_url_same_for_everyone_is_stated(lang, phrase):
    """The notice says the image address is the same for every recipient."""
    assert phrase in render_notice(config(), lang)


@pytest.mark.parametrize(
    ("lang", "phrase"), [("en", "about 13 months"), ("nl", "ongeveer 13 maanden")], ids=LANGUAGES
)
def test_default_retention_in_months(lang, phrase):
    """The default retention of 396 days is also given as about 13 months."""
    assert phrase in render_notice(config(), lang)


@pytest.mark.parametrize(("lang", "word"), [("en", "month"), ("nl", "maand")], ids=LANGUAGES)
def test_short_retention_has_no_months(lang, word):
    """A retention under two months is given in days only."""
    assert word not in render_notice(config(privacy_retention_days=30), lang)


@pytest.mark.parametrize(
    ("lang", "singular", "plural"),
    [("en", "1 day", "1 days"), ("nl", "1 dag", "1 dagen")],
    ids=LANGUAGES,
)
def test_one_day_window_is_singular(lang, singular, plural):
    """A salt window of one day reads '1 day', not '1 days'."""
    text = render_notice(config(privacy_salt_window_days=1), lang)
    assert singular in text
    assert plural not in text


@pytest.mark.parametrize("lang", LANGUAGES, ids=LANGUAGES)
def test_min_bucket_zero_omits_other(lang):
    """With privacy.min_bucket 0 no 'other' bucket is promised."""
    text = render_notice(config(privacy_min_bucket=0), lang)
    assert "other" not in text
    assert "overig" not in text


def test_several_bases_become_a_list():
    """More than one basis in use is rendered as a list, one item per basis."""
    text = render_notice(config(), "en", "markdown", ALL_BASES)
    items = [line for line in text.splitlines() if line.startswith("- ")]
    assert sum(any(w in item for w in BASIS_WORDS["en"].values()) for item in items) == 4


def test_duplicate_bases_named_once():
    """The same basis from several campaigns is named once."""
    uses = [LegalBasisUse("consent"), LegalBasisUse("consent")]
    assert render_notice(config(), "en", "markdown", uses).count("Article 6(1)(a)") == 1


@pytest.mark.parametrize(("lang", "fmt"), BOTH, ids=BOTH_IDS)
def test_no_unfilled_template_braces(lang, fmt):
    """No '{' or '}' from a template is left in the text."""
    text = render_notice(custom(), lang, fmt, ALL_BASES)
    assert "{" not in text
    assert "}" not in text


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"lang": "de"}, "lang"), ({"fmt": "pdf"}, "format")],
    ids=["lang", "format"],
)
def test_unknown_language_or_format_raises(kwargs, name):
    """An unknown language or format raises ValidationError naming the value."""
    with pytest.raises(ValidationError, match="not supported") as info:
        render_notice(config(), **kwargs)
    assert name in info.value.details


def test_unknown_basis_raises():
    """A legal basis outside LEGAL_BASES raises ValidationError."""
    with pytest.raises(ValidationError, match="'contract'"):
        render_notice(config(), bases=[LegalBasisUse("contract")])
