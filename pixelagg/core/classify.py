"""Classify an open: was the pixel fetched by a person, a mail proxy, a scanner or a bot?

The user agent picks a class through ``RULES``, an ordered table where the first match wins:
the mail proxies and mail clients come before two lists of bot patterns that nobody here
wrote (``crawler-user-agents`` and ``crawlerdetect``, both pinned), which call some of them
bots. The address then sharpens the class: a bare ``Mozilla/5.0`` from Apple's egress ranges
is Mail Privacy Protection, and an ordinary browser user agent from a listed scanner network
is a scanner. Pure: strings and addresses in, a class name out. No I/O happens here; the
address lists are loaded by ``pixelagg.ingest.lists``.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import crawleruseragents
from crawlerdetect.providers import crawlers as crawlerdetect_crawlers
from crawlerdetect.providers import exclusions as crawlerdetect_exclusions

if TYPE_CHECKING:
    from .networks import Address, AddressLists

__all__ = [
    "CLASSES",
    "CLICK_CLASSES",
    "CRAWLER_LIST_EXCLUDED",
    "HUMAN_CLASSES",
    "MACHINE_CLASSES",
    "MACHINE_CLICK_CLASSES",
    "PROXY_CLASSES",
    "RULES",
    "Classifier",
    "Rule",
    "classify_user_agent",
    "click_class",
    "crawler_list_patterns",
    "match_rule",
]

CLASSES: tuple[str, ...] = ("human", "apple_mpp", "image_proxy", "scanner", "bot")
MACHINE_CLASSES = frozenset({"apple_mpp", "scanner", "bot"})
HUMAN_CLASSES = frozenset({"human", "image_proxy"})  # the headline "human" opens
PROXY_CLASSES = frozenset({"apple_mpp", "image_proxy"})  # the address is the proxy's
DEFAULT_CLASS = "human"
CLICK_CLASSES: tuple[str, ...] = ("human", "scanner", "bot")
"""The classes of a click: a person, a mail security scanner's pre-click, or another machine."""
MACHINE_CLICK_CLASSES = frozenset({"scanner", "bot"})


def click_class(class_: str, head: bool = False) -> str:
    """The class of a click, from the class its request would have as an open.

    Scanners and bots stay what they are. A HEAD request is a link checker's (no browser
    follows a link with HEAD): a scanner. A person's browser is human. The proxies of opens
    do not follow links, so Apple MPP's bare user agent and an image proxy's are bots.
    """
    if class_ in MACHINE_CLICK_CLASSES:
        return class_
    if head:
        return "scanner"
    return "human" if class_ == "human" else "bot"


Kind = Literal["empty", "exact", "contains", "regex", "list"]


@dataclass(frozen=True)
class Rule:
    """One row of the rule table: a user agent matching ``pattern`` by ``kind`` is ``class_``.

    For ``kind="list"``, ``pattern`` names the pattern list (``crawler-user-agents`` or
    ``crawlerdetect``).
    """

    name: str
    class_: str
    kind: Kind
    pattern: str
    source: str


# Mail clients, after Matomo device-detector's list of them (regexes/client/pim.yml): they
# win over the bot lists, and crawlerdetect calls Outlook, Outlook-iOS and Apple Mail bots.
# Not when the user agent also says bot, crawler or spider, or carries a URL: crawlers
# dress up as Thunderbird too ("Thunderbird/1.0.6 - WebCrawler http://...").
_MAIL_CLIENTS = (
    r"^(?!.*(?i:bot\b|crawl|spider|https?://))(?:Outlook-iOS/|Mail/\d|.*?(?:"
    r"Outlook-Express|Microsoft Outlook|Microsoft Office Outlook|MacOutlook|ms-office|MSOffice"
    r"|WindowsMail/|Thunderbird/|Icedove/|Spicebird/|Airmail|Lotus-Notes|Postbox|The Bat!"
    r"|SeaMonkey/|Mailspring/|Mailbird/|Yahoo%20Mail|jp\.co\.yahoo\.ymail/|eM ?Client/"
    r"|NaverMailApp/|Foxmail/|MailMaster|BlueMail/|mailapp/|Android-Gmail|WorxMail/"
    r"|BLACKBERRY-WorkConnect/))"
)

