"""The checks of configuration values: each returns None, or what is wrong with a value."""

from __future__ import annotations

import importlib.util
import ipaddress
from collections.abc import Callable
from typing import Any

__all__ = [
    "Check",
    "between",
    "divides_an_hour",
    "epsilon",
    "networks",
    "one_of",
    "prefix",
    "server_implementation",
    "store_url",
    "token",
    "tokens",
    "without_password",
]

Check = Callable[[Any], str | None]


def between(low: int, high: int) -> Check:
    def check(value: Any) -> str | None:
        return None if low <= value <= high else f"Must be between {low} and {high}."

    return check


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else f"Must be one of: {', '.join(choices)}."

    return check


def server_implementation(value: Any) -> str | None:
    problem = one_of("uvicorn", "granian")(value)
    if problem is None and importlib.util.find_spec(value) is None:
        problem = f"{value} is not installed: pip install 'pixelagg[{value}]'."
    return problem


def epsilon(value: Any) -> str | None:
    if value is None:
        return None
    return None if 0.01 <= value <= 10 else "Must be between 0.01 and 10, or off."


def divides_an_hour(value: Any) -> str | None:
    if 1 <= value <= 3600 and 3600 % value == 0:
        return None
    return "Must divide 3600 (e.g. 60, 300, 900, 3600)."


def networks(value: Any) -> str | None:
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            return f"{item!r} is not an IP network (CIDR)."
    return None


def store_url(value: Any) -> str | None:
    if value is None:
        return None
    schemes = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")
    if not value.startswith(schemes):
        return "Must start with redis://, rediss://, unix://, redis+cluster:// or be empty."
    return None


def without_password(url: str) -> str:
    """A URL with its user and password replaced, for error messages that reach logs."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}(hidden)@{rest.rsplit('@', 1)[-1]}" if "@" in rest else url


def token(value: Any) -> str | None:
    if value is None:
        return None
    return None if len(value) >= 16 else "Must be at least 16 characters."


def tokens(value: Any) -> str | None:
    for item in value:
        if token(item):
            return "Every token must be at least 16 characters."
    return None


def prefix(value: Any) -> str | None:
    ok = value and all(c.isalnum() or c in "-_" for c in value)
    return None if ok else "Must be letters, digits, '-' or '_'."
