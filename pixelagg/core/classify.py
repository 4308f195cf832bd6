"""Classify an open: was the pixel fetched by a person, a mail proxy, a scanner or a bot?

The user agent picks a class through ``RULES``, an ordered table where the first match wins;
the address then sharpens it. A bare ``Mozilla/5.0`` from Apple's egress ranges is Mail
Privacy Protection, and an ordinary browser user agent from a listed scanner network is a
scanner. Pure: strings and addresses in, a class name out. No I/O happens here; the address
lists are loaded by ``pixelagg.ingest.lists``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import crawleruseragents

if TYPE_CHECKING:
    from .networks import Address, AddressLists

__all__ = [
    "CLASSES",
    "HUMAN_CLASSES",
    "MACHINE_CLASSES",
    "PROXY_CLASSES",
    "RULES",
    "Classifier",
    "Rule",
    "classify_user_agent",
    "match_rule",
]

CLASSES: tuple[str, ...] = ("human", "apple_mpp", "image_proxy", "scanner", "bot")
MACHINE_CLASSES = frozenset({"apple_mpp", "scanner", "bot"})
HUMAN_CLASSES = frozenset({"human", "image_proxy"})  # the headline "human" opens
PROXY_CLASSES = frozenset({"apple_mpp", "image_proxy"})  # the address is the proxy's
DEFAULT_CLASS = "human"

Kind = Literal["empty", "exact", "contains", "regex", "crawler_list"]


@dataclass(frozen=True)
class Rule:
    """One row of the rule table: a user agent matching ``pattern`` by ``kind`` is ``class_``."""

    name: str
    class_: str
    kind: Kind
    pattern: str
    source: str


# Order matters: the first match wins. The mail proxies come before the crawler list, which
# flags GoogleImageProxy and YahooMailProxy as bots although they fetch for a reading person.
RULES: tuple[Rule, ...] = (
    Rule("empty", "bot", "empty", "", "mail clients always send a user agent"),
    Rule("apple-mpp", "apple_mpp", "exact", "Mozilla/5.0", "uap-core#509; ClickDimensions"),
    Rule(
        "apple-networking-extension",
        "apple_mpp",
        "regex",
        r"^NetworkingExtension/",
        "opawg/user-agents-v2#66; Crawler-Detect#603",
    ),
    Rule("gmail-image-proxy", "image_proxy", "contains", "GoogleImageProxy", "matomo DD#5359"),
    Rule("yahoo-mail-proxy", "image_proxy", "contains", "YahooMailProxy", "matomo DD#6735"),
    Rule("seznam-email-proxy", "image_proxy", "contains", "SeznamEmailProxy", "matomo DD#5668"),
    Rule(
        "gmail-content-sampling",
        "bot",
        "contains",
        "Gmail-content-sampling",
        "mssola/user_agent#71",
    ),
    Rule(
        "gmail-prefetch",
        "bot",
        "regex",
        r"Chrome/42\.0\.2311\.135 .*Edge/12\.246",
        "Bird/SparkPost gmail-prefetch; GMass",
    ),
    Rule("barracuda-sentinel", "scanner", "contains", "Barracuda Sentinel", "Braze docs"),
    Rule("microsoft-exchange", "scanner", "regex", r"Microsoft Exchange/15\.", "GMass list"),
    Rule("office-365-connectors", "scanner", "contains", "Office 365 Connectors", "Braze docs"),
    # Named here although the crawler list has most of them today: these must not depend on
    # what a future release of that list keeps.
    Rule("ios-dataaccessd", "bot", "contains", "dataaccessd", "GMass list"),
    Rule("python-requests", "bot", "contains", "python-requests", "GMass list"),
    Rule("facebook-preview", "bot", "contains", "facebookexternalhit", "ws4kp#95"),
    Rule("java-http-client", "bot", "regex", r"^Java/", "JDK HttpURLConnection default UA"),
    Rule("crawler-user-agents", "bot", "crawler_list", "", "crawler-user-agents on PyPI (MIT)"),
)

# Mail clients whose images Microsoft fetches from its own servers (Outlook on the web and
# friends): a Microsoft address must not turn them into scanners.
_OUTLOOK = re.compile(r"Outlook|ms-office|MSOffice|Microsoft Office")

# Longer user agents are classified but not cached, so that junk headers cannot make the
# cache hold megabytes.
_MAX_CACHED_LENGTH = 512


def _matcher(rule: Rule) -> Callable[[str], bool]:
    if rule.kind == "empty":
        return lambda user_agent: not user_agent
    if rule.kind == "exact":
        return lambda user_agent: user_agent == rule.pattern
    if rule.kind == "contains":
        return lambda user_agent: rule.pattern in user_agent
    if rule.kind == "regex":
        pattern = re.compile(rule.pattern)
        return lambda user_agent: pattern.search(user_agent) is not None
    if rule.kind == "crawler_list":
        return lambda user_agent: bool(crawleruseragents.is_crawler(user_agent))
    raise ValueError(f"rule {rule.name!r} has unknown kind {rule.kind!r}")


_MATCHERS: tuple[tuple[Rule, Callable[[str], bool]], ...] = tuple((rule, _matcher(rule)) for rule in RULES)


def match_rule(user_agent: str) -> Rule | None:
    """The first rule matching the user agent, or None when it looks like a person."""
    user_agent = user_agent.strip()
    for rule, matches in _MATCHERS:
        if matches(user_agent):
            return rule
    return None


def classify_user_agent(user_agent: str) -> str:
    """The class of an open judged by its user agent alone."""
    rule = match_rule(user_agent)
    return DEFAULT_CLASS if rule is None else rule.class_


def _judge_user_agent(user_agent: str) -> tuple[str, bool]:
    """The UA-only class, and whether a scanner address may turn it into ``scanner``."""
    class_ = classify_user_agent(user_agent)
    return class_, class_ == "human" and not _OUTLOOK.search(user_agent)


class Classifier:
    """Classify opens by user agent (cached) and address (the lists, not cached)."""

    def __init__(self, lists: AddressLists, cache_size: int = 10_000) -> None:
        """`lists` may be AddressLists.empty(): then the user agent alone decides."""
        self._lists = lists
        self._judge_cached: Callable[[str], tuple[str, bool]] = _judge_user_agent
        if cache_size > 0:
            self._judge_cached = functools.lru_cache(maxsize=cache_size)(_judge_user_agent)

    def _judge(self, user_agent: str) -> tuple[str, bool]:
        if len(user_agent) > _MAX_CACHED_LENGTH:
            return _judge_user_agent(user_agent)
        return self._judge_cached(user_agent)

    def classify(self, user_agent: str, address: Address | None) -> str:
        """The class of an open from its user agent, sharpened by its address."""
        class_, may_be_scanner = self._judge(user_agent)
        lists = self._lists
        if address is None:
            return class_
        if class_ == "apple_mpp":
            if not lists.apple_egress or address in lists.apple_egress:
                return "apple_mpp"
            # Apple's bare user agent from outside Apple's relays: a script imitating it.
            return "bot"
        if may_be_scanner and address in lists.scanners:
            return "scanner"
        return class_
