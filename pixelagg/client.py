"""Where the CLI's campaign, stats and audit commands go: the service's API, or the store itself.

`open_client` chooses as the README says: the API with `--url`, or when a running `pixelagg
serve` holds the embedded store (it says so in DATA_DIR/serve.json, checked against the
store's lock: see `serve_file`); otherwise the store directly. The embedded store never has
two writers, and the CLI never makes one: without a service or a saved store it says where it
looked. Both clients answer with the same JSON.
"""

from __future__ import annotations

import asyncio
import builtins
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

import httpx

from . import actions
from .config import Config
from .core.campaign import Campaign
from .exceptions import PixelaggError
from .reports.audit import AuditReport, run_audit
from .reports.report import Report, Withheld, report_from_json
from .serve_file import SERVE_FILE, Found, find_service, http_url, last_served_url
from .store import Store, open_store
from .store.embedded import DB_NAME
from .tokens import admin_token

__all__ = [
    "MAIL_CLIENT_UA",
    "SERVE_FILE",
    "ApiClient",
    "Client",
    "ServiceError",
    "StoreClient",
    "http_url",
    "open_client",
    "send_open",
]

T = TypeVar("T")


class ServiceError(PixelaggError):
    """The service's API cannot be reached, has no token to use, or refused the call."""


