"""The admin's dashboard forms in a real headless Chromium against a real `pixelagg serve`."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from tests.helpers import (
    ARTIFACTS,
    AUTH,
    BROWSER_MARKS,
    BROWSER_UA,
    READ_TOKEN,
    Watched,
    make_env,
    served_campaign,
    sign_in,
)

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real server with one campaign that has twelve human opens of 40 recipients."""
    tmp_path = tmp_path_factory.mktemp("manage-browser")
    opens = [(f"145.97.1.{n + 1}", BROWSER_UA) for n in range(12)]
    env = make_env(tmp_path, None)
    with served_campaign(tmp_path, env, opens, name="Opened newsletter", recipients=40) as served:
        yield served


@pytest.fixture
def desktop(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    yield Watched(context)
    context.close()


def _made(server, name):
    with httpx.Client(timeout=5) as http:
        return server.create(http, name=name, recipients=100)


def _campaign(server, campaign_id):
    response = httpx.get(f"{server.url}/api/campaigns/{campaign_id}", headers=AUTH, timeout=5)
    return response.json() if response.status_code == 200 else None


def test_admin_creates_a_campaign_and_copies_its_snippet(server, desktop):
    """New campaign: name, recipients and legal basis; its page shows the snippet, which copies."""
    page = sign_in(desktop, server.url, start="/")
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name").fill("Browser newsletter")
    page.get_by_label("Recipients").fill("250")
    page.get_by_label("Legal basis").select_option("consent")
    page.get_by_role("button", name="Create campaign").click()
    page.wait_for_url("**/dashboard/campaigns/*?done=created")
    campaign_id = urlsplit(page.url).path.rsplit("/", 1)[1]
    made = _campaign(server, campaign_id)
    assert (made["name"], made["recipients"], made["legal_basis"]) == ("Browser newsletter", 250, "consent")
    assert "Campaign created" in page.get_by_role("status").first.inner_text()
    assert page.locator("#snippet").input_value() == made["snippet"]
    page.get_by_role("button", name="Copy snippet").click()
    page.wait_for_function("document.querySelector('section.first .status').textContent !== ''")
    assert page.evaluate("navigator.clipboard.readText()") == made["snippet"]
    page.screenshot(path=str(ARTIFACTS / "dashboard-created.png"), full_page=True)
    assert desktop.errors == []


def test_admin_edits_pauses_and_resumes(server, desktop):
    """Edit saves a new name; Pause and Resume switch counting and the button."""
    campaign = _made(server, "To edit")
    page = sign_in(desktop, server.url, start="/")
    page.goto(f"{server.url}/dashboard/campaigns/{campaign['id']}")
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Name").fill("Edited")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url("**?done=saved")
    assert page.get_by_role("heading", level=1).inner_text() == "Edited"
    page.get_by_role("button", name="Pause counting").click()
    page.wait_for_url("**?done=paused")
    assert _campaign(server, campaign["id"])["paused"] is True
    page.get_by_role("button", name="Resume counting").click()
    page.wait_for_url("**?done=resumed")
    assert _campaign(server, campaign["id"])["paused"] is False
    assert desktop.errors == []


def test_admin_deletes_after_a_confirmation_naming_what_is_erased(server, desktop):
    """Delete asks first, naming the campaign and its keys; erasing it removes it from the list."""
    campaign = _made(server, "To delete")
    page = sign_in(desktop, server.url, start="/")
    page.goto(f"{server.url}/dashboard/campaigns/{campaign['id']}")
    page.get_by_role("link", name="Delete…").click()
    assert "To delete" in page.locator("#erase").inner_text()
    assert _campaign(server, campaign["id"]) is not None
    page.get_by_role("button", name="Erase “To delete” and all its counts").click()
    page.wait_for_url("**/dashboard?done=deleted")
    assert _campaign(server, campaign["id"]) is None
    assert page.get_by_role("link", name="To delete").count() == 0
    assert desktop.errors == []


def test_a_read_token_sees_no_controls(server, desktop):
    """Signed in with a read token, neither the list nor a campaign page offers a change."""
    page = sign_in(desktop, server.url, READ_TOKEN, start="/")
    assert page.get_by_role("link", name="New campaign").count() == 0
    page.get_by_role("link", name="Opened newsletter").click()
    for name in ("Edit", "Delete…"):
        assert page.get_by_role("link", name=name).count() == 0
    assert page.get_by_role("button", name="Pause counting").count() == 0


def test_the_campaign_list_shows_the_open_rate_on_a_phone(server, browser, desktop):
    """At 390 px the list shows each campaign's open rate inside the screen, without sideways scroll;
    the screenshot goes to test-artifacts/dashboard-phone-list.png."""
    sign_in(desktop, server.url, start="/")
    phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    try:
        phone.add_cookies(desktop.context.cookies())
        page = phone.new_page()
        page.goto(f"{server.url}/dashboard")
        row = page.get_by_role("row", name="Opened newsletter")
        rate = row.locator("td.rate")
        box = rate.bounding_box()
        shot = ARTIFACTS / "dashboard-phone-list.png"
        shot.unlink(missing_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        with httpx.Client(timeout=5) as http:
            listed = http.get(f"{server.url}/api/campaigns", headers=AUTH).json()["campaigns"]
            opened = next(c for c in listed if c["name"] == "Opened newsletter")
            estimate = server.stats(http, opened["id"])["open_rate"]["estimate"]
        assert f"{estimate * 100:.1f}%" in rate.inner_text()  # the report's estimate
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the screenshot is in test-artifacts/
    finally:
        phone.close()
