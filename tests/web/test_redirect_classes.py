"""Machine clicks told apart from people's, through the real app: one test per rule of
docs/metrics.md, "Machine clicks", with requests shaped as the recorded ones in its sources."""

from __future__ import annotations

import pytest

from pixelagg.config import load
from pixelagg.ingest.click_window import BURST_SECONDS
from tests.helpers import BROWSER_UA, FIXTURES, Clock, make_env
from tests.web.test_redirect import clicks_of, follow, path_of, register

# The Chrome on Windows of resend/resend-node#901's second click, a Safe Links-style scanner.
SCANNER_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/146.0.0.0 Safari/537.36"
)
SCANNER_ADDRESS = "40.94.31.7"  # one address following every link, as a scanner's sandbox does
SCANNER_NETWORK_ADDRESS = "203.0.113.9"  # in tests/fixtures/scanner-networks-sample.txt


@pytest.fixture
def client(tmp_path, store_kind, request, client_for):
    from tests.helpers import store_url

    networks = str(FIXTURES / "scanner-networks-sample.txt")
    env = make_env(tmp_path, store_url(store_kind, request), PIXELAGG_CLASSIFY_SCANNER_NETWORKS_FILE=networks)
    return client_for(load(environ=env))


@pytest.fixture
def clock(client):
    """The test's clock for the click window, whose own loop is stopped: clicks leave the
    window only when the test says (clicks_of), so no timing but the test's matters."""
    clock = Clock()
    client.portal.call(client.service.clicks.drain)
    client.service.clicks.clock = clock
    return clock


def mail_links(client, n: int = 4) -> tuple[str, list[str]]:
    """A campaign whose mail has n links; the campaign id and the links' paths."""
    campaign = client.create(recipients=100)
    return campaign["id"], [
        path_of(register(client, campaign["id"], f"https://example.org/{k}")) for k in range(n)
    ]


@pytest.mark.parametrize(
    ("user_agent", "class_"),
    [
        ("Mozilla/5.0 (compatible; Barracuda Sentinel (EE))", "scanner"),
        ("Microsoft Exchange/15.20 (Windows NT 10.0; Win64; x64)", "scanner"),
        ("python-requests/2.31.0", "bot"),
        ("curl/8.5.0", "bot"),
        ("", "bot"),
        ("Mozilla/5.0", "bot"),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36", "bot"),
        (BROWSER_UA, "human"),
    ],
    ids=["barracuda", "exchange", "python-requests", "curl", "empty", "bare-mozilla", "headless", "browser"],
)
def test_user_agent_rule(client, clock, user_agent, class_):
    """A click is classified by its user agent with the pixel's rules; a mail proxy's is a bot."""
    campaign_id, (path, *_) = mail_links(client, 1)
    follow(client, path, ua=user_agent)
    by_class = clicks_of(client, campaign_id)["by_class"]
    assert by_class[class_] == 1 and sum(by_class.values()) == 1


def test_scanner_network_rule(client, clock):
    """An ordinary browser's click from a listed scanner network is a scanner's."""
    campaign_id, (path, *_) = mail_links(client, 1)
    follow(client, path, ip=SCANNER_NETWORK_ADDRESS)
    assert clicks_of(client, campaign_id)["by_class"] == {"human": 0, "scanner": 1, "bot": 0}


def test_head_rule(client, clock):
    """HEAD with a browser's user agent (link checkers, civicrm-core#35328) is a scanner's."""
    campaign_id, (path, *_) = mail_links(client, 1)
    follow(client, path, method="HEAD")
    assert clicks_of(client, campaign_id)["by_class"] == {"human": 0, "scanner": 1, "bot": 0}


def test_every_link_within_a_second_is_a_scanner(client, clock):
    """Four links of one mail from one address within a second, with a browser's user agent: all
    four are a scanner's (the burst of Safe Links, Proofpoint, Mimecast, Barracuda)."""
    campaign_id, paths = mail_links(client)
    for path in paths:
        follow(client, path, ip=SCANNER_ADDRESS, ua=SCANNER_CHROME)
        clock.now += 0.25
    assert clicks_of(client, campaign_id)["by_class"] == {"human": 0, "scanner": 4, "bot": 0}


def test_three_links_within_the_window_are_a_burst(client, clock):
    """Three distinct links, the last exactly BURST_SECONDS after the first, are a burst."""
    campaign_id, paths = mail_links(client, 3)
    start = clock.now
    for n, path in enumerate(paths):
        clock.now = start + n * BURST_SECONDS / 2
        follow(client, path, ip=SCANNER_ADDRESS)
    assert clicks_of(client, campaign_id)["by_class"]["scanner"] == 3


def test_two_links_in_a_second_are_a_person(client, clock):
    """A reader who opens two links a second apart is a person: two links are no burst."""
    campaign_id, paths = mail_links(client, 2)
    for path in paths:
        follow(client, path)
        clock.now += 1.0
    assert clicks_of(client, campaign_id)["by_class"] == {"human": 2, "scanner": 0, "bot": 0}


def test_links_seconds_apart_are_a_person(client, clock):
    """Three links, each a bit more than BURST_SECONDS after the one before, are a person's."""
    campaign_id, paths = mail_links(client, 3)
    for path in paths:
        follow(client, path)
        clock.now += BURST_SECONDS + 0.1
        client.portal.call(client.service.clicks.release)
    assert clicks_of(client, campaign_id)["by_class"] == {"human": 3, "scanner": 0, "bot": 0}


def test_one_link_clicked_again_quickly_is_a_person(client, clock):
    """The same link three times within a second (a double click, an impatient reader) is no burst."""
    campaign_id, (path, *_) = mail_links(client, 1)
    for _ in range(3):
        follow(client, path)
        clock.now += 0.2
    assert clicks_of(client, campaign_id)["by_class"] == {"human": 3, "scanner": 0, "bot": 0}


def test_a_burst_needs_one_address(client, clock):
    """Readers at three addresses following three links at once are three people."""
    campaign_id, paths = mail_links(client, 3)
    for n, path in enumerate(paths):
        follow(client, path, ip=f"81.2.69.{10 + n}")
    assert clicks_of(client, campaign_id)["by_class"] == {"human": 3, "scanner": 0, "bot": 0}


def test_a_burst_needs_one_campaign(client, clock):
    """One address following one link in each of three campaigns at once: no campaign sees a burst."""
    ids = []
    for _ in range(3):
        campaign_id, (path, *_) = mail_links(client, 1)
        follow(client, path, ip=SCANNER_ADDRESS)
        ids.append(campaign_id)
    assert [clicks_of(client, c)["by_class"]["human"] for c in ids] == [1, 1, 1]


def test_a_burst_marks_the_click_before_it(client, clock):
    """A click counted before the burst it belongs to began (within BURST_SECONDS) is a scanner's too."""
    campaign_id, paths = mail_links(client, 3)
    follow(client, paths[0], ip=SCANNER_ADDRESS)
    clock.now += BURST_SECONDS  # the first click's window closes only now: it waited for these
    follow(client, paths[1], ip=SCANNER_ADDRESS)
    follow(client, paths[2], ip=SCANNER_ADDRESS)
    assert clicks_of(client, campaign_id)["by_class"]["scanner"] == 3
