"""Tests for pixelagg.core.privacy: client address, region bucket, keyed hash, salts (pure)."""

from __future__ import annotations

import hashlib
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pixelagg.core.networks import NetworkSet
from pixelagg.core.privacy import (
    SALT_GRACE_SECONDS,
    Salt,
    bucket_region,
    client_address,
    salt_window,
    visitor_key,
)

LOOPBACK = NetworkSet.from_cidrs(["127.0.0.1/32", "::1/128"])
PROXIES = NetworkSet.from_cidrs(["127.0.0.1/32", "::1/128", "10.0.0.0/8", "fd00::/8"])
SALT = bytes(range(32))
OTHER_SALT = bytes(range(1, 33))
IP = "203.0.113.7"
UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Sentinel-UA/1.0"
CAMPAIGN = "AbCdEfGhIjKlMnOp"


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


# client_address


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "trusted", "expected"),
    [
        ("198.51.100.9", None, LOOPBACK, "198.51.100.9"),
        ("127.0.0.1", None, LOOPBACK, "127.0.0.1"),
        ("127.0.0.1", "198.51.100.1", LOOPBACK, "198.51.100.1"),
        ("::1", "198.51.100.1", LOOPBACK, "198.51.100.1"),
        ("198.51.100.9", "8.8.8.8", LOOPBACK, "198.51.100.9"),
        ("198.51.100.9", "garbage", LOOPBACK, "198.51.100.9"),
        ("127.0.0.1", "1.1.1.1, 8.8.8.8, 10.0.0.2", PROXIES, "8.8.8.8"),
        ("127.0.0.1", "1.1.1.1, 8.8.8.8", LOOPBACK, "8.8.8.8"),
        ("127.0.0.1", "10.0.0.1, 10.0.0.2", PROXIES, "10.0.0.1"),
        ("127.0.0.1", "", LOOPBACK, "127.0.0.1"),
        ("127.0.0.1", " , ", LOOPBACK, "127.0.0.1"),
        ("::1", "2001:db8::1", LOOPBACK, "2001:db8::1"),
        ("2001:db8::9", None, LOOPBACK, "2001:db8::9"),
        ("127.0.0.1", "2001:db8::1, fd00::5", PROXIES, "2001:db8::1"),
    ],
    ids=[
        "peer-only",
        "loopback-peer-no-header",
        "xff-from-trusted-loopback",
        "xff-from-trusted-v6-loopback",
        "xff-ignored-from-untrusted-peer",
        "bad-xff-ignored-from-untrusted-peer",
        "rightmost-untrusted-hop",
        "spoofed-left-hop-ignored",
        "all-hops-trusted-leftmost",
        "empty-header",
        "blank-hops",
        "ipv6-hop",
        "ipv6-peer",
        "ipv6-trusted-hop-skipped",
    ],
)
def test_client_address(peer, forwarded_for, trusted, expected):
    """The client is the peer, or the rightmost untrusted X-Forwarded-For hop of a trusted peer."""
    assert client_address(peer, forwarded_for, trusted) == (ip(expected), str(ip(expected)))


