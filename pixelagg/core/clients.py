"""Mail-client families: which kind of mail program (or its proxy) loaded the image.

The report's `by_client` shows the share of loads per family, the way senders know their
audience ("half our opens are Apple Mail"). A family is read from the class and the user
agent only; scanners and bots belong to none, since no mail program opened anything.
"""

from __future__ import annotations

import functools

__all__ = ["CLIENT_FAMILIES", "client_family"]

CLIENT_FAMILIES = ("apple_mail", "gmail", "yahoo", "outlook", "other")
"""Apple Mail (its Privacy Protection prefetches included), Gmail's image proxy, Yahoo's,
Outlook in its forms, and every other mail program."""

_OUTLOOK = ("Outlook", "ms-office", "MSOffice", "Microsoft Office")
_APPLE_MAIL_PREFIX = "Mozilla/5.0 (Macintosh; "
_APPLE_MOBILE_PREFIXES = ("Mozilla/5.0 (iPhone; ", "Mozilla/5.0 (iPad; ")


_MAX_CACHED_LENGTH = 512
"""Longer user agents are judged by their first 512 characters, uncached."""


@functools.lru_cache(maxsize=4096)
def _cached_family(user_agent: str) -> str:
    """The family of a header as sent: the pixel's strings hash once for the classifier's
    cache and this one."""
    return _family_of_agent(user_agent.strip())


def _family_of_agent(user_agent: str) -> str:
    if "GoogleImageProxy" in user_agent:
        return "gmail"
    if "YahooMailProxy" in user_agent:
        return "yahoo"
    if any(mark in user_agent for mark in _OUTLOOK):
        return "outlook"
    # Apple Mail sends WebKit without a browser's "Safari/" or "Version/" token.
    webkit = "AppleWebKit/" in user_agent and "Safari/" not in user_agent and "Version/" not in user_agent
    if webkit and user_agent.startswith((_APPLE_MAIL_PREFIX, *_APPLE_MOBILE_PREFIXES)):
        return "apple_mail"
    return "other"


def client_family(class_: str, user_agent: str) -> str | None:
    """The family of a counted load, or None for scanners and bots."""
    if class_ in ("scanner", "bot"):
        return None
    if class_ == "apple_mpp":
        return "apple_mail"
    if len(user_agent) > _MAX_CACHED_LENGTH:
        return _family_of_agent(user_agent.strip()[:_MAX_CACHED_LENGTH])
    return _cached_family(user_agent)
