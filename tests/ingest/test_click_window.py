"""The click window: clicks wait BURST_SECONDS, bursts become scanners, memory stays bounded,
nothing of the address is kept, and every held click is counted at shutdown."""

from __future__ import annotations

import logging
import secrets
import time

import pytest

from pixelagg.config import load
from pixelagg.core.campaign import Campaign, new_campaign_id
from pixelagg.ingest.aggregator import Aggregator
from pixelagg.ingest.click_window import BURST_SECONDS, ClickWindow, HeldClick
from pixelagg.metrics import Metrics
from pixelagg.store import EmbeddedStore
from pixelagg.store.keys import Keyspace
from tests.helpers import Clock, make_env
from tests.web.test_redirect import follow, path_of, register

pytestmark = pytest.mark.anyio

ADDRESS = "81.2.69.160"


@pytest.fixture
async def parts(tmp_path):
    """A window over a real aggregator and embedded store, with a campaign and a clock of its own."""
    store = EmbeddedStore(tmp_path, Keyspace("t"), retention_seconds=86400).open()
    campaign = Campaign(id=new_campaign_id(), name="c", created_at=time.time())
    await store.create_campaign(campaign)
    aggregator = Aggregator(store, Metrics(store), 1.0, 10_000)
    counted: list[tuple[str, bool]] = []
    clock = Clock()
    window = ClickWindow(aggregator, lambda c, taken: counted.append((c, taken)), clock, max_held=5)
    yield window, campaign.id, clock, counted
    await store.close()


def _click(campaign_id: str, clock: Clock, link: str = "AAAAAAAAAA") -> HeldClick:
    return HeldClick(campaign_id, clock(), "human", link, "GB", secrets.token_bytes(16), None)


async def test_a_click_is_counted_only_after_the_window(parts):
    """A held click stays until BURST_SECONDS have passed; then it is counted once."""
    window, campaign_id, clock, counted = parts
    window.add(window.group(ADDRESS, campaign_id), _click(campaign_id, clock))
    clock.now += BURST_SECONDS - 0.01
    assert window.release() == 0 and counted == []
    clock.now += 0.01
    assert window.release() == 1 and counted == [("human", True)]
    assert window.release() == 0


async def test_counted_clicks_are_forgotten_after_the_look_back(parts):
    """A counted click is remembered 2 x BURST_SECONDS for later clicks' look-back, then forgotten."""
    window, campaign_id, clock, _ = parts
    window.add(window.group(ADDRESS, campaign_id), _click(campaign_id, clock))
    clock.now += BURST_SECONDS
    window.release()
    assert window.remembered == 1
    clock.now += BURST_SECONDS
    window.release()
    assert window.remembered == 0


async def test_a_full_window_counts_its_clicks_at_once(parts, caplog):
    """Past max_held clicks the held ones are counted early, in a log line and the `early` count."""
    window, campaign_id, clock, counted = parts
    with caplog.at_level(logging.WARNING, logger="pixelagg.clicks"):
        for n in range(6):
            window.add(window.group(f"81.2.69.{n}", campaign_id), _click(campaign_id, clock))
    assert (len(counted), window.early, window.held) == (5, 5, 1)
    assert "click window full" in caplog.text


async def test_drain_counts_every_held_click(parts):
    """At shutdown every held click is counted, whatever its window says."""
    window, campaign_id, clock, counted = parts
    for n in range(3):
        window.add(window.group(ADDRESS, campaign_id), _click(campaign_id, clock, f"AAAAAAAAA{n}"))
    assert await window.drain() == 3
    assert [c for c, _ in counted] == ["scanner"] * 3  # three links at once: a burst


async def test_a_counted_click_keeps_no_hash(parts):
    """Once counted, a remembered click keeps its link and time only, not its clicker hash."""
    window, campaign_id, clock, _ = parts
    click = _click(campaign_id, clock)
    window.add(window.group(ADDRESS, campaign_id), click)
    await window.drain()
    assert click.element is None


async def test_group_is_a_keyed_hash_of_address_and_campaign(parts):
    """Clicks are grouped under a 16-byte keyed hash: not the address, and not the same in
    another process (another window's key)."""
    window, campaign_id, _, _ = parts
    other = ClickWindow(window.aggregator, lambda c, t: None)
    group = window.group(ADDRESS, campaign_id)
    assert len(group) == 16 and ADDRESS.encode() not in group
    assert group == window.group(ADDRESS, campaign_id) != other.group(ADDRESS, campaign_id)
    assert group != window.group(ADDRESS, new_campaign_id())


def test_shutdown_counts_the_held_clicks(tmp_path, client_for):
    """Clicks still held when the service stops are written before it ends: nothing is lost."""
    config = load(environ=make_env(tmp_path, None))
    client = client_for(config)
    campaign = client.create(recipients=100)
    link = register(client, campaign["id"])
    clock = Clock()
    client.portal.call(client.service.clicks.drain)  # its loop stops: only shutdown counts them
    client.service.clicks.clock = clock
    follow(client, path_of(link))
    assert client.service.clicks.held == 1
    client.__exit__(None, None, None)
    again = client_for(config)
    assert again.stats(campaign["id"])["clicks"]["total"] == 1
