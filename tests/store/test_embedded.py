"""The embedded store's saving: a persist cancelled mid-save (a shutdown) loses and breaks nothing."""

from __future__ import annotations

import asyncio
import time

import pytest

from pixelagg.core.campaign import Campaign, new_campaign_id
from pixelagg.store import EmbeddedStore
from pixelagg.store.keys import Keyspace

pytestmark = pytest.mark.anyio


async def test_cancelled_persist_then_close_saves_everything(tmp_path):
    """close() after a persist cancelled while its thread writes waits for it, and every key is saved."""
    store = EmbeddedStore(tmp_path, Keyspace("t"), retention_seconds=3600).open()
    campaigns = [Campaign(id=new_campaign_id(), name=f"c{n}", created_at=time.time()) for n in range(3000)]
    for campaign in campaigns:
        await store.create_campaign(campaign)
    saving = asyncio.ensure_future(store.persist())
    await asyncio.sleep(0.005)  # the save is running in its thread now
    saving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await saving
    await store.close()
    reopened = EmbeddedStore(tmp_path, Keyspace("t"), retention_seconds=3600).open()
    try:
        assert {c.id for c in await reopened.list_campaigns()} == {c.id for c in campaigns}
    finally:
        await reopened.close()
