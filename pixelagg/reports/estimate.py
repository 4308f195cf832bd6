"""The open rate estimated from aggregates: readers, not visitor keys, with the whole uncertainty.

Readers are counted per kind from what each class releases (docs/metrics.md, "The open-rate
model"): direct readers from human loads over opens per reader, learned from loads per key;
proxied readers from proxy loads over the same repeat factor; MPP recipients from prefetch
loads; MPP readers from the read rate of the other recipients. What aggregates cannot tell
(keys per reader, scanners' keys, how proxied and MPP users read, MPP's prefetches) is a box
of plausible ranges. The interval adds in quadrature the box (the estimate at each range's two
ends, as a spread), the sampling of realised repeat factors and MPP reads, the sketch's error
and the release noise. Pure and deterministic: figures in, a frozen value out, in well under a
millisecond.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from .release import Figure

__all__ = [
    "KEYS_PER_READER",
    "MACHINE_KEYS",
    "MPP_PREFETCHES",
    "MPP_READ_RATIO",
    "OPENS_PER_READER",
    "PROXY_REPEAT",
    "RANGES",
    "Estimate",
    "Interval",
    "Range",
    "Rate",
    "click_rates",
    "estimate_open_rate",
]

Z_95 = 1.96
_SQRT_3 = math.sqrt(3)
_KEYS_VARIANCE = 0.3
"""Variance of one direct reader's number of keys: one, or with a fifth's chance two or three."""


@dataclass(frozen=True)
class Range:
    """A model parameter's plausible range (low, centre, high) and why."""

    low: float
    centre: float
    high: float
    why: str


OPENS_PER_READER = Range(
    1.25, 1.8, 2.8, "image loads per reader; ESPs report total/unique opens of about 1.5-2.5"
)
KEYS_PER_READER = (
    (0.85, 1.25, 0.78),
    (0.3, 0.85, 0.20),
    (0.01, 0.3, 0.02),
)
"""Visitor keys per direct reader, a prior of log-uniform pieces (low, high, weight): near one
(extra devices or networks add keys, NAT takes some), an office-heavy tail, a rare extreme."""
MACHINE_KEYS = Range(
    0.0, 0.01, 0.02, "keys of scanners with a browser UA, one load each, as a share of recipients"
)
PROXY_REPEAT = Range(
    0.8, 1.0, 1.25, "loads per proxied reader over loads per direct reader: same habits, +/-25%"
)
MPP_PREFETCHES = Range(1.0, 1.25, 1.5, "MPP prefetches per MPP recipient: one at delivery, sometimes two")
MPP_READ_RATIO = Range(
    0.7, 1.0, 1.4, "read rate of MPP recipients over the others': unseen since MPP, assumed alike"
)
RANGES: dict[str, Range] = {
    "opens_per_reader": OPENS_PER_READER,
    "machine_keys": MACHINE_KEYS,
    "proxy_repeat": PROXY_REPEAT,
    "mpp_prefetches": MPP_PREFETCHES,
    "mpp_read_ratio": MPP_READ_RATIO,
}

METHOD = (
    "readers per kind from loads and uniques per class (docs/metrics.md, 'The open-rate model'); "
    "95% interval over the model's parameter ranges, sampling, sketch error and release noise"
)
METHOD_COUNTS_ONLY = (
    "readers per kind from loads per class over the prior range of opens per reader "
    "(privacy.uniques off; docs/metrics.md, 'The open-rate model'); 95% interval over the "
    "model's parameter ranges, sampling and release noise"
)


@dataclass(frozen=True)
class Interval:
    """A point estimate and its 95% interval."""

    estimate: float
    low: float
    high: float

    def as_dict(self, digits: int = 4) -> dict[str, float]:
        return {
            k: round(v, digits)
            for k, v in (("estimate", self.estimate), ("low", self.low), ("high", self.high))
        }


@dataclass(frozen=True)
class Rate(Interval):
    """An open rate (a share of recipients) with its interval and how it was computed."""

    method: str = METHOD

    def as_dict(self, digits: int = 4) -> dict[str, Any]:
        return {**super().as_dict(digits), "method": self.method}


