"""Tests for pixelagg.core.networks: network sets and the text formats of address lists (pure)."""

from __future__ import annotations

import ipaddress
import random

import pytest

from pixelagg.core.networks import (
    Address,
    AddressLists,
    NetworkSet,
    parse_apple_egress_csv,
    parse_network_lines,
)
from tests.helpers import FIXTURES

APPLE_SAMPLE = FIXTURES / "apple-egress-sample.csv"
SCANNER_SAMPLE = FIXTURES / "scanner-networks-sample.txt"


def ip(text: str) -> Address:
    return ipaddress.ip_address(text)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.0.0.0", True),
        ("10.0.0.255", True),
        ("10.0.1.0", False),
        ("9.255.255.255", False),
        ("172.16.5.5", True),
        ("2001:db8::1", True),
        ("2001:db9::1", False),
        ("::ffff:10.0.0.7", True),
        ("::ffff:11.0.0.7", False),
    ],
    ids=[
        "v4-first",
        "v4-last",
        "v4-just-after",
        "v4-just-before",
        "v4-second-net",
        "v6-inside",
        "v6-outside",
        "v4-mapped-inside",
        "v4-mapped-outside",
    ],
)
def test_membership(address, expected):
    """An address is in the set exactly when one of its networks holds it."""
    networks = NetworkSet.from_cidrs(["10.0.0.0/24", "172.16.0.0/12", "2001:db8::/32"])
    assert (ip(address) in networks) is expected


def test_v4_network_does_not_match_v6_address_with_same_integer():
    """IPv4 and IPv6 ranges are kept apart: ::a00:1 is not 10.0.0.1."""
    networks = NetworkSet.from_cidrs(["10.0.0.0/8"])
    assert ip("::a00:1") not in networks


def test_overlapping_and_adjacent_prefixes_merge():
    """Overlapping or touching prefixes become one range; len counts merged ranges."""
    networks = NetworkSet.from_cidrs(
        ["10.0.0.0/25", "10.0.0.128/25", "10.0.0.0/24", "10.0.0.64/26", "10.0.2.0/24"]
    )
    assert len(networks) == 2


def test_host_bits_are_tolerated():
    """A prefix with host bits set means its network, as Apple's list occasionally writes it."""
    assert ip("10.0.0.1") in NetworkSet.from_cidrs(["10.0.0.77/24"])


def test_empty_set_is_false_and_holds_nothing():
    """An empty set has length 0, is falsy and contains no address."""
    networks = NetworkSet()
    assert not networks
    assert ip("1.2.3.4") not in networks


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "not-a-network", ""], ids=["prefix", "word", "empty"])
def test_from_cidrs_rejects_garbage(bad):
    """A string that is not a CIDR raises ValueError quoting it."""
    with pytest.raises(ValueError, match="is not an IP network"):
        NetworkSet.from_cidrs([bad])


def test_agrees_with_naive_lookup_on_random_sets():
    """Binary search over merged ranges agrees with checking each network in turn."""
    rng = random.Random(20240917)
    for _ in range(20):
        cidrs = [
            f"{ipaddress.IPv4Address(0x0A000000 | rng.getrandbits(24))}/{rng.randint(12, 32)}"
            for _ in range(50)
        ]
        nets = [ipaddress.ip_network(c, strict=False) for c in cidrs]
        networks = NetworkSet.from_cidrs(cidrs)
        probes = [n.network_address + d for n in nets for d in (-1, 0, 1)]
        probes += [n.broadcast_address + d for n in nets for d in (-1, 0, 1)]
        probes += [ipaddress.IPv4Address(0x0A000000 | rng.getrandbits(24)) for _ in range(200)]
        for probe in probes:
            assert (probe in networks) == any(probe in n for n in nets), probe


def test_large_set_membership():
    """280k disjoint /24s (Apple's list size) give correct answers across the whole span."""
    count = 280_000
    base = int(ipaddress.IPv4Address("11.0.0.0"))
    # Every other /24, so nothing merges and the search really runs over 280k ranges.
    cidrs = [f"{ipaddress.IPv4Address(base + (i << 9))}/24" for i in range(count)]
    networks = NetworkSet.from_cidrs(cidrs)
    assert len(networks) == count
    rng = random.Random(7)
    for _ in range(20_000):
        value = base - 1000 + rng.randrange((count << 9) + 2000)
        offset = value - base
        expected = 0 <= offset < count << 9 and (offset >> 8) % 2 == 0
        assert (ipaddress.IPv4Address(value) in networks) is expected, value


def test_address_lists_empty():
    """AddressLists.empty() has two empty sets."""
    lists = AddressLists.empty()
    assert len(lists.apple_egress) == 0
    assert len(lists.scanners) == 0


def test_parse_apple_egress_csv_reads_prefix_column():
    """Only the first column of Apple's CSV counts; country, region and city are ignored."""
    networks = parse_apple_egress_csv(APPLE_SAMPLE.read_text(encoding="utf-8"))
    assert ip("192.0.2.200") in networks
    assert ip("2001:db8:c::5") in networks
    assert ip("198.51.100.1") not in networks


def test_parse_apple_egress_csv_names_bad_line():
    """A malformed row raises ValueError with its line number."""
    with pytest.raises(ValueError, match=r"line 2: '<html>' is not an IP network"):
        parse_apple_egress_csv("192.0.2.0/24,GB,GB-EN,London,\n<html>\n")


def test_parse_network_lines_allows_comments_and_blanks():
    """Comments (whole-line and trailing) and blank lines are skipped."""
    networks = parse_network_lines(SCANNER_SAMPLE.read_text(encoding="utf-8"))
    assert ip("203.0.113.9") in networks
    assert ip("2001:db8:5c::1") in networks
    assert len(networks) == 3


def test_parse_network_lines_names_bad_line():
    """A malformed line raises ValueError with its line number."""
    with pytest.raises(ValueError, match=r"line 3: '10\.0\.0\.0/99'"):
        parse_network_lines("# scanners\n10.0.0.0/8\n10.0.0.0/99\n")
