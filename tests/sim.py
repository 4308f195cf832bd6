"""The open-rate model as a simulator: campaigns drawn from it, sent through the service, scored.

A campaign is a list of recipients, each in one mail environment (Apple MPP, Gmail, Yahoo, an
office behind NAT, or a direct client), who reads or not and opens a random number of times on
one or more devices. What each kind does to the pixel is in docs/metrics.md ("The open-rate
model"); ``WORLD`` holds the ranges its parameters are drawn from. Each campaign knows its
truth (readers, MPP recipients); its hits go through the real app, and the estimator runs on
the report the service gives back. Used by tests/reports/test_estimate.py (in-process) and
bench/simulate.py (a real ``pixelagg serve``).
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pixelagg.core.classify import CLASSES
from pixelagg.reports.estimate import Estimate, estimate_open_rate
from pixelagg.reports.noise import Budget, add_noise
from pixelagg.reports.release import Figure
from pixelagg.reports.stats import RELATIVE_ERROR

GMAIL_UA = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
YAHOO_UA = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
MPP_UA = "Mozilla/5.0"
OUTLOOK_UA = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.15225; Pro)"
SCANNER_UA = "Barracuda Sentinel (EE)"
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
GMAIL_PREFETCH_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/42.0.2311.135 Safari/537.36 Edge/12.246"
)
MOBILE_UAS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.113 Mobile Safari/537.36",
)
DIRECT_UAS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:115.0) Gecko/20100101 Thunderbird/115.16.0",
    OUTLOOK_UA,
    "Microsoft Office/16.0 (Microsoft Outlook Mail 16.0.17531; Pro)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    BROWSER_UA,
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:126.0) Gecko/20100101 Firefox/126.0",
    *MOBILE_UAS,
)
KINDS = {  # the class each user agent above must get; tests/reports/test_estimate.py checks it
    GMAIL_UA: "image_proxy",
    YAHOO_UA: "image_proxy",
    MPP_UA: "apple_mpp",
    SCANNER_UA: "scanner",
    GMAIL_PREFETCH_UA: "bot",
    **dict.fromkeys(DIRECT_UAS, "human"),
}
# First octets of residential addresses (RIPE and ARIN blocks); the pools below use others.
_RESIDENTIAL = (24, 31, 46, 62, 73, *range(77, 96))
_POOLS = {"gmail": "66.249", "yahoo": "98.137", "relay": "172.224", "scanner": "64.235", "cloud": "20.42"}


@dataclass(frozen=True)
class Hit:
    """One image fetch: the address and user agent it comes from, and whether it sends Sec-GPC."""

    ip: str
    user_agent: str
    declined: bool = False


@dataclass
class SimCampaign:
    """A campaign's hits and its truth."""

    name: str
    recipients: int
    hits: list[Hit] = field(default_factory=list)
    readers: int = 0
    """Recipients who opened with images on, MPP readers included, decliners (GPC/DNT) not."""
    mpp_recipients: int = 0
    mpp_readers: int = 0
    direct_readers: int = 0
    proxied_readers: int = 0
    direct_keys: set[tuple[str, str]] = field(default_factory=set)
    direct_loads: int = 0
    proxied_loads: int = 0
    prefetches: int = 0
    machine_keys: set[tuple[str, str]] = field(default_factory=set)
    """Scanners with a browser user agent: counted as human, readers of nothing."""

    @property
    def open_rate(self) -> float:
        return self.readers / self.recipients

    def realised(self) -> dict[str, float]:
        """The estimator's parameters as this campaign realised them (those it has readers for)."""
        out = {"machine_keys": len(self.machine_keys) / self.recipients}
        if self.direct_readers:
            out["keys_per_reader"] = len(self.direct_keys) / self.direct_readers
            out["opens_per_reader"] = self.direct_loads / self.direct_readers
            if self.proxied_readers:
                out["proxy_repeat"] = self.proxied_loads / self.proxied_readers / out["opens_per_reader"]
        if self.mpp_recipients:
            out["mpp_prefetches"] = self.prefetches / self.mpp_recipients
            others = self.readers - self.mpp_readers
            rest = self.recipients - self.mpp_recipients
            if others and rest:
                out["mpp_read_ratio"] = (self.mpp_readers / self.mpp_recipients) / (others / rest)
        return out

    @property
    def open_rate_without_mpp(self) -> float | None:
        rest = self.recipients - self.mpp_recipients
        return (self.readers - self.mpp_readers) / rest if rest else None


