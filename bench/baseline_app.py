"""The ceiling for the benchmark: a bare Starlette app that only serves the pixel.

GET /p/{id}.gif returns the constant 43-byte transparent GIF with ``Cache-Control: no-store``.
It does nothing else (no counting, no store, no headers parsed), so its request rate is what
uvicorn + Starlette can do on this machine; ``bench/run.py`` reports pixelagg as a ratio of it.

Run by hand:
    .venv/bin/uvicorn --app-dir bench baseline_app:app --loop uvloop --http httptools \\
        --no-access-log
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# GIF89a, 1x1, one-colour palette, colour 0 transparent.
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00"
    b"!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
assert len(GIF) == 43

HEADERS = {"Cache-Control": "no-store"}


async def pixel(request: Request) -> Response:
    return Response(GIF, media_type="image/gif", headers=HEADERS)


app = Starlette(routes=[Route("/p/{id}.gif", pixel, methods=["GET"])])