# Office applications other than Outlook, after Matomo device-detector (regexes/client/
# mobile_apps.yml): Word, Excel, PowerPoint, OneNote, Visio, Lync and the Office mobile app, in
# their forms ("Microsoft Office Word/16.43 (Mac OS/...)", "Word/15.22 (Mac OS/...)", "Microsoft
# Office Word 2013 (15.0...)", "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Excel ...; Pro)").
# crawlerdetect calls them bots: on a web site their hits are link pre-fetches. An image is
# fetched by one only while a person has it on screen (the mail sent to OneNote, saved or
# pasted into Word), so for the pixel they are people. Same guard as the mail clients, after a
# cheap check of the start.
_OFFICE_APPS = "Access|Excel|OneNote|PowerPoint|Project|Publisher|Visio|Word"
_OFFICE_APP = (
    rf"^(?=Microsoft Office|(?:{_OFFICE_APPS})/)"
    r"(?!.*(?i:bot\b|crawl|spider|https?://))(?:Microsoft Office(?:"
    rf" (?:{_OFFICE_APPS}|Mobile)\b"
    rf"|/\d+\.\d+ \([^)]*?(?:Microsoft (?:{_OFFICE_APPS}|Lync) |officemobile ))"
    rf"|(?:{_OFFICE_APPS})/\d+\.[\d.]+ \((?:Mac OS|iOS|Windows)/)"
)

# Feed readers and podcatchers, after Matomo device-detector's list (regexes/client/
# feed_readers.yml): a newsletter also published as a feed has its images fetched by them.
_FEED_READERS = (
    r"Akregator|Apple-PubSub|BashPodder|Breaker/v?\d|FeedDemon|Feeddler(?:RSS|PRO)|QuiteRSS|gPodder/"
    r"|JetBrains Omea Reader|Liferea|NetNewsWire|Evergreen.+MacOS|NewsBlur|newsbeuter|PritTorrent/"
    r"|Pulp[/ ]\d|ReadKit|Reeder[/ ]\d|RSSBandit|RSS Junkie|RSSOwl|Stringer|^castero |^castget "
    r"|^Newsboat/|^Playapod|PodPuppy "
)

