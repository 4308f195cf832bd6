"""The dashboard in-process: sign-in, sessions, CSRF checks, pages, escaping and errors."""

from __future__ import annotations

import re
import time

import pytest

from pixelagg.config import load
from pixelagg.exceptions import StoreError
from pixelagg.reports.report import Report
from pixelagg.web import dashboard
from pixelagg.web.app import create_app
from tests.helpers import AUTH, READ_TOKEN, TOKEN, AppClient, make_env

ORIGIN = {"Origin": "http://testserver"}
EVIL_NAME = "<script>alert(1)</script>"
DASH = "\u2013"  # the en dash between bounds


@pytest.fixture
def dash(tmp_path, client_for):
    """An app on the embedded store where regions with fewer than 2 unique opens are merged."""
    return client_for(load(environ=make_env(tmp_path, None, PIXELAGG_PRIVACY_MIN_BUCKET="2")))


def _login(client, token=TOKEN, **headers):
    return client.post(
        "/dashboard/login",
        data={"token": token},
        headers={**ORIGIN, **headers},
        follow_redirects=False,
    )


@pytest.fixture
def signed_in(dash):
    assert _login(dash).status_code == 303
    return dash


@pytest.fixture
def campaign(signed_in):
    """A campaign with an evil name, 10 recipients and opens from NL (2), US (2) and GB (1)."""
    c = signed_in.create(name=EVIL_NAME, recipients=10)
    for ip in ("145.97.1.1", "145.97.1.2", "8.8.8.8", "8.8.4.4", "81.2.69.160"):
        signed_in.hit(c["id"], ip=ip)
    signed_in.hit(c["id"], ip="17.58.0.1", ua="Mozilla/5.0")
    signed_in.flush()
    return c


def _flip_last(value):
    return value[:-1] + ("1" if value.endswith("0") else "0")


def _cookie_header(response):
    return response.headers["set-cookie"]


# sign-in and sessions


