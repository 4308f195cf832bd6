"""The running service's parts, wired once: store, campaign and link caches, classifier,
click window, aggregator, metrics."""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass, field

from ..config import Config
from ..core.classify import CLICK_CLASSES, Classifier
from ..core.networks import NetworkSet
from ..exceptions import StoreError
from ..ingest.aggregator import Aggregator
from ..ingest.cache import CampaignCache
from ..ingest.click_window import ClickWindow
from ..ingest.link_cache import LinkCache
from ..ingest.lists import load_address_lists
from ..metrics import Metrics
from ..reports.release import Policy
from ..store import Store, open_store
from ..tokens import admin_token

__all__ = ["Service"]

log = logging.getLogger("pixelagg.service")


@dataclass
class Service:
    config: Config
    store: Store
    metrics: Metrics
    aggregator: Aggregator
    cache: CampaignCache
    classifier: Classifier
    trusted: NetworkSet
    admin_token: str
    links: LinkCache
    clicks: ClickWindow
    read_tokens: tuple[str, ...] = field(default=())

    @classmethod
    def build(cls, config: Config, store: Store | None = None) -> Service:
        """Wire the parts. Opens the store unless one is given (tests pass their own)."""
        token, _, _ = admin_token(config)
        assert token is not None
        lists = load_address_lists(config.classify.apple_egress_file, config.classify.scanner_networks_file)
        store = store if store is not None else open_store(config)
        policy = Policy.from_config(config)
        cache = CampaignCache(
            store,
            config.privacy.salt_window_days * 86400,
            config.store.campaign_refresh_seconds,
            clock=lambda: store.clock.now(),
        )
        # A campaign's label series lives as long as the campaign does in this process's view.
        metrics = Metrics(
            store,
            campaign_labels=config.metrics.campaign_labels,
            live_campaign=lambda campaign_id: cache.peek(campaign_id) is not None,
        )
        aggregator = Aggregator(
            store,
            metrics,
            config.store.flush_interval_ms / 1000,
            config.store.buffer_max_events,
            config.privacy.release_period_seconds,
            policy.delay if policy.budget is not None else None,
        )
        results, classes = metrics.clicks.counts, metrics.clicks_by_class.counts
        for class_ in CLICK_CLASSES:  # every class is shown, from zero
            classes.setdefault(class_, 0)

        def counted(class_: str, taken: bool) -> None:
            """A held click left the window: into the buffer (counted), or dropped (full)."""
            results["counted" if taken else "dropped"] += 1
            if taken:
                classes[class_] += 1

        return cls(
            config=config,
            store=store,
            metrics=metrics,
            aggregator=aggregator,
            cache=cache,
            links=LinkCache(store, cache),
            clicks=ClickWindow(aggregator, counted),
            classifier=Classifier(lists, config.classify.cache_size),
            trusted=NetworkSet.from_cidrs(config.server.trusted_proxies),
            admin_token=token,
            read_tokens=tuple(config.api.read_tokens),
        )

    async def start(self) -> None:
        self.store.start()
        try:
            await self.cache.load()
        except StoreError as exc:
            log.warning("store not reachable at start-up, will retry: %s", exc)
        self.cache.start()
        self.clicks.start()
        self.aggregator.start()
        # Everything loaded so far lives as long as the process: keep it out of the cyclic
        # garbage collector's full passes, which otherwise stall the event loop for tens of ms.
        gc.collect()
        gc.freeze()

    async def stop(self) -> None:
        """Count every held click, write every buffered hit, then close the store (the embedded
        one saves its file)."""
        await self.clicks.drain()
        drained = await self.aggregator.drain()
        await self.links.stop()
        await self.cache.stop()
        await self.store.close()
        if drained and "persist" not in self.store.health():
            log.info("stopped: every buffered hit written")
