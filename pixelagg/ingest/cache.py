"""Each process's view of the campaigns and their current salts, so the hit path needs no store.

Campaign records are re-read every `store.campaign_refresh_seconds`. A campaign not yet known
(created through another replica) is looked up once and unknown ids are remembered briefly,
in a bounded map, so a flood of random ids cannot flood the store. A salt is fetched once per
window, shared by all processes through the store, and forgotten when its window ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict

from ..core.campaign import Campaign
from ..core.privacy import Salt
from ..exceptions import StoreError
from ..store import Store
from ..tasks import stop_task

__all__ = ["CampaignCache"]

log = logging.getLogger("pixelagg.cache")

NEGATIVE_SECONDS = 5.0
NEGATIVE_MAX = 10_000
LOOKUP_TIMEOUT = 0.5


class CampaignCache:
    """Campaign records and window salts held in memory."""

    def __init__(self, store: Store, window_seconds: int, refresh_seconds: float) -> None:
        self.store = store
        self.window_seconds = window_seconds
        self.refresh_seconds = refresh_seconds
        self._campaigns: dict[str, Campaign] = {}
        self._salts: dict[str, Salt] = {}
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[Salt | None]] = {}
        self._task: asyncio.Task[None] | None = None

    async def load(self) -> None:
        """Read every campaign from the store, and forget salts whose window is over."""
        campaigns = await self.store.list_campaigns()
        self._campaigns = {c.id: c for c in campaigns}
        self.forget_closed_salts(time.time())

    def forget_closed_salts(self, now: float) -> None:
        """Drop the salts of deleted campaigns and of windows that ended, hit or no hit."""
        for campaign_id, salt in list(self._salts.items()):
            if campaign_id not in self._campaigns or not salt.is_open(now):
                del self._salts[campaign_id]

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                await self.load()
            except StoreError as exc:
                log.warning("campaign refresh failed, keeping the last view: %s", exc)

    def put(self, campaign: Campaign) -> None:
        """Record a campaign this process created or changed."""
        self._campaigns[campaign.id] = campaign
        self._unknown.pop(campaign.id, None)

    def forget(self, campaign_id: str) -> None:
        """Drop a deleted campaign and its salt from memory."""
        self._campaigns.pop(campaign_id, None)
        self._salts.pop(campaign_id, None)

    def peek(self, campaign_id: str) -> Campaign | None:
        """The campaign if this process knows it (the hit path's fast case); no store call."""
        return self._campaigns.get(campaign_id)

    def current_salt(self, campaign_id: str, now: float) -> Salt | None:
        """The salt of the current window if it is in memory; no store call."""
        salt = self._salts.get(campaign_id)
        if salt is not None and salt.is_open(now):
            return salt
        return None

    async def lookup(self, campaign_id: str) -> Campaign | None:
        """The campaign, or None when it does not exist (or cannot be checked now)."""
        campaign = self._campaigns.get(campaign_id)
        if campaign is not None:
            return campaign
        now = time.monotonic()
        seen = self._unknown.get(campaign_id)
        if seen is not None and now - seen < NEGATIVE_SECONDS:
            return None
        try:
            campaign = await asyncio.wait_for(self.store.get_campaign(campaign_id), LOOKUP_TIMEOUT)
        except (StoreError, TimeoutError):
            return None
        if campaign is None:
            self._unknown[campaign_id] = now
            self._unknown.move_to_end(campaign_id)
            while len(self._unknown) > NEGATIVE_MAX:
                self._unknown.popitem(last=False)
            return None
        self.put(campaign)
        return campaign

    async def salt(self, campaign_id: str, now: float) -> Salt | None:
        """The salt of the current window, from memory or (once per window) from the store."""
        salt = self.current_salt(campaign_id, now)
        if salt is not None:
            return salt
        self._salts.pop(campaign_id, None)  # its window is over: forget it here too
        pending = self._inflight.get(campaign_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Salt | None] = asyncio.get_running_loop().create_future()
        self._inflight[campaign_id] = future
        salt = None
        try:
            salt = await asyncio.wait_for(
                self.store.window_salt(campaign_id, now, self.window_seconds), LOOKUP_TIMEOUT * 2
            )
        except (StoreError, TimeoutError):
            salt = None
        finally:
            del self._inflight[campaign_id]
            if salt is not None:
                self._salts[campaign_id] = salt
            future.set_result(salt)
        return salt
