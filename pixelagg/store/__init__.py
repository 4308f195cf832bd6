"""Storage: one protocol, two implementations (Redis for production, embedded for zero setup)."""

from __future__ import annotations

from ..config import Config
from .base import SketchRef, Store
from .batch import Batch
from .embedded import EmbeddedStore
from .keys import Keyspace
from .redis import RedisStore

__all__ = ["Batch", "EmbeddedStore", "RedisStore", "SketchRef", "Store", "open_store"]


def open_store(config: Config) -> Store:
    """Open the configured store. The embedded one takes its lock and loads its file here."""
    keys = Keyspace(config.store.key_prefix)
    retention = config.privacy.retention_days * 86400
    if config.store.url:
        return RedisStore(config.store.url, keys, retention, config.store.salt_url)
    return EmbeddedStore(config.data_dir, keys, retention, config.store.persist_interval_ms / 1000).open()
