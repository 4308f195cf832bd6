"""The docs name real tests: every `tests/...py::test_name` in docs/ exists."""

from __future__ import annotations

import re

import pytest

from tests.helpers import ROOT

REFERENCES = sorted(
    {
        (doc.name, path, name)
        for doc in (ROOT / "docs").glob("*.md")
        for path, name in re.findall(r"`(tests/[\w/]+\.py)::(\w+)", doc.read_text(encoding="utf-8"))
    }
)


@pytest.mark.parametrize(("doc", "path", "name"), REFERENCES, ids=[f"{d}:{n}" for d, _, n in REFERENCES])
def test_docs_name_tests_that_exist(doc, path, name):
    """A test named in the docs (the invariants' table above all) is defined where it says."""
    source = ROOT / path
    assert source.exists(), f"{doc} names {path}, which does not exist"
    assert re.search(rf"^(async )?def {name}\(", source.read_text(encoding="utf-8"), re.M), (
        f"{doc} names {path}::{name}, which is not defined there"
    )
