from __future__ import annotations

import ipaddress

import crawleruseragents
import pytest

from pixelagg.core.classify import (
    CLASSES,
    HUMAN_CLASSES,
    MACHINE_CLASSES,
    PROXY_CLASSES,
    RULES,
    Classifier,
    classify_user_agent,
    match_rule,
)
from pixelagg.core.networks import AddressLists, NetworkSet
from pixelagg.ingest.lists import load_address_lists
from tests.helpers import AMBIGUOUS_CHOICES, FIXTURES, ROOT, SAMPLE_ROWS, SAMPLES

SHARED_SAMPLES = ROOT.parent / "shared" / "data" / "ua-samples.tsv"
METRICS_DOC = ROOT / "docs" / "metrics.md"


BARE = "Mozilla/5.0"
NETWORKING_EXTENSION = "NetworkingExtension/8623.1.12.10.4 Network/5569.60.33 iOS/26.2"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/79.0.3945.136 Safari/537.36"
)
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
OUTLOOK_DESKTOP = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.15225; Pro)"
OUTLOOK_IOS = "Outlook-iOS/709.2226530.prod.iphone (3.24.1)"
OUTLOOK_MSOFFICE = "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.1; ms-office; MSOffice 14)"
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
YAHOO_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
GMAIL_PREFETCH = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0"
)
GMAIL_SAMPLING = GMAIL_PREFETCH.replace(" Mozilla/5.0", " Gmail-content-sampling")

APPLE_V4 = ipaddress.ip_address("192.0.2.10")
APPLE_V6 = ipaddress.ip_address("2001:db8:a::10")
SCANNER_V4 = ipaddress.ip_address("203.0.113.10")
SCANNER_MAPPED = ipaddress.ip_address("::ffff:203.0.113.10")
SCANNER_V6 = ipaddress.ip_address("2001:db8:5c::10")
ELSEWHERE = ipaddress.ip_address("100.64.0.1")


@pytest.fixture(scope="module")
def lists():
    """The fixture lists: Apple egress sample and scanner sample."""
    fixtures = FIXTURES
    return load_address_lists(
        str(fixtures / "apple-egress-sample.csv"), str(fixtures / "scanner-networks-sample.txt")
    )


@pytest.mark.parametrize(
    ("expected", "user_agent"),
    [(expected, user_agent) for _, expected, user_agent, _ in SAMPLE_ROWS],
    ids=[f"line{number}-{expected}" for number, expected, _, _ in SAMPLE_ROWS],
)
def test_ua_samples(expected, user_agent):
    """Every row of ua-samples.tsv gets its expected class (the "?" rows: our stated choice)."""
    assert classify_user_agent(user_agent) == AMBIGUOUS_CHOICES.get(expected, expected)


def test_ambiguous_row_choices():
    """human? -> human and apple_mpp? -> apple_mpp, both allowed by the data README.

    The trimmed WebKit UA (``human?``) is sent by Apple Mail and Outlook when a person opens
    the mail; MPP's own prefetch uses the bare ``Mozilla/5.0``, so counting it as human is
    the honest reading. The NetworkingExtension UA (``apple_mpp?``) is Apple's networking
    stack with no mail client in front of it: MPP prefetch or an iMessage link preview, and
    neither is a person reading the mail, so it is a machine open and joins apple_mpp. With
    Apple's egress list configured, it stays apple_mpp only from Apple's relays (else bot).
    """
    for marked, choice in AMBIGUOUS_CHOICES.items():
        assert choice in {marked.rstrip("?"), "human"}
    ambiguous = [(expected, ua) for _, expected, ua, _ in SAMPLE_ROWS if expected.endswith("?")]
    assert {expected for expected, _ in ambiguous} == set(AMBIGUOUS_CHOICES)


@pytest.mark.skipif(
    not SHARED_SAMPLES.exists(),
    reason="the team's shared ua-samples.tsv is not beside this checkout (tests use their copy)",
)
def test_fixture_copy_of_samples_is_current():
    """tests/fixtures/ua-samples.tsv matches the shared file it was copied from."""
    assert SAMPLES.read_bytes() == SHARED_SAMPLES.read_bytes()


