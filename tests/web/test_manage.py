"""Tests for pixelagg.web.manage: the admin's forms, behind the session, same-origin and CSRF."""

from __future__ import annotations

import re
import time

import pytest

from pixelagg.config import load
from pixelagg.web.views import SESSION_COOKIE, session_value
from tests.helpers import AUTH, READ_TOKEN, TOKEN, make_env

ORIGIN = {"Origin": "http://testserver"}


@pytest.fixture
def dash(tmp_path, client_for):
    return client_for(load(environ=make_env(tmp_path, None)))


def _sign_in(client, token=TOKEN):
    response = client.post("/dashboard/login", data={"token": token}, headers=ORIGIN, follow_redirects=False)
    assert response.status_code == 303


@pytest.fixture
def admin(dash):
    _sign_in(dash)
    return dash


def _csrf(client, path="/dashboard/campaigns/new"):
    match = re.search(r'name="csrf" value="([0-9a-f]{64})"', client.get(path).text)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def _post(client, path, data, csrf=None, headers=ORIGIN):
    body = {**data, "csrf": _csrf(client) if csrf is None else csrf}
    return client.post(path, data=body, headers=headers, follow_redirects=False)


def _campaigns(client):
    return client.get("/api/campaigns", headers=AUTH).json()["campaigns"]


NEW = {"name": "March newsletter", "recipients": "1200", "legal_basis": "consent", "legal_reference": ""}


def test_create_makes_the_campaign_and_shows_its_snippet(admin):
    """Posting the new-campaign form creates it and leads to its page with the snippet."""
    response = _post(admin, "/dashboard/campaigns", NEW)
    assert response.status_code == 303
    (campaign,) = _campaigns(admin)
    assert (campaign["name"], campaign["recipients"], campaign["legal_basis"]) == (
        "March newsletter",
        1200,
        "consent",
    )
    assert response.headers["location"] == f"/dashboard/campaigns/{campaign['id']}?done=created"
    page = admin.get(response.headers["location"]).text
    assert "Campaign created. Copy the snippet below" in page
    assert campaign["pixel_url"] in page


def test_the_form_offers_every_basis_with_the_default_chosen(admin):
    """The legal-basis choice lists the four bases, the configured default selected."""
    html = admin.get("/dashboard/campaigns/new").text
    assert html.count("<option ") == 4
    assert '<option value="legitimate_interest" selected>' in html


def test_an_invalid_form_is_shown_again_with_the_reason(admin):
    """A public_task campaign without its reference is refused: the form again, 422, nothing made."""
    response = _post(admin, "/dashboard/campaigns", {**NEW, "legal_basis": "public_task"})
    assert response.status_code == 422
    assert "legal_reference" in response.text and 'value="March newsletter"' in response.text
    assert _campaigns(admin) == []


@pytest.mark.parametrize(
    ("csrf", "headers"),
    [("", ORIGIN), ("0" * 64, ORIGIN), (None, {"Origin": "https://evil.example"}), (None, {})],
    ids=["no-token", "wrong-token", "other-origin", "no-origin"],
)
def test_a_change_without_this_site_and_its_token_is_refused(admin, csrf, headers):
    """Without the session's CSRF token, or from another origin, a form is refused, 403."""
    response = _post(admin, "/dashboard/campaigns", NEW, csrf=csrf, headers=headers)
    assert response.status_code == 403 and _campaigns(admin) == []


def test_the_csrf_token_belongs_to_the_session(admin):
    """A token from one session does not work in another (here: one signed in 5 s earlier)."""
    token = _csrf(admin)
    admin.cookies.clear()
    admin.cookies.set(SESSION_COOKIE, session_value(TOKEN, "admin", int(time.time()) - 5), path="/dashboard")
    assert _csrf(admin) != token
    response = _post(admin, "/dashboard/campaigns", NEW, csrf=token)
    assert response.status_code == 403


def test_without_a_session_a_change_is_refused(dash):
    """A form posted without a session is refused, 403, not redirected."""
    response = dash.post(
        "/dashboard/campaigns", data={**NEW, "csrf": "x"}, headers=ORIGIN, follow_redirects=False
    )
    assert response.status_code == 403


@pytest.fixture
def made(admin):
    _post(admin, "/dashboard/campaigns", NEW)
    return _campaigns(admin)[0]


