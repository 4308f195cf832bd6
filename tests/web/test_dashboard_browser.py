"""The dashboard in a real headless Chromium against a real `pixelagg serve`."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import httpx
import pytest

from tests.helpers import (
    ARTIFACTS,
    AUTH,
    BROWSER_MARKS,
    BROWSER_UA,
    TOKEN,
    Watched,
    make_env,
    served_campaign,
    sign_in,
    wait_for,
)

GMAIL_UA = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
HITS = [
    *((f"145.97.1.{n}", BROWSER_UA) for n in range(1, 5)),  # NL
    ("8.8.8.8", BROWSER_UA),  # US
    ("8.8.4.4", BROWSER_UA),
    ("3.3.3.3", BROWSER_UA),
    ("81.2.69.160", BROWSER_UA),  # GB: below min_bucket, merged into "other"
    ("85.214.1.1", BROWSER_UA),  # DE: likewise
    ("17.58.0.1", "Mozilla/5.0"),  # Apple Mail Privacy Protection
    ("66.249.84.1", GMAIL_UA),
    ("66.249.84.2", GMAIL_UA),
]

LINK = "https://example.org/spring"

ARTIFACTS.mkdir(exist_ok=True)

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One real server for the module: a campaign ('<b>Spring</b> newsletter') with a dozen hits
    and a link that four readers followed and one HEAD request checked."""
    tmp_path = tmp_path_factory.mktemp("dashboard-browser")
    env = make_env(tmp_path, None, PIXELAGG_PRIVACY_MIN_BUCKET="3")
    with served_campaign(tmp_path, env, HITS, name="<b>Spring</b> newsletter", recipients=40) as served:
        campaign = served.campaign
        with httpx.Client(timeout=5) as http:
            link = http.post(
                f"{served.url}/api/campaigns/{campaign['id']}/links", json={"url": LINK}, headers=AUTH
            ).json()
            for ip, _ in HITS[:4]:  # four readers follow the link, one HEAD request checks it
                follow = http.get(
                    link["tracking_url"], headers={"X-Forwarded-For": ip, "User-Agent": BROWSER_UA}
                )
                assert follow.status_code == 302
            http.head(link["tracking_url"], headers={"X-Forwarded-For": "8.8.8.8", "User-Agent": BROWSER_UA})
            # clicks wait out the click window (2 s) before they are counted
            assert wait_for(lambda: served.stats(http, campaign["id"])["clicks"]["total"] == 5, timeout=20)
        yield served


@pytest.fixture
def desktop(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield Watched(context)
    context.close()


def _campaign_page(watched, server):
    page = sign_in(watched, server.url)
    page.get_by_role("link", name=server.campaign["name"]).click()
    page.wait_for_url(f"{server.url}/dashboard/campaigns/{server.campaign['id']}")
    return page


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if url.startswith(("data:", "about:", "blob:")) or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def test_dashboard_redirects_to_sign_in(server, desktop):
    """Opening /dashboard without a session lands on the sign-in form."""
    desktop.page.goto(server.url + "/dashboard")
    assert urlsplit(desktop.page.url).path == "/dashboard/login"
    assert desktop.page.get_by_label("Access token").count() == 1


def test_sign_in_shows_the_campaign_list(server, desktop):
    """After signing in, the list shows the campaign and its open rate; the URL has no token."""
    page = sign_in(desktop, server.url)
    assert TOKEN not in page.url
    row = page.get_by_role("row", name=server.campaign["name"])
    with httpx.Client(timeout=5) as http:
        rate = server.stats(http, server.campaign["id"])["open_rate"]["estimate"]
    assert f"{rate * 100:.1f}%" in row.inner_text()  # the report's estimate


def test_campaign_page_has_headline_and_named_charts(server, desktop):
    """The campaign page shows the headline and four SVG charts with accessible names."""
    page = _campaign_page(desktop, server)
    assert page.get_by_role("heading", level=1).inner_text() == server.campaign["name"]
    assert "Open rate" in page.locator("#headline").inner_text()
    for name in ("Opens per hour", "Opens per day", "Opens by kind of reader", "Opens by country"):
        assert page.get_by_role("img", name=name).count() == 1, name


def test_region_table_merges_small_countries(server, desktop):
    """The country table lists NL and US; GB and DE (one open each) are only in 'Other'."""
    page = _campaign_page(desktop, server)
    regions = page.get_by_role("table", name="Opens by country").inner_text()
    assert "NL" in regions and "US" in regions and "Other (merged)" in regions
    assert "GB" not in regions and "DE" not in regions


def test_clicks_show_with_machine_clicks_apart(server, desktop):
    """The clicks section shows the click rate, the HEAD check as a machine click, and the link's row."""
    page = _campaign_page(desktop, server)
    figures = page.locator("#click-figures").inner_text()
    assert "Click rate" in figures and "Click-to-open rate" in figures
    assert "Machine clicks\n1" in figures
    assert page.get_by_role("img", name="Clicks per day").count() == 1
    row = page.get_by_role("table", name="Clicks per link").get_by_role("row", name=LINK)
    assert row.inner_text().split("\t")[1:4] == ["5", "4", "1"]


def test_copy_button_copies_the_snippet(server, desktop):
    """The snippet is shown; the copy button reacts to a click without a script error."""
    page = _campaign_page(desktop, server)
    assert server.campaign["pixel_url"] in page.locator("#snippet").input_value()
    page.get_by_role("button", name="Copy snippet").click()
    page.wait_for_function(
        "document.querySelector('.status').textContent !== ''"
        " || document.querySelector('button.copy').textContent !== 'Copy snippet'"
    )
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert desktop.errors == []


def test_nothing_is_loaded_from_outside(server, desktop):
    """Signing in and viewing every page requests nothing from a non-loopback host."""
    page = _campaign_page(desktop, server)
    page.get_by_role("link", name="privacy notice text").click()
    page.wait_for_url("**/dashboard/privacy?lang=en")
    assert desktop.requests and [u for u in desktop.requests if not _is_loopback(u)] == []
    assert desktop.errors == []


def test_campaign_page_fits_a_phone(server, browser, desktop):
    """On a 390 px wide phone the campaign page does not scroll sideways."""
    sign_in(desktop, server.url)
    phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    try:
        phone.add_cookies(desktop.context.cookies())
        page = phone.new_page()
        page.goto(f"{server.url}/dashboard/campaigns/{server.campaign['id']}")
        page.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        phone.close()
