"""Raw request data in stored text: what looks like an IP address (full or truncated), an
e-mail address or a user agent.

The audit searches stored hash fields, zset members, strings that are no sketch, set members
that are no keyed hash, and key names with `find_raw_data`. A match is evidence that the IP or
the user agent left the request (P2), or that a recipient's address was stored. The patterns
err on the side of matching, and pixelagg's own formats (day fields, classes, timestamps,
campaign ids) never match. A truncated address is personal data too (the Autoriteit
Persoonsgegevens on removing the last octet).
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["EMAIL", "find_raw_data"]

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\d|\.\d)")
# Three octets, alone or with a masked fourth (x, *, 0/24) or a prefix length. Three one-digit
# numbers (1.2.3) read as a version, not an address.
_IPV4_TRUNCATED = re.compile(
    rf"(?<![\d.])(?!\d\.\d\.\d(?!\d)){_OCTET}\.{_OCTET}\.{_OCTET}"
    r"(?:\.(?:[xX*]+|0/\d{1,2})|/\d{1,2})?(?!\d|\.\d)"
)
# Candidates only (compressed forms with '::' included); ipaddress decides.
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])")
# The first groups of a global (2000::/3) or unique-local/link-local (fc00::/7, fe80::/10)
# address, cut short: 2001:0db8:cafe, 2a02:1810:4d02:f00 (a /48 or /64 prefix written out).
_IPV6_TRUNCATED = re.compile(
    r"(?<![0-9A-Fa-f:])(?:[23][0-9A-Fa-f]{3}|[fF][c-eC-E][0-9A-Fa-f]{2})(?::[0-9A-Fa-f]{1,4}){2,6}"
    r"(?![0-9A-Fa-f])"
)
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_USER_AGENT = re.compile(
    r"mozilla/|applewebkit|gecko|khtml|chrome/|safari/|firefox/|edg/|msie |trident/|"
    r"outlook|thunderbird|windows nt|mac os x|iphone|android|"
    r"python-requests|python-urllib|python-httpx|aiohttp|curl/|wget/|okhttp|go-http-client|"
    r"googleimageproxy|yahoomailproxy|seznamemailproxy|ggpht\.com|barracuda|microsoft office",
    re.IGNORECASE,
)


def find_raw_data(text: str) -> list[str]:
    """The kinds of raw data `text` looks like: 'IPv4', 'truncated IPv4', 'IPv6',
    'truncated IPv6', 'e-mail address', 'user agent'."""
    kinds = []
    if _IPV4.search(text):
        kinds.append("IPv4")
    elif _IPV4_TRUNCATED.search(text):
        kinds.append("truncated IPv4")
    if any(any(c != ":" for c in m) and _is_ipv6(m) for m in _IPV6.findall(text)):
        kinds.append("IPv6")
    elif any(not _is_ipv6(m) for m in _IPV6_TRUNCATED.findall(text)):
        kinds.append("truncated IPv6")
    if EMAIL.search(text):
        kinds.append("e-mail address")
    if _USER_AGENT.search(text):
        kinds.append("user agent")
    return kinds


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True