def test_edit_changes_the_campaign(admin, made):
    """The edit form shows the values and saving changes them; an empty recipients clears it."""
    form = admin.get(f"/dashboard/campaigns/{made['id']}/edit").text
    assert 'value="March newsletter"' in form and 'value="1200"' in form
    data = {"name": "April newsletter", "recipients": "", "legal_basis": "consent", "legal_reference": ""}
    response = _post(admin, f"/dashboard/campaigns/{made['id']}", data)
    assert response.headers["location"].endswith("?done=saved")
    (campaign,) = _campaigns(admin)
    assert (campaign["name"], campaign["recipients"]) == ("April newsletter", None)


def test_pause_and_resume(admin, made):
    """The pause and resume buttons switch counting."""
    _post(admin, f"/dashboard/campaigns/{made['id']}/pause", {})
    assert _campaigns(admin)[0]["paused"] is True
    page = admin.get(f"/dashboard/campaigns/{made['id']}").text
    assert "Resume counting" in page
    _post(admin, f"/dashboard/campaigns/{made['id']}/resume", {})
    assert _campaigns(admin)[0]["paused"] is False


def test_delete_asks_first_and_names_what_is_erased(admin, made):
    """The delete page names the campaign and what goes; only its form erases it."""
    page = admin.get(f"/dashboard/campaigns/{made['id']}/delete").text
    assert "Delete “March newsletter”?" in page
    assert made["id"] in page and "unique-open sketches" in page and "cannot be undone" in page
    assert len(_campaigns(admin)) == 1
    response = _post(admin, f"/dashboard/campaigns/{made['id']}/delete", {})
    assert response.headers["location"] == "/dashboard?done=deleted"
    assert _campaigns(admin) == []
    assert "every key it had are erased" in admin.get("/dashboard?done=deleted").text


@pytest.fixture
def reader(dash, made):
    """A second client signed in with a read token, beside the campaign the admin made."""
    dash.cookies.clear()
    _sign_in(dash, READ_TOKEN)
    return dash


def test_a_read_token_sees_no_controls(reader, made):
    """With a read token the pages show no New, Edit, Pause or Delete control and no CSRF token."""
    for path in ("/dashboard", f"/dashboard/campaigns/{made['id']}"):
        html = reader.get(path).text
        assert "New campaign" not in html and "Delete" not in html and "Pause counting" not in html
        assert 'name="csrf"' not in html


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/dashboard/campaigns/new"),
        ("GET", "/dashboard/campaigns/{id}/edit"),
        ("GET", "/dashboard/campaigns/{id}/delete"),
        ("POST", "/dashboard/campaigns/{id}/pause"),
        ("POST", "/dashboard/campaigns/{id}/delete"),
    ],
    ids=["new", "edit", "delete-page", "pause", "delete"],
)
def test_a_read_token_is_refused_every_change(reader, made, method, path):
    """Every management page and form answers 403 to a read token, and nothing changes."""
    response = reader.request(method, path.format(id=made["id"]), data={"csrf": "x"}, headers=ORIGIN)
    assert response.status_code == 403
    assert _campaigns(reader)[0]["paused"] is False


def test_an_unknown_campaign_is_404(admin):
    """Editing a campaign that does not exist is a 404 page."""
    assert admin.get("/dashboard/campaigns/AAAAAAAAAAAAAAAA/edit").status_code == 404


def test_the_root_leads_to_the_dashboard(dash):
    """/ answers 303 to /dashboard."""
    response = dash.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"


def test_sign_in_page_says_where_the_token_is(tmp_path, client_for):
    """Without a configured token, the sign-in page names the data dir's admin-token file."""
    env = make_env(tmp_path, None)
    del env["PIXELAGG_ADMIN_TOKEN"]
    client = client_for(load(environ=env))
    hint = re.search(r'<p class="hint" id="token-hint">(.*?)</p>', client.get("/dashboard/login").text).group(
        1
    )
    assert f"{tmp_path / 'data' / 'admin-token'}" in hint and "PIXELAGG_ADMIN_TOKEN" in hint


def test_sign_in_page_names_the_setting_of_a_configured_token(dash):
    """With a configured token, the sign-in page says it is the one in PIXELAGG_ADMIN_TOKEN."""
    assert "api.admin_token (PIXELAGG_ADMIN_TOKEN)" in dash.get("/dashboard/login").text
