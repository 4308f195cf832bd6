"""What `serve` says before it serves: privacy-weakening settings, and whether salts may persist.

The same checks as the audit's (settings_check.py). A salt server that writes to disk (or
cannot say) stops the start, unless store.allow_persistent_salts accepts it.
"""

from __future__ import annotations

import asyncio

from ..config import Config
from ..exceptions import ConfigError
from ..store import open_store
from ..store.salts import Persistence
from .settings_check import salt_findings, weak_settings

__all__ = ["startup_notices"]


def startup_notices(config: Config) -> list[str]:
    """The lines to print at start-up. Raises ConfigError when salts would reach a disk."""
    lines = [f"Warning: {f.message}" for f in weak_settings(config)]
    if config.is_embedded:
        return lines  # salts in this process's memory: nothing to ask
    persistence = asyncio.run(_persistence(config))
    if not persistence.reachable:
        lines.append(
            f"Warning: cannot check now whether {persistence.where} writes salts to disk "
            f"({persistence.unknown}); `pixelagg audit` checks it once it answers."
        )
        return lines
    for finding in salt_findings(persistence, config.store.allow_persistent_salts):
        if finding.severity == "error":
            raise ConfigError(finding.message)
        lines.append(f"Warning: {finding.message}")
    return lines


async def _persistence(config: Config) -> Persistence:
    store = open_store(config)  # a Redis store only connects when asked
    try:
        return await store.salts.persistence()
    finally:
        await store.close()