class Builder:
    """Builds a campaign's hits reader by reader, with fresh addresses for every device."""

    def __init__(self, rng: random.Random, name: str, recipients: int) -> None:
        self.rng = rng
        self.campaign = SimCampaign(name, recipients)
        self._used: set[str] = set()

    def address(self) -> str:
        """A residential address no other device of this campaign has."""
        rng = self.rng
        while True:
            first, second, third = rng.choice(_RESIDENTIAL), rng.randrange(256), rng.randrange(256)
            ip = f"{first}.{second}.{third}.{rng.randrange(1, 255)}"
            if ip not in self._used:
                self._used.add(ip)
                return ip

    def pool(self, name: str, size: int) -> list[str]:
        """`size` addresses of a proxy, relay or scanner operator."""
        prefix = _POOLS[name]
        return [f"{prefix}.{i // 250}.{i % 250 + 1}" for i in range(size)]

    def opens(self, mean: float) -> int:
        """Opens of one reader: geometric on 1, 2, ... with this mean (each open, again with p)."""
        again = 1 - 1 / mean
        k = 1
        while self.rng.random() < again:
            k += 1
        return k

    def devices(self, multi_device: float) -> int:
        if self.rng.random() >= multi_device:
            return 1
        return 2 if self.rng.random() < 0.7 else 3

    def direct(
        self, opens: int, uas: Sequence[str], first_ip: str | None = None, declined: bool = False
    ) -> None:
        """A reader on len(uas) devices (the first maybe behind `first_ip`), each opening at least once."""
        devices = [(first_ip if i == 0 and first_ip else self.address(), ua) for i, ua in enumerate(uas)]
        counts = [1] * len(devices)
        for _ in range(max(0, opens - len(devices))):
            counts[self.rng.randrange(len(devices))] += 1
        c = self.campaign
        for (ip, ua), n in zip(devices, counts, strict=True):
            c.hits.extend(Hit(ip, ua, declined) for _ in range(n))
            if not declined:
                c.direct_keys.add((ip, ua))
                c.direct_loads += n
        c.readers += not declined
        c.direct_readers += not declined

    def proxied(self, opens: int, pool: Sequence[str], ua: str, declined: bool = False) -> None:
        """A reader whose every open is fetched by the provider's proxy, from any of its addresses."""
        c = self.campaign
        c.hits.extend(Hit(self.rng.choice(pool), ua, declined) for _ in range(opens))
        c.readers += not declined
        c.proxied_readers += not declined
        c.proxied_loads += 0 if declined else opens

    def mpp(self, prefetches: int, relays: Sequence[str], reads: bool) -> None:
        """An MPP recipient: prefetched at delivery (maybe again), read or not; reads are unseen."""
        self.campaign.hits.extend(Hit(self.rng.choice(relays), MPP_UA) for _ in range(prefetches))
        self.campaign.prefetches += prefetches
        self.campaign.mpp_recipients += 1
        self.campaign.mpp_readers += reads
        self.campaign.readers += reads

    def machine(self, ip: str, ua: str) -> None:
        """A fetch by a scanner or bot, for no reader."""
        self.campaign.hits.append(Hit(ip, ua))
        if KINDS[ua] == "human":
            self.campaign.machine_keys.add((ip, ua))

    def done(self) -> SimCampaign:
        self.rng.shuffle(self.campaign.hits)
        return self.campaign


# --- the world: plausible ranges, one campaign drawn from them ------------------------------


@dataclass(frozen=True)
class World:
    """The parameters of one simulated campaign (shares are of recipients)."""

    recipients: int
    mpp: float
    gmail: float
    yahoo: float
    office: float
    read_rate: float
    mpp_read_ratio: float
    opens: float
    proxy_repeat: float
    multi_device: float
    office_size: int
    refetch: float
    scanned: float
    scanned_browser: float
    bots: float
    declining: float
    gmail_pool: int
    yahoo_pool: int
    relay_pool: int


