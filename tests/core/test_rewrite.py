"""Tests for pixelagg.core.rewrite: links found, replaced in place, the rest of the mail untouched."""

from __future__ import annotations

import pytest

from pixelagg.core.rewrite import PLACEHOLDERS, find_html_links, find_text_links, placeholder_in, rewrite

TRACKED = "https://stats.example.org/l/"
SNIPPET = '<img src="https://stats.example.org/p/C.gif" alt="">'


def tracking_for(found):
    return {url: f"{TRACKED}C/L{n}" for n, url in enumerate(found.urls)}


def rewritten(document, snippet=None):
    found = find_html_links(document, TRACKED)
    return rewrite(document, found, tracking_for(found), snippet)


def test_only_the_href_value_changes():
    """Every byte outside the href values stays as it was: case, quotes, spacing, entities, comments."""
    document = (
        "<!DOCTYPE html>\r\n<HTML><body   bgcolor=#fff>\r\n<!-- a comment -->"
        '<A  HREF = "https://example.org/a"  class=x>caf&eacute; &amp; more</A>\r\n'
        "<p>https://example.org/in-text</p></body></HTML>"
    )
    assert rewritten(document) == document.replace("https://example.org/a", f"{TRACKED}C/L0")


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ('<a href="https://example.org/">', '<a href="{t}">'),
        ("<a href='https://example.org/'>", "<a href='{t}'>"),
        ("<a href=https://example.org/>", "<a href={t}>"),
        ('<a class="b" href="https://example.org/" id=c>', '<a class="b" href="{t}" id=c>'),
        ('<area shape="rect" href="https://example.org/">', '<area shape="rect" href="{t}">'),
    ],
    ids=["double-quoted", "single-quoted", "bare", "among-attributes", "area"],
)
def test_each_quoting_keeps_its_quotes(tag, expected):
    """The tracking URL goes between the value's own quotes, or none for a bare value."""
    assert rewritten(tag) == expected.format(t=f"{TRACKED}C/L0")


def test_entities_are_decoded_before_registering():
    """An href with &amp; registers the URL a browser follows, with a plain &."""
    found = find_html_links('<a href="https://example.org/?a=1&amp;b=2">x</a>')
    assert found.urls == ["https://example.org/?a=1&b=2"]


def test_whitespace_around_and_newlines_inside_a_url_are_dropped():
    """Spaces around an href and newlines inside it are dropped, as browsers drop them."""
    found = find_html_links('<a href="  https://example.org/long\n/path ">x</a>')
    assert found.urls == ["https://example.org/long/path"]


def test_the_same_url_twice_is_registered_once():
    """A URL linked twice is one URL to register, and both links are rewritten."""
    document = '<a href="https://example.org/">1</a><a href="https://example.org/">2</a>'
    found = find_html_links(document)
    assert found.urls == ["https://example.org/"]
    assert rewritten(document).count(f"{TRACKED}C/L0") == 2


def test_the_first_of_two_hrefs_is_the_one_followed():
    """With a duplicated href attribute the first one counts, as in browsers."""
    document = '<a href="https://example.org/first" href="https://example.org/second">x</a>'
    assert rewritten(document) == f'<a href="{TRACKED}C/L0" href="https://example.org/second">x</a>'


@pytest.mark.parametrize(
    "href",
    [
        "mailto:news@example.org",
        "tel:+31201234567",
        "#top",
        "/relative",
        "javascript:alert(1)",
        "ftp://x.org/",
    ],
    ids=["mailto", "tel", "anchor", "relative", "javascript", "ftp"],
)
def test_what_is_not_http_is_left_alone(href):
    """Only http and https links are rewritten; the rest is reported as not http."""
    document = f'<a href="{href}">x</a>'
    found = find_html_links(document)
    assert found.links == ()
    assert [s.reason for s in found.skipped] == ["not an http or https URL"]
    assert rewritten(document) == document


