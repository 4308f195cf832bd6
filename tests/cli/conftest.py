"""The CLI's tests run where a service ran before: the embedded store is saved in the data dir."""

from __future__ import annotations

import pytest

from tests.helpers import make_store


@pytest.fixture(autouse=True)
def _saved_store(request):
    """An `env` test gets a saved (empty) embedded store: the CLI makes none itself."""
    if "env" in request.fixturenames:
        make_store(request.getfixturevalue("env"))
