"""Tests for pixelagg.core.links: link ids and the URLs a link may lead to."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelagg.core.links import URL_MAX, URL_PATTERN, check_link_url, is_link_id, link_id, tracking_url
from pixelagg.exceptions import ValidationError

CAMPAIGN = "3q2-4Wd8XkV0aQ1c"


def test_link_id_is_the_same_for_the_same_url():
    """The id depends on campaign and URL only, so registering again gives the same id."""
    assert link_id(CAMPAIGN, "https://example.org/") == link_id(CAMPAIGN, "https://example.org/")


def test_link_id_differs_by_url_campaign_and_attempt():
    """Another URL, campaign or attempt gives another id."""
    ids = {
        link_id(CAMPAIGN, "https://example.org/"),
        link_id(CAMPAIGN, "https://example.org/x"),
        link_id("AAAAAAAAAAAAAAAA", "https://example.org/"),
        link_id(CAMPAIGN, "https://example.org/", 1),
    }
    assert len(ids) == 4 and all(is_link_id(i) for i in ids)


@pytest.mark.parametrize("text", ["", "short", "abcdefghij/", "abc$efghij", "abcdefghijk"], ids=str)
def test_is_link_id_refuses_other_shapes(text):
    """Only ten URL-safe characters make a link id."""
    assert not is_link_id(text)


def test_tracking_url_joins_base_campaign_and_link():
    """The tracking URL is /l/{campaign}/{link} under the base URL, with one slash."""
    assert (
        tracking_url("https://s.example/", CAMPAIGN, "abcdefghij")
        == f"https://s.example/l/{CAMPAIGN}/abcdefghij"
    )


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://example.org/a?b=c#d", "https://example.org/a?b=c#d"),
        ("  https://example.org/\n", "https://example.org/"),
        ("HTTPS://Example.org/", "https://Example.org/"),
        ("http://192.0.2.1:8080/x", "http://192.0.2.1:8080/x"),
        ("http://[2001:db8::1]/x", "http://[2001:db8::1]/x"),
        ("https://xn--caf-dma.example/men%C3%BC?q=a@b", "https://xn--caf-dma.example/men%C3%BC?q=a@b"),
        ("https://example.org", "https://example.org"),
    ],
    ids=["full", "white-space", "scheme-case", "ipv4-port", "ipv6", "punycode-percent", "no-path"],
)
def test_plain_http_urls_are_kept(given, kept):
    """http and https URLs are kept as given, without surrounding white space, scheme in lower case."""
    assert check_link_url(given) == kept


def test_the_longest_url_is_taken():
    """A URL of exactly URL_MAX characters is taken; the API test checks one more is refused."""
    url = "https://example.org/" + "a" * (URL_MAX - len("https://example.org/"))
    assert check_link_url(url) == url


@pytest.mark.parametrize(
    "url",
    ["JavaScript:alert(1)", "https://a:b@example.org/", "https://-bad-.example/", "https://example.org:0/"],
    ids=["javascript-case", "credentials", "bad-label", "port-zero"],
)
def test_refused_urls_name_the_field(url):
    """A refused URL raises ValidationError whose details name the field 'url'."""
    with pytest.raises(ValidationError) as caught:
        check_link_url(url)
    assert caught.value.details == {"field": "url"}


@settings(max_examples=300, deadline=None)
@given(st.from_regex(URL_PATTERN, fullmatch=True).filter(lambda u: len(u.strip(" \t\r\n")) <= URL_MAX))
def test_every_url_the_schema_allows_is_taken(url):
    """URL_PATTERN (the OpenAPI document's) allows only URLs check_link_url takes."""
    assert check_link_url(url) == check_link_url(url).strip()


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "https://a:b@example.org/",
        "https://exa mple.org/",
        "https://example.org/%zz",
        "ftp://x/",
    ],
    ids=["javascript", "credentials", "space", "bad-percent", "ftp"],
)
def test_the_schema_refuses_what_check_link_url_refuses(url):
    """The pattern refuses the refused URLs too, so the document says what the API does."""
    assert re.fullmatch(URL_PATTERN, url) is None