@pytest.mark.parametrize(
    "href",
    [
        "{{ UnsubscribeURL }}",
        "{{{unsubscribe}}}",
        "{% unsubscribe %}",
        "{$unsubscribe}",
        "${unsubscribe}",
        "{unsubscribe_url}",
        "*|UNSUB|*",
        "%%unsub_center_url%%",
        "%UNSUBSCRIBELINK%",
        "[[UNSUB_LINK_EN]]",
        "[unsubscribe]",
        "<%asm_group_unsubscribe_raw_url%>",
        "https://example.org/?email={{ .Subscriber.Email }}",
        "https://example.org/?id=*|UNIQID|*",
        "https://example.org/p/[webversion]",
    ],
    ids=[
        "listmonk",
        "handlebars",
        "liquid",
        "mailerlite",
        "freemarker",
        "mautic",
        "mailchimp",
        "salesforce",
        "activecampaign",
        "mailjet",
        "sendy",
        "sendgrid",
        "per-recipient-query",
        "mailchimp-in-url",
        "sendy-in-url",
    ],
)
def test_placeholders_are_left_alone(href):
    """A link holding a newsletter tool's placeholder is filled in per recipient: it is left as it is."""
    document = f'<a href="{href.replace("<", "&lt;").replace(">", "&gt;")}">x</a>'
    found = find_html_links(document)
    assert found.links == ()
    assert "placeholder" in found.skipped[0].reason
    assert rewritten(document) == document


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/a%20b%C3%A9",
        "https://example.org/%E2%80%99s",
        "http://[fe80::1]/x",
        "https://example.org/?q=50%",
    ],
    ids=["percent-encoded", "percent-encoded-quote", "ipv6", "trailing-percent"],
)
def test_ordinary_urls_are_not_taken_for_placeholders(url):
    """Percent-encoding and IPv6 literals look like no placeholder."""
    assert placeholder_in(url) is None


def test_every_placeholder_form_is_documented_with_an_example_it_matches():
    """Each documented placeholder form matches its own example."""
    for _, example in PLACEHOLDERS:
        assert placeholder_in(example.split(":")[0]) is not None, example


@pytest.mark.parametrize(
    "href",
    [
        "https://example.org/unsubscribe?list=3",
        "https://example.org/optout",
        "https://example.org/opt-out",
        "https://example.org/list-unsubscribe",
    ],
    ids=["unsubscribe", "optout", "opt-out", "list-unsubscribe"],
)
def test_unsubscribe_links_are_left_alone(href):
    """An unsubscribe link goes straight to the sender: objecting never passes this service."""
    found = find_html_links(f'<a href="{href}">x</a>')
    assert found.links == ()
    assert "unsubscribe" in found.skipped[0].reason


def test_urls_with_credentials_are_left_alone():
    """A URL with a user name and password is left as it is (the service refuses them)."""
    found = find_html_links('<a href="https://user:secret@example.org/">x</a>')
    assert found.links == ()
    assert "password" in found.skipped[0].reason


def test_rewriting_twice_changes_nothing_more():
    """A rewritten mail rewritten again is the same: its tracking URLs are recognised."""
    once = rewritten('<a href="https://example.org/">x</a>')
    found = find_html_links(once, TRACKED)
    assert found.links == ()
    assert [s.reason for s in found.skipped] == ["a tracking URL already"]


def test_outlook_vml_buttons_in_conditional_comments_are_rewritten():
    """A VML button inside <!--[if mso]> gets the same tracking URL as its HTML twin."""
    document = (
        '<!--[if mso]><v:roundrect xmlns:v="urn:schemas-microsoft-com:vml" href="https://example.org/b" '
        'style="height:40px"><center>Go</center></v:roundrect><![endif]-->'
        '<!--[if !mso]><!--><a href="https://example.org/b">Go</a><!--<![endif]-->'
    )
    assert rewritten(document) == document.replace("https://example.org/b", f"{TRACKED}C/L0")


def test_ordinary_comments_are_not_rewritten():
    """A link in a plain comment is not a link: it stays as it is."""
    document = '<!-- <a href="https://example.org/old">old</a> -->'
    assert find_html_links(document).links == ()


def test_links_in_scripts_and_styles_are_not_rewritten():
    """Markup inside <style> or <script> text is not a link."""
    document = (
        '<style>/* <a href="https://example.org/s"> */</style><script>"<a href=https://x.org/>"</script>'
    )
    assert find_html_links(document).links == ()


@pytest.mark.parametrize(
    "tag",
    [
        '<link rel="stylesheet" href="https://example.org/s.css">',
        '<base href="https://example.org/">',
        '<img src="https://example.org/i.png">',
    ],
    ids=["link", "base", "img"],
)
def test_only_link_elements_are_rewritten(tag):
    """Stylesheets, <base> and images keep their URLs: only what a reader clicks is a link."""
    assert find_html_links(tag).links == ()
    assert find_html_links(tag).skipped == ()


def test_the_snippet_goes_before_the_closing_body():
    """The pixel snippet is put just before </body>."""
    document = "<html><body><p>Hi</p></body></html>\n"
    assert rewritten(document, SNIPPET) == f"<html><body><p>Hi</p>{SNIPPET}</body></html>\n"


