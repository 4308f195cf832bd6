"""Links: a campaign's shared link URLs, the same for every recipient, and their ids.

A sender registers each link of a mail once; the mail then carries the tracking URL
`/l/{campaign}/{link}` instead, byte-identical for every recipient. A link id is derived from
the campaign and the URL, so registering the same URL twice (rewriting a mail again, two
processes at once) gives the same link. Only plain http and https URLs are taken: no other
scheme (`javascript:`, `data:`), no user or password, nothing a browser would read in two
ways (a backslash, white space, characters that are not ASCII). Pure: text in, values out.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from ..exceptions import ValidationError

__all__ = [
    "LINK_ID_LENGTH",
    "LINK_ID_PATTERN",
    "URL_MAX",
    "URL_PATTERN",
    "Link",
    "check_link_url",
    "is_link_id",
    "link_id",
    "tracking_url",
]

URL_MAX = 2048
"""The longest URL a link may have: what every browser and mail client takes."""
LINK_ID_LENGTH = 10
LINK_ID_PATTERN = rf"[A-Za-z0-9_-]{{{LINK_ID_LENGTH}}}"
"""A link id: 10 URL-safe characters (60 bits of a hash of campaign and URL)."""

_ID = re.compile(rf"{LINK_ID_PATTERN}\Z")
# RFC 3986's characters: unreserved, reserved and '%'. Nothing else (no space, no backslash,
# no quote, no angle bracket, nothing outside ASCII) may appear in a link.
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*\Z")
_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):(?P<rest>.*)\Z",
    re.DOTALL,
)
_AUTHORITY = re.compile(r"//(?P<authority>[^/?#]*)(?P<path>[/?#].*)?\Z", re.DOTALL)
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{{1,5}}))?\Z")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")

_SCHEMA_LABEL = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_SCHEMA_PORT = "([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
URL_PATTERN = (
    r"^[ \t\r\n]*[Hh][Tt][Tt][Pp][Ss]?://"
    rf"({_SCHEMA_LABEL}(\.{_SCHEMA_LABEL})*\.?|\[[0-9A-Fa-f:.]+\])(:{_SCHEMA_PORT})?"
    r"([/?#]([A-Za-z0-9._~:/?#@!$&'()*+,;=\[\]-]|%[0-9A-Fa-f]{2})*)?[ \t\r\n]*$"
)
"""The URLs `check_link_url` takes, as a regular expression for JSON Schema (the OpenAPI
document): what it matches is taken. (The length, at most URL_MAX, is checked apart.)"""


@dataclass(frozen=True, slots=True)
class Link:
    """One registered link of a campaign: its id and the URL it leads to."""

    id: str
    url: str


def link_id(campaign_id: str, url: str, attempt: int = 0) -> str:
    """The id of a campaign's link to `url`: the same for the same URL. A later `attempt`
    gives another id, for the (2^-60) case that the first is taken by another URL."""
    data = b"link\x00%s\x00%s\x00%d" % (campaign_id.encode("ascii"), url.encode("ascii"), attempt)
    digest = hashlib.blake2b(data, digest_size=9).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:LINK_ID_LENGTH]


def is_link_id(text: str) -> bool:
    """True when `text` has the shape of a link id (it may still not exist)."""
    return _ID.match(text) is not None


def tracking_url(base_url: str, campaign_id: str, link: str) -> str:
    """The URL that goes into the mail in place of the link."""
    return f"{base_url.rstrip('/')}/l/{campaign_id}/{link}"


def _refuse(message: str) -> ValidationError:
    return ValidationError(message, {"field": "url"})


def check_link_url(value: Any) -> str:
    """The URL as it will be stored (surrounding white space removed); ValidationError, naming
    the field 'url', when it is not a plain http or https URL."""
    if not isinstance(value, str):
        raise _refuse("'url' must be a string: an http or https URL.")
    url = value.strip(" \t\r\n")
    if not url:
        raise _refuse("'url' must not be empty.")
    if len(url) > URL_MAX:
        raise _refuse(f"'url' may have at most {URL_MAX} characters; it has {len(url)}.")
    found = _URL.match(url)
    scheme = found.group("scheme").lower() if found else ""
    if scheme not in ("http", "https"):
        shown = f"'{scheme}:'" if scheme else "none"
        raise _refuse(f"'url' must be an http or https URL (its scheme is {shown}).")
    if not _URL_CHARS.match(url):
        raise _refuse(
            "'url' may hold only the characters of RFC 3986: percent-encode spaces, quotes, "
            "backslashes and letters outside ASCII (and use the punycode form of a host name)."
        )
    if _BAD_PERCENT.search(url):
        raise _refuse("'url' has a '%' that is not followed by two hexadecimal digits.")
    assert found is not None
    parts = _AUTHORITY.match(found.group("rest"))
    if parts is None or not parts.group("authority"):
        raise _refuse("'url' must name a host after the scheme, as in https://example.org/page.")
    authority = parts.group("authority")
    if "@" in authority:
        raise _refuse("'url' must not carry a user name or password (user:password@host).")
    host = _HOST.match(authority)
    if host is None:
        raise _refuse(f"'url' has host {authority[:100]!r}, which is not a host name or address.")
    port = host.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        raise _refuse(f"'url' has port {port}, which is not between 1 and 65535.")
    return f"{scheme}:{found.group('rest')}" if found.group("scheme") != scheme else url
