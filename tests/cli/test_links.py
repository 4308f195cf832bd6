"""Tests for `pixelagg links`: rewrite a newsletter, add and list links, on a real serve and both stores."""

from __future__ import annotations

import json
import re

import pytest

from tests.cli.runner import UNKNOWN_ID, create, run
from tests.helpers import make_env

MAIL = (
    "<!DOCTYPE html>\r\n<html><head><style>a{color:#c00}</style></head>\r\n"
    "<body style='margin:0'>\r\n"
    "<p>Hello {{ .Subscriber.FirstName }},</p>\r\n"
    '<p><a href="https://example.org/spring?utm_source=news&amp;utm_medium=mail">Spring</a> and '
    "<a class=b href='https://example.org/summer'>summer</a>, "
    '<A HREF="https://example.org/spring?utm_source=news&amp;utm_medium=mail">again</A>.</p>\r\n'
    '<p><a href="mailto:news@example.org">Write</a> | '
    '<a href="{{ UnsubscribeURL }}">Unsubscribe</a></p>\r\n'
    "</body></html>\r\n"
)
TEXT = "Hello,\n\nSpring: https://example.org/spring.\nUnsubscribe: {{ UnsubscribeURL }}\n"


def links_of(env, campaign_id):
    result = run(env, "links", "list", "--campaign", campaign_id, "--json")
    assert result.exit_code == 0, result.output
    return {link["url"]: link["tracking_url"] for link in json.loads(result.stdout)}


def rewrite(env, tmp_path, campaign_id, *args, name="mail.html", content=MAIL):
    mail = tmp_path / name
    mail.write_bytes(content.encode("utf-8"))
    return run(env, "links", "rewrite", str(mail), "--campaign", campaign_id, *args)


@pytest.mark.slow
def test_rewrite_through_the_service_replaces_only_the_hrefs(tmp_path, serve):
    """rewrite registers each link with the running service and changes nothing but hrefs and the pixel."""
    env = make_env(tmp_path, None)
    served = serve(env)
    view = create(env)
    result = rewrite(env, tmp_path, view["id"])
    assert result.exit_code == 0, result.output
    tracking = links_of(env, view["id"])
    spring, summer = (
        tracking["https://example.org/spring?utm_source=news&utm_medium=mail"],
        tracking["https://example.org/summer"],
    )
    assert spring.startswith(f"{served.url}/l/{view['id']}/")
    expected = (
        MAIL.replace("https://example.org/spring?utm_source=news&amp;utm_medium=mail", spring)
        .replace("https://example.org/summer", summer)
        .replace("</body>", view["snippet"] + "</body>")
    )
    assert result.stdout_bytes == expected.encode("utf-8")


def test_rewrite_says_what_it_did_and_left_alone(env, tmp_path):
    """stderr counts links and URLs, lists what was left alone and why, and says the pixel was added."""
    view = create(env)
    result = rewrite(env, tmp_path, view["id"])
    assert result.exit_code == 0, result.output
    assert f"Rewrote 3 links to 2 URLs for campaign {view['id']} (2 newly registered" in result.stderr
    assert "  mailto:news@example.org: not an http or https URL" in result.stderr
    assert "  {{ UnsubscribeURL }}: holds the placeholder {{ UnsubscribeURL }}" in result.stderr
    assert "Added the pixel snippet before </body>." in result.stderr


def test_rewriting_twice_gives_the_same_mail(env, tmp_path):
    """The same mail rewritten twice is byte-identical and registers nothing new: one mail for all."""
    view = create(env)
    first = rewrite(env, tmp_path, view["id"])
    again = rewrite(env, tmp_path, view["id"])
    assert again.exit_code == 0, again.output
    assert again.stdout_bytes == first.stdout_bytes
    assert "(0 newly registered, 2 registered before)" in again.stderr


def test_a_rewritten_mail_rewritten_again_is_unchanged(env, tmp_path):
    """Its tracking URLs and its pixel are recognised: rewriting the output changes no byte."""
    view = create(env)
    once = rewrite(env, tmp_path, view["id"]).stdout_bytes.decode()
    twice = rewrite(env, tmp_path, view["id"], content=once)
    assert twice.stdout_bytes.decode() == once
    assert "The mail has the campaign's pixel already." in twice.stderr