WORLD: dict[str, tuple[float, float, str]] = {
    "mpp": (0.05, 0.55, "Apple Mail with MPP on; Litmus (2022): MPP about half of all opens, less on B2B"),
    "gmail": (0.05, 0.40, "Gmail through GoogleImageProxy: the largest client family after Apple's"),
    "yahoo": (0.0, 0.08, "Yahoo through YahooMailProxy: a few percent"),
    "office": (0.0, 0.20, "office readers of Outlook desktop behind one NAT address per office"),
    "read_rate": (0.10, 0.60, "share of non-MPP recipients who read: newsletters 15-40 %, small lists more"),
    "mpp_read_ratio": (0.7, 1.4, "MPP recipients' read rate over the others' (log-uniform)"),
    "opens": (1.2, 2.5, "mean opens per reader, geometric; total/unique open ratios of 1.5-2.5"),
    "proxy_repeat": (0.8, 1.25, "proxied readers' mean opens over direct readers' (log-uniform)"),
    "multi_device": (0.0, 0.20, "readers on 2 (70 %) or 3 devices or networks, each a visitor key"),
    "office_size": (3, 30, "recipients per office NAT address"),
    "refetch": (0.0, 0.50, "chance that MPP prefetches a message a second time"),
    "scanned": (0.0, 0.08, "recipients whose mail a scanner that names itself fetches once"),
    "scanned_browser": (0.0, 0.02, "recipients whose mail a scanner with a browser UA fetches once"),
    "bots": (0.0, 0.02, "recipients whose mail Gmail's prefetch bot fetches"),
    "declining": (0.0, 0.05, "readers who send Sec-GPC: counted as declined, not in the truth"),
    "gmail_pool": (20, 100, "Gmail proxy addresses"),
    "yahoo_pool": (5, 20, "Yahoo proxy addresses"),
    "relay_pool": (50, 300, "Apple relay addresses"),
}
_LOG_UNIFORM = {"mpp_read_ratio", "proxy_repeat"}
_INTEGER = {"office_size", "gmail_pool", "yahoo_pool", "relay_pool"}


def draw_world(rng: random.Random, recipients: tuple[int, int]) -> World:
    """One campaign's parameters: recipients log-uniform in the range, the rest from WORLD."""
    values: dict[str, Any] = {"recipients": round(math.exp(rng.uniform(*map(math.log, recipients))))}
    for name, (low, high, _) in WORLD.items():
        if name in _INTEGER:
            values[name] = rng.randint(int(low), int(high))
        elif name in _LOG_UNIFORM:
            values[name] = math.exp(rng.uniform(math.log(low), math.log(high)))
        else:
            values[name] = rng.uniform(low, high)
    shares = sum(values[k] for k in ("mpp", "gmail", "yahoo", "office"))
    if shares > 0.9:  # leave at least 10 % of recipients on direct clients
        for k in ("mpp", "gmail", "yahoo", "office"):
            values[k] *= 0.9 / shares
    return World(**values)


def campaign_of(world: World, rng: random.Random, name: str = "drawn") -> SimCampaign:
    """A campaign drawn from the world: every recipient, reader and fetch."""
    b = Builder(rng, name, world.recipients)
    gmail, yahoo = b.pool("gmail", world.gmail_pool), b.pool("yahoo", world.yahoo_pool)
    relays, scanners = b.pool("relay", world.relay_pool), b.pool("scanner", 10)
    offices: list[str] = []
    seats = 0
    mpp_read = min(1.0, world.read_rate * world.mpp_read_ratio)
    edges = _cumulative([world.mpp, world.gmail, world.yahoo, world.office])
    for _ in range(world.recipients):
        u = rng.random()
        kind = next((i for i, edge in enumerate(edges) if u < edge), 4)
        if kind == 3:  # an office recipient has a seat behind the office's one address
            if seats % world.office_size == 0:
                offices.append(b.address())
            seats += 1
        if kind == 0:
            b.mpp(1 + (rng.random() < world.refetch), relays, rng.random() < mpp_read)
        elif rng.random() < world.read_rate:
            declined = rng.random() < world.declining
            devices = b.devices(world.multi_device)
            if kind in (1, 2):
                opens = max(devices, b.opens(world.opens * world.proxy_repeat))
                b.proxied(opens, gmail if kind == 1 else yahoo, GMAIL_UA if kind == 1 else YAHOO_UA, declined)
            elif kind == 3:  # further devices are phones on their own networks
                uas = [OUTLOOK_UA, *(rng.choice(MOBILE_UAS) for _ in range(devices - 1))]
                b.direct(max(devices, b.opens(world.opens)), uas, offices[-1], declined)
            else:
                uas = [rng.choice(DIRECT_UAS) for _ in range(devices)]
                b.direct(max(devices, b.opens(world.opens)), uas, None, declined)
        if rng.random() < world.scanned:
            b.machine(rng.choice(scanners), SCANNER_UA)
        if rng.random() < world.scanned_browser:
            b.machine(f"{_POOLS['cloud']}.{rng.randrange(256)}.{rng.randrange(1, 255)}", BROWSER_UA)
        if rng.random() < world.bots:
            b.machine(rng.choice(gmail), GMAIL_PREFETCH_UA)
    return b.done()


