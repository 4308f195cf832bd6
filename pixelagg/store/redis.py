"""The Redis store (Redis, Valkey, Redis Cluster), on redis-py's asyncio client.

Each flush writes every campaign's part of a batch with one server-side script call, which
checks that the campaign still exists and is not paused, applies the counter increments and
sketch additions, and refreshes every touched key's TTL, atomically. On a standalone server
all of a batch's calls go in one pipeline: one round trip per flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from redis.exceptions import RedisClusterException, RedisError

from ..core.campaign import Campaign, encode_changes
from ..core.privacy import Salt, new_salt
from ..exceptions import StoreError
from ..tasks import stop_task
from .base import MISSING, PAUSED, SketchRef, WriteResult
from .batch import Batch, CampaignBatch
from .clock import TrustedClock
from .keys import KeyInfo, Keyspace
from .redis_client import redis_client
from .redis_health import CHECK_SECONDS, Fitness
from .redis_scan import describe_keys
from .redis_scripts import ADD_LINK, FIRST_HIT, RELEASE, RELEASE_CHUNK, UPDATE, WRITE
from .salts import RedisSalts, salt_lifetime, server_name

__all__ = ["RedisStore"]

log = logging.getLogger("pixelagg.store")

CLOSE_TIMEOUT = 5.0


class RedisStore:
    """Store on Redis or Valkey, standalone or cluster."""

    kind = "redis"

    def __init__(self, url: str, keys: Keyspace, retention_seconds: int, salt_url: str | None = None) -> None:
        self.url = url
        self.keys = keys
        self.retention = retention_seconds
        self.cluster = url.startswith(("redis+cluster://", "rediss+cluster://"))
        self.redis = redis_client(url)
        self.round_trips = 0
        self.errors = 0
        self.clock = TrustedClock()
        """The hit path's clock (the aggregator's and the cache's): steps of the wall clock
        move no salt window and no seen set's TTL."""
        # Salts on the main server, or on store.salt_url's, which must write nothing to disk.
        if salt_url:
            where = f"the salt server ({server_name(salt_url)})"
            client = redis_client(salt_url, "store.salt_url")
            cluster = salt_url.startswith(("redis+cluster://", "rediss+cluster://"))
            self.salts = RedisSalts(client, where, separate=True, cluster=cluster)
        else:
            where = f"the store's server ({server_name(url)})"
            self.salts = RedisSalts(self.redis, where, separate=False, cluster=self.cluster)
        self.fitness = Fitness()
        self._task: asyncio.Task[None] | None = None

    @property
    def data_losses(self) -> int:
        return self.fitness.losses

    async def _call(self, coro: Any) -> Any:
        """Await one command or pipeline, counted as a round trip (and as an error if it fails)."""
        self.round_trips += 1
        try:
            return await coro
        except (RedisError, RedisClusterException) as exc:  # the cluster client's own are no RedisError
            self.errors += 1
            raise StoreError(f"Redis store error: {type(exc).__name__}: {exc}") from None
        except OSError as exc:
            self.errors += 1
            raise StoreError(f"Redis store unreachable: {exc.strerror or exc}") from None

    def _pipe(self) -> Any:
        """A non-transactional pipeline; on a cluster, redis-py splits it per node."""
        return self.redis.pipeline() if self.cluster else self.redis.pipeline(transaction=False)

    def start(self) -> None:
        """Check the server's fitness now and every CHECK_SECONDS (redis_health.py)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._monitor())

    async def _monitor(self) -> None:
        while True:
            try:
                await self.fitness.check(self)
            except Exception:  # never let the checks stop
                log.exception("Redis store: a fitness check failed unexpectedly")
            await asyncio.sleep(CHECK_SECONDS)

    async def check(self) -> None:
        await self.fitness.check(self)

    def health(self) -> dict[str, str]:
        return self.fitness.health()

    async def ping(self) -> None:
        await self._call(self.redis.ping())

    async def close(self) -> None:
        await stop_task(self._task)
        self._task = None
        # Never let a dead node hold up a shutdown.
        with contextlib.suppress(TimeoutError, RedisError, OSError):
            await asyncio.wait_for(self.redis.aclose(), CLOSE_TIMEOUT)
        await self.salts.close()

    # campaigns

    async def create_campaign(self, campaign: Campaign) -> None:
        meta = self.keys.meta(campaign.id)
        index = self.keys.campaigns()
        # On a cluster the meta and the index live in different slots: no transaction there.
        pipe = self._pipe() if self.cluster else self.redis.pipeline(transaction=True)
        pipe.hset(meta, mapping=campaign.to_fields())
        pipe.expire(meta, self.retention)
        pipe.zadd(index, {campaign.id: campaign.created_at})
        pipe.expire(index, self.retention)
        await self._call(pipe.execute())

    async def get_campaign(self, campaign_id: str) -> Campaign | None:
        fields = await self._call(self.redis.hgetall(self.keys.meta(campaign_id)))
        if not fields:
            return None
        return Campaign.from_fields(campaign_id, {k.decode(): v.decode() for k, v in fields.items()})

    async def list_campaigns(self) -> list[Campaign]:
        ids = [i.decode() for i in await self._call(self.redis.zrange(self.keys.campaigns(), 0, -1))]
        campaigns: list[Campaign] = []
        gone: list[str] = []
        pipe = self._pipe()
        for campaign_id in ids:
            pipe.hgetall(self.keys.meta(campaign_id))
        for campaign_id, fields in zip(ids, await self._call(pipe.execute()) if ids else [], strict=True):
            if not fields:
                gone.append(campaign_id)
            else:
                decoded = {k.decode(): v.decode() for k, v in fields.items()}
                campaigns.append(Campaign.from_fields(campaign_id, decoded))
        if gone:  # their meta expired with the retention: forget them
            await self._call(self.redis.zrem(self.keys.campaigns(), *gone))
        return campaigns

    async def update_campaign(self, campaign_id: str, changes: dict[str, Any]) -> Campaign | None:
        args: list[str] = []
        for key, text in encode_changes(changes).items():
            args += [key, "" if text is None else text]  # the script removes a field set to ''
        meta = self.keys.meta(campaign_id)
        if not await self._call(self.redis.eval(UPDATE, 1, meta, *args)):
            return None
        return await self.get_campaign(campaign_id)

    async def delete_campaign(self, campaign_id: str) -> bool:
        existed = bool(await self._call(self.redis.exists(self.keys.meta(campaign_id))))
        # Delete the meta first so that in-flight batch writes are refused by the write script.
        await self._call(self.redis.unlink(self.keys.meta(campaign_id)))
        doomed = [k async for k in self._scan_keys(self.keys.campaign_pattern(campaign_id))]
        for start in range(0, len(doomed), 500):
            chunk = doomed[start : start + 500]
            if self.cluster:  # one slot, but the cluster client routes one key per command
                pipe = self._pipe()
                for key in chunk:
                    pipe.execute_command("UNLINK", key)
                await self._call(pipe.execute())
            else:
                await self._call(self.redis.unlink(*chunk))
        await self._call(self.redis.zrem(self.keys.campaigns(), campaign_id))
        if self.salts.separate:
            await self._call(self.salts.delete(self.keys.salt_pattern(campaign_id)))
        return existed

    # links

    async def add_link(self, campaign_id: str, link_id: str, url: str, max_links: int) -> str:
        keys = [self.keys.meta(campaign_id), self.keys.links(campaign_id)]
        answer = await self._call(
            self.redis.eval(ADD_LINK, 2, *keys, link_id, url, max_links, self.retention)
        )
        return str(answer.decode() if isinstance(answer, bytes) else answer)

    async def list_links(self, campaign_id: str) -> dict[str, str]:
        fields = await self._call(self.redis.hgetall(self.keys.links(campaign_id)))
        links = {k.decode(): v.decode() for k, v in fields.items()}
        return dict(sorted(links.items(), key=lambda item: (item[1], item[0])))

    async def get_link(self, campaign_id: str, link_id: str) -> str | None:
        url = await self._call(self.redis.hget(self.keys.links(campaign_id), link_id))
        return None if url is None else str(url.decode())

    # salts

    async def window_salt(self, campaign_id: str, now: float, window_seconds: int) -> Salt | None:
        meta = self.keys.meta(campaign_id)
        first = await self._call(self.redis.eval(FIRST_HIT, 1, meta, repr(now)))
        if first is None:
            return None
        index, ttl = salt_lifetime(float(first), now, window_seconds)
        key = self.keys.salt(campaign_id, index)
        # The TTL is a duration on the server's clock, not an absolute time from ours.
        salt, left = await self._call(self.salts.get_or_create(key, new_salt(), ttl))
        return Salt(index, salt, now + left)

    # hits

    def _script_args(
        self, batch: Batch, campaign_id: str, part: CampaignBatch
    ) -> tuple[list[str], list[Any]]:
        # The links' key is refreshed with the campaign's others, so a link lives as long as
        # the campaign does (EXPIRE on a campaign without links does nothing).
        keys = [self.keys.meta(campaign_id), self.keys.writes(campaign_id), self.keys.links(campaign_id)]
        args: list[Any] = [self.retention, 0, batch.writer or "-", batch.seq_of(part), 0, part.events]
        args += [len(part.frozen_checks), 0]
        if part.frozen_checks:  # hits of closed periods: are their cells frozen already?
            keys.append(self.keys.released(campaign_id))
            args[7] = len(keys)
            for names, hits in part.frozen_checks:
                args += [len(names), *names, hits]
        hincr = 0
        day_index: dict[str, int] = {}
        for day, fields in part.counters.items():
            keys.append(self.keys.day(campaign_id, day))
            day_index[day] = len(keys)
            for name, count in fields.items():
                args += [len(keys), name, count]
                hincr += 1
        args[1] = hincr
        # First opens: each group's elements go into its window's seen set; those that were
        # not there yet are counted in the group's field. The seen set dies with the salt.
        groups = part.first_groups()
        seen_index: dict[int, int] = {}
        for (window, day, name), members in groups.items():
            if window not in seen_index:
                keys.append(self.keys.seen(campaign_id, window))
                seen_index[window] = len(keys)
            if day not in day_index:
                keys.append(self.keys.day(campaign_id, day))
                day_index[day] = len(keys)
            # What is left of the salt, as a duration on the server's clock: an absolute
            # time (EXPIREAT) from a wall clock that stepped would outlive the salt, or die at once.
            left = max(1, math.ceil(part.window_expiry[window] - self.clock.now()))
            args += [seen_index[window], day_index[day], name, left, b"".join(members)]
        args[4] = len(groups)
        for (kind, day, dimension), elements in part.sketches.items():
            keys.append(self.keys.sketch(campaign_id, kind, day, dimension))
            # One argument per sketch, the script splits it: packing hundreds of arguments
            # per flush would cost the event loop more than the whole flush otherwise does.
            args += [len(keys), b"".join(elements)]
        return keys, args

    async def write_batch(self, batch: Batch) -> WriteResult:
        calls = [(cid, *self._script_args(batch, cid, part)) for cid, part in batch.campaigns.items()]
        result = WriteResult()
        if not calls:
            return result
        # One script call per campaign (one slot each); one pipeline for the whole batch on a
        # standalone server, one per master on a cluster, run side by side: a dead master
        # fails its own campaigns' writes only.
        replies: dict[str, Any] = {}
        if self.cluster:
            groups = self._by_node(calls)
            done = await asyncio.gather(*(self._run_scripts(g) for g in groups), return_exceptions=True)
            for group, outcome in zip(groups, done, strict=True):
                for n, (cid, _, _) in enumerate(group):
                    replies[cid] = outcome if isinstance(outcome, BaseException) else outcome[n]
        else:
            outcome = await self._run_scripts(calls)
            replies = {cid: reply for (cid, _, _), reply in zip(calls, outcome, strict=True)}
        for cid, reply in replies.items():
            if isinstance(reply, BaseException):
                if not isinstance(reply, Exception):
                    raise reply
                result.failed[cid] = str(reply)
                continue
            code, total = int(reply[0]), int(reply[1])
            if code in (0, 1):  # 0: applied by an earlier try of this part
                result.written += batch.campaigns[cid].events
                result.stored[cid] = total
                if code == 1 and int(reply[2]):
                    result.late[cid] = int(reply[2])
            else:
                result.refused[cid] = MISSING if code == -1 else PAUSED
        if MISSING in result.refused.values():  # deleted, or lost by the server?
            result.data_lost = await self.fitness.check_epoch(self)
        return result

    async def _run_scripts(self, calls: list[tuple[str, list[str], list[Any]]]) -> list[Any]:
        pipe = self._pipe()
        for _, keys, args in calls:
            pipe.eval(WRITE, len(keys), *keys, *args)
        replies: list[Any] = await self._call(pipe.execute(raise_on_error=False))
        for n, reply in enumerate(replies):
            if isinstance(reply, Exception):  # a script that failed on the server: its campaign waits
                self.errors += 1
                replies[n] = StoreError(f"Redis store error: {type(reply).__name__}: {reply}")
        return replies

    def _by_node(self, calls: list[tuple[str, list[str], list[Any]]]) -> list[list[Any]]:
        """The calls grouped by the master of their campaign's slot (one group until the
        client has read the slot map)."""
        groups: dict[str, list[Any]] = {}
        for call in calls:
            try:
                node = self.redis.get_node_from_key(call[1][0]).name
            except Exception:  # slot map not read yet, or the slot is not covered
                node = ""
            groups.setdefault(node, []).append(call)
        return list(groups.values())

    # reads

    async def read_counters(self, campaign_id: str, days: Sequence[str]) -> dict[str, dict[str, int]]:
        if not days:
            return {}
        pipe = self._pipe()
        for day in days:
            pipe.hgetall(self.keys.day(campaign_id, day))
        raw = await self._call(pipe.execute())
        return {
            day: {k.decode(): int(v) for k, v in fields.items()}
            for day, fields in zip(days, raw, strict=True)
            if fields
        }

    async def read_released(self, campaign_id: str, names: Sequence[str]) -> dict[str, str]:
        if not names:
            return {}
        values = await self._call(self.redis.hmget(self.keys.released(campaign_id), list(names)))
        return {name: v.decode() for name, v in zip(names, values, strict=True) if v is not None}

    async def release_cells(
        self, campaign_id: str, values: Mapping[str, str], ttl_seconds: int
    ) -> dict[str, str]:
        if not values:
            return {}
        key = self.keys.released(campaign_id)
        names = list(values)
        chunks = [names[i : i + RELEASE_CHUNK] for i in range(0, len(names), RELEASE_CHUNK)]
        pipe = self._pipe()
        for chunk in chunks:  # Lua's unpack() takes a few thousand values at most
            args: list[Any] = [ttl_seconds]
            for name in chunk:
                args += [name, values[name]]
            pipe.eval(RELEASE, 1, key, *args)
        frozen = [v for part in await self._call(pipe.execute()) for v in part]
        return {name: v.decode() for name, v in zip(names, frozen, strict=True)}

    async def count_unique(self, campaign_id: str, groups: Sequence[Sequence[SketchRef]]) -> list[float]:
        named = [[self.keys.sketch(campaign_id, *ref) for ref in group] for group in groups]
        wanted = [g for g in named if g]
        if not wanted:
            return [0.0] * len(groups)
        if self.cluster:  # the cluster client refuses PFCOUNT in a pipeline: run them concurrently
            counts = await asyncio.gather(*(self._call(self.redis.pfcount(*g)) for g in wanted))
        else:
            pipe = self.redis.pipeline(transaction=False)
            for group in wanted:
                pipe.pfcount(*group)
            counts = await self._call(pipe.execute())
        it = iter(counts)
        return [float(next(it)) if g else 0.0 for g in named]

    # keyspace

    async def _scan_keys(self, match: str) -> AsyncIterator[str]:
        # The client pages through SCAN by itself: its pages are not counted as round trips.
        try:
            async for key in self.redis.scan_iter(match=match, count=1000):
                yield key.decode()
        except (RedisError, OSError) as exc:
            self.errors += 1
            raise StoreError(f"Redis store error during SCAN: {exc}") from None

    async def scan(self, match: str | None = None, *, binary: bool = True) -> AsyncIterator[KeyInfo]:
        pattern = match or self.keys.all_pattern()
        batch: list[str] = []
        async for key in self._scan_keys(pattern):
            batch.append(key)
            if len(batch) >= 500:
                for info in await describe_keys(self._call, self._pipe, batch, binary):
                    yield info
                batch = []
        if batch:
            for info in await describe_keys(self._call, self._pipe, batch, binary):
                yield info
        if self.salts.separate:
            async for info in self.salts.scan(pattern):
                yield info

    async def key_names(self, match: str) -> AsyncIterator[str]:
        async for key in self._scan_keys(match):
            yield key
        if self.salts.separate:
            async for key in self.salts.key_names(match):
                yield key