@pytest.mark.parametrize(
    ("peer", "forwarded_for"),
    [
        ("127.0.0.1", "not-an-ip"),
        ("127.0.0.1", "1.1.1.1, unknown"),
        ("127.0.0.1", "999.1.1.1"),
        (None, None),
        ("testclient", None),
        ("", "8.8.8.8"),
    ],
    ids=["garbage-hop", "unknown-hop", "out-of-range", "no-peer", "unparsable-peer", "empty-peer"],
)
def test_unparsable_address_is_none(peer, forwarded_for):
    """An address that cannot be parsed gives None, never a guess."""
    assert client_address(peer, forwarded_for, LOOPBACK) is None


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        ("::ffff:127.0.0.1", "198.51.100.1", "198.51.100.1"),
        ("::ffff:198.51.100.9", None, "198.51.100.9"),
        ("127.0.0.1", "::ffff:8.8.8.8", "8.8.8.8"),
    ],
    ids=["mapped-peer-is-trusted", "mapped-peer", "mapped-hop"],
)
def test_ipv4_mapped_ipv6_is_normalised(peer, forwarded_for, expected):
    """IPv4-mapped IPv6 addresses become IPv4, for trust checks and for the result."""
    address, text = client_address(peer, forwarded_for, LOOPBACK)
    assert address == ip(expected)
    assert address.version == 4
    assert text == expected


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        ("127.0.0.1", "198.51.100.1:5123", "198.51.100.1"),
        ("127.0.0.1", "[2001:db8::1]:443", "2001:db8::1"),
        ("127.0.0.1", "[2001:db8::1]", "2001:db8::1"),
        ("198.51.100.9:40000", None, "198.51.100.9"),
    ],
    ids=["v4-port", "v6-port", "v6-brackets", "peer-port"],
)
def test_ports_are_stripped(peer, forwarded_for, expected):
    """Ports (and IPv6 brackets) are stripped from addresses."""
    assert client_address(peer, forwarded_for, LOOPBACK) == (ip(expected), expected)


@given(st.ip_addresses(), st.sampled_from(["", " ", ":8080"]))
def test_client_text_is_the_canonical_form(address, suffix):
    """The text that is hashed and looked up is the canonical form, however the address was written."""
    written = address.exploded
    if suffix == ":8080" and address.version == 6:
        written = f"[{written}]"
    found = client_address("127.0.0.1", written + suffix, LOOPBACK)
    assert found is not None
    mapped = address.ipv4_mapped if address.version == 6 else None
    assert found.address == (mapped or address)
    assert found.text == str(found.address)


# bucket_region


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("8.8.8.8", "US"),
        ("2001:4860:4860::8888", "US"),
        ("127.0.0.1", "unknown"),
        ("10.1.2.3", "unknown"),
        ("192.168.1.1", "unknown"),
        ("::1", "unknown"),
        ("203.0.113.7", "unknown"),
    ],
    ids=["public-v4", "public-v6", "loopback", "private-10", "private-192", "v6-loopback", "doc"],
)
def test_bucket_region_country(address, expected):
    """A public address buckets to its ISO country; loopback, private and reserved to 'unknown'."""
    assert bucket_region(ip(address)) == expected


def test_bucket_region_none_mode():
    """In mode 'none' every address buckets to 'unknown'."""
    assert bucket_region(ip("8.8.8.8"), "none") == "unknown"


def test_bucket_region_without_address():
    """No address buckets to 'unknown'."""
    assert bucket_region(None) == "unknown"


def test_bucket_region_is_never_finer_than_a_country():
    """A region is a two-letter country code or 'unknown'."""
    for address in ("8.8.8.8", "1.1.1.1", "193.0.6.139", "2a00:1450::1", "10.0.0.1"):
        region = bucket_region(ip(address))
        assert region == "unknown" or (len(region) == 2 and region.isupper()), region


# visitor_key (P3)


def test_visitor_key_is_deterministic():
    """The same salt, address, user agent and campaign give the same key."""
    assert visitor_key(SALT, IP, UA, CAMPAIGN) == visitor_key(SALT, IP, UA, CAMPAIGN)


def test_visitor_key_is_keyed_blake2b_of_the_joined_fields():
    """The element: BLAKE2b-128 keyed with the salt, over address, user agent and campaign, NUL-joined."""
    expected = hashlib.blake2b(f"{IP}\x00{UA}\x00{CAMPAIGN}".encode(), key=SALT, digest_size=16).digest()
    assert visitor_key(SALT, IP, UA, CAMPAIGN) == expected


def test_visitor_key_from_a_salt_matches_its_key():
    """A Salt's prepared hasher gives the same element as its raw key, for every input."""
    salt = Salt(0, SALT, 1e9)
    for address in (IP, "2001:db8::1", ""):
        assert visitor_key(salt, address, UA, CAMPAIGN) == visitor_key(SALT, address, UA, CAMPAIGN)


