"""Each process's view of the links, so the redirect path rarely needs the store.

A link never changes once registered, so a link this process has seen is kept (in a bounded
map, least recently used out first) and answered from memory: it even keeps redirecting
after its campaign is deleted, until the process restarts, so that a reader who clicks in an
old mail is not left with a broken link (the store forgets it with the campaign, P9). A link
not in memory is looked up in the store within the campaign cache's budget (`LOOKUP_BUDGET`);
while the store is slow or down nothing waits (`StoreUnavailable`), as on the pixel. Unknown
links are remembered briefly, so a flood of made-up links cannot flood the store.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

from ..exceptions import StoreError
from ..store import Store
from .cache import MAX_LOOKUPS, NEGATIVE_MAX, NEGATIVE_SECONDS, CampaignCache, StoreUnavailable

__all__ = ["MAX_LINKS", "LinkCache"]

MAX_LINKS = 100_000
"""Links kept in memory at most."""

_FAILED = object()


class LinkCache:
    """Known links (campaign, link id) -> URL, and the ones known not to exist."""

    def __init__(self, store: Store, campaigns: CampaignCache) -> None:
        self.store = store
        self.campaigns = campaigns
        self._links: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._unknown: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lookups: dict[tuple[str, str], asyncio.Task[object]] = {}

    def put(self, campaign_id: str, link_id: str, url: str) -> None:
        """Remember a link (one this process registered or found)."""
        key = (campaign_id, link_id)
        self._links[key] = url
        self._links.move_to_end(key)
        self._unknown.pop(key, None)
        while len(self._links) > MAX_LINKS:
            self._links.popitem(last=False)

    def peek(self, campaign_id: str, link_id: str) -> str | None:
        """The URL if this process knows the link; no store call."""
        return self._links.get((campaign_id, link_id))

    async def lookup(self, campaign_id: str, link_id: str) -> str | None:
        """The URL, or None when there is no such link; StoreUnavailable when the store cannot
        say within the budget (the lookup goes on in the background)."""
        key = (campaign_id, link_id)
        url = self._links.get(key)
        if url is not None:
            return url
        seen = self._unknown.get(key)
        if seen is not None and time.monotonic() - seen < NEGATIVE_SECONDS:
            return None
        task = self._lookups.get(key)
        if task is None:
            if len(self._lookups) >= (1 if self.campaigns.store_slow() else MAX_LOOKUPS):
                raise StoreUnavailable
            task = asyncio.get_running_loop().create_task(self._fetch(key))
            self._lookups[key] = task
        found = await self.campaigns.within_budget(task)
        if found is _FAILED:
            raise StoreUnavailable
        assert found is None or isinstance(found, str)
        return found

    async def _fetch(self, key: tuple[str, str]) -> object:
        try:
            url = await self.store.get_link(*key)
        except StoreError:
            self.campaigns.mark_slow()
            return _FAILED
        finally:
            self._lookups.pop(key, None)
        if url is None:
            self._unknown[key] = time.monotonic()
            self._unknown.move_to_end(key)
            while len(self._unknown) > NEGATIVE_MAX:
                self._unknown.popitem(last=False)
            return None
        self.put(*key, url)
        return url

    async def stop(self) -> None:
        for task in list(self._lookups.values()):
            task.cancel()
        await asyncio.gather(*self._lookups.values(), return_exceptions=True)
