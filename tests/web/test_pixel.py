"""The pixel: always the GIF, counted only when it is an open."""

from __future__ import annotations

import time

import pytest

from pixelagg.config import load
from pixelagg.core.clients import client_family
from pixelagg.web.pixel import GIF
from tests.helpers import AMBIGUOUS_CHOICES, FIXTURES, SAMPLE_ROWS, make_env

CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/79.0.3945.136 Safari/537.36"
)
GMAIL_PROXY_UA = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


def test_pixel_is_a_transparent_1x1_gif(client):
    """The pixel's body is a 43-byte GIF89a of 1x1 whose one colour is transparent."""
    response = client.get("/p/AAAAAAAAAAAAAAAA.gif")
    body = response.content
    assert body.startswith(b"GIF89a") and body.endswith(b";")
    assert len(body) == int(response.headers["content-length"]) == 43
    assert int.from_bytes(body[6:8], "little") == int.from_bytes(body[8:10], "little") == 1
    extension = body.index(b"\x21\xf9\x04")  # the graphic control extension
    assert body[extension + 3] & 1  # its transparency flag


def test_pixel_counts_an_open(client):
    """GET /p/{id}.gif answers 200 image/gif with no-store and counts one open."""
    c = client.create()
    response = client.hit(c["id"])
    assert response.headers["content-type"] == "image/gif"
    assert response.content == GIF
    assert "no-store" in response.headers["cache-control"]
    assert response.headers["x-pixelagg"] == "counted"
    assert client.stats(c["id"])["opens"]["total"] == 1


@pytest.mark.parametrize(
    "path",
    ["/p/AAAAAAAAAAAAAAAA.gif", "/p/short.gif", "/p/x/y/z.gif", "/p/", "/p/%ff%fe.gif", "/p/" + "a" * 5000],
    ids=["unknown", "malformed", "nested", "empty", "non-utf8", "huge"],
)
def test_odd_paths_get_the_gif(client, path):
    """Unknown, malformed and odd paths still get 200 and the GIF."""
    response = client.get(path)
    assert response.status_code == 200
    assert response.content == GIF


def test_head_is_answered_and_not_counted(client):
    """HEAD gets the GIF headers and is not counted."""
    c = client.create()
    response = client.head(f"/p/{c['id']}.gif", headers={"X-Forwarded-For": "198.51.100.1"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert client.stats(c["id"])["opens"]["total"] == 0


@pytest.fixture
def classifying_client(tmp_path, client_for):
    """An app on the embedded store with the fixture address lists configured."""
    env = make_env(
        tmp_path,
        None,
        PIXELAGG_CLASSIFY_APPLE_EGRESS_FILE=str(FIXTURES / "apple-egress-sample.csv"),
        PIXELAGG_CLASSIFY_SCANNER_NETWORKS_FILE=str(FIXTURES / "scanner-networks-sample.txt"),
    )
    return client_for(load(environ=env))


@pytest.mark.parametrize(
    ("expected", "user_agent"),
    [(expected, user_agent) for _, expected, user_agent, _ in SAMPLE_ROWS],
    ids=[f"line{number}-{expected}" for number, expected, _, _ in SAMPLE_ROWS],
)
def test_ua_samples_through_the_pixel(tmp_path, client_for, expected, user_agent):
    """Every ua-samples.tsv row, fetched through the real pixel, is counted under its class.

    No address lists are configured: the samples' classes are what the user agent alone says.
    """
    client = client_for(load(environ=make_env(tmp_path, None)))
    c = client.create()
    client.hit(c["id"], ip="81.2.69.160", ua=user_agent)
    by_class = client.stats(c["id"])["opens"]["by_class"]
    assert by_class[AMBIGUOUS_CHOICES.get(expected, expected)] == 1
    assert sum(by_class.values()) == 1


@pytest.mark.parametrize(
    ("ip", "ua", "class_", "region"),
    [
        ("192.0.2.10", "Mozilla/5.0", "apple_mpp", "proxy"),
        ("203.0.113.10", CHROME_UA, "scanner", "unknown"),
        ("81.2.69.160", GMAIL_PROXY_UA, "image_proxy", "proxy"),
        ("81.2.69.160", CHROME_UA, "human", "GB"),
    ],
    ids=["apple-egress", "scanner-network", "gmail-proxy", "person"],
)
def test_address_lists_and_proxy_region(classifying_client, ip, ua, class_, region):
    """Address lists sharpen the class, and proxied hits count under region 'proxy'."""
    client = classifying_client
    c = client.create()
    before = time.time()
    client.hit(c["id"], ip=ip, ua=ua)
    after = time.time()
    report = client.stats(c["id"])
    assert report["opens"]["by_class"][class_] == 1
    # One unique is below min_bucket, so the API shows the bucket as 'other'; the stored
    # region counter (r|region) shows the region it was counted under. The hit happened
    # between `before` and `after`, which may lie either side of an hour or a day boundary.
    moments = [time.gmtime(t) for t in (before, after)]
    days = sorted({time.strftime("%Y%m%d", m) for m in moments})
    counters = client.portal.call(client.service.store.read_counters, c["id"], days)
    stored = {day: sorted(fields) for day, fields in counters.items()}
    # The hour's opens, the day's region and mail-client family (none for machines), and the
    # visitor's first open (hourly release periods).
    family = client_family(class_, ua)
    expected = [
        {
            time.strftime("%Y%m%d", m): sorted(
                [f"r|{region}", f"h|{m.tm_hour:02d}|{class_}", f"f|{m.tm_hour}|{class_}"]
                + ([f"c|{family}"] if family else [])
            )
        }
        for m in moments
    ]
    assert stored in expected
