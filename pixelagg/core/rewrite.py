"""Find a newsletter's links and put tracking URLs in their place, leaving every other byte as it was.

`find_html_links` runs the standard library's HTML tokenizer over the mail, notes where each
link's href value lies in the text, and `rewrite` replaces just those spans: nothing is
re-serialized, so whitespace, comments, entities and the mail client's conditional comments
stay as they were. Links are `<a href>`, `<area href>` and Outlook's VML buttons (`<v:roundrect
href>` and its kin, also inside `<!--[if mso]>` comments). `find_text_links` does the same for a
plain-text part's bare URLs.

A link is left alone (and reported) when it is not http or https (mailto:, tel:, #anchors,
relative paths), when it holds a template placeholder (the newsletter tool fills those in per
recipient, so the URL is not the same for everyone: see `PLACEHOLDERS`), when it is an
unsubscribe link (objecting must not depend on this service), when it carries credentials
(the service refuses those), when it is a tracking URL already, and when the service would
refuse it (`pixelagg.core.links.check_link_url`). Pure: text in, text out.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape, unescape
from html.parser import HTMLParser

from ..exceptions import ValidationError
from .links import check_link_url

__all__ = [
    "PLACEHOLDERS",
    "Found",
    "Link",
    "Skipped",
    "find_html_links",
    "find_text_links",
    "placeholder_in",
    "rewrite",
]

PLACEHOLDERS: tuple[tuple[str, str], ...] = (
    (r"\{\{.*?\}\}", "{{ UnsubscribeURL }}: listmonk, Brevo, Keila, ConvertKit, SendGrid, Handlebars"),
    (r"\{%.*?%\}", "{% unsubscribe %}: Klaviyo, Jinja, Liquid"),
    (r"\{\$[^}]*\}", "{$unsubscribe}: MailerLite"),
    (r"\$\{[^}]*\}", "${unsubscribe}: FreeMarker"),
    (r"\{[A-Za-z_][\w.:-]*\}", "{unsubscribe_url}: Mautic"),
    (r"\*\|.*?\|\*", "*|UNSUB|*: Mailchimp"),
    (r"%%.*?%%", "%%unsub_center_url%%: Salesforce Marketing Cloud, Ghost"),
    (r"%(?=[\w]*[G-Zg-z_])[A-Za-z_]\w{2,}%", "%UNSUBSCRIBELINK%: ActiveCampaign"),
    (r"\[\[.*?\]\]", "[[UNSUB_LINK_EN]]: Mailjet"),
    (r"\[[A-Za-z_][\w-]*\]", "[unsubscribe]: Sendy, Campaign Monitor"),
    (r"<%.*?%>", "<%asm_group_unsubscribe_raw_url%>: SendGrid"),
)
"""Template placeholders that mark a link as filled in per recipient, with an example and the
tools that use the form. A URL holding any of them is left as it is."""

_PLACEHOLDER = re.compile("|".join(f"(?:{pattern})" for pattern, _ in PLACEHOLDERS))
_HTTP = re.compile(r"https?://", re.IGNORECASE)
_CREDENTIALS = re.compile(r"https?://[^/?#]*@", re.IGNORECASE)
_UNSUBSCRIBE = re.compile(r"unsub|opt-?out|list-unsubscribe", re.IGNORECASE)
# Browsers drop tabs and newlines anywhere in a URL and spaces around it (WHATWG URL parsing).
_URL_NOISE = re.compile(r"[\t\n\r]")
_URL_EDGES = " \t\n\r\f"
_HOST_AND_REST = re.compile(r"(https?://)([^/?#]*)(.*)\Z", re.IGNORECASE | re.DOTALL)
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_NOT_URL_CHAR = re.compile(r"[^A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]")
_ATTRIBUTE = re.compile(
    # html.parser's own attribute pattern (attrfind_tolerant), so both see the same attributes
    r"((?<=['\"\s/])[^\s/>][^\s/=>]*)(\s*=+\s*('[^']*'|\"[^\"]*\"|(?!['\"])[^>\s]*))?(?:\s|/(?!>))*"
)
_TAG_NAME = re.compile(r"<[a-zA-Z][^\t\n\r\f />\x00]*")
_TEXT_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\""
_CLOSERS = {")": "(", "]": "[", "}": "{", ">": "<"}


@dataclass(frozen=True)
class Link:
    """One link to rewrite: where its value lies in the document and the URL a reader follows."""

    start: int
    end: int
    url: str
    quote: str
    """The value's quote in HTML (`"`, `'`, or "" for a bare value), or "text" for a plain-text URL."""


@dataclass(frozen=True)
class Skipped:
    """A link left as it was, and why."""

    value: str
    reason: str


@dataclass(frozen=True)
class Found:
    """What a document holds: the links to rewrite, the ones left alone, where a pixel would go."""

    links: tuple[Link, ...]
    skipped: tuple[Skipped, ...]
    pixel_at: int
    """Where the pixel snippet goes: before the last `</body>`, or at the end."""

    @property
    def urls(self) -> list[str]:
        """The distinct URLs to register, in the order they first appear."""
        return list(dict.fromkeys(link.url for link in self.links))


def placeholder_in(value: str) -> str | None:
    """The first template placeholder in a value, or None."""
    match = _PLACEHOLDER.search(value)
    return match.group() if match else None


def _why_skipped(url: str, tracked_prefix: str | None) -> str | None:
    """Why a URL (as a browser reads it, before encoding) is left alone; None to rewrite it."""
    if (placeholder := placeholder_in(url)) is not None:
        return f"holds the placeholder {placeholder}: the newsletter tool fills it in per recipient"
    if not _HTTP.match(url):
        return "not an http or https URL"
    if tracked_prefix and url.startswith(tracked_prefix):
        return "a tracking URL already"
    if _CREDENTIALS.match(url):
        return "carries a user name or password, which the service refuses"
    if _UNSUBSCRIBE.search(url):
        return "an unsubscribe link: objecting must not depend on this service"
    return None


def _percent_encoded(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))


def _as_sent(url: str) -> str:
    """The URL as a browser sends it: the host in punycode, other characters outside RFC 3986
    (spaces, quotes, letters outside ASCII, a lone %) percent-encoded as UTF-8."""
    parts = _HOST_AND_REST.match(url)
    if parts is None:
        return url
    scheme, host, rest = parts.groups()
    if not host.isascii():
        with contextlib.suppress(UnicodeError):  # the service refuses the host, and says why
            host = host.encode("idna").decode("ascii")
    rest = _LONE_PERCENT.sub("%25", rest)
    return scheme + host + _NOT_URL_CHAR.sub(lambda m: _percent_encoded(m.group()), rest)


def _registrable(url: str) -> tuple[str, None] | tuple[None, str]:
    """(the URL to register, None), or (None, why the service would refuse it)."""
    try:
        return check_link_url(_as_sent(url)), None
    except ValidationError as exc:
        return None, f"the service refuses it: {exc}"


def _as_read(value: str) -> str:
    """The URL a browser reads from an href value (entities already decoded)."""
    return _URL_NOISE.sub("", value.strip(_URL_EDGES))


def _is_link_tag(tag: str) -> bool:
    return tag in ("a", "area") or tag.startswith("v:")


class _Tokens(HTMLParser):
    """Notes each link tag's href span and the last `</body>`, with offsets into the document."""

    def __init__(self, document: str, base: int, tracked_prefix: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.document = document
        self.base = base
        self.tracked_prefix = tracked_prefix
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", document)]
        self.links: list[Link] = []
        self.skipped: list[Skipped] = []
        self.body_end: int | None = None

    def _offset(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not _is_link_tag(tag):
            return
        value = next((v for name, v in attrs if name == "href"), None)
        if value is None:
            return
        url = _as_read(value)
        reason = _why_skipped(url, self.tracked_prefix)
        registered, refused = (None, reason) if reason is not None else _registrable(url)
        if registered is None:
            self.skipped.append(Skipped(value, refused or ""))
            return
        link = self._locate(self._offset(), value, registered)
        if link is None:
            self.skipped.append(Skipped(value, "its place in the HTML could not be found"))
        else:
            self.links.append(link)

    handle_startendtag = handle_starttag

    def _locate(self, at: int, value: str, url: str) -> Link | None:
        """The first href's value span inside the start tag at `at` (checked against the parser's)."""
        text = self.get_starttag_text() or ""
        name = _TAG_NAME.match(text)
        if name is None or not self.document.startswith(text, at):
            return None
        for attribute in _ATTRIBUTE.finditer(text, name.end()):
            if attribute.group(1).lower() != "href":
                continue
            raw = attribute.group(3)
            if raw is None:
                return None
            start = at + attribute.start(3)
            quote = raw[0] if raw[:1] in ("'", '"') else ""
            inner = raw[1:-1] if quote else raw
            if unescape(inner) != value:
                return None
            start += len(quote) + self.base
            return Link(start, start + len(inner), url, quote)
        return None

    def handle_endtag(self, tag: str) -> None:
        if tag == "body":
            self.body_end = self.base + self._offset()

    def handle_comment(self, data: str) -> None:
        # Outlook's conditional comments hold markup of their own, VML buttons among it.
        if data.lstrip().lower().startswith("[if"):
            inner = _Tokens(data, self.base + self._offset() + len("<!--"), self.tracked_prefix)
            inner.feed(data)
            inner.close()
            self.links.extend(inner.links)
            self.skipped.extend(inner.skipped)


def find_html_links(document: str, tracked_prefix: str | None = None) -> Found:
    """The links of an HTML mail; `tracked_prefix` marks URLs that are tracking URLs already."""
    tokens = _Tokens(document, 0, tracked_prefix)
    tokens.feed(document)
    tokens.close()
    pixel_at = tokens.body_end if tokens.body_end is not None else len(document)
    return Found(tuple(sorted(tokens.links, key=lambda link: link.start)), tuple(tokens.skipped), pixel_at)


def _trimmed(url: str) -> str:
    """A URL found in running text without the punctuation that ends the sentence around it."""
    while url:
        last = url[-1]
        unbalanced = last in _CLOSERS and url.count(last) > url.count(_CLOSERS[last])
        if last in _TRAILING or unbalanced:
            url = url[:-1]
        else:
            break
    return url


def find_text_links(text: str, tracked_prefix: str | None = None) -> Found:
    """The bare http(s) URLs of a plain-text mail part."""
    links: list[Link] = []
    skipped: list[Skipped] = []
    placeholders = [m.span() for m in _PLACEHOLDER.finditer(text)]
    for match in _TEXT_URL.finditer(text):
        found = _trimmed(match.group())
        start, end = match.span()
        # A placeholder inside a URL or right after it, as in https://x.org/?u={{ ID }}, is part of it.
        glued = next((text[a:b] for a, b in placeholders if a <= end and b > start), None)
        reason = (
            f"holds the placeholder {glued}: the newsletter tool fills it in per recipient"
            if glued is not None
            else _why_skipped(found, tracked_prefix)
        )
        if reason is None and _HTTP.fullmatch(found) is not None:
            continue  # a bare "https://" in the text
        registered, refused = (None, reason) if reason is not None else _registrable(found)
        if registered is None:
            skipped.append(Skipped(found, refused or ""))
        else:
            links.append(Link(start, start + len(found), registered, "text"))
    return Found(tuple(links), tuple(skipped), len(text))


def rewrite(document: str, found: Found, tracking: Mapping[str, str], snippet: str | None = None) -> str:
    """The document with each link's value replaced by its tracking URL and, given, the snippet added."""
    parts: list[str] = []
    at = 0
    inserts: list[tuple[int, int, str]] = []
    for link in found.links:
        target = tracking[link.url]
        if link.quote == "text":
            value = target
        else:
            value = escape(target, quote=True)
            if link.quote == "" and re.search(r"[\s\"'=<>`]", value):
                value = f'"{value}"'
        inserts.append((link.start, link.end, value))
    if snippet is not None:
        inserts.append((found.pixel_at, found.pixel_at, snippet))
    for start, end, value in sorted(inserts, key=lambda insert: (insert[0], insert[1])):
        parts.append(document[at:start])
        parts.append(value)
        at = end
    parts.append(document[at:])
    return "".join(parts)
