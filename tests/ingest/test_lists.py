"""Tests for pixelagg.ingest.lists: reading the configured address lists and downloading Apple's."""

from __future__ import annotations

import http.server
import inspect
import ipaddress
import threading
from collections.abc import Iterator
from typing import ClassVar
from urllib.parse import urlsplit

import pytest

from pixelagg.exceptions import ConfigError, PixelaggError
from pixelagg.ingest.lists import download_apple_egress, load_address_lists
from tests.helpers import FIXTURES, ROOT

APPLE_SAMPLE = FIXTURES / "apple-egress-sample.csv"
SCANNER_SAMPLE = FIXTURES / "scanner-networks-sample.txt"
METRICS_DOC = ROOT / "docs" / "metrics.md"
UNREACHABLE = "http://127.0.0.1:9/egress-ip-ranges.csv"  # the discard port: nothing listens


def test_load_address_lists_none_gives_empty_lists():
    """With no files configured both lists are empty."""
    lists = load_address_lists(None, None)
    assert not lists.apple_egress
    assert not lists.scanners


def test_load_address_lists_reads_both_files():
    """Configured files are parsed into their lists."""
    lists = load_address_lists(str(APPLE_SAMPLE), str(SCANNER_SAMPLE))
    assert ipaddress.ip_address("192.0.2.1") in lists.apple_egress
    assert ipaddress.ip_address("203.0.113.1") in lists.scanners
    assert ipaddress.ip_address("192.0.2.1") not in lists.scanners


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


def test_apple_list_is_downloaded_from_the_documented_address():
    """Without a URL the download fetches, over https, the file the docs name for Apple's list."""
    default = inspect.signature(download_apple_egress).parameters["url"].default
    parts = urlsplit(default)
    assert parts.scheme == "https"
    assert f"`{parts.path.lstrip('/')}` from `{parts.netloc}`" in METRICS_DOC.read_text(encoding="utf-8")


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
    assert ipaddress.ip_address("192.0.2.1") in load_address_lists(str(dest), None).apple_egress


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
