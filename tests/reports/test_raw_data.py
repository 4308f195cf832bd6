"""Tests for pixelagg.reports.raw_data: what counts as raw request data in stored text."""

from __future__ import annotations

import pytest

from pixelagg.reports.raw_data import find_raw_data


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("203.0.113.7", ["IPv4"]),
        ("x=10.0.0.255;", ["IPv4"]),
        ("2001:db8::1", ["IPv6"]),
        ("fe80::1ff:fe23:4567:890a", ["IPv6"]),
        ("1:2:3:4:5:6:7:8", ["IPv6"]),
        ("curl/8.5.0", ["user agent"]),
        ("Microsoft Outlook 16.0", ["user agent"]),
        ("01|human|NL", []),
        ("declined", []),
        ("1712345678.1234567", []),
        ("256.1.1.1", []),
        ("1.2.3", []),
        ("12:30:45", []),
        ("::", []),
        ("apple_mpp", []),
        ("203.0.113", ["truncated IPv4"]),
        ("net 198.51.100.x", ["truncated IPv4"]),
        ("198.51.100.*", ["truncated IPv4"]),
        ("203.0.113.0/24", ["IPv4"]),
        ("10.1.2/24", ["truncated IPv4"]),
        ("2001:0db8:cafe", ["truncated IPv6"]),
        ("2a02:1810:4d02:f00", ["truncated IPv6"]),
        ("fd12:3456:789a", ["truncated IPv6"]),
        ("2001:db8:cafe::/48", ["IPv6"]),
        ("jan.devries@example.nl", ["e-mail address"]),
        ("rcpt-0001@example.com", ["e-mail address"]),
        ("h|2024|human", []),
        ("f|23|human", []),
        ("lp|481234|human", []),
        ("v2.10", []),
    ],
    ids=[
        "ipv4",
        "ipv4-embedded",
        "ipv6-compressed",
        "ipv6-link-local",
        "ipv6-full",
        "curl",
        "outlook",
        "day-field",
        "declined",
        "timestamp",
        "octet-out-of-range",
        "three-octets",
        "clock-time",
        "bare-double-colon",
        "class-name",
        "three-octets-of-an-address",
        "masked-x",
        "masked-star",
        "network",
        "three-octets-with-prefix",
        "ipv6-first-groups",
        "ipv6-64-prefix-written-out",
        "ipv6-unique-local-groups",
        "ipv6-network",
        "email",
        "email-numbered",
        "hour-like-field",
        "first-open-field",
        "released-cell",
        "two-part-version",
    ],
)
def test_find_raw_data(text, kinds):
    """Full or truncated addresses, e-mail addresses and user agents are found; pixelagg's formats are not."""
    assert find_raw_data(text) == kinds
