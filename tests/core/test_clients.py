"""Tests for pixelagg.core.clients: the mail-client family of a load (pure)."""

from __future__ import annotations

import pytest

from pixelagg.core.clients import CLIENT_FAMILIES, client_family

APPLE_MAIL_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
APPLE_MAIL_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148"
)
SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15"
)
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
YAHOO = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.15225; Pro)"
OUTLOOK_IOS = "Outlook-iOS/709.2226530.prod.iphone (3.24.1)"
THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.0"


@pytest.mark.parametrize(
    ("class_", "user_agent", "family"),
    [
        ("apple_mpp", "Mozilla/5.0", "apple_mail"),
        ("human", APPLE_MAIL_MAC, "apple_mail"),
        ("human", APPLE_MAIL_IOS, "apple_mail"),
        ("human", SAFARI, "other"),
        ("image_proxy", GMAIL, "gmail"),
        ("image_proxy", YAHOO, "yahoo"),
        ("human", OUTLOOK, "outlook"),
        ("human", OUTLOOK_IOS, "outlook"),
        ("human", THUNDERBIRD, "other"),
    ],
    ids=[
        "mpp",
        "apple-mail-mac",
        "apple-mail-ios",
        "safari",
        "gmail",
        "yahoo",
        "outlook",
        "outlook-ios",
        "thunderbird",
    ],
)
def test_family_of_a_load(class_, user_agent, family):
    """Each mail program (or its proxy) falls in its family; browsers and the rest in 'other'."""
    assert client_family(class_, user_agent) == family
    assert family in CLIENT_FAMILIES


@pytest.mark.parametrize("class_", ["scanner", "bot"], ids=["scanner", "bot"])
def test_machines_have_no_family(class_):
    """Scanners and bots are no mail program: they count in no family."""
    assert client_family(class_, OUTLOOK) is None


def test_spaces_around_an_agent_change_no_family():
    """A header with spaces around it is the same mail program."""
    assert client_family("human", f"  {APPLE_MAIL_MAC} ") == "apple_mail"


def test_a_long_agent_is_judged_by_its_start():
    """Past 512 characters a header is judged by its first 512 (and not cached): a mark beyond
    them counts for nothing."""
    assert client_family("human", OUTLOOK + " " * 600) == "outlook"
    assert client_family("image_proxy", "x" * 600 + " GoogleImageProxy") == "other"
