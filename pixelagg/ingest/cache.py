"""Each process's view of the campaigns and their current salts, so the hit path needs no store.

Campaign records are re-read every `store.campaign_refresh_seconds`. A campaign not yet known
(created through another replica) is looked up in the background, and a hit waits for it at
most `LOOKUP_BUDGET`; while the store is slow or down (a lookup ran over its budget or failed
in the last `STORE_DOWN_SECONDS`), hits do not wait at all and are answered with a reason of
their own (`StoreUnavailable`), never as an unknown campaign. Unknown ids are remembered
briefly, in a bounded map, so a flood of random ids cannot flood the store. A salt is fetched
once per window the same way (a hit that cannot have it in time is counted without one),
shared by all processes through the store, and forgotten when its window ends. When the store
lost its data (Redis wiped), the campaigns this process knew are written back to it.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ..core.campaign import Campaign
from ..core.privacy import Salt
from ..exceptions import StoreError
from ..store import Store
from ..tasks import stop_task

__all__ = ["LOOKUP_BUDGET", "CampaignCache", "StoreUnavailable"]

log = logging.getLogger("pixelagg.cache")

NEGATIVE_SECONDS = 5.0
NEGATIVE_MAX = 10_000
LOOKUP_BUDGET = 0.1
"""Seconds a hit waits at most for a campaign lookup or a salt."""
STORE_DOWN_SECONDS = 1.0
MAX_LOOKUPS = 100
"""Lookups in flight at once; past it, hits for unknown campaigns do not wait."""


class StoreUnavailable(Exception):
    """The store could not say in time whether a campaign exists."""


class _Failed(enum.Enum):
    FAILED = "failed"


class CampaignCache:
    """Campaign records and window salts held in memory."""

    def __init__(
        self,
        store: Store,
        window_seconds: int,
        refresh_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.window_seconds = window_seconds
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        """The time salts are opened and closed by: the pixel's stamps (the store's clock)."""
        self._campaigns: dict[str, Campaign] = {}
        self._salts: dict[str, Salt] = {}
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self._lookups: dict[str, asyncio.Task[Campaign | _Failed | None]] = {}
        self._inflight: dict[str, asyncio.Task[Salt | None]] = {}
        self._slow_until = 0.0
        self._losses_seen = 0
        self._task: asyncio.Task[None] | None = None

    async def load(self) -> None:
        """Read every campaign from the store, and forget salts whose window is over.

        Campaigns that are gone from the store are forgotten, unless the store lost its data:
        they are then written back (Redis restarted empty must not silence every pixel sent)."""
        fresh = {c.id: c for c in await self.store.list_campaigns()}
        gone = [c for cid, c in self._campaigns.items() if cid not in fresh]
        if gone:
            await self.store.check()  # a wipe shows first as campaigns gone
        losses = self.store.data_losses
        if losses > self._losses_seen:
            if gone:
                for campaign in gone:  # a failure here leaves it for the next load to redo
                    await self.store.create_campaign(campaign)
                    fresh[campaign.id] = campaign
                log.warning(
                    "the store lost its data: wrote back the %d campaigns this process knew (%s); "
                    "their counts from before are lost",
                    len(gone),
                    ", ".join(sorted(c.id for c in gone)),
                )
            self._losses_seen = losses
        self._campaigns = fresh
        self.forget_closed_salts(self.clock())

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
        for task in [*self._lookups.values(), *self._inflight.values()]:
            await stop_task(task)

    async def _run(self) -> None:
        next_load = time.monotonic() + self.refresh_seconds
        while True:
            await asyncio.sleep(min(self.refresh_seconds, 1.0))
            # A data loss found by a write is answered at once, not at the next refresh.
            if time.monotonic() < next_load and self.store.data_losses <= self._losses_seen:
                continue
            next_load = time.monotonic() + self.refresh_seconds
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

    def store_slow(self) -> bool:
        """Whether a lookup ran over its budget or failed in the last STORE_DOWN_SECONDS."""
        return time.monotonic() < self._slow_until

    def mark_slow(self) -> None:
        """Note that the store is slow or down: lookups do not wait for a while."""
        self._slow_until = time.monotonic() + STORE_DOWN_SECONDS

    async def within_budget(self, task: asyncio.Task[Any]) -> Any:
        """The task's result if it comes within the budget; StoreUnavailable otherwise."""
        if self.store_slow() and not task.done():
            raise StoreUnavailable
        try:
            return await asyncio.wait_for(asyncio.shield(task), LOOKUP_BUDGET)
        except TimeoutError:
            self.mark_slow()
            raise StoreUnavailable from None

    async def lookup(self, campaign_id: str) -> Campaign | None:
        """The campaign, or None when it does not exist; StoreUnavailable when the store
        cannot say within the budget (the lookup goes on in the background)."""
        campaign = self._campaigns.get(campaign_id)
        if campaign is not None:
            return campaign
        seen = self._unknown.get(campaign_id)
        if seen is not None and time.monotonic() - seen < NEGATIVE_SECONDS:
            return None
        task = self._lookups.get(campaign_id)
        if task is None:
            # While the store is slow, one lookup at a time probes it.
            if len(self._lookups) >= (1 if self.store_slow() else MAX_LOOKUPS):
                raise StoreUnavailable
            task = asyncio.get_running_loop().create_task(self._fetch(campaign_id))
            self._lookups[campaign_id] = task
        found = await self.within_budget(task)
        if found is _Failed.FAILED:
            raise StoreUnavailable
        return found  # type: ignore[no-any-return]

    async def _fetch(self, campaign_id: str) -> Campaign | _Failed | None:
        try:
            campaign = await self.store.get_campaign(campaign_id)
        except StoreError:
            self.mark_slow()
            return _Failed.FAILED
        finally:
            self._lookups.pop(campaign_id, None)
        if campaign is None:
            self._unknown[campaign_id] = time.monotonic()
            self._unknown.move_to_end(campaign_id)
            while len(self._unknown) > NEGATIVE_MAX:
                self._unknown.popitem(last=False)
            return None
        self.put(campaign)
        return campaign

    async def salt(self, campaign_id: str, now: float) -> Salt | None:
        """The salt of the current window, from memory or (once per window) from the store;
        None when the store cannot give it within the budget (the hit counts without one)."""
        salt = self.current_salt(campaign_id, now)
        if salt is not None:
            return salt
        self._salts.pop(campaign_id, None)  # its window is over: forget it here too
        task = self._inflight.get(campaign_id)
        if task is None:
            if self.store_slow() and self._inflight:
                return None
            task = asyncio.get_running_loop().create_task(self._fetch_salt(campaign_id, now))
            self._inflight[campaign_id] = task
        try:
            return await self.within_budget(task)  # type: ignore[no-any-return]
        except StoreUnavailable:
            return None

    async def _fetch_salt(self, campaign_id: str, now: float) -> Salt | None:
        try:
            salt = await self.store.window_salt(campaign_id, now, self.window_seconds)
        except StoreError:
            self.mark_slow()
            return None
        finally:
            self._inflight.pop(campaign_id, None)
        if salt is not None:
            self._salts[campaign_id] = salt
        return salt
