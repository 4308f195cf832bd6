"""The classifier's address lists on disk: read at start-up, downloaded by `pixelagg lists update`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..core.networks import AddressLists, NetworkSet, parse_apple_egress_csv, parse_network_lines
from ..exceptions import ConfigError, PixelaggError

__all__ = ["APPLE_EGRESS_URL", "download_apple_egress", "load_address_lists"]

APPLE_EGRESS_URL = "https://mask-api.icloud.com/egress-ip-ranges.csv"


def _read_list(key: str, path: str, *, apple: bool) -> NetworkSet:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Config '{key}' has value '{path}'. Cannot read it: {exc}.") from exc
    try:
        networks = parse_apple_egress_csv(text) if apple else parse_network_lines(text)
    except ValueError as exc:
        raise ConfigError(f"Config '{key}' has value '{path}'. Malformed: {exc}.") from exc
    if apple and not networks:
        # An empty egress list is a failed download, not a choice: refuse to start without it.
        raise ConfigError(f"Config '{key}' has value '{path}'. The file lists no networks.")
    return networks


def load_address_lists(apple_egress_file: str | None, scanner_networks_file: str | None) -> AddressLists:
    """Read the configured lists; raises ConfigError naming the key and the path."""
    empty = NetworkSet()
    return AddressLists(
        apple_egress=(
            _read_list("classify.apple_egress_file", apple_egress_file, apple=True)
            if apple_egress_file
            else empty
        ),
        scanners=(
            _read_list("classify.scanner_networks_file", scanner_networks_file, apple=False)
            if scanner_networks_file
            else empty
        ),
    )


def _write_atomically(dest: Path, text: str) -> None:
    """Write to a temporary file beside ``dest`` and rename it, so readers never see half."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # public data; mkstemp's 0600 would hide it from the server user
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def download_apple_egress(
    dest: str | os.PathLike[str], url: str = APPLE_EGRESS_URL, timeout: float = 30.0
) -> int:
    """Download Apple's egress list to ``dest`` after validating it; returns its range count."""
    import httpx  # imported here: only `lists update` downloads

    hint = "download the file by hand and set classify.apple_egress_file"
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True)
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        raise PixelaggError(f"{url} answered HTTP {status}; {hint}") from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        reason = str(exc) or type(exc).__name__
        raise PixelaggError(f"cannot reach {url}: {reason}; {hint}") from exc
    text = response.text
    try:
        networks = parse_apple_egress_csv(text)
    except ValueError as exc:
        raise PixelaggError(f"{url} did not send Apple's egress list ({exc}); {hint}") from exc
    if not networks:
        raise PixelaggError(f"{url} sent an empty egress list; {hint}")
    target = Path(dest)
    try:
        _write_atomically(target, text)
    except OSError as exc:
        raise PixelaggError(f"cannot write {target}: {exc}") from exc
    return len(networks)
