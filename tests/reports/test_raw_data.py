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
    ],
)
def test_find_raw_data(text, kinds):
    """IP-like and UA-like text is recognised; pixelagg's own field formats are not."""
    assert find_raw_data(text) == kinds