def _cumulative(values: Iterable[float]) -> list[float]:
    out, total = [], 0.0
    for v in values:
        total += v
        out.append(total)
    return out


def draw_campaigns(seed: int, count: int, recipients: tuple[int, int]) -> list[tuple[World, SimCampaign]]:
    """`count` campaigns from one seed: the same seed gives the same campaigns."""
    rng = random.Random(seed)
    drawn = []
    for i in range(count):
        world = draw_world(rng, recipients)
        drawn.append((world, campaign_of(world, random.Random(rng.getrandbits(64)), f"drawn-{i}")))
    return drawn


# --- the five campaigns of issue #12 ---------------------------------------------------------


def gmail_behind_proxies(seed: int = 1) -> SimCampaign:
    """1,000 Gmail readers behind 20 proxy addresses: true open rate 100 %."""
    b = Builder(random.Random(seed), "1,000 Gmail readers, 20 proxy addresses", 1000)
    pool = b.pool("gmail", 20)
    for _ in range(1000):
        b.proxied(b.opens(1.7), pool, GMAIL_UA)
    return b.done()


def mpp_prefetches(seed: int = 2) -> SimCampaign:
    """1,000 MPP prefetches from 50 relays, 300 real reads (unseen): true open rate 30 %."""
    b = Builder(random.Random(seed), "1,000 MPP prefetches, 50 relays, 300 reads", 1000)
    relays = b.pool("relay", 50)
    for i in range(1000):
        b.mpp(1, relays, reads=i < 300)
    return b.done()


def office_nat(seed: int = 3) -> SimCampaign:
    """500 Outlook readers behind 10 office NAT addresses with one user agent: true 100 %."""
    b = Builder(random.Random(seed), "500 Outlook readers, 10 NAT addresses, one UA", 500)
    offices = [b.address() for _ in range(10)]
    for i in range(500):
        b.direct(b.opens(1.7), [OUTLOOK_UA], offices[i % 10])
    return b.done()


def three_devices(seed: int = 4) -> SimCampaign:
    """100 readers on 3 devices each: true 100 %."""
    b = Builder(random.Random(seed), "100 readers on 3 devices each", 100)
    for _ in range(100):
        b.direct(max(3, b.opens(2.0)), [MOBILE_UAS[0], DIRECT_UAS[0], BROWSER_UA])
    return b.done()


def mixed_list(seed: int = 5) -> SimCampaign:
    """A mixed 10,000 list: Apple MPP, Gmail, Yahoo, office Outlook, others and a scanner: true 34 %."""
    rng = random.Random(seed)
    b = Builder(rng, "mixed 10,000: Apple, Gmail, Yahoo, office Outlook, others, a scanner", 10_000)
    gmail, yahoo = b.pool("gmail", 60), b.pool("yahoo", 10)
    relays, scanners = b.pool("relay", 200), b.pool("scanner", 5)
    for i in range(4000):  # Apple MPP: 1,500 of 4,000 read; a tenth prefetched twice
        b.mpp(1 + (i % 10 == 0), relays, reads=i < 1500)
    for _ in range(800):  # Gmail: 800 readers of 2,500
        b.proxied(b.opens(1.7), gmail, GMAIL_UA)
    for _ in range(150):  # Yahoo: 150 of 500
        b.proxied(b.opens(1.7), yahoo, YAHOO_UA)
    offices = [b.address() for _ in range(25)]
    for i in range(400):  # office Outlook: 400 of 1,000 behind 25 NAT addresses
        b.direct(b.opens(1.7), [OUTLOOK_UA], offices[i % 25])
    for _ in range(550):  # direct clients: 550 of 2,000, some on two devices
        devices = 2 if rng.random() < 0.15 else 1
        b.direct(max(devices, b.opens(1.7)), [rng.choice(DIRECT_UAS) for _ in range(devices)])
    for _ in range(800):  # a scanner fetches 800 of the mails
        b.machine(rng.choice(scanners), SCANNER_UA)
    return b.done()


