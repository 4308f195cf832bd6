"""SVG charts: pure functions from numbers to accessible, escaped SVG."""

from __future__ import annotations

import re

import pytest
from markupsafe import Markup

from pixelagg.web.charts import Column, Series, horizontal_bars, nice_ticks, stacked_bars

A = Series("Human opens", "s-human", "#1f5fa8")
B = Series("Machine opens", "s-machine", "#b35c00")


@pytest.mark.parametrize(
    ("maximum", "ticks"),
    [(0, [0, 1]), (1, [0, 1]), (3, [0, 1, 2, 3]), (12, [0, 5, 10, 15]), (930, [0, 500, 1000])],
    ids=["zero", "one", "small", "tens", "hundreds"],
)
def test_nice_ticks(maximum, ticks):
    """Ticks run from 0 past the maximum in steps of 1, 2 or 5 times a power of ten."""
    assert nice_ticks(maximum) == ticks


def test_stacked_bars_is_a_named_image():
    """The SVG has role=img and is labelled by its own title and desc."""
    svg = stacked_bars("c1", "Opens per day", "Two days.", (A, B), [Column("d", "d", (1, 2))])
    assert 'role="img" aria-labelledby="c1-title c1-desc"' in svg
    assert '<title id="c1-title">Opens per day</title>' in svg
    assert '<desc id="c1-desc">Two days.</desc>' in svg


def test_stacked_bars_escape_text():
    """Titles, descriptions and labels are escaped."""
    column = Column("<b>x</b>", "<i>", (1, 0))
    svg = stacked_bars("c", "<t>", "<d>", (A, B), [column])
    assert "<b>" not in svg and "<i>" not in svg and "<t>" not in svg
    assert "&lt;b&gt;x&lt;/b&gt;" in svg


def test_stacked_bars_stack_the_series():
    """Each non-zero value gets a rect of its series' class; zeros draw nothing."""
    svg = stacked_bars("c", "t", "d", (A, B), [Column("a", "a", (3, 1)), Column("b", "b", (2, 0))])
    assert len(re.findall(r'<rect class="s-human"', svg)) == 2
    assert len(re.findall(r'<rect class="s-machine"', svg)) == 1


def test_stacked_bars_without_columns():
    """No columns still gives a valid, empty chart."""
    assert stacked_bars("c", "t", "d", (A, B), []).endswith("</svg>")


def test_horizontal_bars_scale_to_the_largest():
    """The largest row gets the longest bar and every value is written out."""
    svg = horizontal_bars("h", "t", "d", [("NL", 4, A), ("US", 2, A)])
    widths = [float(w) for w in re.findall(r'<rect [^>]*width="([0-9.]+)"', svg)]
    assert widths[0] == 2 * widths[1]
    assert ">4</text>" in svg and ">2</text>" in svg


def test_overlapping_axis_labels_are_skipped():
    """Axis labels too close to the one before are left out rather than drawn over it."""
    columns = [Column(str(n), "a long label", (1, 0)) for n in range(20)]
    svg = stacked_bars("c", "t", "d", (A, B), columns)
    assert 1 < svg.count(">a long label</text>") < 20


@pytest.mark.parametrize(
    "chart",
    [
        lambda: stacked_bars("c", "t", "d", (A, B), [Column("a", "a", (1, 0))]),
        lambda: horizontal_bars("h", "t", "d", [("NL", 1, A)]),
    ],
    ids=["stacked", "horizontal"],
)
def test_charts_are_markup(chart):
    """Charts are Markup: escaped where they are drawn, so templates put them in as they are."""
    assert isinstance(chart(), Markup)