# Order matters: the first match wins. The mail proxies and the mail clients come before the
# two bot lists, which flag GoogleImageProxy, YahooMailProxy and Outlook as bots although
# they fetch for a reading person.
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
    Rule("rambler-mail-proxy", "image_proxy", "regex", r"^RamblerMail/", "matomo DD#5700"),
    Rule("ukrnet-mail-proxy", "image_proxy", "contains", "via secureurl.fwdcdn.com", "matomo DD#5700"),
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
    # Office's own check that a linked document exists (a HEAD, or a GET from some builds):
    # no person sees the image. Before mail-client, which "Microsoft Office" would match.
    Rule(
        "office-existence-discovery",
        "bot",
        "contains",
        "Microsoft Office Existence Discovery",
        "MSDN vsofficedeveloper blog, 2008-03-11",
    ),
    # Office asking a server whether it speaks WebDAV (an OPTIONS before opening a document or
    # link), and Office's background sync of cached documents: no person sees an image.
    Rule("office-protocol-discovery", "bot", "contains", "Protocol Discovery", "Microsoft KB 838028"),
    Rule(
        "office-sync",
        "bot",
        "regex",
        r"Microsoft Office SyncProc|Microsoft (?:Office )?Upload Center",
        "matomo DD regexes/local/client/desktop_apps.yml (apputility)",
    ),
    # Microsoft's link previews (Teams, Outlook, Skype, Bing): server-side fetches for a link
    # someone shared, before the mail-client rule in case one ever names Outlook.
    Rule(
        "microsoft-link-preview",
        "bot",
        "regex",
        r"MicrosoftPreview/|SkypeUriPreview|BingPreview/",
        "aka.ms/MicrosoftPreview; Teams unfurling docs",
    ),
    # Named here although the bot lists have most of them today: these must not depend on
    # what a future release of those lists keeps.
    Rule("ios-dataaccessd", "bot", "contains", "dataaccessd", "GMass list"),
    Rule("python-requests", "bot", "contains", "python-requests", "GMass list"),
    Rule("facebook-preview", "bot", "contains", "facebookexternalhit", "ws4kp#95"),
    Rule("java-http-client", "bot", "regex", r"^Java/", "JDK HttpURLConnection default UA"),
    Rule("mail-client", "human", "regex", _MAIL_CLIENTS, "matomo DD regexes/client/pim.yml"),
    Rule("office-app", "human", "regex", _OFFICE_APP, "matomo DD regexes/client/mobile_apps.yml"),
    Rule("feed-reader", "bot", "regex", _FEED_READERS, "matomo DD regexes/client/feed_readers.yml"),
    Rule("crawler-user-agents", "bot", "list", "crawler-user-agents", "PyPI crawler-user-agents (MIT)"),
    Rule("crawlerdetect", "bot", "list", "crawlerdetect", "PyPI crawlerdetect (MIT)"),
)

# Patterns of the crawler list that match real clients: device models, build numbers and
# browsers. Each is left out by its exact text; a test fails when the pinned list drops one.
CRAWLER_LIST_EXCLUDED: Mapping[str, str] = {
    r"AP3A\.240617\.008": "an Android 15 build id (OPPO, OnePlus, realme and more): every WebView on it",
    r"Sogou": "Sogou's mobile browser; its spiders stay bots through crawlerdetect ('sogou web', 'spider')",
    r"Blackboard": "the Blackboard app's WebView (iOS); SafeAssign stays a bot through crawlerdetect",
    r"Butterfly": "the HTC Butterfly phones",
    r"Sonic": "ViewSonic and other phones and tablets named Sonic",
    r"008\/": "Opera Mini build numbers (4.4.39008/) and device models (TS1008/)",
    r"Fever": "the Fever phones; the Fever feed reader stays a bot ('Feed Parser')",
    r"Expanse": "a phone named Expanse; Palo Alto's scanner stays a bot (crawlerdetect '^Expanse')",
    r"Fluid": "Fluid.app, a site-specific browser for macOS",
}

# Mail clients whose images Microsoft fetches from its own servers (Outlook on the web and
# friends): a Microsoft address must not turn them into scanners.
_OUTLOOK = re.compile(r"Outlook|ms-office|MSOffice|Microsoft Office")

# Longer user agents are classified but not cached, so that junk headers cannot make the
# cache hold megabytes.
_MAX_CACHED_LENGTH = 512

# re's own parser finds the literals a pattern needs (private but stable since 3.11, where
# sre_parse became its deprecated alias); typeshed has no stub for it, hence Any.
_re_parser: Any = importlib.import_module("re._parser")
_MIN_LITERAL = 3
_REPEATS = (_re_parser.MAX_REPEAT, _re_parser.MIN_REPEAT, _re_parser.POSSESSIVE_REPEAT)


