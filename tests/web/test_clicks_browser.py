"""A mail rewritten by the CLI, opened in headless Chromium, a link followed: a person's click."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any

from tests.cli.runner import create, run
from tests.helpers import ARTIFACTS, BROWSER_MARKS, BROWSER_UA, make_env, wait_for

pytestmark = BROWSER_MARKS

LANDING = b"<!DOCTYPE html><title>Spring sale</title><h1>Landed</h1>"


class Site:
    """The sender's own site on loopback: the mail at /mail.html, the link's target at /spring."""

    def __init__(self) -> None:
        self.mail = b""
        self.requests: list[tuple[str, dict[str, str]]] = []
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append((self.path, dict(self.headers)))
                body = site.mail if self.path == "/mail.html" else LANDING
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Site:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _stats(env, campaign_id):
    result = run(env, "stats", campaign_id, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_link_in_a_rewritten_mail_is_followed_and_counted_as_human(tmp_path, serve, browser):
    """Rewrite a mail with the CLI, open it in Chromium, click a link: the target page, one human click."""
    # epsilon off: exact, live figures; min_bucket 1: a link one person followed shows on its own
    env = make_env(tmp_path, None, PIXELAGG_PRIVACY_MIN_BUCKET="1")
    served = serve(env)
    view = create(env, "--recipients", "1200")
    with Site() as site:
        target = f"{site.url}/spring?utm_source=news"
        mail = tmp_path / "mail.html"
        mail.write_text(
            "<!DOCTYPE html><html><body><p>Our spring sale:</p>\n"
            f'<p><a href="{target.replace("&", "&amp;")}" id="read">Read the article</a></p>\n'
            '<p><a href="{{ UnsubscribeURL }}">Unsubscribe</a></p>\n</body></html>\n',
            encoding="utf-8",
        )
        out = tmp_path / "mail-tracked.html"
        result = run(env, "links", "rewrite", str(mail), "--campaign", view["id"], "-o", str(out))
        assert result.exit_code == 0, result.output
        site.mail = out.read_bytes()
        assert f'href="{served.url}/l/{view["id"]}/'.encode() in site.mail

        # The mail is served from the sender's site, so the click has a referrer to withhold.
        context = browser.new_context(user_agent=BROWSER_UA)  # a person's browser, not HeadlessChrome
        try:
            page = context.new_page()
            page.goto(f"{site.url}/mail.html")
            page.click("#read")
            page.wait_for_url(target)
            assert page.locator("h1").inner_text() == "Landed"
            page.screenshot(path=str(ARTIFACTS / "clicks-landed.png"))
        finally:
            context.close()

        landed = [(path, headers) for path, headers in site.requests if path.startswith("/spring")]
        assert [path for path, _ in landed] == ["/spring?utm_source=news"]  # exactly the URL, nothing added
        assert "Referer" not in landed[0][1]  # nor a referrer naming the mail or the service

    stats = wait_for(lambda: (s := _stats(env, view["id"]))["clicks"]["total"] and s)
    assert stats["clicks"]["by_class"] == {"human": 1, "scanner": 0, "bot": 0}
    (link,) = stats["clicks"]["by_link"]
    assert (link["url"], link["clicks"], link["by_class"]["human"]) == (target, 1, 1)
