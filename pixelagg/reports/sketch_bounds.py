"""Unique-open bounds for HyperLogLog estimates, calibrated per store (exact mode).

Each store's 95 % interval comes from its measured error quantiles at 39 sizes
(bench/sketch_coverage.py; the table in docs/metrics.md). The embedded store's estimator (the
`hyperloglog` package) corrects its bias in steps between 11,500 and 82,000 uniques; the bounds
undo that step first, so the interval is smooth. Small counts are exact where the table says so.
"""

from __future__ import annotations

import bisect
import math

from hyperloglog.const import biasData, rawEstimateData, tresholdData

from .report import Bounds

__all__ = ["BOUNDS_METHODS", "ERROR_QUANTILES", "REGISTERS", "RELATIVE_ERROR", "bounds", "sketch_centres"]


REGISTERS = 16384
RELATIVE_ERROR = 1.04 / math.sqrt(REGISTERS)
"""HyperLogLog's textbook standard error with 2**14 registers; the bounds use measured errors."""
Z_95 = 1.96

# The 2.25 % and 97.75 % quantiles of (centre - truth) / truth at each size, per store, where the
# centre is sketch_centres()'s figure: measured by `bench/sketch_coverage.py --calibrate`
# (seeded trials through each store's own sketches; docs/metrics.md). Between sizes they are
# interpolated; above the last they stay as they are (the error is then a constant share).
ERROR_QUANTILES: dict[str, tuple[tuple[int, float, float], ...]] = {
    "embedded": (
        (1, 0.000030, 0.000031),
        (2, 0.000061, 0.000062),
        (3, 0.000091, 0.000092),
        (5, 0.000152, 0.000153),
        (7, 0.000213, 0.000214),
        (10, 0.000305, 0.000306),
        (15, 0.000458, 0.000459),
        (20, 0.000610, 0.000611),
        (25, 0.000763, 0.000764),
        (31, -0.031371, 0.000948),
        (40, -0.023838, 0.001223),
        (50, -0.018532, 0.001529),
        (70, -0.012205, 0.002143),
        (100, -0.017058, 0.003065),
        (150, -0.015578, 0.004606),
        (200, -0.014092, 0.006154),
        (300, -0.011101, 0.009269),
        (500, -0.011231, 0.009389),
        (700, -0.012308, 0.010056),
        (1000, -0.011788, 0.010533),
        (2000, -0.011162, 0.010883),
        (5000, -0.011944, 0.011665),
        (8000, -0.011469, 0.012164),
        (10000, -0.012452, 0.012411),
        (11000, -0.012188, 0.012365),
        (11500, -0.012303, 0.013412),
        (12000, -0.011364, 0.013674),
        (12500, -0.011563, 0.013257),
        (13000, -0.011730, 0.013209),
        (14000, -0.011464, 0.013069),
        (16000, -0.011709, 0.012987),
        (20000, -0.011405, 0.013224),
        (30000, -0.012129, 0.013348),
        (50000, -0.012623, 0.014973),
        (80000, -0.013581, 0.015921),
        (100000, -0.014745, 0.015071),
        (200000, -0.015553, 0.016333),
        (500000, -0.015461, 0.016330),
        (1000000, -0.016240, 0.016562),
    ),
    "redis": (
        (1, 0.000000, 0.000000),
        (2, 0.000000, 0.000000),
        (3, 0.000000, 0.000000),
        (5, 0.000000, 0.000000),
        (7, 0.000000, 0.000000),
        (10, 0.000000, 0.000000),
        (15, 0.000000, 0.000000),
        (20, 0.000000, 0.000000),
        (25, 0.000000, 0.000000),
        (31, -0.032259, 0.000000),
        (40, -0.025001, 0.000000),
        (50, -0.020001, 0.000000),
        (70, -0.014286, 0.000000),
        (100, -0.020001, 0.000000),
        (150, -0.013334, 0.006667),
        (200, -0.015001, 0.005000),
        (300, -0.013334, 0.010001),
        (500, -0.014001, 0.010001),
        (700, -0.012858, 0.010001),
        (1000, -0.012001, 0.011000),
        (2000, -0.011001, 0.011000),
        (5000, -0.011601, 0.011801),
        (8000, -0.011691, 0.012001),
        (10000, -0.011553, 0.011801),
        (11000, -0.011684, 0.011866),
        (11500, -0.011785, 0.011872),
        (12000, -0.011917, 0.011877),
        (12500, -0.011681, 0.012160),
        (13000, -0.011616, 0.012004),
        (14000, -0.012038, 0.012500),
        (16000, -0.012188, 0.012471),
        (20000, -0.012877, 0.012351),
        (30000, -0.013218, 0.013285),
        (50000, -0.014301, 0.013651),
        (80000, -0.014920, 0.014683),
        (100000, -0.014892, 0.014917),
        (200000, -0.015791, 0.016144),
        (500000, -0.015933, 0.016185),
        (1000000, -0.016063, 0.015510),
    ),
}
_EXACT_BELOW = {"embedded": 18, "redis": 18}
"""Below this many uniques the rounded estimate is the truth in >= 99 % of trials on both stores:
it is wrong only when two elements share a register, which for n of them happens with chance
1 - exp(-n (n - 1) / 2m), under 1 % up to 17 (measured: docs/metrics.md)."""
_CALIBRATED_FROM = {"embedded": "400", "redis": "1,000"}
"""From this size up the measured coverage is 94-97 % (docs/metrics.md, calibration table)."""
BOUNDS_METHODS = {
    store: (
        f"95% interval of the HyperLogLog estimate, calibrated for the {store} store's sketches by "
        "seeded simulation (bench/sketch_coverage.py; docs/metrics.md): it covered the true count "
        f"in 94-97% of trials at every size from {_CALIBRATED_FROM[store]} to 1,000,000 uniques, "
        "and more below, where the estimate takes only a few values; below "
        f"{below} uniques the estimate was exact in at least 99% of trials, so there the "
        "interval is the figure itself. Open-rate bounds divide the unique bounds by recipients."
    )
    for store, below in _EXACT_BELOW.items()
}

