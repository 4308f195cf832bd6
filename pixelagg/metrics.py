"""Prometheus metrics. Labels are closed sets (results, classes, routes): never request data.

Per-campaign labels exist only when `metrics.campaign_labels` is on, to bound cardinality.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["HIT_RESULTS", "Metrics"]

HIT_RESULTS = (
    "counted",
    "unknown_campaign",
    "declined",
    "not_counted",
    "paused",
    "dropped",
    "error",
)


class Metrics:
    """One registry per app, so several apps in one process (tests) do not collide."""

    def __init__(self, campaign_labels: bool = False) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.campaign_labels = campaign_labels
        r = self.registry
        self.hits = Counter("pixelagg_hits", "Pixel requests by result.", ["result"], registry=r)
        self.hits_by_class = Counter(
            "pixelagg_hits_by_class", "Counted opens by class.", ["class"], registry=r
        )
        self.campaign_hits = (
            Counter("pixelagg_campaign_hits", "Counted opens by campaign.", ["campaign"], registry=r)
            if campaign_labels
            else None
        )
        self.write_batches = Counter(
            "pixelagg_write_batches",
            "Batches written to the store, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.store_errors = Counter("pixelagg_store_errors", "Failed store calls.", registry=r)
        self.dropped = Counter(
            "pixelagg_dropped_hits", "Hits dropped because the buffer was full.", registry=r
        )
        self.buffer_depth = Gauge("pixelagg_buffer_events", "Hits waiting to be written.", registry=r)
        self.round_trips = Counter("pixelagg_store_round_trips", "Round trips to the store.", registry=r)
        self.latency = Histogram(
            "pixelagg_request_seconds",
            "Request latency by route.",
            ["route"],
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        for result in HIT_RESULTS:
            self.hits.labels(result)

    def render(self) -> bytes:
        return generate_latest(self.registry)