def test_visitor_key_is_16_bytes():
    """The key is a 16-byte digest."""
    key = visitor_key(SALT, IP, UA, CAMPAIGN)
    assert isinstance(key, bytes) and len(key) == 16


@pytest.mark.parametrize(
    "changed",
    [
        (OTHER_SALT, IP, UA, CAMPAIGN),
        (SALT, "203.0.113.8", UA, CAMPAIGN),
        (SALT, IP, UA + " ", CAMPAIGN),
        (SALT, IP, UA, "AbCdEfGhIjKlMnOq"),
    ],
    ids=["salt", "ip", "ua", "campaign"],
)
def test_visitor_key_differs_by_each_input(changed):
    """Changing any one input changes the key."""
    assert visitor_key(*changed) != visitor_key(SALT, IP, UA, CAMPAIGN)


def test_visitor_key_separates_fields():
    """Moving bytes between the address and the user agent changes the key."""
    left = visitor_key(SALT, "1.2.3.4", "5", CAMPAIGN)
    assert left != visitor_key(SALT, "1.2.3.45", "", CAMPAIGN)


@pytest.mark.parametrize(
    "ua", [UA, "Mozilla/5.0", "Ünïcødé-Mail/1.0", ""], ids=["browser", "bare", "latin1", "empty"]
)
def test_visitor_key_never_contains_raw_input(ua):
    """The key contains neither the address nor the user agent, in any encoding."""
    key = visitor_key(SALT, IP, ua, CAMPAIGN)
    address = ip(IP)
    for raw in (IP.encode(), address.packed, ua.encode("utf-8"), CAMPAIGN.encode()):
        if len(raw) >= 4:
            assert raw not in key
    assert IP not in key.hex() and IP not in repr(key)


def test_visitor_key_is_keyed():
    """The key is not a plain hash: without the salt nothing matches it."""
    assert visitor_key(b"\x00" * 32, IP, UA, CAMPAIGN) != visitor_key(SALT, IP, UA, CAMPAIGN)
    assert visitor_key(SALT, IP, UA, CAMPAIGN) != visitor_key(SALT[:16], IP, UA, CAMPAIGN)


# salts (P4)


@pytest.mark.parametrize(
    ("now", "index", "window_end"),
    [
        (1000.0, 0, 1100.0),
        (1099.9, 0, 1100.0),
        (1100.0, 1, 1200.0),
        (1350.0, 3, 1400.0),
        (900.0, 0, 1100.0),
    ],
    ids=["first-hit", "end-of-first", "start-of-second", "fourth", "clock-before-first-hit"],
)
def test_salt_window(now, index, window_end):
    """The window index counts whole windows from the first hit; the salt expires after grace."""
    assert salt_window(1000.0, now, 100) == (index, window_end + SALT_GRACE_SECONDS)


def test_salt_lives_at_most_its_window_plus_grace():
    """However late in its window a salt is made, it expires within window + grace of now."""
    window = 7 * 86400
    for now in (0.0, 1.0, window - 1.0, window * 3 + 5.0):
        _, expires_at = salt_window(0.0, now, window)
        assert now < expires_at <= now + window + SALT_GRACE_SECONDS


def test_salt_is_open_until_its_window_ends():
    """A salt hashes hits until its window ends; the grace after it is not part of the window."""
    salt = Salt(0, SALT, 1000.0 + SALT_GRACE_SECONDS)
    assert salt.is_open(999.9)
    assert not salt.is_open(1000.0)


def test_salt_grace_is_short():
    """The grace period is minutes, not days."""
    assert 0 < SALT_GRACE_SECONDS <= 3600


def test_salt_repr_hides_the_key():
    """Neither repr nor str of a Salt shows its key."""
    key = bytes.fromhex("deadbeef" * 8)
    salt = Salt(window=3, key=key, expires_at=1234.5)
    for text in (repr(salt), str(salt), f"{salt}", repr([salt])):
        assert "deadbeef" not in text.lower()
        assert repr(key) not in text
        assert "window=3" in text
