"""The pixel: always the GIF, counted only when it is an open."""

from __future__ import annotations

import pytest

from pixelagg.pixel import GIF
from tests.conftest import AUTH


def test_gif_is_43_bytes():
    """The response body is the 43-byte transparent GIF."""
    assert len(GIF) == 43 and GIF.startswith(b"GIF89a")


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
