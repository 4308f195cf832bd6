"""The privacy budget of a campaign and the noise that spends it: discrete Laplace from OpenDP.

Every released figure is a cell of a histogram: a count of events in one release period (or
one UTC day) and one class or region. One open lands in exactly one cell of each histogram, so
each histogram has sensitivity 1 and costs its share of ε whatever its number of cells
(parallel composition); the shares add up to ε (sequential composition). See
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

__all__ = ["KINDS", "LEVELS", "Budget", "add_noise", "variance"]

dp.enable_features("contrib")

KINDS = {
    "u": "first opens: a visitor's first open in its salt window, by class",
    "l": "opens (image loads), by class",
    "r": "opens by region",
    "c": "opens by mail-client family",
    "x": "declined requests (Sec-GPC / DNT)",
}
LEVELS = {"p": "one release period", "d": "one UTC day"}

# Shares of ε per histogram (kind, level). A counted open is in one cell of each histogram
# below except "x"; a declined request is only in "x". So a visitor who opens once spends
# ε, and so does a declined request (the two are disjoint events: parallel composition).
# Period cells get more than day cells: a fresh campaign's figures (the ones senders look at)
# sum up to 23 of today's period cells, an older one's a few day cells each.
_SHARES_WITH_UNIQUES = {
    ("u", "p"): 0.25,
    ("u", "d"): 0.15,
    ("l", "p"): 0.20,
    ("l", "d"): 0.10,
    ("r", "d"): 0.20,
    ("c", "d"): 0.10,
    ("x", "d"): 1.0,
}
# Counts only (privacy.uniques: off): no first opens, so the loads get their budget.
_SHARES_COUNTS_ONLY = {
    ("l", "p"): 0.30,
    ("l", "d"): 0.30,
    ("r", "d"): 0.25,
    ("c", "d"): 0.15,
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

    def per_open(self) -> float:
        """ε spent on a visitor's first (and only) counted open: the sum over its histograms."""
        return sum(share for (kind, _), share in self.shares.items() if kind != "x") * self.epsilon

    def per_repeat_open(self) -> float:
        """ε spent on each further open of the same visitor: the load histograms' shares only."""
        return (
            sum(share for (kind, _), share in self.shares.items() if kind in ("l", "r", "c")) * self.epsilon
        )


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
