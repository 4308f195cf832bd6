"""Tests for pixelagg.server and pixelagg.limits: the numbers the docs promise are the code's."""

from __future__ import annotations

import inspect

from pixelagg import limits
from pixelagg.ingest.aggregator import Aggregator
from pixelagg.server import GRACEFUL_SHUTDOWN_SECONDS
from tests.helpers import ROOT

DEPLOYMENT = (ROOT / "docs" / "deployment.md").read_text()


def test_the_shutdown_bounds_in_the_docs_are_the_code_s():
    """deployment.md names the open-request bound and the drain's retry bound as the code has them."""
    drain = inspect.signature(Aggregator.drain).parameters["timeout"].default
    assert f"finish (up to {GRACEFUL_SHUTDOWN_SECONDS} s)" in DEPLOYMENT
    assert f"for up to {drain:.0f} s: at most {GRACEFUL_SHUTDOWN_SECONDS + drain:.0f} s" in DEPLOYMENT


def test_the_limits_in_the_docs_are_the_code_s():
    """deployment.md's table of limits has the code's sizes and times."""
    assert f"| Request line | {limits.MAX_REQUEST_LINE // 1024} KiB, else `414`" in DEPLOYMENT
    assert f"| {limits.MAX_HEAD // 1024} KiB, else `431`" in DEPLOYMENT
    assert f"| {limits.HEAD_TIMEOUT:.0f} s, then closed |" in DEPLOYMENT
    assert f"closed after {limits.KEEP_ALIVE_SECONDS} s" in DEPLOYMENT
    assert f"{limits.GRANIAN_CONNECTIONS:,} per worker" in DEPLOYMENT
    assert f"| {limits.LISTEN_BACKLOG:,} | {limits.LISTEN_BACKLOG:,} |" in DEPLOYMENT


def test_granian_gets_the_same_head_limits():
    """granian's settings carry the head timeout and a buffer of the head's size."""
    settings = limits.granian_options()["http1_settings"]
    assert settings.header_read_timeout == limits.HEAD_TIMEOUT * 1000
    assert settings.max_buffer_size == limits.MAX_HEAD
