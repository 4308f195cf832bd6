"""Tests for pixelagg.store.keys: key names, hash tags, audit patterns."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from pixelagg.store.keys import Keyspace

ID = "AbCdEfGhIjKlMnOp"
OTHER_ID = "0123456789_-abcd"
PREFIXES = ["pixelagg", "t1a2b3c4", "my-app_2"]


def campaign_keys(keys: Keyspace, campaign_id: str) -> list[str]:
    """Every key a campaign can have, one of each kind."""
    return [
        keys.meta(campaign_id),
        keys.salt(campaign_id, 0),
        keys.salt(campaign_id, 12),
        keys.day(campaign_id, "20251101"),
        keys.sketch(campaign_id, "u", "20251101", "human"),
        keys.sketch(campaign_id, "u", "20251101", "apple_mpp"),
        keys.sketch(campaign_id, "r", "20251101", "NL"),
        keys.sketch(campaign_id, "r", "20251101", "unknown"),
    ]


@pytest.mark.parametrize("prefix", PREFIXES, ids=PREFIXES)
def test_every_campaign_key_carries_the_hash_tag(prefix):
    """Every key of a campaign contains {c:ID}, once, and starts with the prefix."""
    keys = Keyspace(prefix)
    for key in campaign_keys(keys, ID):
        assert key.startswith(f"{prefix}:")
        assert key.count(f"{{c:{ID}}}") == 1
        assert key.count("{") == 1, key


def test_campaign_keys_share_one_cluster_slot():
    """All of a campaign's keys hash to one Redis Cluster slot."""
    slots = {key_slot(key.encode()) for key in campaign_keys(Keyspace(), ID)}
    assert slots == {key_slot(f"c:{ID}".encode())}


def test_campaign_pattern_matches_only_that_campaign():
    """The campaign's SCAN pattern covers its keys and carries its tag."""
    keys = Keyspace()
    pattern = keys.campaign_pattern(ID)
    assert pattern == f"pixelagg:{{c:{ID}}}:*"
    assert all(k.startswith(pattern[:-1]) for k in campaign_keys(keys, ID))
    assert not any(k.startswith(pattern[:-1]) for k in campaign_keys(keys, OTHER_ID))


def test_all_pattern_covers_every_key():
    """The prefix pattern covers the index and every campaign key."""
    keys = Keyspace("t1")
    assert keys.all_pattern() == "t1:*"
    for key in [keys.campaigns(), *campaign_keys(keys, ID)]:
        assert key.startswith("t1:")


@pytest.mark.parametrize(
    ("key", "pattern"),
    [
        (f"pixelagg:{{c:{ID}}}:meta", "pixelagg:{c:ID}:meta"),
        (f"pixelagg:{{c:{ID}}}:salt:0", "pixelagg:{c:ID}:salt:{window}"),
        (f"pixelagg:{{c:{ID}}}:salt:12", "pixelagg:{c:ID}:salt:{window}"),
        (f"pixelagg:{{c:{ID}}}:d:20251101", "pixelagg:{c:ID}:d:{YYYYMMDD}"),
        (f"pixelagg:{{c:{ID}}}:u:20251101:human", "pixelagg:{c:ID}:u:{YYYYMMDD}:{class}"),
        (f"pixelagg:{{c:{ID}}}:r:20251101:NL", "pixelagg:{c:ID}:r:{YYYYMMDD}:{region}"),
        ("pixelagg:campaigns", "pixelagg:campaigns"),
        (f"pixelagg:{{c:{ID}}}:zzz", "pixelagg:{c:ID}:(unknown)"),
        ("other:campaigns", "(foreign key)"),
        (f"pixelagg2:{{c:{ID}}}:meta", "(foreign key)"),
        ("pixelagg:something", "(foreign key)"),
        ("session:abc", "(foreign key)"),
    ],
    ids=[
        "meta",
        "salt-0",
        "salt-12",
        "day",
        "class-sketch",
        "region-sketch",
        "index",
        "unknown-kind",
        "other-prefix-index",
        "longer-prefix",
        "unknown-global",
        "foreign",
    ],
)
def test_pattern_of(key, pattern):
    """pattern_of turns concrete keys into generic patterns without ids, days or regions."""
    assert Keyspace().pattern_of(key) == pattern


def test_pattern_of_round_trips_generated_keys():
    """Every generated key maps to a known pattern, and no pattern contains the id."""
    keys = Keyspace()
    for key in [keys.campaigns(), *campaign_keys(keys, ID)]:
        pattern = keys.pattern_of(key)
        assert "(" not in pattern and ID not in pattern


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (f"pixelagg:{{c:{ID}}}:meta", ID),
        (f"pixelagg:{{c:{OTHER_ID}}}:r:20251101:NL", OTHER_ID),
        ("pixelagg:campaigns", None),
        (f"other:{{c:{ID}}}:meta", None),
        ("random", None),
    ],
    ids=["meta", "sketch", "index", "other-prefix", "foreign"],
)
def test_campaign_of(key, expected):
    """campaign_of gives the campaign id of a campaign key, None for anything else."""
    assert Keyspace().campaign_of(key) == expected


def test_campaign_of_generated_keys():
    """campaign_of finds the id in every key the keyspace makes for a campaign."""
    keys = Keyspace("t9")
    assert {keys.campaign_of(k) for k in campaign_keys(keys, ID)} == {ID}
