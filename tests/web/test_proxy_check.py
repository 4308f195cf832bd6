"""Tests for pixelagg.web.proxy_check, alone and through the app: /readyz, the log, the dashboard."""

from __future__ import annotations

import logging

import pytest

from pixelagg.config import load
from pixelagg.web.app import create_app
from pixelagg.web.proxy_check import SETTING, ProxyCheck
from tests.helpers import TOKEN, AppClient, make_env

ORIGIN = {"Origin": "http://testserver"}


def _feed(check, addresses, ignored_forward=False, now=0.0):
    for address in addresses:
        check.seen(address, ignored_forward, now)


def test_many_addresses_are_fine():
    """Hits from many addresses, none with an ignored X-Forwarded-For, give no finding."""
    check = ProxyCheck()
    _feed(check, [f"203.0.113.{n}" for n in range(200)])
    assert check.problem is None and check.status()["status"] == "ok"


def test_ignored_forwarded_for_is_found():
    """Half or more of the hits carrying X-Forwarded-For from an untrusted peer is a finding."""
    check = ProxyCheck()
    _feed(check, ["172.18.0.1"] * 16, ignored_forward=True)
    assert check.problem is not None and "X-Forwarded-For" in check.problem and SETTING in check.problem


def test_a_few_ignored_headers_are_not_a_finding():
    """A corporate proxy's X-Forwarded-For on a few hits is not a misconfiguration."""
    check = ProxyCheck()
    for n in range(64):
        check.seen(f"203.0.113.{n}", n % 8 == 0, 0.0)
    assert check.problem is None


def test_nearly_all_hits_from_one_address_is_found():
    """A proxy that sends no X-Forwarded-For: nearly every hit from one address."""
    check = ProxyCheck()
    _feed(check, ["10.0.0.5"] * 31 + ["203.0.113.9"])
    assert check.problem is not None and check.problem.startswith("Nearly all of the last 32 hits")


def test_too_few_hits_are_not_judged():
    """Fewer than min_hits hits are never a finding, whatever they look like."""
    check = ProxyCheck()
    _feed(check, ["10.0.0.5"] * 15, ignored_forward=True)
    assert check.problem is None


def test_a_finding_clears_after_a_good_window():
    """A window of varied hits clears an earlier finding."""
    check = ProxyCheck(max_hits=64)
    _feed(check, ["10.0.0.5"] * 32)
    assert check.problem is not None
    _feed(check, ["10.0.0.5"] * 32)  # the window ends with the finding still true
    _feed(check, [f"203.0.113.{n}" for n in range(64)])
    assert check.problem is None


def test_the_window_also_ends_with_time():
    """A window older than max_seconds is judged and starts again."""
    check = ProxyCheck(max_seconds=60)
    _feed(check, [f"203.0.113.{n}" for n in range(16)], now=0.0)
    _feed(check, [f"203.0.113.{n}" for n in range(16)], now=61.0)
    assert check.hits == 0


def test_the_check_keeps_no_address():
    """Nothing the check holds is an address text."""
    check = ProxyCheck()
    _feed(check, ["198.51.100.77"] * 3)
    assert "198.51.100.77" not in repr([getattr(check, slot) for slot in ProxyCheck.__slots__])


@pytest.fixture
def behind_untrusted_proxy(tmp_path):
    """The app behind a proxy (loopback here) that server.trusted_proxies does not name."""
    env = make_env(tmp_path, None, PIXELAGG_SERVER_TRUSTED_PROXIES="10.9.9.9/32")
    with AppClient(create_app(load(environ=env)), client=("127.0.0.1", 50000)) as client:
        yield client


def _thirty_readers(client):
    campaign = client.create(recipients=100)
    for n in range(30):
        client.hit(campaign["id"], ip=f"203.0.113.{n}")


def test_readyz_names_the_setting_behind_an_untrusted_proxy(behind_untrusted_proxy):
    """30 readers through an untrusted proxy: /readyz stays 200 and names server.trusted_proxies."""
    _thirty_readers(behind_untrusted_proxy)
    response = behind_untrusted_proxy.get("/readyz")
    assert response.status_code == 200
    proxy = response.json()["proxy"]
    assert proxy["status"] == "suspect" and proxy["setting"] == SETTING
    assert SETTING in proxy["message"]


def test_the_log_says_it_once(behind_untrusted_proxy, caplog):
    """The finding is logged once, naming the setting and no address."""
    caplog.set_level(logging.WARNING, logger="pixelagg.proxy")
    _thirty_readers(behind_untrusted_proxy)
    lines = [r.getMessage() for r in caplog.records if r.name == "pixelagg.proxy"]
    assert len(lines) == 1 and SETTING in lines[0]
    assert "203.0.113" not in lines[0] and "127.0.0.1" not in lines[0]


def test_the_dashboard_shows_a_banner(behind_untrusted_proxy):
    """Signed-in pages show the finding in a banner."""
    _thirty_readers(behind_untrusted_proxy)
    behind_untrusted_proxy.post("/dashboard/login", data={"token": TOKEN}, headers=ORIGIN)
    html = behind_untrusted_proxy.get("/dashboard").text
    assert 'id="proxy-banner"' in html and SETTING in html


def test_the_sign_in_page_shows_no_banner(behind_untrusted_proxy):
    """The page anyone can open says nothing about the deployment."""
    _thirty_readers(behind_untrusted_proxy)
    assert 'id="proxy-banner"' not in behind_untrusted_proxy.get("/dashboard/login").text


def test_readyz_is_ok_behind_a_trusted_proxy(client):
    """Readers forwarded by a trusted proxy (loopback by default) give no finding."""
    _thirty_readers(client)
    assert client.get("/readyz").json()["proxy"]["status"] == "ok"
