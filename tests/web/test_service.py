"""Tests for pixelagg.web.service: the running service's parts, wired once at start-up."""

from __future__ import annotations

import time

from pixelagg.config import load
from tests.helpers import make_env

LATE_TOKEN = "late-read-token-0123456789abcdef"


def test_service_keeps_the_configuration_it_started_with(tmp_path, client_for):
    """Changing the loaded configuration after start-up changes nothing in the running service."""
    config = load(environ=make_env(tmp_path, None))
    client = client_for(config)
    # The dataclasses are frozen, but their list values can still be changed in place.
    config.api.read_tokens.append(LATE_TOKEN)
    config.server.trusted_proxies.clear()
    assert client.get("/api/campaigns", headers={"Authorization": f"Bearer {LATE_TOKEN}"}).status_code == 401
    c = client.create()
    before = time.time()
    client.hit(c["id"], ip="81.2.69.160")  # forwarded by loopback, still a trusted proxy
    client.flush()
    days = sorted({time.strftime("%Y%m%d", time.gmtime(t)) for t in (before, time.time())})
    counters = client.portal.call(client.service.store.read_counters, c["id"], days)
    assert [field for fields in counters.values() for field in fields if field.startswith("r|")] == ["r|GB"]
