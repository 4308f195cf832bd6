"""The campaign cache: campaigns and window salts in memory."""

from __future__ import annotations

import time

import pytest

from pixelagg.core.campaign import Campaign, new_campaign_id
from pixelagg.ingest.cache import CampaignCache

pytestmark = pytest.mark.anyio

WINDOW = 7 * 86400


async def _cache_with_salt(store) -> tuple[CampaignCache, str, float]:
    campaign = Campaign(id=new_campaign_id(), name="c", created_at=time.time())
    await store.create_campaign(campaign)
    cache = CampaignCache(store, WINDOW, 60)
    await cache.load()
    now = time.time()
    assert await cache.salt(campaign.id, now) is not None
    return cache, campaign.id, now


async def test_salt_is_kept_within_its_window(store):
    """A salt stays in memory while its window is open."""
    cache, campaign_id, now = await _cache_with_salt(store)
    cache.forget_closed_salts(now + WINDOW - 60)
    assert cache.current_salt(campaign_id, now) is not None


async def test_salt_is_forgotten_when_its_window_ends_without_a_hit(store):
    """A campaign with no hit after its window still loses the salt from memory (P4)."""
    cache, campaign_id, now = await _cache_with_salt(store)
    cache.forget_closed_salts(now + WINDOW + 1)
    assert cache.current_salt(campaign_id, now) is None
    assert campaign_id not in cache._salts


async def test_refresh_forgets_salts_of_deleted_campaigns(store):
    """A campaign deleted by another process loses its salt here at the next refresh."""
    cache, campaign_id, now = await _cache_with_salt(store)
    await store.delete_campaign(campaign_id)
    await cache.load()
    assert cache.current_salt(campaign_id, now) is None
