"""Where the CLI's campaign, stats and audit commands go: the service's API, or the store itself.

`open_client` chooses as the README says: the API with `--url`, or when a running `pixelagg
serve` holds the embedded store (it says so in DATA_DIR/serve.json); otherwise the store
directly. The embedded store never has two writers. Both clients answer with the same JSON.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

import httpx

from . import actions
from .config import Config
from .exceptions import PixelaggError
from .reports.audit import AuditReport, run_audit
from .reports.report import Report, Withheld, report_from_json
from .store import Store, open_store
from .store.embedded import DB_NAME
from .tokens import admin_token

__all__ = [
    "SERVE_FILE",
    "ApiClient",
    "Client",
    "ServiceError",
    "StoreClient",
    "advertise",
    "http_url",
    "open_client",
    "running_service",
]

T = TypeVar("T")
SERVE_FILE = "serve.json"
"""In the data dir while `pixelagg serve` runs: its URL and process id."""
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1"}


class ServiceError(PixelaggError):
    """The service's API cannot be reached, has no token to use, or refused the call."""


class Client(Protocol):
    """What the commands ask for, in the API's JSON shapes."""

    def store_is_new(self) -> bool:
        """True when there is no store yet: an embedded store that was never saved."""
        ...

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]: ...

    def list(self) -> list[dict[str, Any]]: ...

    def get(self, campaign_id: str) -> dict[str, Any]: ...

    def update(self, campaign_id: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    def set_paused(self, campaign_id: str, paused: bool) -> dict[str, Any]: ...

    def delete(self, campaign_id: str) -> None: ...

    def stats(
        self, campaign_id: str, start: str | None, end: str | None, tz: str | None
    ) -> Report | Withheld: ...

    def audit(self, progress: Callable[[int], None] | None = None) -> AuditReport: ...


def open_client(config: Config, url: str | None) -> Client:
    """The API when asked to, or when a running service holds the embedded store; else the store."""
    url = url or (running_service(config) if config.is_embedded else None)
    return ApiClient(config, url) if url else StoreClient(config)


class ApiClient:
    """Calls a running service's JSON API with the admin token."""

    def __init__(self, config: Config, url: str) -> None:
        self.url = url
        token = os.environ.get("PIXELAGG_ADMIN_TOKEN") or admin_token(config, create=False)[0]
        if not token:
            raise ServiceError(
                f"No API token: set PIXELAGG_ADMIN_TOKEN, or run beside the service's data dir "
                f"({config.data_dir})."
            )
        self.token = token

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = httpx.request(
                method,
                self.url.rstrip("/") + path,
                headers={"Authorization": f"Bearer {self.token}"},
                **{"timeout": 30, **kwargs},
            )
        except httpx.HTTPError as exc:
            raise ServiceError(f"Cannot reach the service at {self.url}: {exc}") from None
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise ServiceError(f"{message} (HTTP {response.status_code})")
        if response.status_code == 204:
            return None
        if response.headers.get("content-type", "").startswith("text/csv"):
            return response.text
        return response.json()

    def store_is_new(self) -> bool:
        return False

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self._request("POST", "/api/campaigns", json=body))

    def list(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "/api/campaigns")["campaigns"])

    def get(self, campaign_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/api/campaigns/{campaign_id}"))

    def update(self, campaign_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self._request("PATCH", f"/api/campaigns/{campaign_id}", json=body))

    def set_paused(self, campaign_id: str, paused: bool) -> dict[str, Any]:
        verb = "pause" if paused else "resume"
        return dict(self._request("POST", f"/api/campaigns/{campaign_id}/{verb}"))

    def delete(self, campaign_id: str) -> None:
        self._request("DELETE", f"/api/campaigns/{campaign_id}")

    def stats(
        self, campaign_id: str, start: str | None, end: str | None, tz: str | None
    ) -> Report | Withheld:
        params = {k: v for k, v in (("from", start), ("to", end), ("tz", tz)) if v}
        return report_from_json(self._request("GET", f"/api/campaigns/{campaign_id}/stats", params=params))

    def audit(self, progress: Callable[[int], None] | None = None) -> AuditReport:
        # A large keyspace takes a while to scan; the service shows no progress.
        return AuditReport.from_json(self._request("GET", "/api/audit", timeout=600))


class StoreClient:
    """Opens the configured store for each call and runs the same actions the API runs."""

    def __init__(self, config: Config) -> None:
        self.config = config
        server = config.server
        self.base_url = server.public_url or http_url(server.host, server.port)

    def _run(self, action: Callable[[Store], Awaitable[T]]) -> T:
        async def go() -> T:
            store = open_store(self.config)
            try:
                return await action(store)
            finally:
                await store.close()

        return asyncio.run(go())

    def store_is_new(self) -> bool:
        return self.config.is_embedded and not (self.config.data_dir / DB_NAME).exists()

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        campaign = self._run(lambda s: actions.create_campaign(s, self.config, dict(body)))
        return actions.campaign_view(campaign, self.base_url, private=self.config.privacy.noisy)

    def list(self) -> list[dict[str, Any]]:
        return [
            actions.campaign_view(c, self.base_url, private=self.config.privacy.noisy)
            for c in self._run(actions.list_campaigns)
        ]

    def get(self, campaign_id: str) -> dict[str, Any]:
        campaign = self._run(lambda s: actions.get_campaign(s, campaign_id))
        return actions.campaign_view(campaign, self.base_url, private=self.config.privacy.noisy)

    def update(self, campaign_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        campaign = self._run(lambda s: actions.update_campaign(s, campaign_id, dict(body)))
        return actions.campaign_view(campaign, self.base_url, private=self.config.privacy.noisy)

    def set_paused(self, campaign_id: str, paused: bool) -> dict[str, Any]:
        campaign = self._run(lambda s: actions.set_paused(s, campaign_id, paused))
        return actions.campaign_view(campaign, self.base_url, private=self.config.privacy.noisy)

    def delete(self, campaign_id: str) -> None:
        self._run(lambda s: actions.delete_campaign(s, campaign_id))

    def stats(
        self, campaign_id: str, start: str | None, end: str | None, tz: str | None
    ) -> Report | Withheld:
        return self._run(lambda s: actions.stats(s, self.config, campaign_id, start, end, tz))

    def audit(self, progress: Callable[[int], None] | None = None) -> AuditReport:
        return self._run(lambda s: run_audit(s, self.config, progress))


def http_url(host: str, port: int) -> str:
    """The http:// URL of a host and port; an IPv6 address goes in brackets."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}"
    return f"http://[{host}]:{port}" if literal.version == 6 else f"http://{host}:{port}"


def running_service(config: Config) -> str | None:
    """The URL of the service that holds this data dir's embedded store, if one runs."""
    path = config.data_dir / SERVE_FILE
    try:
        info = json.loads(path.read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(info["url"])


@contextmanager
def advertise(config: Config) -> Iterator[None]:
    """While the block serves, SERVE_FILE tells commands on this data dir to call the service.

    A wildcard bind address (0.0.0.0, ::) is advertised as the loopback address of its family.
    """
    host, port = config.server.host, config.server.port
    path = config.data_dir / SERVE_FILE
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"url": http_url(_LOOPBACK.get(host, host), port), "pid": os.getpid()}))
        yield
    finally:
        path.unlink(missing_ok=True)
