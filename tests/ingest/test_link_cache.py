"""The link cache: known links from memory, unknown ones remembered briefly, both bounded."""

from __future__ import annotations

import time

import pytest

from pixelagg.core.campaign import Campaign, new_campaign_id
from pixelagg.core.links import link_id
from pixelagg.ingest import link_cache
from pixelagg.ingest.cache import CampaignCache
from pixelagg.ingest.link_cache import LinkCache
from pixelagg.store import RedisStore
from pixelagg.store.keys import Keyspace

pytestmark = pytest.mark.anyio

URL = "https://example.org/"


async def _campaign_with_link(store) -> tuple[str, str]:
    campaign = Campaign(id=new_campaign_id(), name="c", created_at=time.time())
    await store.create_campaign(campaign)
    link = link_id(campaign.id, URL)
    await store.add_link(campaign.id, link, URL, 10)
    return campaign.id, link


@pytest.fixture
async def redis_store(redis_url):
    """A Redis store, whose round trips show when the store is asked (the embedded one has none)."""
    store = RedisStore(redis_url, Keyspace("t" + new_campaign_id()[:6]), 86400)
    yield store
    await store.close()


def _cache(store) -> LinkCache:
    return LinkCache(store, CampaignCache(store, 86400, 5))


async def test_a_found_link_is_answered_from_memory(redis_store):
    """The first lookup asks the store; the next ones do not."""
    store = redis_store
    campaign_id, link = await _campaign_with_link(store)
    cache = _cache(store)
    assert cache.peek(campaign_id, link) is None
    assert await cache.lookup(campaign_id, link) == URL
    trips = store.round_trips
    assert cache.peek(campaign_id, link) == URL
    assert await cache.lookup(campaign_id, link) == URL
    assert store.round_trips == trips


async def test_an_unknown_link_is_asked_once_for_a_while(redis_store):
    """Repeated lookups of a link that does not exist ask the store once."""
    store = redis_store
    campaign_id, _ = await _campaign_with_link(store)
    cache = _cache(store)
    other = link_id(campaign_id, "https://other.example/")
    assert await cache.lookup(campaign_id, other) is None
    trips = store.round_trips
    for _ in range(20):
        assert await cache.lookup(campaign_id, other) is None
    assert store.round_trips == trips


async def test_a_known_link_outlives_its_campaign(store):
    """A link this process knows keeps its URL after the campaign (and the link) are erased."""
    campaign_id, link = await _campaign_with_link(store)
    cache = _cache(store)
    await cache.lookup(campaign_id, link)
    await store.delete_campaign(campaign_id)
    assert await store.get_link(campaign_id, link) is None
    assert await cache.lookup(campaign_id, link) == URL


async def test_links_in_memory_are_bounded(store, monkeypatch):
    """Past MAX_LINKS the least recently used link leaves memory (it is looked up again)."""
    monkeypatch.setattr(link_cache, "MAX_LINKS", 2)
    cache = _cache(store)
    for n in range(3):
        cache.put("AAAAAAAAAAAAAAAA", f"AAAAAAAAA{n}", URL)
    assert cache.peek("AAAAAAAAAAAAAAAA", "AAAAAAAAA0") is None
    assert cache.peek("AAAAAAAAAAAAAAAA", "AAAAAAAAA2") == URL