TABLE: list[Callable[[], SimCampaign]] = [
    gmail_behind_proxies,
    mpp_prefetches,
    office_nat,
    three_devices,
    mixed_list,
]
"""Issue #12's table, rebuilt."""


# --- through the service ----------------------------------------------------------------------


def pixel_scope(campaign_id: str, hit: Hit) -> dict[str, Any]:
    """The ASGI scope of one pixel request from loopback (a trusted proxy) for `hit`."""
    headers = [
        (b"host", b"testserver"),
        (b"x-forwarded-for", hit.ip.encode()),
        (b"user-agent", hit.user_agent.encode()),
    ]
    if hit.declined:
        headers.append((b"sec-gpc", b"1"))
    path = f"/p/{campaign_id}.gif"
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def send_asgi(app: Any, campaign_id: str, hits: Sequence[Hit]) -> Counter[str]:
    """Send the hits to the app in-process, one ASGI request each; the X-Pixelagg answers counted."""
    answers: Counter[str] = Counter()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answers[dict(message["headers"])[b"x-pixelagg"].decode()] += 1

    for i, hit in enumerate(hits):
        await app(pixel_scope(campaign_id, hit), receive, send)
        if i % 256 == 255:
            await asyncio.sleep(0)  # let the aggregator flush
    return answers


def expected_answers(hits: Sequence[Hit]) -> Counter[str]:
    """What the pixel must answer: counted, or declined for Sec-GPC."""
    return Counter("declined" if h.declined else "counted" for h in hits)


@dataclass(frozen=True)
class Figures:
    """What the estimator is given: recipients, and loads and uniques per class."""

    recipients: int
    loads: dict[str, Figure]
    uniques: dict[str, Figure]
    uniques_error: float


def figures_of(report: dict[str, Any]) -> Figures:
    """The report's per-class loads and uniques. With the release step off, uniques are
    HyperLogLog estimates with their relative error."""
    return Figures(
        int(report["campaign"]["recipients"]),
        {c: Figure(int(report["opens"]["by_class"][c])) for c in CLASSES},
        {c: Figure(int(report["unique_opens"]["by_class"][c]["estimate"])) for c in CLASSES},
        RELATIVE_ERROR,
    )


def released(figures: Figures, budget: Budget) -> Figures:
    """The figures as the release step would give them for a one-day campaign: each class's
    loads and uniques a UTC-day cell with its discrete Laplace noise (reports/noise.py)."""

    def noisy(values: dict[str, Figure], kind: str) -> dict[str, Figure]:
        scale = budget.scale(kind, "d")
        drawn = add_noise([values[c].value for c in CLASSES], scale)
        return {c: Figure(v, budget.variance(kind, "d")) for c, v in zip(CLASSES, drawn, strict=True)}

    return Figures(
        figures.recipients, noisy(figures.loads, "l"), noisy(figures.uniques, "u"), figures.uniques_error
    )


def estimate_of(figures: Figures, *, floor_at_observed: bool = False) -> Estimate:
    """The estimator on the figures."""
    found = estimate_open_rate(
        figures.recipients,
        figures.loads,
        figures.uniques,
        figures.uniques_error,
        floor_at_observed=floor_at_observed,
    )
    assert found is not None, "a simulated campaign has recipients"
    return found


def open_rate_of(report: dict[str, Any], figures: Figures, noised: bool = False) -> dict[str, Any]:
    """The open rate to score: the report's own (it carries the estimator), or, when the
    simulator added the release step's noise to the figures itself, the estimator on those."""
    if noised:
        return estimate_of(figures).open_rate.as_dict()
    return dict(report["open_rate"])