class Client(Protocol):
    """What the commands ask for, in the API's JSON shapes."""

    notes: list[str]
    """What the user should know about the choice of client (a stale serve.json, say)."""

    def store_is_new(self) -> bool:
        """True when there is no store yet: an embedded store that was never saved."""
        ...

    def create(self, body: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """The campaign, and False when one with the body's external_id existed already."""
        ...

    def list(self) -> list[dict[str, Any]]: ...

    def get(self, campaign_id: str) -> dict[str, Any]: ...

    def update(self, campaign_id: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    def set_paused(self, campaign_id: str, paused: bool) -> dict[str, Any]: ...

    def delete(self, campaign_id: str) -> None: ...

    def add_link(self, campaign_id: str, url: str) -> tuple[dict[str, Any], bool]:
        """The link ({"id", "url", "tracking_url"}), and False when the campaign had it already."""
        ...

    def links(self, campaign_id: str) -> builtins.list[dict[str, Any]]:
        """Every link of the campaign, sorted by URL."""
        ...

    def stats(
        self, campaign_id: str, start: str | None, end: str | None, tz: str | None
    ) -> Report | Withheld: ...

    def audit(self, progress: Callable[[int], None] | None = None) -> AuditReport: ...


def open_client(config: Config, url: str | None) -> Client:
    """The API when asked to, or when a running service holds the embedded store; else the store."""
    if url:
        return ApiClient(config, url)
    found = find_service(config) if config.is_embedded else None
    if found is not None and found.url is not None:
        return ApiClient(config, found.url)
    return StoreClient(config, found)


class ApiClient:
    """Calls a running service's JSON API with the admin token."""

    def __init__(self, config: Config, url: str) -> None:
        self.url = url
        self.notes: list[str] = []
        token = os.environ.get("PIXELAGG_ADMIN_TOKEN") or admin_token(config, create=False)[0]
        if not token:
            raise ServiceError(
                f"No API token: set PIXELAGG_ADMIN_TOKEN, or run beside the service's data dir "
                f"({config.data_dir})."
            )
        self.token = token

    def _request(self, method: str, path: str, with_status: bool = False, **kwargs: Any) -> Any:
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
        return (response.json(), response.status_code) if with_status else response.json()

    def store_is_new(self) -> bool:
        return False

    def create(self, body: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        view, status = self._request("POST", "/api/campaigns", json=body, with_status=True)
        return dict(view), status == 201

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

    def add_link(self, campaign_id: str, url: str) -> tuple[dict[str, Any], bool]:
        view, status = self._request(
            "POST", f"/api/campaigns/{campaign_id}/links", json={"url": url}, with_status=True
        )
        return dict(view), status == 201

    def links(self, campaign_id: str) -> builtins.list[dict[str, Any]]:
        return list(self._request("GET", f"/api/campaigns/{campaign_id}/links")["links"])

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

    def __init__(self, config: Config, stale: Found | None = None) -> None:
        self.config = config
        self.stale = stale
        self.notes: list[str] = []
        if stale is not None:
            self.notes.append(
                f"{stale.path} is stale ({stale.why_stale}); it is ignored and no token is sent "
                "to the address it names."
            )
        server = config.server
        self.served_url = None if server.public_url else last_served_url(config)
        self.base_url = server.public_url or self.served_url or http_url(server.host, server.port)

    def _run(self, action: Callable[[Store], Awaitable[T]]) -> T:
        if self.store_is_new():
            raise ServiceError(self._nothing_here())

        async def go() -> T:
            store = open_store(self.config)
            try:
                return await action(store)
            finally:
                await store.close()

        return asyncio.run(go())

    def _nothing_here(self) -> str:
        data_dir = self.config.data_dir.resolve()
        service = f"{SERVE_FILE} is stale" if self.stale else f"no {SERVE_FILE}"
        return (
            f"No pixelagg service and no store here: looked in {data_dir} (store.data_dir) and "
            f"found {service} and no {DB_NAME}. Run the command where 'pixelagg serve' runs, point "
            "it at the service's data dir (PIXELAGG_DATA_DIR=DIR or --config FILE), call a running "
            "service with --url URL, or set PIXELAGG_STORE_URL for a Redis store. Nothing was created."
        )

    def store_is_new(self) -> bool:
        return self.config.is_embedded and not (self.config.data_dir / DB_NAME).exists()

    def _view(self, campaign: Campaign) -> dict[str, Any]:
        view = actions.campaign_view(campaign, self.base_url, private=self.config.privacy.noisy)
        if not self.config.server.public_url:
            source = "the one it last served" if self.served_url else "built from server.host and server.port"
            view["notes"].append(
                f"No service runs on this data dir, so this URL is {source}. Set server.public_url "
                "(PIXELAGG_SERVER_PUBLIC_URL) to the address mail clients reach."
            )
        return view

    def create(self, body: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        token = admin_token(self.config, create=False)[0]  # the key the service derives ids with
        key = token.encode() if token else None
        campaign, new = self._run(lambda s: actions.create_campaign(s, self.config, dict(body), key))
        return self._view(campaign), new

    def list(self) -> list[dict[str, Any]]:
        return [self._view(c) for c in self._run(actions.list_campaigns)]

    def get(self, campaign_id: str) -> dict[str, Any]:
        return self._view(self._run(lambda s: actions.get_campaign(s, campaign_id)))

    def update(self, campaign_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._view(self._run(lambda s: actions.update_campaign(s, campaign_id, dict(body))))

    def set_paused(self, campaign_id: str, paused: bool) -> dict[str, Any]:
        return self._view(self._run(lambda s: actions.set_paused(s, campaign_id, paused)))

    def delete(self, campaign_id: str) -> None:
        self._run(lambda s: actions.delete_campaign(s, campaign_id))

    def add_link(self, campaign_id: str, url: str) -> tuple[dict[str, Any], bool]:
        link, new = self._run(lambda s: actions.register_link(s, self.config, campaign_id, {"url": url}))
        return actions.link_view(campaign_id, link, self.base_url), new

    def links(self, campaign_id: str) -> builtins.list[dict[str, Any]]:
        found = self._run(lambda s: actions.list_links(s, campaign_id))
        return [actions.link_view(campaign_id, link, self.base_url) for link in found]

    def stats(
        self, campaign_id: str, start: str | None, end: str | None, tz: str | None
    ) -> Report | Withheld:
        return self._run(lambda s: actions.stats(s, self.config, campaign_id, start, end, tz))

    def audit(self, progress: Callable[[int], None] | None = None) -> AuditReport:
        return self._run(lambda s: run_audit(s, self.config, progress))


MAIL_CLIENT_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0"
"""The user agent of test opens: Thunderbird's, a mail client pixelagg classifies as human."""


def send_open(pixel_url: str) -> str | None:
    """Fetch the pixel once as a mail client would; the X-Pixelagg answer (None: not pixelagg)."""
    headers = {"User-Agent": MAIL_CLIENT_UA, "Accept": "image/avif,image/webp,image/*,*/*;q=0.8"}
    try:
        response = httpx.get(pixel_url, headers=headers, timeout=10, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise ServiceError(f"Cannot reach {pixel_url}: {exc}") from None
    answer: str | None = response.headers.get("x-pixelagg")
    return answer