def test_class_sets_partition_classes():
    """Machine and human classes split CLASSES; proxies are classes too."""
    assert set(CLASSES) == MACHINE_CLASSES | HUMAN_CLASSES
    assert not MACHINE_CLASSES & HUMAN_CLASSES
    assert set(CLASSES) >= PROXY_CLASSES
    assert len(set(CLASSES)) == len(CLASSES)


def test_rules_use_known_classes_and_unique_names():
    """Every rule names a known class, a known kind and a unique name."""
    assert all(rule.class_ in CLASSES for rule in RULES)
    assert all(rule.kind in {"empty", "exact", "contains", "regex", "crawler_list"} for rule in RULES)
    assert len({rule.name for rule in RULES}) == len(RULES)


def test_rules_are_documented():
    """docs/metrics.md names every rule of the table."""
    text = METRICS_DOC.read_text(encoding="utf-8")
    missing = [rule.name for rule in RULES if f"`{rule.name}`" not in text]
    assert not missing


@pytest.mark.parametrize("user_agent", [GMAIL_PROXY, YAHOO_PROXY], ids=["gmail", "yahoo"])
def test_mail_proxies_beat_the_crawler_list(user_agent):
    """The crawler list calls Gmail's and Yahoo's proxies bots; the rules say image_proxy."""
    assert crawleruseragents.is_crawler(user_agent)
    assert classify_user_agent(user_agent) == "image_proxy"


@pytest.mark.parametrize(
    ("user_agent", "rule"),
    [
        (GMAIL_SAMPLING, "gmail-content-sampling"),
        (GMAIL_PREFETCH, "gmail-prefetch"),
        (GMAIL_PROXY, "gmail-image-proxy"),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "crawler-user-agents",
        ),
        ("Java/17.0.2", "java-http-client"),
        ("curl/8.5.0", "crawler-user-agents"),
    ],
    ids=["sampling", "prefetch", "proxy", "googlebot", "java", "curl"],
)
def test_first_matching_rule_wins(user_agent, rule):
    """The most specific rule is listed first, so it is the one reported."""
    matched = match_rule(user_agent)
    assert matched is not None
    assert matched.name == rule


@pytest.mark.parametrize("user_agent", ["", "   "], ids=["empty", "blank"])
def test_missing_user_agent_is_bot(user_agent):
    """A missing or blank user agent is a bot."""
    assert classify_user_agent(user_agent) == "bot"


@pytest.mark.parametrize(
    "user_agent",
    ["Mozilla/5.0 (X11; Linux x86_64)", "Mozilla/5.0 Foo", "mozilla/5.0", "Mozilla/5.00"],
    ids=["with-platform", "with-token", "lowercase", "other-version"],
)
def test_apple_mpp_needs_the_exact_bare_user_agent(user_agent):
    """Only exactly ``Mozilla/5.0`` is Apple's prefetch; anything longer is not."""
    assert classify_user_agent(user_agent) != "apple_mpp"


def test_surrounding_whitespace_is_ignored():
    """Whitespace around the user agent does not change its class."""
    assert classify_user_agent(f" {BARE}\t") == "apple_mpp"


@pytest.mark.parametrize(
    "user_agent",
    [BARE, CHROME, GMAIL_PROXY, GMAIL_PREFETCH, ""],
    ids=["bare", "chrome", "proxy", "prefetch", "empty"],
)
def test_classifier_without_lists_uses_user_agent_only(user_agent):
    """Without address lists the classifier agrees with classify_user_agent."""
    classifier = Classifier(AddressLists.empty())
    assert classifier.classify(user_agent, SCANNER_V4) == classify_user_agent(user_agent)


@pytest.mark.parametrize(
    ("user_agent", "address"),
    [(BARE, APPLE_V4), (BARE, APPLE_V6), (NETWORKING_EXTENSION, APPLE_V4)],
    ids=["bare-v4", "bare-v6", "networking-extension"],
)
def test_apple_user_agent_from_apple_egress_is_apple_mpp(lists, user_agent, address):
    """Apple's fetcher UA from an address on Apple's egress list is apple_mpp."""
    assert Classifier(lists).classify(user_agent, address) == "apple_mpp"


