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
from dataclasses import dataclass, field
from typing import NamedTuple

import iptocc

from .networks import Address, NetworkSet
from .regions import UNKNOWN_REGION

__all__ = [
    "ELEMENT_BYTES",
    "SALT_BYTES",
    "SALT_GRACE_SECONDS",
    "Address",
    "Client",
    "Salt",
    "bucket_region",
    "clicker_key",
    "client_address",
    "new_salt",
    "salt_window",
    "visitor_key",
]


SALT_BYTES = 32
ELEMENT_BYTES = 16
"""The length of a unique-open element (a BLAKE2b digest)."""
SALT_GRACE_SECONDS = 600
"""A salt outlives its window by this much, so hits hashed just before the end still flush."""


@dataclass(frozen=True, repr=False)
class Salt:
    """The random key of one campaign's window. Its repr never shows the key."""

    window: int
    key: bytes
    expires_at: float
    hasher: hashlib.blake2b = field(init=False, compare=False)
    """BLAKE2b already keyed with `key`: copying it skips hashing the key block on every hit.
    It lives exactly as long as this object, so the key dies with it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "hasher", hashlib.blake2b(key=self.key, digest_size=ELEMENT_BYTES))

    def __repr__(self) -> str:
        return f"Salt(window={self.window}, expires_at={self.expires_at})"

    def is_open(self, now: float) -> bool:
        """Whether `now` falls in the salt's window; the grace after it is for flushing only."""
        return now < self.expires_at - SALT_GRACE_SECONDS


def new_salt() -> bytes:
    """A fresh random salt from the operating system's CSPRNG."""
    return secrets.token_bytes(SALT_BYTES)


def salt_window(first_hit: float, now: float, window_seconds: int) -> tuple[int, float]:
    """The index of the window `now` falls in, counted from the first hit, and when its salt expires."""
    index = max(0, int((now - first_hit) // window_seconds))
    expires_at = first_hit + (index + 1) * window_seconds + SALT_GRACE_SECONDS
    return index, expires_at


def visitor_key(salt: Salt | bytes, address: str, user_agent: str, campaign_id: str) -> bytes:
    """The element counted for unique opens: BLAKE2b-128 keyed with the salt, over address,
    user agent and campaign id joined by NUL bytes."""
    h = salt.hasher.copy() if isinstance(salt, Salt) else hashlib.blake2b(key=salt, digest_size=ELEMENT_BYTES)
    h.update(
        b"%s\x00%s\x00%s"
        % (
            address.encode("ascii"),
            user_agent.encode("utf-8", "surrogateescape"),
            campaign_id.encode("ascii"),
        )
    )
    return h.digest()


def clicker_key(salt: Salt | bytes, address: str, user_agent: str, campaign_id: str) -> bytes:
    """The element counted for unique clickers: `visitor_key`'s keyed hash with a prefix of its
    own, so a reader's open and click are two elements (the first click is counted once too)."""
    return visitor_key(salt, address, user_agent, "click\x00" + campaign_id)


_MAPPED_PREFIX = b"\x00" * 10 + b"\xff\xff"


class Client(NamedTuple):
    """A request's client address, and its canonical text (what is hashed and looked up)."""

    address: Address
    text: str


def _parse_client(text: str) -> Client | None:
    """Parse an address (with an optional port), strictly, in C (inet_pton) for speed."""
    text = text.strip()
    try:
        # inet_pton accepts only canonical dotted quads (no leading zeros): the text is canonical
        return Client(ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, text)), text)
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
        address: Address
        if len(packed) == 4:
            address = ipaddress.IPv4Address(packed)
        elif packed.startswith(_MAPPED_PREFIX):
            address = ipaddress.IPv4Address(packed[12:])
        else:
            address = ipaddress.IPv6Address(packed)
        return Client(address, str(address))
    return None


def client_address(peer: str | None, forwarded_for: str | None, trusted: NetworkSet) -> Client | None:
    """The client's address: the socket peer, or X-Forwarded-For when the peer is a trusted proxy.

    The header is read right to left and the first address that is not itself a trusted proxy
    wins, as uvicorn's proxy-headers middleware does. Anything unparsable gives None.
    """
    client, peer_trusted = _parse_peer(peer, trusted) if peer else (None, False)
    if client is None or not forwarded_for or not peer_trusted:
        return client
    for hop in reversed(forwarded_for.split(",")):
        if not hop or hop.isspace():
            continue
        hop_client = _parse_client(hop)
        if hop_client is None:
            return None
        if hop_client.address not in trusted:
            return hop_client
        client = hop_client
    return client


@functools.lru_cache(maxsize=1024)
def _parse_peer(peer: str, trusted: NetworkSet) -> tuple[Client | None, bool]:
    """Socket peers repeat (they are mostly the proxies): parse and judge each once."""
    client = _parse_client(peer)
    return client, client is not None and client.address in trusted


def bucket_region(address: Address | str | None, mode: str = "country") -> str:
    """The coarse region of an address (or its text): an ISO country code, or 'unknown'."""
    if mode == "none" or not address:
        return UNKNOWN_REGION
    return iptocc.country_code(str(address)) or UNKNOWN_REGION
