"""The privacy mechanism, as pure functions: client address, region bucket, salts, keyed hash.

Raw request data (the IP address and the user agent) enter here and leave only as a
country code and a keyed BLAKE2b digest whose key is a random salt that dies with its window.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import iptocc

__all__ = [
    "ELEMENT_BYTES",
    "SALT_BYTES",
    "SALT_GRACE_SECONDS",
    "Address",
    "Network",
    "Salt",
    "bucket_region",
    "client_address",
    "new_salt",
    "parse_networks",
    "salt_window",
    "visitor_key",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SALT_BYTES = 32
ELEMENT_BYTES = 16
"""The length of a unique-open element (a BLAKE2b digest)."""
SALT_GRACE_SECONDS = 600
"""A salt outlives its window by this much, so hits hashed just before the end still flush."""

UNKNOWN_REGION = "unknown"


@dataclass(frozen=True, repr=False)
class Salt:
    """The random key of one campaign's window. Its repr never shows the key."""

    window: int
    key: bytes
    expires_at: float

    def __repr__(self) -> str:
        return f"Salt(window={self.window}, expires_at={self.expires_at})"


def new_salt() -> bytes:
    """A fresh random salt from the operating system's CSPRNG."""
    return secrets.token_bytes(SALT_BYTES)


def salt_window(first_hit: float, now: float, window_seconds: int) -> tuple[int, float]:
    """The index of the window `now` falls in, counted from the first hit, and when its salt expires."""
    index = max(0, int((now - first_hit) // window_seconds))
    expires_at = first_hit + (index + 1) * window_seconds + SALT_GRACE_SECONDS
    return index, expires_at


def visitor_key(salt: bytes, address: str, user_agent: str, campaign_id: str) -> bytes:
    """The element counted for unique opens: a keyed BLAKE2b of address, user agent and campaign."""
    h = hashlib.blake2b(key=salt, digest_size=ELEMENT_BYTES)
    h.update(address.encode("ascii"))
    h.update(b"\x00")
    h.update(user_agent.encode("utf-8", "surrogateescape"))
    h.update(b"\x00")
    h.update(campaign_id.encode("ascii"))
    return h.digest()


_MAPPED_PREFIX = b"\x00" * 10 + b"\xff\xff"


def _parse_address(text: str) -> Address | None:
    """Parse an address (with an optional port), strictly, in C (inet_pton) for speed."""
    text = text.strip()
    try:
        return ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError):  # ValueError: an embedded NUL
        pass
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            packed = socket.inet_pton(family, text)
        except (OSError, ValueError):  # ValueError: an embedded NUL
            continue
        if len(packed) == 4:
            return ipaddress.IPv4Address(packed)
        if packed.startswith(_MAPPED_PREFIX):
            return ipaddress.IPv4Address(packed[12:])
        return ipaddress.IPv6Address(packed)
    return None


def parse_networks(cidrs: Sequence[str]) -> tuple[Network, ...]:
    """Parse CIDR strings (already validated by config) into networks."""
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> Address | None:
    """The client's address: the socket peer, or X-Forwarded-For when the peer is a trusted proxy.

    The header is read right to left and the first address that is not itself a trusted proxy
    wins, as uvicorn's proxy-headers middleware does. Anything unparsable gives None.
    """
    address, peer_trusted = _parse_peer(peer, tuple(trusted)) if peer else (None, False)
    if address is None or not forwarded_for or not peer_trusted:
        return address
    hops = [h for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        hop_address = _parse_address(hop)
        if hop_address is None:
            return None
        if not _is_trusted(hop_address, trusted):
            return hop_address
        address = hop_address
    return address


@functools.lru_cache(maxsize=1024)
def _parse_peer(peer: str, trusted: tuple[Network, ...]) -> tuple[Address | None, bool]:
    """Socket peers repeat (they are mostly the proxies): parse and judge each once."""
    address = _parse_address(peer)
    return address, address is not None and _is_trusted(address, trusted)


def _is_trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == n.version and address in n for n in trusted)


def bucket_region(address: Address | str | None, mode: str = "country") -> str:
    """The coarse region of an address (or its text): an ISO country code, or 'unknown'."""
    if mode == "none" or not address:
        return UNKNOWN_REGION
    return iptocc.country_code(str(address)) or UNKNOWN_REGION
