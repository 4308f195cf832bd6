"""User agents from outside corpora, fetched through the real pixel, counted under their class."""

from __future__ import annotations

import time

import pytest

from pixelagg.config import load
from tests.helpers import make_env

# Rows of tests/fixtures/ua-corpora-sample.tsv, one per rule that the corpora taught us.
CASES = [
    (
        "Mozilla/5.0 (Linux; Android 15; CPH2581 Build/AP3A.240617.008; ) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/141.0.7390.122 Mobile Safari/537.36",
        "human",
    ),
    ("Mail/1816 CFNetwork/673.0.3 Darwin/13.0.0 (x86_64) (Macmini5%2C1)", "human"),
    ("RamblerMail/6.0 (incompatible; ImageProxy/6.0)", "image_proxy"),
    (
        "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/55.0.2883.87 "
        "Safari/537.36 (via secureurl.fwdcdn.com - mail.ukr.net proxy)",
        "image_proxy",
    ),
    ("GuzzleHttp/6.2.1 PHP/7.0.15-0ubuntu0.16.04.4", "bot"),
    ("Microsoft Office Existence Discovery", "bot"),
    ("Newsboat/2.29.0 (Linux x86_64)", "bot"),
]


@pytest.mark.parametrize(
    ("user_agent", "class_"),
    CASES,
    ids=[
        "android15-webview",
        "apple-mail",
        "rambler",
        "ukr-net",
        "guzzle",
        "existence-discovery",
        "newsboat",
    ],
)
def test_corpus_user_agent_through_the_pixel(tmp_path, client_for, user_agent, class_):
    """The hit is counted once, under the user agent's class; a proxy's under region 'proxy'."""
    client = client_for(load(environ=make_env(tmp_path, None)))
    c = client.create()
    before = time.time()
    assert client.hit(c["id"], ip="81.2.69.160", ua=user_agent).headers["x-pixelagg"] == "counted"
    after = time.time()
    by_class = client.stats(c["id"])["opens"]["by_class"]
    assert by_class[class_] == 1
    assert sum(by_class.values()) == 1
    days = sorted({time.strftime("%Y%m%d", time.gmtime(t)) for t in (before, after)})
    counters = client.portal.call(client.service.store.read_counters, c["id"], days)
    regions = {field for fields in counters.values() for field in fields if field.startswith("r|")}
    assert regions == {"r|proxy" if class_ == "image_proxy" else "r|GB"}