@dataclass(frozen=True)
class Score:
    """One campaign's truth beside what the service and the estimator said."""

    name: str
    recipients: int
    truth: float
    estimate: float
    low: float
    high: float
    observed: float | None
    reported: float | None
    """The report's open_rate_observed: unique human keys over recipients, capped at 1 (the
    figure the report's open_rate showed before it carried the estimator)."""
    mpp_truth: int
    mpp: tuple[float, float, float]
    without_truth: float | None
    without: tuple[float, float, float] | None
    floored: tuple[float, float, float]
    """The open rate and its interval kept at or above the observed rate (floor_at_observed)."""

    @property
    def covered(self) -> bool:
        return self.low <= self.truth <= self.high

    @property
    def covered_floored(self) -> bool:
        return self.floored[1] <= self.truth <= self.floored[2]

    @property
    def error(self) -> float:
        return abs(self.estimate - self.truth)

    @property
    def error_floored(self) -> float:
        return abs(self.floored[0] - self.truth)


def score(sim: SimCampaign, report: dict[str, Any], budget: Budget | None = None) -> Score:
    """Score the report of a simulated campaign against its truth; with `budget`, after adding
    the release step's noise to the figures the estimator is given."""
    figures = figures_of(report) if budget is None else released(figures_of(report), budget)
    rate = open_rate_of(report, figures, noised=budget is not None)
    full = estimate_of(figures).as_dict()
    floored = estimate_of(figures, floor_at_observed=True).open_rate
    mpp, without = full["apple_mpp"], full["open_rate_without_mpp"]
    old = report.get("open_rate_observed")
    return Score(
        name=sim.name,
        recipients=sim.recipients,
        truth=sim.open_rate,
        estimate=rate["estimate"],
        low=rate["low"],
        high=rate["high"],
        observed=full["open_rate_observed"],
        reported=old,
        mpp_truth=sim.mpp_recipients,
        mpp=(mpp["estimate"], mpp["low"], mpp["high"]),
        without_truth=sim.open_rate_without_mpp,
        without=None if without is None else (without["estimate"], without["low"], without["high"]),
        floored=(floored.estimate, floored.low, floored.high),
    )


@dataclass(frozen=True)
class Summary:
    """Coverage and error over many campaigns."""

    campaigns: int
    coverage: float
    coverage_floored: float
    median_error: float
    median_error_floored: float
    median_width: float
    mpp_coverage: float
    without_coverage: float
    observed_above_truth: int
    reported_median_error: float | None

    def lines(self) -> list[str]:
        out = [
            f"coverage {100 * self.coverage:.1f} % over {self.campaigns} campaigns; "
            f"median absolute error {100 * self.median_error:.1f} points; "
            f"median interval width {100 * self.median_width:.1f} points",
            f"apple_mpp interval coverage {100 * self.mpp_coverage:.1f} %; "
            f"open_rate_without_mpp coverage {100 * self.without_coverage:.1f} %",
            f"observed rate above the truth in {self.observed_above_truth} campaigns; with the "
            f"interval kept above it (floor_at_observed), coverage {100 * self.coverage_floored:.1f} %, "
            f"median absolute error {100 * self.median_error_floored:.1f} points",
        ]
        if self.reported_median_error is not None:
            out.append(
                f"today's open_rate (unique keys / recipients): median absolute error "
                f"{100 * self.reported_median_error:.1f} points"
            )
        return out


def summarise(scores: Sequence[Score]) -> Summary:
    """The coverage of each interval, and the median error and width of the open rate."""
    n = len(scores)
    without = [(s.without, s.without_truth) for s in scores if s.without and s.without_truth is not None]
    reported = [abs(s.reported - s.truth) for s in scores if s.reported is not None]
    return Summary(
        campaigns=n,
        coverage=sum(s.covered for s in scores) / n,
        coverage_floored=sum(s.covered_floored for s in scores) / n,
        median_error=statistics.median(s.error for s in scores),
        median_error_floored=statistics.median(s.error_floored for s in scores),
        median_width=statistics.median(s.high - s.low for s in scores),
        mpp_coverage=sum(s.mpp[1] <= s.mpp_truth <= s.mpp[2] for s in scores) / n,
        without_coverage=sum(w[1] <= truth <= w[2] for w, truth in without) / max(1, len(without)),
        observed_above_truth=sum(s.observed is not None and s.observed > s.truth + 1e-9 for s in scores),
        reported_median_error=statistics.median(reported) if reported else None,
    )
