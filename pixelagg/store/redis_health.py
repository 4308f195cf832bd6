"""Whether a Redis store is fit for pixelagg: it never evicts, and it has not lost its data.

- `maxmemory-policy` must be `noeviction`: an evicting server drops counts, salts (readers
  counted twice) and the campaign index without a word. It is read from `INFO memory` on every
  master at start-up and every `CHECK_SECONDS`; a wrong policy is reported by `health()` (so
  `/readyz` answers 503) and logged, naming the setting.
- The store's epoch: a random value written once (`SET NX`) under `{prefix}:epoch`. When it is
  gone or changed, the server was wiped (restarted without persistence, flushed) or failed over
  to a node that had not seen it. That is logged, counted and reported for
  `DATA_LOSS_REPORT_SECONDS`, and the campaign cache writes back the campaigns it knows.

The checks' own calls are not counted in the store's round trips or errors: they are reported
by `health()`, and a test of the write path must not see a check's round trip.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError, ResponseError

if TYPE_CHECKING:
    from .redis import RedisStore

__all__ = ["CHECK_SECONDS", "DATA_LOSS_REPORT_SECONDS", "Fitness"]

log = logging.getLogger("pixelagg.store")

CHECK_SECONDS = 5.0
DATA_LOSS_REPORT_SECONDS = 600.0
POLICY = "noeviction"


class Fitness:
    """The results of the checks of one Redis store."""

    def __init__(self) -> None:
        self.epoch: bytes | None = None
        self.policy_problem: str | None = None
        self._policy_unknown = False
        self.lost_at: float | None = None
        self.lost_how = ""
        self.losses = 0
        self._epoch_lock = asyncio.Lock()  # two checks at once would find one loss twice

    def health(self) -> dict[str, str]:
        problems: dict[str, str] = {}
        if self.policy_problem is not None:
            problems["maxmemory_policy"] = self.policy_problem
        if self.lost_at is not None and time.time() - self.lost_at < DATA_LOSS_REPORT_SECONDS:
            at = time.strftime("%H:%M:%S", time.localtime(self.lost_at))
            problems["data_lost"] = (
                f"the store lost its data at {at} ({self.lost_how}): Redis restarted without "
                "persistence, was flushed, or failed over to a node that had not seen the writes. "
                "Counts written before are lost; the campaigns this process knows are written "
                "again. Check the server's persistence (appendonly yes)"
            )
        return problems

    async def check(self, store: RedisStore) -> bool:
        """Run both checks; True when a data loss was found now."""
        await self.check_policy(store)
        return await self.check_epoch(store)

    async def check_epoch(self, store: RedisStore) -> bool:
        """Write the epoch if it is missing; True when it had been there and is gone or changed."""
        async with self._epoch_lock:
            return await self._check_epoch(store)

    async def _check_epoch(self, store: RedisStore) -> bool:
        key = store.keys.epoch()
        mine = secrets.token_hex(16).encode()
        pipe = store.redis.pipeline() if store.cluster else store.redis.pipeline(transaction=False)
        pipe.set(key, mine, nx=True, get=True, ex=store.retention)
        pipe.expire(key, store.retention)
        try:
            previous, _ = await pipe.execute()
        except (RedisError, OSError):
            return False  # unreachable: /readyz says so already
        if self.epoch is None:
            self.epoch = previous if previous is not None else mine
            return False
        if previous == self.epoch:
            return False
        self.lost_how = "its epoch key was gone" if previous is None else "its epoch key had changed"
        self.epoch = previous if previous is not None else mine
        self.lost_at = time.time()
        self.losses += 1
        log.error("Redis store: %s", self.health()["data_lost"])
        return True

    async def check_policy(self, store: RedisStore) -> None:
        try:
            if store.cluster:
                found = await store.redis.info("memory", target_nodes=RedisCluster.PRIMARIES)
                infos = found if _per_node(found) else {"cluster": found}
            else:
                infos = {"server": await store.redis.info("memory")}
        except ResponseError as exc:  # NOPERM: the ACL refuses INFO
            if not self._policy_unknown:
                self._policy_unknown = True
                log.warning(
                    "Redis store: cannot read maxmemory-policy (%s); make sure it is %r, or allow "
                    "INFO (docs/redis-acl.md)",
                    exc,
                    POLICY,
                )
            return
        except (RedisError, OSError):
            return
        wrong = {
            node: str(info.get("maxmemory_policy"))
            for node, info in infos.items()
            if isinstance(info, dict) and info.get("maxmemory_policy", POLICY) != POLICY
        }
        problem = None
        if wrong:
            where = ", ".join(f"{node}: {policy!r}" for node, policy in sorted(wrong.items()))
            problem = (
                f"Redis maxmemory-policy is not {POLICY!r} ({where}): an evicting server drops "
                "counts, salts and campaigns without a word. Set maxmemory-policy noeviction "
                "(CONFIG SET and the server's configuration file)"
            )
        if problem != self.policy_problem:
            if problem is not None:
                log.error("Redis store: %s", problem)
            else:
                log.info("Redis store: maxmemory-policy is %r", POLICY)
        self.policy_problem = problem


def _per_node(found: Any) -> bool:
    """Whether a cluster INFO answer is per node (name -> dict) rather than one merged dict."""
    return isinstance(found, dict) and bool(found) and all(isinstance(v, dict) for v in found.values())
