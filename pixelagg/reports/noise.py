"""The privacy budget of a campaign and the noise that spends it: discrete Laplace from OpenDP.

Every released figure is a cell of a histogram: a count of events in one release period (or
one UTC day) and one class, region or link. One open (or click) lands in exactly one cell of
each of its histograms, so each histogram has sensitivity 1 and costs its share of ε whatever
its number of cells (parallel composition); the opens' and the clicks' shares add up to ε
(sequential composition: one recipient may open and click). See
docs/privacy.md, "The release step", for the accounting and what one recipient is.

Sampling is OpenDP's (`opendp` on PyPI): integer counts get discrete Laplace noise from a
cryptographically secure generator, which floating-point Laplace sampling cannot give
(Mironov, CCS 2012).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import opendp.prelude as dp

__all__ = ["CLICK_KINDS", "KINDS", "LEVELS", "OPEN_KINDS", "Budget", "add_noise", "variance"]

dp.enable_features("contrib")

KINDS = {
    "u": "first opens: a visitor's first open in its salt window, by class",
    "l": "opens (image loads), by class",
    "r": "opens by region",
    "c": "opens by mail-client family",
    "x": "declined requests (Sec-GPC / DNT)",
    "q": "first clicks: a clicker's first click in its salt window, on any link, by class",
    "k": "clicks, by class",
    "n": "clicks by link and class",
    "g": "clicks by region",
}
LEVELS = {"p": "one release period", "d": "one UTC day"}
OPEN_KINDS = ("u", "l", "r", "c")
CLICK_KINDS = ("q", "k", "n", "g")

# Shares of ε per histogram (kind, level). A counted open is in one cell of each opens
# histogram below, a counted click in one cell of each clicks histogram, and a recipient may
# do both: the opens' shares (0.70) and the clicks' (0.30) add up to ε (sequential
# composition). A declined request is only in "x" (disjoint events: parallel composition).
# A click lands in exactly one link's cell, so the per-link cells, however many links a
# campaign has, are one histogram (parallel composition). The opens keep the split they had
# before clicks were counted, scaled to 0.70: period cells get more than day cells (a fresh
# campaign's figures sum up to 23 of today's period cells, an older one's a few day cells).
# Clicks are rarer and read later: links and regions come from closed days only.
_SHARES_WITH_UNIQUES = {
    ("u", "p"): 0.175,
    ("u", "d"): 0.105,
    ("l", "p"): 0.14,
    ("l", "d"): 0.07,
    ("r", "d"): 0.14,
    ("c", "d"): 0.07,
    ("q", "p"): 0.06,
    ("q", "d"): 0.04,
    ("k", "p"): 0.04,
    ("k", "d"): 0.03,
    ("n", "d"): 0.09,
    ("g", "d"): 0.04,
    ("x", "d"): 1.0,
}
# Counts only (privacy.uniques: off): no first opens or clicks, so the rest get their budget.
_SHARES_COUNTS_ONLY = {
    ("l", "p"): 0.21,
    ("l", "d"): 0.21,
    ("r", "d"): 0.175,
    ("c", "d"): 0.105,
    ("k", "p"): 0.06,
    ("k", "d"): 0.05,
    ("n", "d"): 0.13,
    ("g", "d"): 0.06,
    ("x", "d"): 1.0,
}


@dataclass(frozen=True)
class Budget:
    """A campaign's ε and how it is shared between the released histograms."""

    epsilon: float
    uniques: bool = True

    @property
    def shares(self) -> dict[tuple[str, str], float]:
        return dict(_SHARES_WITH_UNIQUES if self.uniques else _SHARES_COUNTS_ONLY)

    def histograms(self) -> list[tuple[str, str]]:
        """The (kind, level) histograms this budget releases."""
        return list(self.shares)

    def scale(self, kind: str, level: str) -> float:
        """The discrete Laplace scale of one cell: sensitivity 1 over the histogram's share of ε."""
        return 1.0 / (self.shares[(kind, level)] * self.epsilon)

    def variance(self, kind: str, level: str) -> float:
        """The noise variance of one cell of this histogram."""
        return variance(self.scale(kind, level))

    def _spent(self, kinds: tuple[str, ...]) -> float:
        return sum(share for (kind, _), share in self.shares.items() if kind in kinds) * self.epsilon

    def per_open(self) -> float:
        """ε spent on a visitor's first (and only) counted open: the sum over its histograms."""
        return self._spent(OPEN_KINDS)

    def per_repeat_open(self) -> float:
        """ε spent on each further open of the same visitor: the load histograms' shares only."""
        return self._spent(("l", "r", "c"))

    def per_click(self) -> float:
        """ε spent on a clicker's first (and only) counted click, on one link."""
        return self._spent(CLICK_KINDS)

    def per_repeat_click(self) -> float:
        """ε spent on each further click of the same clicker: all but the first clicks' share."""
        return self._spent(("k", "n", "g"))


def variance(scale: float) -> float:
    """The variance of discrete Laplace noise with this scale: 2p / (1 - p)², p = e^(-1/scale)."""
    p = math.exp(-1.0 / scale)
    return 2.0 * p / (1.0 - p) ** 2


@lru_cache(maxsize=64)
def _mechanism(scale: float) -> Any:
    space = dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int)
    return space >> dp.m.then_laplace(scale=scale)


def add_noise(values: Sequence[int], scale: float) -> list[int]:
    """The counts with independent discrete Laplace noise of `scale` added to each."""
    if not values:
        return []
    return [int(v) for v in _mechanism(scale)([int(v) for v in values])]
