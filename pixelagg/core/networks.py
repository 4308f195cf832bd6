"""Networks: sets of CIDR networks with fast membership tests, and the text formats of lists.

Two lists sharpen the user-agent classes: Apple's published egress ranges (Mail Privacy
Protection and iCloud Private Relay) and an operator-supplied list of mail-scanner networks.
A ``NetworkSet`` merges its prefixes into sorted, disjoint integer ranges, so a lookup is one
binary search even for Apple's ~280k rows. Pure: reading and downloading the files is
``ingest.lists``.
"""

from __future__ import annotations

import ipaddress
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = [
    "Address",
    "AddressLists",
    "NetworkSet",
    "parse_apple_egress_csv",
    "parse_network_lines",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse_network(text: str) -> Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP network (CIDR)") from None


def _merge(ranges: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Sort inclusive ranges and merge those that overlap or touch."""
    starts: list[int] = []
    ends: list[int] = []
    for first, last in sorted(ranges):
        if ends and first <= ends[-1] + 1:
            ends[-1] = max(ends[-1], last)
        else:
            starts.append(first)
            ends.append(last)
    return starts, ends


def _contains(starts: array[int] | list[int], ends: array[int] | list[int], value: int) -> bool:
    index = bisect_right(starts, value) - 1
    return index >= 0 and value <= ends[index]


class NetworkSet:
    """An immutable set of IPv4 and IPv6 networks; ``address in networks`` is O(log n)."""

    __slots__ = ("_v4_ends", "_v4_starts", "_v6_ends", "_v6_starts")

    def __init__(self, networks: Iterable[Network] = ()) -> None:
        v4: list[tuple[int, int]] = []
        v6: list[tuple[int, int]] = []
        for network in networks:
            bounds = (int(network.network_address), int(network.broadcast_address))
            (v4 if network.version == 4 else v6).append(bounds)
        v4_starts, v4_ends = _merge(v4)
        # IPv4 bounds fit in 64-bit unsigned machine words: a quarter of the memory of ints.
        self._v4_starts = array("Q", v4_starts)
        self._v4_ends = array("Q", v4_ends)
        self._v6_starts, self._v6_ends = _merge(v6)

    @classmethod
    def from_cidrs(cls, cidrs: Iterable[str]) -> NetworkSet:
        """Build a set from CIDR strings; raises ValueError naming the first bad one."""
        return cls(_parse_network(cidr.strip()) for cidr in cidrs)

    def __contains__(self, address: Address) -> bool:
        if isinstance(address, ipaddress.IPv6Address):
            if address.ipv4_mapped is None:
                return _contains(self._v6_starts, self._v6_ends, int(address))
            address = address.ipv4_mapped
        return _contains(self._v4_starts, self._v4_ends, int(address))

    def __len__(self) -> int:
        """The number of disjoint ranges left after merging overlapping or adjacent prefixes."""
        return len(self._v4_starts) + len(self._v6_starts)

    def __repr__(self) -> str:
        return f"NetworkSet(<{len(self._v4_starts)} IPv4, {len(self._v6_starts)} IPv6 ranges>)"


@dataclass(frozen=True)
class AddressLists:
    """The address lists the classifier consults; an empty set means "not configured"."""

    apple_egress: NetworkSet
    scanners: NetworkSet

    @classmethod
    def empty(cls) -> AddressLists:
        """Lists with no networks: classification falls back to the user agent alone."""
        return cls(apple_egress=NetworkSet(), scanners=NetworkSet())


def _numbered_lines(text: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if line:
            yield number, line


def _parse_lines(lines: Iterable[tuple[int, str]]) -> NetworkSet:
    def networks() -> Iterator[Network]:
        for number, cidr in lines:
            try:
                yield _parse_network(cidr)
            except ValueError as exc:
                raise ValueError(f"line {number}: {exc}") from None

    return NetworkSet(networks())


def parse_apple_egress_csv(text: str) -> NetworkSet:
    """Parse Apple's ``egress-ip-ranges.csv``: ``prefix,country,region,city,`` per line."""
    return _parse_lines((number, line.split(",", 1)[0].strip()) for number, line in _numbered_lines(text))


def parse_network_lines(text: str) -> NetworkSet:
    """Parse one CIDR per line; blank lines and ``#`` comments are allowed."""
    return _parse_lines(_numbered_lines(text))