@pytest.mark.parametrize("user_agent", [BARE, NETWORKING_EXTENSION], ids=["bare", "networking-extension"])
def test_apple_user_agent_from_elsewhere_is_bot(lists, user_agent):
    """With Apple's list configured, Apple's fetcher UA from any other address is a bot."""
    assert Classifier(lists).classify(user_agent, ELSEWHERE) == "bot"


def test_bare_user_agent_without_apple_list_stays_apple_mpp():
    """With no Apple list configured the bare UA alone still means apple_mpp."""
    lists = AddressLists(apple_egress=NetworkSet(), scanners=NetworkSet.from_cidrs(["0.0.0.0/0"]))
    assert Classifier(lists).classify(BARE, ELSEWHERE) == "apple_mpp"


def test_no_address_falls_back_to_user_agent(lists):
    """Without an address the class is the user agent's."""
    assert Classifier(lists).classify(BARE, None) == "apple_mpp"
    assert Classifier(lists).classify(CHROME, None) == "human"


def test_browser_on_apple_egress_is_human(lists):
    """A full browser UA from Apple's relays is a person behind iCloud Private Relay."""
    assert Classifier(lists).classify(SAFARI, APPLE_V4) == "human"


@pytest.mark.parametrize("address", [SCANNER_V4, SCANNER_MAPPED, SCANNER_V6], ids=["v4", "v4-mapped", "v6"])
def test_browser_from_scanner_network_is_scanner(lists, address):
    """An ordinary browser UA from a listed scanner network is a scanner."""
    assert Classifier(lists).classify(CHROME, address) == "scanner"


def test_browser_elsewhere_is_human(lists):
    """An ordinary browser UA from an unlisted address is a person."""
    assert Classifier(lists).classify(CHROME, ELSEWHERE) == "human"


@pytest.mark.parametrize(
    "user_agent",
    [OUTLOOK_DESKTOP, OUTLOOK_IOS, OUTLOOK_MSOFFICE],
    ids=["desktop", "ios", "ms-office"],
)
def test_outlook_from_scanner_network_stays_human(lists, user_agent):
    """Outlook's images come through Microsoft's servers: a listed address alone is no scanner."""
    assert Classifier(lists).classify(user_agent, SCANNER_V4) == "human"


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [(GMAIL_PROXY, "image_proxy"), (GMAIL_PREFETCH, "bot"), ("python-requests/2.31", "bot")],
    ids=["proxy", "prefetch", "script"],
)
def test_scanner_network_does_not_override_other_classes(lists, user_agent, expected):
    """Only a would-be human becomes a scanner by address; proxies and bots keep their class."""
    assert Classifier(lists).classify(user_agent, SCANNER_V4) == expected


def _cached(classifier: Classifier) -> int:
    """User agents held by the classifier's LRU: its functools cache, looked at from outside."""
    cache_info = getattr(classifier._judge_cached, "cache_info", None)
    return 0 if cache_info is None else cache_info().currsize


def test_cache_is_keyed_by_user_agent_only(lists):
    """The same user agent from different addresses is judged by each address, cached once."""
    classifier = Classifier(lists)
    assert classifier.classify(CHROME, ELSEWHERE) == "human"
    assert classifier.classify(CHROME, SCANNER_V4) == "scanner"
    assert classifier.classify(CHROME, ELSEWHERE) == "human"
    assert _cached(classifier) == 1


def test_cache_is_bounded():
    """The cache never holds more than cache_size user agents."""
    classifier = Classifier(AddressLists.empty(), cache_size=2)
    for user_agent in (CHROME, SAFARI, BARE, OUTLOOK_IOS):
        classifier.classify(user_agent, None)
    assert _cached(classifier) == 2


def test_cache_size_zero_disables_cache():
    """cache_size=0 caches nothing and still classifies."""
    classifier = Classifier(AddressLists.empty(), cache_size=0)
    assert classifier.classify(BARE, None) == "apple_mpp"
    assert classifier.classify(BARE, None) == "apple_mpp"
    assert _cached(classifier) == 0


def test_very_long_user_agents_are_not_cached():
    """A user agent longer than 512 characters is classified but not kept."""
    classifier = Classifier(AddressLists.empty())
    assert classifier.classify(CHROME + " x" * 300, None) == "human"
    assert _cached(classifier) == 0