def _required_literals(items: Any) -> frozenset[str] | None:
    """Lowercase strings, one of which occurs in any text the parsed pattern matches.

    None when no such set of strings of at least three characters is found; the pattern is
    then tried on every user agent.
    """
    best: frozenset[str] | None = None

    def consider(found: frozenset[str] | None) -> None:
        nonlocal best
        if found and (best is None or min(map(len, found)) > min(map(len, best))):
            best = found

    run: list[str] = []
    for op, value in [*items, (None, None)]:
        if op is _re_parser.LITERAL:
            run.append(chr(value))
            continue
        if len(run) >= _MIN_LITERAL:
            consider(frozenset({"".join(run).lower()}))
        run = []
        if op is _re_parser.SUBPATTERN:
            consider(_required_literals(value[3]))
        elif op is _re_parser.ATOMIC_GROUP:
            consider(_required_literals(value))
        elif op is _re_parser.BRANCH:
            branches = [_required_literals(branch) for branch in value[1]]
            found = [literals for literals in branches if literals]
            if len(found) == len(branches):  # every branch needs one of its literals
                consider(frozenset().union(*found))
        elif op in _REPEATS and value[0] >= 1:  # repeated at least once, so its literals occur
            consider(_required_literals(value[2]))
    return best


class _PatternIndex:
    """Many regular expressions, each tried only on text that holds a literal it needs.

    A list of 1,500 patterns searched one by one costs about 200 µs a user agent, and as one
    case-insensitive alternation about 800 µs; indexed by the first three characters of each
    pattern's required literal, about 20 µs, with the same answers.
    """

    def __init__(self, patterns: Iterable[str], flags: int = 0) -> None:
        self._index: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
        always: list[str] = []
        for pattern in patterns:
            literals = _required_literals(_re_parser.parse(pattern, flags))
            if literals is None:
                always.append(pattern)
                continue
            compiled = re.compile(pattern, flags)
            for literal in literals:
                self._index.setdefault(literal[:_MIN_LITERAL], []).append((literal, compiled))
        self._always = re.compile("|".join(f"(?:{p})" for p in always), flags) if always else None

    def search(self, text: str) -> bool:
        """Whether any of the patterns matches somewhere in ``text``."""
        lowered = text.lower()
        index = self._index
        tried: set[re.Pattern[str]] = set()
        for start in range(len(lowered) - _MIN_LITERAL + 1):
            bucket = index.get(lowered[start : start + _MIN_LITERAL])
            if bucket is None:
                continue
            for literal, compiled in bucket:
                if compiled not in tried and literal in lowered:
                    tried.add(compiled)
                    if compiled.search(text):
                        return True
        return self._always is not None and self._always.search(text) is not None


def crawler_list_patterns() -> list[str]:
    """The pinned crawler list's patterns that pixelagg uses: all but CRAWLER_LIST_EXCLUDED."""
    return [
        entry["pattern"]
        for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA
        if entry["pattern"] not in CRAWLER_LIST_EXCLUDED
    ]


@functools.cache
def _crawler_list() -> _PatternIndex:
    # Case-sensitive, as crawleruseragents.is_crawler() is by default.
    return _PatternIndex(crawler_list_patterns())


@functools.cache
def _crawlerdetect() -> tuple[re.Pattern[str], _PatternIndex]:
    # What crawlerdetect.CrawlerDetect.is_crawler() does: strip the browser tokens of its
    # exclusion list, then search its patterns, ignoring case.
    exclusions = re.compile("|".join(crawlerdetect_exclusions.data), re.IGNORECASE)
    return exclusions, _PatternIndex(crawlerdetect_crawlers.data, re.IGNORECASE)


def _is_crawler_list(user_agent: str) -> bool:
    return _crawler_list().search(user_agent)


def _is_crawlerdetect(user_agent: str) -> bool:
    exclusions, index = _crawlerdetect()
    rest = exclusions.sub("", user_agent)
    return bool(rest) and index.search(rest)


_LISTS: dict[str, Callable[[str], bool]] = {
    "crawler-user-agents": _is_crawler_list,
    "crawlerdetect": _is_crawlerdetect,
}


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
    if rule.kind == "list" and rule.pattern in _LISTS:
        return _LISTS[rule.pattern]
    raise ValueError(f"rule {rule.name!r} has unknown kind {rule.kind!r} or list {rule.pattern!r}")


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
        _crawler_list(), _crawlerdetect()  # build the pattern indexes now, not on the first hit
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