def test_the_snippet_goes_at_the_end_without_a_body():
    """A fragment without </body> gets the snippet at its end."""
    assert rewritten("<p>Hi</p>", SNIPPET) == f"<p>Hi</p>{SNIPPET}"


def test_the_same_input_gives_the_same_output():
    """The rewritten mail depends on the mail and the tracking URLs only: the same for every recipient."""
    document = '<a href="https://example.org/a">a</a><a href="https://example.org/b">b</a>'
    assert rewritten(document, SNIPPET) == rewritten(document, SNIPPET)


def test_undecodable_bytes_come_back_as_they_were():
    """A mail that is not UTF-8, read with surrogateescape, is written back byte for byte."""
    raw = '<p>caf\xe9</p><a href="https://example.org/">x</a>'.encode("latin-1")
    text = raw.decode("utf-8", "surrogateescape")
    out = rewritten(text).encode("utf-8", "surrogateescape")
    assert out == raw.replace(b"https://example.org/", f"{TRACKED}C/L0".encode())


# plain text


def test_bare_urls_in_text_are_rewritten():
    """A plain-text part's bare URLs are replaced; the text around them stays."""
    text = "Read it: https://example.org/post\r\nBye.\r\n"
    found = find_text_links(text, TRACKED)
    assert rewrite(text, found, tracking_for(found)) == f"Read it: {TRACKED}C/L0\r\nBye.\r\n"


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("See https://example.org/x.", "https://example.org/x"),
        ("(https://example.org/x)", "https://example.org/x"),
        ("https://en.wikipedia.org/wiki/Foo_(bar)!", "https://en.wikipedia.org/wiki/Foo_(bar)"),
        ("<https://example.org/x>", "https://example.org/x"),
        ('"https://example.org/x",', "https://example.org/x"),
    ],
    ids=["full-stop", "parentheses", "balanced-parentheses", "angle-brackets", "quoted"],
)
def test_punctuation_around_a_text_url_is_not_part_of_it(text, url):
    """Sentence punctuation after a URL stays in the text, balanced parentheses stay in the URL."""
    assert find_text_links(text).urls == [url]


@pytest.mark.parametrize(
    "text",
    [
        "Unsubscribe: [unsubscribe]",
        "https://example.org/?u={{ .Subscriber.UUID }}",
        "https://example.org/?u=<%id%>",
        "https://example.org/?u=*|EMAIL|*",
        "Leave: https://example.org/unsubscribe",
    ],
    ids=["sendy", "listmonk-with-space", "sendgrid", "mailchimp", "unsubscribe"],
)
def test_text_placeholders_and_unsubscribe_links_stay(text):
    """Placeholders in or right after a URL, and unsubscribe links, stay as they are in text too."""
    found = find_text_links(text)
    assert found.links == ()
    assert rewrite(text, found, {}) == text


@pytest.mark.parametrize(
    ("href", "url"),
    [
        ("https://example.org/café?q=a b", "https://example.org/caf%C3%A9?q=a%20b"),
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
        ("https://example.org/?q=50%", "https://example.org/?q=50%25"),
        ("https://example.org/a%20b", "https://example.org/a%20b"),
        ('https://example.org/?q="x"|y', "https://example.org/?q=%22x%22%7Cy"),
    ],
    ids=["non-ascii-and-space", "idn-host", "lone-percent", "already-encoded", "quote-and-bar"],
)
def test_urls_are_registered_as_browsers_send_them(href, url):
    """Letters outside ASCII, spaces and quotes are percent-encoded, an IDN host is punycode."""
    assert find_html_links(f"<a href='{href}'>x</a>").urls == [url]
    assert find_text_links(href.replace(" ", "%20").replace('"', "%22")).urls == [url]


@pytest.mark.parametrize(
    "href",
    ["https://under_score.example/", "https://example.org:99999/", "https:///no-host"],
    ids=["underscore-host", "port", "no-host"],
)
def test_urls_the_service_would_refuse_are_left_alone(href):
    """A link the links API would refuse is left as it is, with the API's reason."""
    found = find_html_links(f'<a href="{href}">x</a>')
    assert found.links == ()
    assert found.skipped[0].reason.startswith("the service refuses it: 'url'")


def test_the_scheme_is_registered_in_lower_case():
    """HTTPS://... is registered as the service stores it, https://..., and rewritten all the same."""
    document = '<a href="HTTPS://example.org/">x</a>'
    assert find_html_links(document).urls == ["https://example.org/"]
    assert rewritten(document) == f'<a href="{TRACKED}C/L0">x</a>'