@dataclass(frozen=True)
class Estimate:
    """What the estimator says about one campaign."""

    open_rate: Rate
    """Share of recipients who opened with images on (an MPP user who reads counts)."""
    open_rate_observed: float | None
    """(human + image_proxy uniques) / recipients, capped at 1; None without uniques."""
    apple_mpp: Interval
    """Recipients with MPP on, from prefetch loads."""
    open_rate_without_mpp: Interval | None
    """The rate among recipients without MPP; None when every recipient seems to have MPP on."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: rates with 4 decimals, MPP recipients as whole numbers."""
        mpp = self.apple_mpp
        without = self.open_rate_without_mpp
        return {
            "open_rate": self.open_rate.as_dict(),
            "open_rate_observed": None
            if self.open_rate_observed is None
            else round(self.open_rate_observed, 4),
            "apple_mpp": {
                "estimate": round(mpp.estimate),
                "low": math.floor(mpp.low),
                "high": math.ceil(mpp.high),
            },
            "open_rate_without_mpp": None if without is None else without.as_dict(),
        }


class _Inputs(NamedTuple):
    """Direct (human) loads and keys, proxy loads, MPP loads, recipients: never below zero."""

    direct: float
    keys: float | None
    proxy: float
    mpp: float
    recipients: float


class _Point(NamedTuple):
    """The three figures at one point of the box, and the MPP reads' sampling variance of the rate."""

    rate: float
    mpp: float
    without: float
    rate_variance: float
    recipients_without: float


class _Box(NamedTuple):
    """A point of the box of parameters."""

    side: int
    """Where in the opens-per-reader range learned from the data: -1 low, 0 centre, 1 high."""
    machines: float
    repeat: float
    prefetches: float
    read_ratio: float


_CENTRE = _Box(0, MACHINE_KEYS.centre, PROXY_REPEAT.centre, MPP_PREFETCHES.centre, MPP_READ_RATIO.centre)
_ENDS = [
    (_CENTRE._replace(side=-1), _CENTRE._replace(side=1)),
    (_CENTRE._replace(machines=MACHINE_KEYS.low), _CENTRE._replace(machines=MACHINE_KEYS.high)),
    (_CENTRE._replace(repeat=PROXY_REPEAT.low), _CENTRE._replace(repeat=PROXY_REPEAT.high)),
    (_CENTRE._replace(prefetches=MPP_PREFETCHES.low), _CENTRE._replace(prefetches=MPP_PREFETCHES.high)),
    (_CENTRE._replace(read_ratio=MPP_READ_RATIO.low), _CENTRE._replace(read_ratio=MPP_READ_RATIO.high)),
]
"""Each parameter of the box at its two ends, the others at their centres."""


