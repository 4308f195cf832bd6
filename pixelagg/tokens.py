"""API tokens: the configured one, or a random one kept in the data dir (mode 0600)."""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

from .config import Config
from .exceptions import ConfigError

__all__ = ["TOKEN_FILE", "admin_token", "bearer_token", "matches", "role_for"]

TOKEN_FILE = "admin-token"


def admin_token(config: Config, create: bool = True) -> tuple[str | None, Path | None, bool]:
    """(token, file it lives in or None, whether it was just created).

    The API is never open without a token: when none is configured, one is generated with
    `secrets` and written to the data dir, readable by its owner only.
    """
    if config.api.admin_token:
        return config.api.admin_token, None, False
    path = config.data_dir / TOKEN_FILE
    try:
        token = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        token = ""
    except OSError as exc:
        raise ConfigError(f"Cannot read the token file {str(path)!r}: {exc.strerror}.") from None
    if token:
        return token, path, False
    if not create:
        return None, path, False
    token = secrets.token_urlsafe(32)
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its token
        return path.read_text(encoding="ascii").strip(), path, False
    except OSError as exc:
        raise ConfigError(f"Cannot write the token file {str(path)!r}: {exc.strerror}.") from None
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token + "\n")
    return token, path, True


def matches(given: str, expected: str) -> bool:
    """Compare tokens in constant time."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())


def role_for(
    given: str,
    admin_token: str,
    read_tokens: Iterable[str],
    sign: Callable[[str, str], str] | None = None,
) -> tuple[str, str] | None:
    """('admin' or 'read', the token that matched) for a presented secret, or None.

    The secret is a token itself, or with `sign` what sign(token, role) makes of one (a session
    cookie's MAC). It is compared with every token, in constant time, so how long the check
    takes says nothing about which token matched, if any.
    """
    found = None
    for role, token in (("admin", admin_token), *(("read", t) for t in read_tokens)):
        if matches(given, token if sign is None else sign(token, role)) and found is None:
            found = (role, token)
    return found


def bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value; None for anything else."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
