"""The Store protocol: what pixelagg needs from a store, whichever one it is."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..core.campaign import Campaign
from ..core.privacy import Salt
from .batch import Batch, SketchRef
from .clock import TrustedClock
from .keys import KeyInfo
from .salts import SaltStore

__all__ = [
    "LINKS_FULL",
    "LINK_ADDED",
    "LINK_EXISTS",
    "LINK_TAKEN",
    "MISSING",
    "PAUSED",
    "SketchRef",
    "Store",
    "WriteResult",
]

MISSING = "missing"
"""A campaign refused by a write because the store has no such campaign."""
PAUSED = "paused"
"""A campaign refused by a write because it is paused."""
LINK_ADDED = "added"
"""add_link: the link is new."""
LINK_EXISTS = "exists"
"""add_link: the campaign has this link (the same id and URL) already."""
LINK_TAKEN = "taken"
"""add_link: the id belongs to another URL (try the next id)."""
LINKS_FULL = "full"
"""add_link: the campaign has as many links as it may."""


@dataclass
class WriteResult:
    """What a batch write did, campaign by campaign."""

    written: int = 0
    """Events applied, now or by an earlier try of the same batch."""
    stored: dict[str, int] = field(default_factory=dict)
    """campaign -> events the store holds from this writer after the write (its running total),
    for the writer to notice acknowledged writes the store lost."""
    refused: dict[str, str] = field(default_factory=dict)
    """campaign -> MISSING or PAUSED: the part was not applied, and retrying will not help."""
    failed: dict[str, str] = field(default_factory=dict)
    """campaign -> error: nothing of the part was applied; retry it."""
    data_lost: bool = False
    """The store noticed during this write that it lost its data (a wipe, a failover)."""
    late: dict[str, int] = field(default_factory=dict)
    """campaign -> hits written now whose released cells were frozen before (frozen_checks)."""


class Store(Protocol):
    """Campaign records, salts, counters and sketches, every key with a TTL."""

    kind: str
    round_trips: int
    """Round trips made so far (commands and pipelines); the embedded store makes none."""
    errors: int
    """Calls that failed so far, writes and reads alike."""
    clock: TrustedClock
    """The process's clock for the hit path (stamps, salt windows, seen sets' and keys' TTLs):
    the wall clock, except while it has stepped (clock.py)."""

    @property
    def salts(self) -> SaltStore:
        """Where the salts live (salts.py): memory, or a Redis server that writes no file."""
        ...

    @property
    def data_losses(self) -> int:
        """Times the store was found to have lost its data (Redis wiped or failed over); never
        on the embedded store."""
        ...

    def start(self) -> None:
        """Start background work (the embedded store's saving); call inside the event loop."""
        ...

    async def ping(self) -> None: ...

    def health(self) -> dict[str, str]:
        """What is wrong with the store now, by check (empty when nothing is): a failing save,
        damaged keys, a wrong eviction policy, lost data. /readyz shows it."""
        ...

    async def check(self) -> None:
        """Run the store's checks now (Redis: eviction policy, lost data); the embedded store
        has none. They also run in the background (start)."""
        ...

    async def create_campaign(self, campaign: Campaign) -> None: ...

    async def get_campaign(self, campaign_id: str) -> Campaign | None: ...

    async def list_campaigns(self) -> list[Campaign]: ...

    async def update_campaign(self, campaign_id: str, changes: dict[str, Any]) -> Campaign | None: ...

    async def delete_campaign(self, campaign_id: str) -> bool:
        """Erase every key of the campaign. False when it did not exist."""
        ...

    async def add_link(self, campaign_id: str, link_id: str, url: str, max_links: int) -> str:
        """Register a link, atomically: LINK_ADDED, LINK_EXISTS, LINK_TAKEN, LINKS_FULL, or
        MISSING (no such campaign). The links' key gets the retention TTL."""
        ...

    async def list_links(self, campaign_id: str) -> dict[str, str]:
        """link id -> URL of every link of the campaign, sorted by URL."""
        ...

    async def get_link(self, campaign_id: str, link_id: str) -> str | None:
        """The URL of one link, or None when the campaign has no such link."""
        ...

    async def window_salt(self, campaign_id: str, now: float, window_seconds: int) -> Salt | None:
        """The salt of the window `now` is in, created once for all processes. None: no campaign."""
        ...

    async def write_batch(self, batch: Batch) -> WriteResult:
        """Write a batch, each campaign's part on its own: one that fails (any error) is left
        unapplied and named in the result, and the others are written. Parts of deleted or
        paused campaigns are refused. StoreError when the store cannot be reached at all."""
        ...

    async def read_counters(self, campaign_id: str, days: Sequence[str]) -> dict[str, dict[str, int]]:
        """day -> field -> count for the given UTC days (missing days are left out)."""
        ...

    async def count_unique(self, campaign_id: str, groups: Sequence[Sequence[SketchRef]]) -> list[float]:
        """The estimated cardinality of the union of each group of sketches, in one round trip."""
        ...

    async def read_released(self, campaign_id: str, names: Sequence[str]) -> dict[str, str]:
        """The frozen values (as text) of those of these released cells or groups that exist."""
        ...

    async def release_cells(
        self, campaign_id: str, values: Mapping[str, str], ttl_seconds: int
    ) -> dict[str, str]:
        """Freeze each cell's (or group's) value unless it is frozen already (set-if-absent,
        atomically), and return the frozen value of every given name. The release hash gets
        `ttl_seconds`."""
        ...

    def scan(self, match: str | None = None, *, binary: bool = True) -> AsyncIterator[KeyInfo]:
        """Every stored key (or those matching a glob), with its TTL and a view of its value.

        binary=False leaves sketch values unread (value b''; on Redis only a string's header
        is read, to tell a sketch from other strings), which keeps the audit fast on large
        stores. Salts are read either way, so the audit can look for copies of them.
        """
        ...

    def key_names(self, match: str) -> AsyncIterator[str]:
        """The names of every key matching a glob, under the prefix or not: never a value."""
        ...

    async def close(self) -> None: ...