def _clip(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def _opens_per_reader(loads: float, keys: float | None) -> tuple[float, float, float, float]:
    """Loads per direct reader: low, centre, high, and the divisor that turns a side into a spread.

    Without keys it is the prior range, a uniform spread (divisor sqrt 3). With keys, loads per
    reader are loads per key times keys per reader, so their prior pieces, moved by the log of
    loads per key and cut to the prior range of opens per reader, are a posterior whose 2.5, 50
    and 97.5 % points are returned (divisor 1.96). Heavy NAT (loads per key far above what
    readers do) thus leaves the prior range; keys near loads leave loads per key.
    """
    f = OPENS_PER_READER
    if keys is None or keys < 1 or loads < 1:
        return f.low, f.centre, f.high, _SQRT_3
    shift = math.log(loads / keys)
    floor, ceiling = math.log(f.low), math.log(f.high)
    pieces = []  # (start, end, mass) in log loads per reader, cut to the prior range
    for low, high, weight in KEYS_PER_READER:
        start, end = max(floor, math.log(low) + shift), min(ceiling, math.log(high) + shift)
        if end > start:
            pieces.append((start, end, weight * (end - start) / math.log(high / low)))
    total = sum(mass for _, _, mass in pieces)
    if total <= 0:  # loads per key outside what any sharing explains: the prior
        return f.low, f.centre, f.high, _SQRT_3
    pieces.sort()

    def quantile(share: float) -> float:
        left = share * total
        for start, end, mass in pieces:
            if left <= mass:
                return math.exp(start + (end - start) * left / mass)
            left -= mass
        return math.exp(pieces[-1][1])

    return quantile(0.025), quantile(0.5), quantile(0.975), Z_95


def _point(x: _Inputs, box: _Box) -> _Point:
    """Rate, MPP recipients and rate without MPP where the box's parameters are these."""
    n = x.recipients
    machines = box.machines * n
    loads = max(0.0, x.direct - machines)
    keys = None if x.keys is None else max(0.0, x.keys - machines)
    opens = _opens_per_reader(loads, keys)[box.side + 1]
    direct = loads / opens
    proxied = x.proxy / max(1.0, box.repeat * opens)
    others = min(n, direct + proxied)
    mpp = _clip(x.mpp / box.prefetches, 0.0, n - others)
    rest = n - mpp
    # The others' read rate with Agresti-Coull's adjustment: from no others it is 1/2 +/- 1/2.
    total = rest + Z_95**2
    rate = (others + Z_95**2 / 2) / total
    p = min(1.0, box.read_ratio * rate)
    variance = (
        0.0 if p >= 1.0 else mpp * p * (1 - p) + (mpp * box.read_ratio) ** 2 * rate * (1 - rate) / total
    )
    readers = min(n, others + mpp * p)
    without = min(1.0, others / rest) if rest >= 1 else rate
    return _Point(readers / n, mpp, without, variance / n**2, rest)


def _spread(centre: float, ends: list[tuple[float, float, float]], variance: float) -> tuple[float, float]:
    """The 95% half-widths below and above: each (low end, high end, divisor) of the box is a
    spread of (end - centre) / divisor on its side, added in quadrature to `variance`."""
    below = above = 0.0
    for low_end, high_end, divisor in ends:
        above += (max(0.0, low_end - centre, high_end - centre) / divisor) ** 2
        below += (max(0.0, centre - low_end, centre - high_end) / divisor) ** 2
    return Z_95 * math.sqrt(below + variance), Z_95 * math.sqrt(above + variance)


def _figure(figures: Mapping[str, Figure], class_: str) -> Figure:
    return figures.get(class_, Figure(0))


def estimate_open_rate(
    recipients: int,
    loads: Mapping[str, Figure],
    uniques: Mapping[str, Figure] | None = None,
    uniques_error: float = 0.0,
    *,
    floor_at_observed: bool = False,
) -> Estimate | None:
    """The open rate of a campaign from its loads (and uniques) per class; None without recipients.

    `uniques_error` is the uniques' own relative standard error: a sketch's (HyperLogLog:
    1.04/sqrt(m)) or 0 when they are exact counts. Figure variances are the release noise.
    `floor_at_observed` keeps the rate and its interval at or above the observed rate. It is
    off because the observed rate is not a lower bound: proxy addresses and extra devices are
    keys without readers, and in simulated small campaigns the rule costs a fifth of the
    coverage (docs/metrics.md, "What the estimator cannot know").
    """
    if recipients <= 0:
        return None
    human, proxy, mpp = (_figure(loads, c) for c in ("human", "image_proxy", "apple_mpp"))
    keys = None if uniques is None else _figure(uniques, "human")
    x = _Inputs(
        float(human.shown),
        None if keys is None else float(keys.shown),
        float(proxy.shown),
        float(mpp.shown),
        recipients,
    )
    c = _point(x, _CENTRE)
    # Each parameter of the box at its two ends, the others at their centres.
    ends = [(_point(x, low), _point(x, high)) for low, high in _ENDS]
    mpp_reads = max(c.rate_variance, sum(p.rate_variance for e in ends for p in e) / (2 * len(ends)))

    # Input spreads: release noise, the sketch's error, and sampling. The prior describes what
    # readers do on average; a campaign's few readers realise it with scatter: repeat factors
    # (geometric opens per reader: a reader's variance is f(f - 1), so L(f - 1) for L loads),
    # keys per reader (one, sometimes two or three: a variance of about 0.3 each), scanners'
    # keys (Poisson) and prefetches per MPP recipient (one, or two: (q - 1)(2 - q) each).
    machines = MACHINE_KEYS.centre * recipients
    direct_loads = max(0.0, x.direct - machines)
    _, opens, _, learned = _opens_per_reader(
        direct_loads, None if x.keys is None else max(0.0, x.keys - machines)
    )
    # The range of opens per reader is a uniform spread (prior) or a posterior's 95 % points;
    # the other parameters are uniform spreads over their ranges.
    divisors = [learned, *(_SQRT_3 for _ in ends[1:])]
    repeat = max(1.0, PROXY_REPEAT.centre * opens)
    q = MPP_PREFETCHES.centre
    variances = {
        "direct": human.variance + (direct_loads * (opens - 1) if x.keys is not None else 0.0),
        "keys": 0.0
        if keys is None or x.keys is None
        else keys.variance + (uniques_error * x.keys) ** 2 + _KEYS_VARIANCE * x.keys + machines,
        "proxy": proxy.variance + x.proxy * (repeat - 1),
        "mpp": mpp.variance + c.mpp * (q - 1) * (2 - q),
    }
    spreads = []
    for name, variance in variances.items():
        if variance > 0:
            value, step = getattr(x, name), math.sqrt(variance)
            down, up = x._replace(**{name: max(0.0, value - step)}), x._replace(**{name: value + step})
            spreads.append((_point(down, _CENTRE), _point(up, _CENTRE)))

    def interval(pick: int, extra: float = 0.0) -> tuple[float, float, float]:
        value = c[pick]
        noise = sum((u[pick] - d[pick]) ** 2 / 4 for d, u in spreads) + extra
        sides = [(lo[pick], hi[pick], divisor) for (lo, hi), divisor in zip(ends, divisors, strict=True)]
        below, above = _spread(value, sides, noise)
        return value, value - below, value + above

    observed = None
    if uniques is not None:
        seen = _figure(uniques, "human").shown + _figure(uniques, "image_proxy").shown
        observed = min(1.0, seen / recipients)
    rate, low, high = interval(0, mpp_reads)
    lowest = (observed or 0.0) if floor_at_observed else 0.0
    rate = _clip(rate, lowest, 1.0)
    open_rate = Rate(
        rate,
        _clip(low, lowest, rate),
        _clip(high, rate, 1.0),
        METHOD if uniques is not None else METHOD_COUNTS_ONLY,
    )
    m, m_low, m_high = interval(1)
    apple_mpp = Interval(m, _clip(m_low, 0.0, m), _clip(m_high, m, recipients))
    without = None
    if c.recipients_without >= 1:
        w, w_low, w_high = interval(2)
        without = Interval(w, _clip(w_low, 0.0, w), _clip(w_high, w, 1.0))
    return Estimate(open_rate, observed, apple_mpp, without)


def click_rates(
    recipients: int, clickers: Interval, open_rate: Interval | None
) -> tuple[Interval | None, Interval | None]:
    """The click rate and the click-to-open rate of a campaign; None where they cannot be had.

    `clickers` is the estimate of distinct human clickers with its 95 % interval (the sketch's
    bounds, or the release noise's). The click rate divides it by the recipients. The
    click-to-open rate divides it by the readers the open rate estimates (rate x recipients):
    its interval runs from the fewest clickers over the most readers to the most clickers over
    the fewest, so it holds both intervals' uncertainty; a reader may click with images off,
    so it is capped at 1. Without readers it is None.
    """
    if recipients <= 0:
        return None, None
    n = float(recipients)
    rate = Interval(
        _clip(clickers.estimate / n, 0.0, 1.0),
        _clip(clickers.low / n, 0.0, 1.0),
        _clip(clickers.high / n, 0.0, 1.0),
    )
    if open_rate is None or open_rate.estimate * n < 1:
        return rate, None
    readers_low = max(open_rate.low * n, 1.0)
    readers_high = max(open_rate.high * n, readers_low)
    estimate = _clip(clickers.estimate / (open_rate.estimate * n), 0.0, 1.0)
    ctor = Interval(
        estimate,
        _clip(clickers.low / readers_high, 0.0, estimate),
        _clip(clickers.high / readers_low, estimate, 1.0),
    )
    return rate, ctor