def test_dashboard_redirects_to_sign_in(dash):
    """Without a session /dashboard answers 303 to /dashboard/login."""
    response = dash.get("/dashboard", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login"


def test_redirect_remembers_the_page(dash):
    """A campaign page without a session redirects to sign-in with the page as `next`."""
    response = dash.get("/dashboard/campaigns/AAAAAAAAAAAAAAAA?tz=UTC", follow_redirects=False)
    assert response.headers["location"] == (
        "/dashboard/login?next=/dashboard/campaigns/AAAAAAAAAAAAAAAA%3Ftz%3DUTC"
    )


def test_sign_in_form_posts_the_token_in_the_body(dash):
    """The sign-in form posts to /dashboard/login with a password field, not a query string."""
    html = dash.get("/dashboard/login").text
    assert '<form class="login" method="post" action="/dashboard/login">' in html
    assert '<input id="token" name="token" type="password"' in html


def test_sign_in_redirects_to_the_dashboard(dash):
    """A valid token answers 303 to /dashboard."""
    response = _login(dash)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"


def test_sign_in_follows_next_inside_the_dashboard(dash):
    """After sign-in the browser returns to the dashboard page it asked for."""
    response = dash.post(
        "/dashboard/login",
        data={"token": TOKEN, "next": "/dashboard/privacy?lang=nl"},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert response.headers["location"] == "/dashboard/privacy?lang=nl"


@pytest.mark.parametrize(
    "next_path",
    ["https://evil.example/", "//evil.example/x", "/api/campaigns", "/dashboard\\@evil", "/dash"],
    ids=["absolute", "protocol-relative", "outside", "backslash", "prefix"],
)
def test_sign_in_ignores_next_outside_the_dashboard(dash, next_path):
    """A `next` that is not a dashboard path falls back to /dashboard (no open redirect)."""
    response = dash.post(
        "/dashboard/login",
        data={"token": TOKEN, "next": next_path},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert response.headers["location"] == "/dashboard"


def test_session_cookie_flags(dash):
    """The cookie is HttpOnly, SameSite=Strict, Path=/dashboard, expiring, not Secure on http."""
    cookie = _cookie_header(_login(dash)).lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/dashboard" in cookie
    assert f"max-age={dashboard.SESSION_MAX_AGE}" in cookie
    assert "secure" not in cookie


def test_session_cookie_is_not_the_token(dash):
    """The cookie holds role, time and a MAC, never the token."""
    cookie = _cookie_header(_login(dash))
    assert TOKEN not in cookie
    assert re.match(r"pixelagg_session=admin\.\d+\.[0-9a-f]{64};", cookie)


def test_session_cookie_is_secure_over_https(tmp_path):
    """Over https the cookie is Secure."""
    config = load(environ=make_env(tmp_path, None))
    with AppClient(create_app(config), base_url="https://testserver") as client:
        response = _login(client, Origin="https://testserver")
    assert "secure" in _cookie_header(response).lower()


def test_forwarded_proto_from_trusted_proxy_makes_cookie_secure(dash):
    """X-Forwarded-Proto: https from a trusted proxy (loopback) makes the cookie Secure."""
    response = _login(dash, **{"X-Forwarded-Proto": "https", "Origin": "https://testserver"})
    assert "secure" in _cookie_header(response).lower()


def test_forwarded_proto_from_ipv4_mapped_trusted_proxy_counts(tmp_path):
    """A trusted proxy seen as an IPv4-mapped IPv6 peer (dual-stack socket) is still trusted."""
    config = load(environ=make_env(tmp_path, None))
    with AppClient(create_app(config), client=("::ffff:127.0.0.1", 4000)) as client:
        response = _login(client, **{"X-Forwarded-Proto": "https", "Origin": "https://testserver"})
    assert "secure" in _cookie_header(response).lower()


def test_forwarded_proto_from_untrusted_peer_is_ignored(tmp_path):
    """X-Forwarded-Proto from a peer that is not a trusted proxy changes nothing."""
    config = load(environ=make_env(tmp_path, None))
    with AppClient(create_app(config), client=("198.51.100.9", 4000)) as client:
        response = _login(client, **{"X-Forwarded-Proto": "https"})
    assert response.status_code == 303
    assert "secure" not in _cookie_header(response).lower()


def test_wrong_token_shows_the_form_again(dash):
    """A wrong token answers 401 with the form and an alert, and sets no cookie."""
    response = _login(dash, token="not-the-token")
    assert response.status_code == 401
    assert 'role="alert"' in response.text
    assert "set-cookie" not in response.headers


def test_read_token_may_view(dash):
    """A read token signs in and sees the campaign list."""
    assert _login(dash, token=READ_TOKEN).status_code == 303
    response = dash.get("/dashboard")
    assert response.status_code == 200
    assert "read-only token" in response.text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
        {"Origin": "https://testserver"},
    ],
    ids=["none", "cross-site", "null", "cross-site-referer", "other-scheme"],
)
def test_sign_in_from_another_origin_is_refused(dash, headers):
    """A sign-in post without this site's Origin (or Referer) is refused with 403."""
    response = dash.post("/dashboard/login", data={"token": TOKEN}, headers=headers, follow_redirects=False)
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


def test_sign_in_with_same_origin_referer_is_accepted(dash):
    """Without Origin, a Referer from this site is accepted."""
    response = dash.post(
        "/dashboard/login",
        data={"token": TOKEN},
        headers={"Referer": "http://testserver/dashboard/login"},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_oversized_sign_in_form_is_refused(dash):
    """A form body larger than MAX_FORM is refused with 413."""
    response = dash.post(
        "/dashboard/login",
        data={"token": "x" * (dashboard.MAX_FORM + 1)},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    "value",
    [
        lambda now: _flip_last(dashboard.session_value(TOKEN, "admin", now)),
        lambda now: dashboard.session_value(READ_TOKEN, "read", now).replace("read", "admin"),
        lambda now: dashboard.session_value(TOKEN, "admin", now - dashboard.SESSION_MAX_AGE - 1),
        lambda now: dashboard.session_value("an-old-token", "admin", now),
        lambda now: TOKEN,
    ],
    ids=["bad-mac", "read-as-admin", "expired", "other-token", "raw-token"],
)
def test_invalid_session_is_refused(dash, value):
    """Forged, promoted, expired, foreign-token or raw-token cookies redirect to sign-in."""
    dash.cookies.set(dashboard.SESSION_COOKIE, value(int(time.time())), path="/dashboard")
    response = dash.get("/dashboard", follow_redirects=False)
    assert response.status_code == 303


def test_signed_session_is_accepted(dash):
    """A cookie made by session_value with the admin token opens the dashboard."""
    value = dashboard.session_value(TOKEN, "admin", int(time.time()))
    dash.cookies.set(dashboard.SESSION_COOKIE, value, path="/dashboard")
    assert dash.get("/dashboard", follow_redirects=False).status_code == 200


def test_sign_out_clears_the_cookie(signed_in):
    """POST /dashboard/logout expires the cookie and the dashboard asks to sign in again."""
    response = signed_in.post("/dashboard/logout", headers=ORIGIN, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login"
    assert "max-age=0" in _cookie_header(response).lower()
    assert signed_in.get("/dashboard", follow_redirects=False).status_code == 303


def test_sign_out_from_another_origin_is_refused(signed_in):
    """A cross-site sign-out post is refused and the session stays."""
    response = signed_in.post(
        "/dashboard/logout", headers={"Origin": "https://evil.example"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert signed_in.get("/dashboard", follow_redirects=False).status_code == 200


def test_no_token_in_any_url(campaign, signed_in):
    """No page links to, or redirects to, a URL containing a token."""
    pages = ["/dashboard", f"/dashboard/campaigns/{campaign['id']}", "/dashboard/privacy"]
    for path in pages:
        html = signed_in.get(path).text
        for url in re.findall(r'(?:href|src|action)="([^"]*)"', html):
            assert TOKEN not in url and READ_TOKEN not in url
    assert TOKEN not in _login(signed_in).headers["location"]


# pages


def test_pages_are_private_and_not_cached(signed_in):
    """Dashboard pages are no-store, same-origin referrer, with the page CSP."""
    response = signed_in.get("/dashboard")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "script-src 'self'" in response.headers["content-security-policy"]


def test_sign_in_page_lets_the_browser_send_its_origin(dash):
    """The sign-in page's referrer policy is same-origin: under no-referrer, Origin is null."""
    assert dash.get("/dashboard/login").headers["referrer-policy"] == "same-origin"


def test_pages_have_viewport_and_language(signed_in):
    """Pages declare their language and a responsive viewport."""
    html = signed_in.get("/dashboard").text
    assert '<html lang="en">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html


def test_no_campaigns_says_so(signed_in):
    """With no campaigns the list page explains how to create one."""
    assert "No campaigns yet" in signed_in.get("/dashboard").text


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def test_campaign_list_shows_figures(campaign, signed_in):
    """The list shows the report's open rate with its bounds, machine share, opens and uniques."""
    html = signed_in.get("/dashboard").text
    rate = signed_in.stats(campaign["id"])["open_rate"]
    assert f'href="/dashboard/campaigns/{campaign["id"]}"' in html
    assert f"{_pct(rate['estimate'])} <small>({_pct(rate['low'])}{DASH}{_pct(rate['high'])})</small>" in html
    assert "16.7%" in html  # 1 Apple MPP open of 6
    assert '<td data-label="Opens">6</td>' in html


def test_campaign_list_pages(signed_in, monkeypatch):
    """More campaigns than PAGE_SIZE are split over pages, newest first."""
    monkeypatch.setattr(dashboard, "PAGE_SIZE", 2)
    for n in range(3):
        signed_in.create(name=f"Campaign {n}")
        time.sleep(0.01)
    first = signed_in.get("/dashboard").text
    second = signed_in.get("/dashboard?page=2").text
    assert "Campaign 2" in first and "Campaign 0" not in first
    assert "Campaign 0" in second and "Page 2 of 2" in second


def test_campaign_name_is_escaped(campaign, signed_in):
    """A campaign name with markup is shown as text on the list and the campaign page."""
    for path in ("/dashboard", f"/dashboard/campaigns/{campaign['id']}"):
        html = signed_in.get(path).text
        assert EVIL_NAME not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_campaign_list_renders_each_report(campaign, signed_in):
    """The list page is campaigns.html, given each campaign with its typed report."""
    response = signed_in.get("/dashboard")
    assert response.template.name == "campaigns.html"
    ((listed, report, withheld, pending),) = response.context["rows"]
    assert listed.id == campaign["id"] and isinstance(report, Report) and not withheld and not pending
    assert report.opens.total == 6


def test_campaign_page_renders_the_typed_report(campaign, signed_in):
    """The campaign page is campaign.html, given the campaign's report in the asked time zone."""
    response = signed_in.get(f"/dashboard/campaigns/{campaign['id']}?tz=Europe/Amsterdam")
    assert response.template.name == "campaign.html"
    report = response.context["report"]
    assert report.campaign.id == campaign["id"] and report.range.tz == "Europe/Amsterdam"


@pytest.fixture
def hourly_dash(tmp_path, client_for):
    """A signed-in dashboard with the release step on and hour-long periods: a new campaign's
    first period stays open for the test."""
    env = make_env(
        tmp_path, None, PIXELAGG_PRIVACY_EPSILON="1.0", PIXELAGG_PRIVACY_RELEASE_PERIOD_SECONDS="3600"
    )
    client = client_for(load(environ=env))
    assert _login(client).status_code == 303
    return client


def test_before_its_first_release_a_campaign_shows_when_figures_come(hourly_dash):
    """Before its first period is released, the campaign page and the list say when figures
    come out instead of showing a zero open rate with a zero-width interval."""
    c = hourly_dash.create(name="New", recipients=1000)
    link = hourly_dash.post(
        f"/api/campaigns/{c['id']}/links", json={"url": "https://example.org/"}, headers=AUTH
    )
    assert link.status_code == 201
    page = hourly_dash.get(f"/dashboard/campaigns/{c['id']}")
    assert page.context["pending"].startswith("No figures yet:")
    assert '<p class="pending" id="headline">No figures yet:' in page.text
    assert 'id="clicks-pending"' in page.text and 'id="click-figures"' not in page.text
    assert "0.0%" not in page.text
    listing = hourly_dash.get("/dashboard").text
    assert "First figures at " in listing and "0.0%" not in listing


def test_campaign_page_shows_the_report_the_api_serves(campaign, signed_in):
    """The campaign page's report is the one GET /api/campaigns/{id}/stats answers."""
    response = signed_in.get(f"/dashboard/campaigns/{campaign['id']}?tz=Asia/Kolkata")
    assert response.context["report"].to_json() == signed_in.stats(campaign["id"], tz="Asia/Kolkata")


def test_campaign_page_headline(campaign, signed_in):
    """The campaign page leads with the open rate (the report's estimate) and its 95% interval."""
    html = signed_in.get(f"/dashboard/campaigns/{campaign['id']}").text
    rate = signed_in.stats(campaign["id"])["open_rate"]
    big = f'<dd class="big">{_pct(rate["estimate"])}</dd>'
    assert f'<dl class="figures" id="headline"><div><dt>Open rate</dt>{big}' in html
    assert f"95% interval {_pct(rate['low'])}{DASH}{_pct(rate['high'])}" in html
    assert "Apple Mail readers are estimated; image blockers are not counted." in html


def test_charts_are_named_images(campaign, signed_in):
    """Every chart is an SVG with role=img, labelled by its own title and desc."""
    html = signed_in.get(f"/dashboard/campaigns/{campaign['id']}").text
    charts = re.findall(r'<svg class="chart"[^>]*aria-labelledby="([^"]+)"', html)
    assert len(charts) == 4
    for labelled_by in charts:
        title_id, desc_id = labelled_by.split()
        assert f'<title id="{title_id}">' in html and f'<desc id="{desc_id}">' in html


def test_every_chart_has_a_table(campaign, signed_in):
    """Each chart section holds a table with the same numbers."""
    html = signed_in.get(f"/dashboard/campaigns/{campaign['id']}").text
    sections = re.findall(r"<section .*?</section>", html, re.S)
    with_chart = [s for s in sections if '<svg class="chart"' in s]
    assert with_chart and all("<table" in s for s in with_chart)


def test_charts_load_nothing_from_outside(campaign, signed_in):
    """The page references no other host: no CDN, no web fonts."""
    html = signed_in.get(f"/dashboard/campaigns/{campaign['id']}").text
    assert not re.search(r'(?:href|src)="(?:https?:)?//', html)
    assert "@import" not in html and "@font-face" not in html


def test_region_table_is_k_anonymous(campaign, signed_in):
    """Countries under min_bucket unique opens are merged into 'Other', never listed."""
    html = signed_in.get(f"/dashboard/campaigns/{campaign['id']}").text
    table = re.search(r'<table class="regions">.*?</table>', html).group(0)
    assert '<th scope="row">NL</th>' in table and '<th scope="row">US</th>' in table
    assert ">GB<" not in table
    assert "Other (merged)" in table


def test_campaign_page_has_snippet_and_copy_button(campaign, signed_in):
    """The snippet is in a readonly textarea with a copy button and a privacy-notice link."""
    html = signed_in.get(f"/dashboard/campaigns/{campaign['id']}").text
    assert '<textarea id="snippet" readonly' in html
    assert f"{campaign['id']}.gif" in html
    assert 'data-copy="snippet"' in html
    assert 'href="/dashboard/privacy?lang=en"' in html


def test_campaign_page_says_why_curl_counts_as_a_bot(campaign, signed_in):
    """The classes section says why curl and headless browsers count as bots, and names test-open."""
    html = signed_in.get(f"/dashboard/campaigns/{campaign['id']}").text
    hint = re.search(r'<p class="hint" id="bot-hint">(.*?)</p>', html).group(1)
    assert "headless browsers" in hint and "count as bot" in hint
    assert f"<code>pixelagg test-open {campaign['id']}</code>" in hint


def test_time_zone_passes_through(campaign, signed_in):
    """?tz= reports in that time zone."""
    html = signed_in.get(f"/dashboard/campaigns/{campaign['id']}?tz=Europe/Amsterdam").text
    assert "(Europe/Amsterdam)" in html


def test_campaign_without_opens_says_so(signed_in):
    """A campaign without opens shows no charts, only the figures and the snippet."""
    c = signed_in.create(name="Quiet")
    html = signed_in.get(f"/dashboard/campaigns/{c['id']}").text
    assert "No opens yet." in html and "<svg" not in html


def test_privacy_page_renders_notice(signed_in):
    """/dashboard/privacy?lang=nl shows the Dutch notice section."""
    html = signed_in.get("/dashboard/privacy?lang=nl").text
    assert '<section lang="nl">' in html and "Nieuwsbrief en volgsysteem" in html


# errors


@pytest.mark.parametrize(
    "path", ["/dashboard/campaigns/AAAAAAAAAAAAAAAA", "/dashboard/campaigns/x"], ids=["unknown", "malformed"]
)
def test_unknown_campaign_is_a_404_page(signed_in, path):
    """An unknown campaign answers an HTML 404 page."""
    response = signed_in.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in response.text


def test_unknown_dashboard_path_is_a_404_page(signed_in):
    """Any other path under /dashboard answers an HTML 404 page."""
    response = signed_in.get("/dashboard/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "path",
    ["/dashboard/campaigns/{id}?tz=Mars/Olympus", "/dashboard/privacy?lang=xx"],
    ids=["time-zone", "language"],
)
def test_bad_parameter_is_a_400_page(campaign, signed_in, path):
    """A bad tz or lang answers an HTML 400 page naming the problem."""
    response = signed_in.get(path.format(id=campaign["id"]))
    assert response.status_code == 400
    assert "<h1>Cannot show this</h1>" in response.text


def test_store_failure_is_a_503_page(signed_in, monkeypatch):
    """When the store fails the page says so with 503, not 500."""

    async def fail():
        raise StoreError("down")

    monkeypatch.setattr(signed_in.service.store, "list_campaigns", fail)
    response = signed_in.get("/dashboard")
    assert response.status_code == 503
    assert "Store unavailable" in response.text


@pytest.mark.parametrize("name", ["dashboard.css", "dashboard.js"], ids=["css", "js"])
def test_static_files_are_served(dash, name):
    """The stylesheet and the script are served from /static."""
    assert dash.get(f"/static/{name}").status_code == 200
