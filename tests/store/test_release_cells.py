"""The store contract for the release step: first opens from seen sets, frozen released cells."""

from __future__ import annotations

import secrets
import time

import pytest

from pixelagg.core.campaign import Campaign, new_campaign_id
from pixelagg.store import Batch
from pixelagg.store.batch import first_field, slot_field, utc_day
from pixelagg.store.clock import TrustedClock
from tests.helpers import STORES

pytestmark = pytest.mark.anyio

TTL = 3600


@pytest.fixture(params=[*STORES, pytest.param("cluster", marks=pytest.mark.cluster)])
def store_kind(request):
    """The release contract runs on the embedded store, one Valkey, and a Valkey cluster."""
    return request.param


async def _campaign(store) -> Campaign:
    campaign = Campaign(id=new_campaign_id(), name="c", created_at=time.time())
    await store.create_campaign(campaign)
    return campaign


def _opens(campaign_id, elements, now, *, window=(0, None), period=3600, class_="human", seq=0):
    batch = Batch(writer="w", seq=seq)
    index, expires = window
    for element in elements:
        batch.add_open(campaign_id, now, class_, "NL", element, (index, expires or now + 600), period)
    return batch


def _field_count(counters, day, name):
    return counters.get(day, {}).get(name, 0)


async def test_first_opens_count_each_visitor_once(store):
    """A visitor's first open in a salt window is counted once, however often it returns."""
    c = await _campaign(store)
    now = time.time()
    alice, bob = secrets.token_bytes(16), secrets.token_bytes(16)
    await store.write_batch(_opens(c.id, [alice, bob], now, seq=1))
    await store.write_batch(_opens(c.id, [alice, alice, bob], now, seq=2))
    day, hour = utc_day(now)
    counters = await store.read_counters(c.id, [day])
    assert _field_count(counters, day, first_field(hour, "human")) == 2
    assert sum(n for k, n in counters[day].items() if k.startswith("h|")) == 5


async def test_a_new_window_counts_visitors_again(store):
    """Elements of another salt window are other visitors: counted again, as windows add up."""
    c = await _campaign(store)
    now = time.time()
    element = secrets.token_bytes(16)
    await store.write_batch(_opens(c.id, [element], now, window=(0, None), seq=1))
    await store.write_batch(_opens(c.id, [element], now, window=(1, None), seq=2))
    day, hour = utc_day(now)
    counters = await store.read_counters(c.id, [day])
    assert _field_count(counters, day, first_field(hour, "human")) == 2


async def test_retried_batch_counts_first_opens_once(store):
    """A batch applied twice (a retry after an ambiguous failure) counts its first opens once."""
    c = await _campaign(store)
    now = time.time()
    batch = _opens(c.id, [secrets.token_bytes(16) for _ in range(3)], now, seq=1)
    await store.write_batch(batch)
    await store.write_batch(batch)
    day, hour = utc_day(now)
    counters = await store.read_counters(c.id, [day])
    assert _field_count(counters, day, first_field(hour, "human")) == 3


async def test_seen_set_expires_with_its_salt(store):
    """The seen set's TTL is its salt's expiry, not the retention."""
    c = await _campaign(store)
    now = time.time()
    await store.write_batch(_opens(c.id, [secrets.token_bytes(16)], now, window=(0, now + 120), seq=1))
    keys = {info.key: info async for info in store.scan(store.keys.campaign_pattern(c.id))}
    seen = keys[store.keys.seen(c.id, 0)]
    assert 100 < seen.ttl <= 122


async def test_seen_set_ttl_is_what_its_salt_has_left_on_a_clock_days_off(store):
    """The seen set's TTL is what is left of its salt by the store's clock, even when that clock
    is ten days off the server's (a duration, never an absolute time)."""
    store.clock = TrustedClock(not_before=time.time() + 10 * 86400)
    c = await _campaign(store)
    now = store.clock.now()
    await store.write_batch(_opens(c.id, [secrets.token_bytes(16)], now, window=(0, now + 120), seq=1))
    keys = {info.key: info async for info in store.scan(store.keys.campaign_pattern(c.id))}
    assert 100 < keys[store.keys.seen(c.id, 0)].ttl <= 122


async def test_short_periods_count_opens_per_period(store):
    """A release period under an hour also counts opens per period of the UTC day."""
    c = await _campaign(store)
    now = time.time()
    await store.write_batch(_opens(c.id, [secrets.token_bytes(16)] * 2, now, period=60, seq=1))
    day, _ = utc_day(now)
    slot = int(now % 86400 // 60)
    counters = await store.read_counters(c.id, [day])
    assert _field_count(counters, day, slot_field(slot, "human")) == 2
    assert _field_count(counters, day, first_field(slot, "human")) == 1


async def test_release_freezes_the_first_value(store):
    """A released cell (or group) keeps its first value, an empty one too: a later release of
    the same name changes nothing."""
    c = await _campaign(store)
    first = await store.release_cells(c.id, {"ud|1": "human=7", "ud|2": "human=-3"}, TTL)
    again = await store.release_cells(c.id, {"ud|1": "human=99", "ud|3": ""}, TTL)
    assert first == {"ud|1": "human=7", "ud|2": "human=-3"}
    assert again == {"ud|1": "human=7", "ud|3": ""}
    assert await store.read_released(c.id, ["ud|1", "ud|2", "ud|3", "ud|4"]) == {
        "ud|1": "human=7",
        "ud|2": "human=-3",
        "ud|3": "",
    }


async def test_release_of_many_cells_at_once(store):
    """Thousands of cells are frozen in one call (the Redis script takes them in chunks)."""
    c = await _campaign(store)
    values = {f"rd|{n}": f"NL={n}" for n in range(2500)}
    assert await store.release_cells(c.id, values, TTL) == values


async def test_released_cells_have_a_ttl_and_are_erased(store):
    """The release hash has the given TTL and goes with the campaign."""
    c = await _campaign(store)
    await store.release_cells(c.id, {"xd|1": "=1"}, TTL)
    await store.write_batch(_opens(c.id, [secrets.token_bytes(16)], time.time(), seq=1))
    keys = {info.key: info async for info in store.scan(store.keys.campaign_pattern(c.id))}
    assert 0 < keys[store.keys.released(c.id)].ttl <= TTL
    await store.delete_campaign(c.id)
    assert [info async for info in store.scan(store.keys.campaign_pattern(c.id))] == []


async def test_a_write_counts_the_hits_whose_cells_are_frozen(store):
    """A part's frozen checks: the hits whose cells the release hash holds already (a group, or
    a cell of its own) are counted as late; the others, and the write itself, as usual."""
    c = await _campaign(store)
    await store.release_cells(c.id, {"lp|7": "human=3", "ld|9|human": "4"}, TTL)
    batch = _opens(c.id, [secrets.token_bytes(16) for _ in range(6)], time.time(), seq=1)
    batch.campaigns[c.id].frozen_checks = [(("lp|7", "ld|1"), 2), (("lp|8", "ld|9|human"), 3), (("lp|9",), 1)]
    result = await store.write_batch(batch)
    assert result.late == {c.id: 5} and result.stored == {c.id: 6}
