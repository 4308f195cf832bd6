"""Raw request data in stored text: what looks like an IP address or a user agent.

The audit searches every stored hash field and zset member with `find_raw_data`. A match is
evidence that the IP or the user agent left the request (P2); the patterns err on the side of
matching, and pixelagg's own field formats (day fields, classes, timestamps) never match.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["find_raw_data"]

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\d|\.\d)")
# Candidates only (compressed forms with '::' included); ipaddress decides.
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])")
_USER_AGENT = re.compile(
    r"mozilla/|applewebkit|gecko|khtml|chrome/|safari/|firefox/|edg/|msie |trident/|"
    r"outlook|thunderbird|windows nt|mac os x|iphone|android|"
    r"python-requests|python-urllib|python-httpx|aiohttp|curl/|wget/|okhttp|go-http-client|"
    r"googleimageproxy|yahoomailproxy|seznamemailproxy|ggpht\.com|barracuda|microsoft office",
    re.IGNORECASE,
)


def find_raw_data(text: str) -> list[str]:
    """The kinds of raw request data that `text` looks like: 'IPv4', 'IPv6', 'user agent'."""
    kinds = []
    if _IPV4.search(text):
        kinds.append("IPv4")
    for candidate in _IPV6.findall(text):
        if any(c not in ":" for c in candidate) and _is_ipv6(candidate):
            kinds.append("IPv6")
            break
    if _USER_AGENT.search(text):
        kinds.append("user agent")
    return kinds


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True
