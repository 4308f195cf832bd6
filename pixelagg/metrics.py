"""Prometheus metrics. Labels are closed sets (results, classes, routes): never request data.

Per-campaign labels exist only when `metrics.campaign_labels` is on (refused while epsilon is:
they are exact counts), and a deleted campaign's series goes with it. /metrics needs
`metrics.token` unless the server listens on loopback only.
Each fact has one series: a dropped hit is `pixelagg_hits_total{result="dropped"}`, a failed
batch write `pixelagg_write_batches_total{outcome="failed"}`.

The per-request metrics (hits, classes, request latency) are plain integers on the hot path,
read by prometheus_client at scrape time through a custom collector: its own Counter and
Histogram take a lock per update, which cost the pixel about 2 µs of its ~10 µs. Everything
runs on the event loop's thread, so plain integers are safe. The store's round trips and
failed calls are counted by the store itself and read the same way.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

if TYPE_CHECKING:
    from .config import Config
    from .store import Store

__all__ = [
    "CLICK_RESULTS",
    "HIT_RESULTS",
    "LATENCY_BUCKETS",
    "CampaignTally",
    "Metrics",
    "StoreCalls",
    "Tally",
    "Timings",
    "loopback_bind",
    "metrics_served",
]

HIT_RESULTS = (
    "counted",
    "unknown_campaign",
    "store_unavailable",
    "declined",
    "not_counted",
    "paused",
    "dropped",
    "error",
)

CLICK_RESULTS = (
    "counted",
    "unknown_link",
    "store_unavailable",
    "declined",
    "not_counted",
    "paused",
    "deleted",
    "dropped",
    "error",
)
"""What became of a request to /l/: a counted click (in the buffer, after the click window),
one not counted (and why), or an unknown link (no redirect)."""

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class Tally(Collector):
    """A counter with one label, as a dict of integers: `tally.counts[value] += 1`."""

    def __init__(self, name: str, documentation: str, label: str, values: Iterable[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.label = label
        self.counts: defaultdict[str, int] = defaultdict(int, dict.fromkeys(values, 0))

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=[self.label])
        for value, count in list(self.counts.items()):
            family.add_metric([value], count)
        yield family


class CampaignTally(Tally):
    """Counted opens by campaign (metrics.campaign_labels, only with epsilon off).

    A campaign that no longer exists (deleted, or gone with the retention) loses its series at
    the next scrape: `live(campaign_id)` is asked then, and a dead campaign's count is dropped.
    """

    def __init__(self, live: Callable[[str], bool] | None = None) -> None:
        super().__init__("pixelagg_campaign_hits", "Counted opens by campaign.", "campaign")
        self.live = live

    def collect(self) -> Iterator[Metric]:
        if self.live is not None:
            for campaign_id in [c for c in self.counts if not self.live(c)]:
                del self.counts[campaign_id]
        yield from super().collect()


class Timings(Collector):
    """A latency histogram with one label (the route), as lists of integers."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = tuple(buckets)
        self._counts: dict[str, list[int]] = {}
        self._sums: defaultdict[str, float] = defaultdict(float)

    def observe(self, route: str, seconds: float) -> None:
        counts = self._counts.get(route)
        if counts is None:
            counts = self._counts[route] = [0] * (len(self.bounds) + 1)
        counts[bisect.bisect_left(self.bounds, seconds)] += 1  # bounds are inclusive (le)
        self._sums[route] += seconds

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=["route"])
        for route, counts in list(self._counts.items()):
            cumulative, total = [], 0
            for bound, count in zip([*map(floatToGoString, self.bounds), "+Inf"], counts, strict=True):
                total += count
                cumulative.append((bound, total))
            family.add_metric([route], cumulative, sum_value=self._sums[route])
        yield family


class StoreCalls(Collector):
    """The store's round trips and failed calls, read from its own running counts at scrape time.

    The store counts where the calls are made, so every call is counted once whoever made it
    (the write path, a read for a report, a campaign lookup), and no call is counted twice.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "pixelagg_store_round_trips",
            "Round trips to the store: commands and pipelines, writes and reads (not key-scan pages).",
            value=self.store.round_trips,
        )
        yield CounterMetricFamily(
            "pixelagg_store_errors",
            "Store calls that failed, writes and reads alike.",
            value=self.store.errors,
        )


class Metrics:
    """One registry per app, so several apps in one process (tests) do not collide."""

    def __init__(
        self,
        store: Store | None = None,
        campaign_labels: bool = False,
        live_campaign: Callable[[str], bool] | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.hits = Tally("pixelagg_hits", "Pixel requests by result.", "result", HIT_RESULTS)
        self.hits_by_class = Tally("pixelagg_hits_by_class", "Counted opens by class.", "class")
        self.campaign_hits = CampaignTally(live_campaign) if campaign_labels else None
        self.clicks = Tally(
            "pixelagg_clicks",
            "Link requests (/l/) by result; a held click once it is counted.",
            "result",
            CLICK_RESULTS,
        )
        self.clicks_by_class = Tally("pixelagg_clicks_by_class", "Counted clicks by class.", "class")
        self.latency = Timings("pixelagg_request_seconds", "Request latency by route.", LATENCY_BUCKETS)
        store_calls = StoreCalls(store) if store is not None else None
        collectors = (
            self.hits,
            self.hits_by_class,
            self.campaign_hits,
            self.clicks,
            self.clicks_by_class,
            self.latency,
            store_calls,
        )
        for collector in collectors:
            if collector is not None:
                r.register(collector)
        self.write_batches = Counter(
            "pixelagg_write_batches",
            "Batch writes to the store, by outcome: written, or failed (kept and retried).",
            ["outcome"],
            registry=r,
        )
        for outcome in ("written", "failed"):  # both shown from zero, so a rate can be taken at once
            self.write_batches.labels(outcome)
        self.buffer_depth = Gauge("pixelagg_buffer_events", "Hits waiting to be written.", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def loopback_bind(host: str) -> bool:
    """Whether the server listens on loopback only (127.0.0.0/8, ::1 or localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def metrics_served(config: Config) -> bool:
    """Whether /metrics exists: with metrics.token, or without one on a loopback bind only."""
    m = config.metrics
    return m.enabled and (m.token is not None or loopback_bind(config.server.host))