def test_output_goes_to_the_file_given(env, tmp_path):
    """-o writes the mail to the file and nothing to stdout."""
    view = create(env)
    out = tmp_path / "out.html"
    result = rewrite(env, tmp_path, view["id"], "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert f"/l/{view['id']}/" in out.read_text()
    assert f"Wrote {out}. It is the same for every recipient." in result.stderr


def test_the_mail_can_come_from_stdin(env):
    """FILE '-' reads the mail from stdin."""
    view = create(env)
    result = run(env, "links", "rewrite", "-", "--campaign", view["id"], input=MAIL.encode())
    assert result.exit_code == 0, result.output
    assert f"/l/{view['id']}/" in result.stdout


def test_bytes_that_are_not_utf8_come_back_unchanged(env, tmp_path):
    """A Latin-1 mail keeps its bytes: only the hrefs change."""
    view = create(env)
    raw = '<p>Caf\xe9</p><a href="https://example.org/">x</a></body>'.encode("latin-1")
    mail = tmp_path / "latin1.html"
    mail.write_bytes(raw)
    result = run(env, "links", "rewrite", str(mail), "--campaign", view["id"])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.startswith(b"<p>Caf\xe9</p><a href=")


@pytest.mark.parametrize(("name", "args"), [("mail.txt", ()), ("part", ("--text",))], ids=["txt", "flag"])
def test_plain_text_rewrites_bare_urls_and_adds_no_pixel(env, tmp_path, name, args):
    """A .txt file, or --text, gets its bare URLs rewritten and no image."""
    view = create(env)
    result = rewrite(env, tmp_path, view["id"], *args, name=name, content=TEXT)
    assert result.exit_code == 0, result.output
    spring = links_of(env, view["id"])["https://example.org/spring"]
    assert result.stdout == TEXT.replace("https://example.org/spring", spring)
    assert "pixel" not in result.stderr


def test_a_mail_with_the_pixel_gets_no_second_one(env, tmp_path):
    """A mail that holds the campaign's pixel URL already is not given another."""
    view = create(env)
    result = rewrite(env, tmp_path, view["id"], content=f"<p>Hi</p>{view['snippet']}</body>")
    assert result.stdout.count(f"/p/{view['id']}.gif") == 1
    assert "The mail has the campaign's pixel already." in result.stderr


def test_an_unknown_campaign_is_an_error_and_writes_nothing(env, tmp_path):
    """An unknown campaign: Error:, exit 1, no output file."""
    out = tmp_path / "out.html"
    result = rewrite(env, tmp_path, UNKNOWN_ID, "-o", str(out))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: No campaign with id")
    assert not out.exists()


def test_a_missing_file_is_an_error(env, tmp_path):
    """A mail that is not there: Error: naming it, exit 1."""
    view = create(env)
    result = run(env, "links", "rewrite", str(tmp_path / "nope.html"), "--campaign", view["id"])
    assert result.exit_code == 1
    assert f"Error: Cannot read {tmp_path / 'nope.html'}: No such file or directory." in result.stderr


def test_a_utf16_file_is_refused(env, tmp_path):
    """A UTF-16 mail is refused with what to do, rather than rewritten as garbage."""
    view = create(env)
    mail = tmp_path / "mail.html"
    mail.write_bytes(MAIL.encode("utf-16"))
    result = run(env, "links", "rewrite", str(mail), "--campaign", view["id"])
    assert result.exit_code == 1
    assert "is UTF-16: save it as UTF-8" in result.stderr


@pytest.mark.slow
def test_too_many_links_is_the_services_error(tmp_path, serve):
    """More links than links.max_per_campaign: the API's message as Error:, exit 1, nothing written."""
    env = make_env(tmp_path, None, PIXELAGG_LINKS_MAX_PER_CAMPAIGN="1")
    serve(env)
    view = create(env)
    out = tmp_path / "out.html"
    result = rewrite(env, tmp_path, view["id"], "-o", str(out))
    assert result.exit_code == 1
    assert re.search(r"^Error: .*links\.max_per_campaign.*\(HTTP 4\d\d\)$", result.stderr, re.M)
    assert not out.exists()


def test_add_prints_the_tracking_url(env):
    """links add prints the tracking URL; the same URL again prints the same one."""
    view = create(env)
    first = run(env, "links", "add", "https://example.org/a", "--campaign", view["id"])
    assert first.exit_code == 0, first.output
    assert re.fullmatch(rf"http://\S+/l/{view['id']}/[A-Za-z0-9_-]{{10}}\n", first.stdout)
    again = run(env, "links", "add", "https://example.org/a", "--campaign", view["id"])
    assert again.stdout == first.stdout


def test_add_json_is_the_link(env):
    """links add --json prints id, url and tracking_url."""
    view = create(env)
    result = run(env, "links", "add", "https://example.org/a", "--campaign", view["id"], "--json")
    assert set(json.loads(result.stdout)) == {"id", "url", "tracking_url"}


def test_add_refuses_what_the_service_refuses(env):
    """A javascript: URL is refused with Error: and the reason, exit 1."""
    view = create(env)
    result = run(env, "links", "add", "javascript:alert(1)", "--campaign", view["id"])
    assert result.exit_code == 1
    assert "Error: 'url' must be an http or https URL" in result.stderr


def test_list_shows_a_table(env):
    """links list prints id, tracking URL and URL, one link a line."""
    view = create(env)
    tracking = run(env, "links", "add", "https://example.org/a", "--campaign", view["id"]).stdout.strip()
    lines = run(env, "links", "list", "--campaign", view["id"]).stdout.splitlines()
    assert lines[0].split() == ["ID", "TRACKING", "URL", "URL"]
    assert lines[1].split() == [tracking.rsplit("/", 1)[1], tracking, "https://example.org/a"]


def test_list_without_links_says_how_to_add_them(env):
    """A campaign without links says how to register them."""
    view = create(env)
    result = run(env, "links", "list", "--campaign", view["id"])
    assert result.exit_code == 0
    assert f"pixelagg links rewrite FILE --campaign {view['id']}" in result.stdout
