"""The redis-py asyncio client of a store URL: short timeouts, one retry, Redis Cluster too."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..exceptions import ConfigError
from .salts import server_name

__all__ = ["CONNECT_TIMEOUT", "SOCKET_TIMEOUT", "redis_client"]

SOCKET_TIMEOUT = 1.0
CONNECT_TIMEOUT = 0.5


def redis_client(url: str, key: str = "store.url") -> Any:
    """A redis-py asyncio client for a store URL; redis+cluster:// lists startup nodes."""
    # Fail fast and retry once: the aggregator keeps the batch and retries with backoff, so a
    # long client-side retry loop would only delay that and hold up /readyz.
    options: dict[str, Any] = {
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "retry": Retry(NoBackoff(), 1),
    }
    if url.startswith(("redis+cluster://", "rediss+cluster://")):
        parts = urlsplit(url)
        nodes = []
        for hostport in parts.netloc.rsplit("@", 1)[-1].split(","):
            host, _, port = hostport.rpartition(":")
            if not host or not port.isdigit():
                raise ConfigError(
                    f"Config '{key}' names the servers {server_name(url)!r}. "
                    f"Cannot read host:port {hostport!r}."
                )
            nodes.append(ClusterNode(host, int(port)))
        creds = parts.netloc.rsplit("@", 1)[0] if "@" in parts.netloc else ""
        user, _, password = creds.partition(":")
        return RedisCluster(
            startup_nodes=nodes,
            username=user or None,
            password=password or None,
            ssl=url.startswith("rediss+"),
            **options,
        )
    return aioredis.Redis.from_url(url, **options)