# The hyperloglog package corrects its raw estimate E (when E <= 5 m) by the mean bias of the 6
# entries of its table nearest to E. That correction is a step function of E, so the embedded
# store's estimate jumps every ~400 uniques (11,500 to 82,000) and its error distribution with
# it. sketch_centres() undoes the step: it finds the E that gave the estimate and corrects it
# by the table's bias interpolated at E, a figure whose error varies smoothly with the size.
_PRECISION_ROW = 14 - 4  # the package's tables start at precision 4
_RAW = tuple(float(x) for x in rawEstimateData[_PRECISION_ROW])
_BIAS = tuple(float(b) for b in biasData[_PRECISION_ROW])
_NEIGHBOURS = 6
_STEPS = tuple(
    (
        sum(_BIAS[k : k + _NEIGHBOURS]) / _NEIGHBOURS,  # the correction subtracted on this step
        (_RAW[k - 1] + _RAW[k + _NEIGHBOURS - 1]) / 2 if k else -math.inf,  # E from here
        (_RAW[k] + _RAW[k + _NEIGHBOURS]) / 2 if k < len(_RAW) - _NEIGHBOURS else math.inf,  # to here
    )
    for k in range(len(_RAW) - _NEIGHBOURS + 1)
)
_LINEAR_COUNTING_UP_TO = float(tresholdData[_PRECISION_ROW])
_CORRECTED_UP_TO = 5.0 * REGISTERS


def _interpolate(x: float, xs: tuple[float, ...], ys: tuple[float, ...]) -> float:
    """ys at x, linear between points and flat beyond the ends (xs ascending)."""
    i = bisect.bisect_left(xs, x)
    if i == 0:
        return ys[0]
    if i == len(xs):
        return ys[-1]
    share = (x - xs[i - 1]) / (xs[i] - xs[i - 1])
    return ys[i - 1] + share * (ys[i] - ys[i - 1])


def sketch_centres(estimate: float, store: str) -> list[float]:
    """The figures the store's interval is built around: the estimate itself, except on the
    embedded store's bias-corrected range, where each raw estimate that gives `estimate`
    (one, rarely two) is corrected smoothly instead of stepwise."""
    if store != "embedded" or estimate <= _LINEAR_COUNTING_UP_TO:
        return [estimate]
    raws = [estimate + step for step, start, end in _STEPS if start <= estimate + step < end]
    centres = [raw - _interpolate(raw, _RAW, _BIAS) for raw in raws if raw <= _CORRECTED_UP_TO]
    if estimate > _CORRECTED_UP_TO - _STEPS[-1][0]:  # the raw estimate may be uncorrected
        centres.append(estimate)
    return centres or [estimate]


class _Calibration:
    """One store's measured error quantiles, inverted into bounds for an observed centre.

    At a true size n the centre lies in [lo(n), hi(n)] in 95.5 % of trials; the interval for an
    observed centre c is every n whose range holds c: from the smallest n with hi(n) >= c to the
    largest with lo(n) <= c (the ranges are made monotone first, which only widens them).
    """

    def __init__(self, table: tuple[tuple[int, float, float], ...]) -> None:
        self.sizes = tuple(float(n) for n, _, _ in table)
        highs = [n * (1 + high) for n, _, high in table]
        lows = [n * (1 + low) for n, low, _ in table]
        self.highs = tuple(max(highs[: i + 1]) for i in range(len(highs)))
        self.lows = tuple(min(lows[i:]) for i in range(len(lows)))
        self.last_low, self.last_high = table[-1][1], table[-1][2]

    def low(self, centre: float) -> float:
        if centre > self.highs[-1]:
            return centre / (1 + self.last_high)
        return _interpolate(centre, self.highs, self.sizes)

    def high(self, centre: float) -> float:
        if centre > self.lows[-1]:
            return centre / (1 + self.last_low)
        return _interpolate(centre, self.lows, self.sizes)


_CALIBRATIONS = {store: _Calibration(table) for store, table in ERROR_QUANTILES.items()}
# A bound within this of a whole number reaches it. Small counts take a few exact values (the
# truth less the collisions, plus linear counting's k**2 / 2m), and interpolating the measured
# ranges between sizes can leave a bound a hair short of the whole number it stands for.
_ROUNDING_SLACK = 0.05


def bounds(estimate: float, store: str) -> Bounds:
    """The rounded estimate with its 95% low and high bounds, calibrated for the store's sketches.

    `store` is the store's kind ("embedded" or "redis"). The bounds always hold the rounded
    estimate; where the store's small counts are exact they are the estimate itself.
    """
    if estimate <= 0:
        return Bounds(0, 0, 0)
    rounded = round(estimate)
    calibration = _CALIBRATIONS[store]
    centres = sketch_centres(estimate, store)
    low = math.ceil(min(calibration.low(c) for c in centres) - _ROUNDING_SLACK)
    high = math.floor(max(calibration.high(c) for c in centres) + _ROUNDING_SLACK)
    return Bounds(rounded, max(0, min(low, rounded)), max(high, rounded))
