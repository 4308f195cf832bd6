from __future__ import annotations

import http.server
import ipaddress
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from pixelagg.addresses import (
    APPLE_EGRESS_URL,
    AddressLists,
    NetworkSet,
    download_apple_egress,
    load_address_lists,
    parse_apple_egress_csv,
    parse_network_lines,
)
from pixelagg.exceptions import ConfigError, PixelaggError

FIXTURES = Path(__file__).parent / "fixtures"
APPLE_SAMPLE = FIXTURES / "apple-egress-sample.csv"
SCANNER_SAMPLE = FIXTURES / "scanner-networks-sample.txt"
UNREACHABLE = "http://127.0.0.1:9/egress-ip-ranges.csv"  # the discard port: nothing listens


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
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


def test_load_address_lists_none_gives_empty_lists():
    """With no files configured both lists are empty."""
    lists = load_address_lists(None, None)
    assert not lists.apple_egress
    assert not lists.scanners


def test_load_address_lists_reads_both_files():
    """Configured files are parsed into their lists."""
    lists = load_address_lists(str(APPLE_SAMPLE), str(SCANNER_SAMPLE))
    assert ip("192.0.2.1") in lists.apple_egress
    assert ip("203.0.113.1") in lists.scanners
    assert ip("192.0.2.1") not in lists.scanners


@pytest.mark.parametrize(
    ("key", "content", "problem"),
    [
        ("classify.apple_egress_file", None, "Cannot read it"),
        ("classify.scanner_networks_file", None, "Cannot read it"),
        ("classify.apple_egress_file", "not,a,csv,\n", "Malformed: line 1"),
        ("classify.scanner_networks_file", "10.0.0.0/8\nbogus\n", "Malformed: line 2"),
        ("classify.apple_egress_file", "", "lists no networks"),
    ],
    ids=["apple-missing", "scanner-missing", "apple-malformed", "scanner-malformed", "apple-empty"],
)
def test_load_address_lists_errors_name_key_and_path(tmp_path, key, content, problem):
    """An unreadable, malformed or empty file is a ConfigError naming the key and the path."""
    path = tmp_path / "list.txt"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    apple = str(path) if key == "classify.apple_egress_file" else None
    scanners = str(path) if key == "classify.scanner_networks_file" else None
    with pytest.raises(ConfigError) as info:
        load_address_lists(apple, scanners)
    message = str(info.value)
    assert message.startswith(f"Config '{key}' has value '{path}'.")
    assert problem in message


def test_empty_scanner_file_is_allowed(tmp_path):
    """A scanner file of comments only is a valid, empty list (a template to fill in)."""
    path = tmp_path / "scanners.txt"
    path.write_text("# none yet\n", encoding="utf-8")
    assert not load_address_lists(None, str(path)).scanners


def test_apple_egress_url():
    """The default download address is Apple's published list."""
    assert APPLE_EGRESS_URL == "https://mask-api.icloud.com/egress-ip-ranges.csv"


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, bytes]] = {
        "/egress-ip-ranges.csv": APPLE_SAMPLE.read_bytes(),
        "/captive-portal": b"<html><body>Log in to the wifi</body></html>\n",
        "/empty": b"",
    }

    def do_GET(self):
        body = self.routes.get(self.path)
        self.send_response(404 if body is None else 200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format, *args):
        pass


@pytest.fixture
def server() -> Iterator[str]:
    """A local HTTP server standing in for mask-api.icloud.com."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_download_writes_file_and_counts_ranges(server, tmp_path):
    """A good download is written to dest and the merged range count is returned."""
    dest = tmp_path / "egress.csv"
    count = download_apple_egress(dest, url=f"{server}/egress-ip-ranges.csv", timeout=5)
    assert count == 4  # the two London /25s merge
    assert dest.read_bytes() == APPLE_SAMPLE.read_bytes()
    assert ip("192.0.2.1") in load_address_lists(str(dest), None).apple_egress


def test_download_leaves_no_temporary_files(server, tmp_path):
    """After a download the directory holds only the destination file."""
    download_apple_egress(tmp_path / "egress.csv", url=f"{server}/egress-ip-ranges.csv")
    assert [p.name for p in tmp_path.iterdir()] == ["egress.csv"]


def test_download_unreachable_explains_what_to_do(tmp_path):
    """No network gives a PixelaggError naming the URL and the manual alternative."""
    dest = tmp_path / "egress.csv"
    with pytest.raises(PixelaggError) as info:
        download_apple_egress(dest, url=UNREACHABLE, timeout=5)
    message = str(info.value)
    assert message.startswith(f"cannot reach {UNREACHABLE}: ")
    assert message.endswith("download the file by hand and set classify.apple_egress_file")
    assert not dest.exists()


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/missing", "answered HTTP 404"),
        ("/captive-portal", "did not send Apple's egress list"),
        ("/empty", "sent an empty egress list"),
    ],
    ids=["http-error", "not-a-csv", "empty"],
)
def test_download_bad_answer_keeps_old_file(server, tmp_path, path, problem):
    """A bad answer raises PixelaggError and leaves the previous file untouched."""
    dest = tmp_path / "egress.csv"
    dest.write_text("192.0.2.0/24,GB,GB-EN,London,\n", encoding="utf-8")
    with pytest.raises(PixelaggError, match=problem):
        download_apple_egress(dest, url=f"{server}{path}", timeout=5)
    assert dest.read_text(encoding="utf-8") == "192.0.2.0/24,GB,GB-EN,London,\n"
    assert [p.name for p in tmp_path.iterdir()] == ["egress.csv"]


def test_download_into_missing_directory_fails_clearly(server, tmp_path):
    """A destination whose directory does not exist gives a PixelaggError naming it."""
    dest = tmp_path / "no-such-dir" / "egress.csv"
    with pytest.raises(PixelaggError, match="cannot write"):
        download_apple_egress(dest, url=f"{server}/egress-ip-ranges.csv", timeout=5)
