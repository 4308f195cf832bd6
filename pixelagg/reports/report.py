"""The statistics report of a campaign, declared once as frozen values.

Every output is built from these: the API's JSON (`Report.to_json`), the CSV and the CLI's
table (`reports.text`), the dashboard's pages and the stats part of the OpenAPI document.
The JSON form follows the declaration: fields in declaration order, under their own names
unless a field's metadata gives another (``from`` and ``to`` are not good Python names), dates
as ISO strings, tuples as arrays. `Report.from_json` reads that form back (the CLI receives
it from the API).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar, Union, get_args, get_origin, get_type_hints

from ..core.classify import CLASSES, CLICK_CLASSES, HUMAN_CLASSES, MACHINE_CLICK_CLASSES
from ..exceptions import PixelaggError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "BY_CLASS",
    "BY_CLICK_CLASS",
    "OTHER_LINK",
    "Bounds",
    "CampaignRef",
    "ClickDayRow",
    "ClickRegionRow",
    "Clicks",
    "ClientRow",
    "ComparisonRow",
    "DayRange",
    "DayRow",
    "HourRow",
    "LinkRow",
    "OpenRate",
    "Opens",
    "RateBounds",
    "RegionRow",
    "ReleaseInfo",
    "Report",
    "UniqueClickers",
    "UniqueOpens",
    "Withheld",
    "client_rows",
    "json_name",
    "report_from_json",
]

T = TypeVar("T")

BY_CLASS: Mapping[str, Any] = {"keys": CLASSES}
"""Field metadata of a mapping with one entry per class, in the order of CLASSES."""
BY_CLICK_CLASS: Mapping[str, Any] = {"keys": CLICK_CLASSES}
"""Field metadata of a mapping with one entry per click class, in the order of CLICK_CLASSES."""
OTHER_LINK = "other"
"""The id of the row that sums the links too little clicked to be shown on their own."""


@dataclass(frozen=True, slots=True)
class Bounds:
    """A rounded estimate of unique opens with its 95% low and high bounds."""

    estimate: int
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class CampaignRef:
    """The campaign a report is about."""

    id: str
    name: str
    recipients: int | None


@dataclass(frozen=True, slots=True)
class DayRange:
    """The inclusive range of local days reported, and their time zone (an IANA name)."""

    start: date = field(metadata={"json": "from"})
    end: date = field(metadata={"json": "to"})
    tz: str


@dataclass(frozen=True, slots=True)
class Opens:
    """Every load of the image in the range, by class, and the requests that declined."""

    total: int
    by_class: Mapping[str, int] = field(metadata=BY_CLASS)
    declined: int

    @property
    def human(self) -> int:
        """Opens by the classes that stand for a reading person (human and image_proxy)."""
        return sum(self.by_class[c] for c in HUMAN_CLASSES)


@dataclass(frozen=True, slots=True)
class UniqueOpens(Bounds):
    """Unique opens of every class (the bounds themselves), of people, and of each class."""

    human: Bounds
    by_class: Mapping[str, Bounds] = field(metadata=BY_CLASS)
    method: str


@dataclass(frozen=True, slots=True)
class OpenRate:
    """Unique human opens over recipients, with the bounds divided likewise."""

    estimate: float
    low: float
    high: float
    method: str


@dataclass(frozen=True, slots=True)
class RateBounds:
    """A share of recipients with its 95% interval."""

    estimate: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class DayRow:
    """One local day."""

    day: date = field(metadata={"json": "date"})
    opens: int
    human_opens: int
    machine_opens: int
    unique_opens: int


@dataclass(frozen=True, slots=True)
class HourRow:
    """One hour of the first 72 after the first open, at its local time."""

    hour: datetime
    opens: int
    human_opens: int
    machine_opens: int


@dataclass(frozen=True, slots=True)
class RegionRow:
    """One region bucket: a country, 'proxy', 'unknown' or the merged 'other'.

    Under differential privacy regions are released as opens only (unique_opens is null).
    """

    region: str
    opens: int
    unique_opens: int | None


@dataclass(frozen=True, slots=True)
class ClientRow:
    """Opens by one mail-client family ('apple_mail', 'gmail', 'yahoo', 'outlook', 'other'),
    and their share of the families' opens; small families are merged into 'other'."""

    family: str
    opens: int
    share: float


@dataclass(frozen=True, slots=True)
class UniqueClickers(Bounds):
    """Distinct clickers of every class (the bounds themselves), of people, and of each class."""

    human: Bounds
    by_class: Mapping[str, Bounds] = field(metadata=BY_CLICK_CLASS)
    method: str


@dataclass(frozen=True, slots=True)
class LinkRow:
    """One registered link's clicks in the range, or the row 'other' (id 'other', url null):
    the links whose clicks are too few to show on their own, summed, so that no row describes
    one recipient (a link registered per recipient is folded in there)."""

    id: str
    url: str | None
    clicks: int
    by_class: Mapping[str, int] = field(metadata=BY_CLICK_CLASS)
    unique_human_clickers: Bounds | None
    """Distinct people who followed this link; null under differential privacy (links are
    released as clicks only, like regions), when uniques are off, and for 'other'."""

    @property
    def human(self) -> int:
        return self.by_class["human"]

    @property
    def machine(self) -> int:
        return sum(self.by_class[c] for c in MACHINE_CLICK_CLASSES)


@dataclass(frozen=True, slots=True)
class ClickDayRow:
    """The clicks of one local day."""

    day: date = field(metadata={"json": "date"})
    clicks: int
    human_clicks: int
    machine_clicks: int
    unique_clickers: int
    """Distinct clickers of every class that day (0 when uniques are off)."""


@dataclass(frozen=True, slots=True)
class ClickRegionRow:
    """Clicks from one region bucket: a country, 'unknown' or the merged 'other'."""

    region: str
    clicks: int


@dataclass(frozen=True, slots=True)
class Clicks:
    """Follows of the campaign's registered links (/l/{campaign}/{link}) in the range.

    Machine clicks (mail security scanners following every link before delivery, other bots)
    are counted apart from people's: `by_class` has one entry per click class.
    """

    total: int
    by_class: Mapping[str, int] = field(metadata=BY_CLICK_CLASS)
    machine_share: float | None
    """(scanner + bot clicks) / clicks; null without clicks."""
    unique_clickers: UniqueClickers
    click_rate: RateBounds | None
    """Distinct human clickers over recipients, with the bounds divided likewise; null
    without a recipients figure."""
    click_to_open_rate: RateBounds | None
    """Distinct human clickers over estimated readers (open rate x recipients), capped at 1;
    null without a recipients figure or without readers."""
    links: int
    """Links registered for the campaign."""
    by_link: tuple[LinkRow, ...]
    by_day: tuple[ClickDayRow, ...]
    by_region: tuple[ClickRegionRow, ...]

    @property
    def human(self) -> int:
        """Clicks by people."""
        return self.by_class["human"]

    @property
    def machine(self) -> int:
        """Clicks by scanners and bots."""
        return sum(self.by_class[c] for c in MACHINE_CLICK_CLASSES)


@dataclass(frozen=True, slots=True)
class ReleaseInfo:
    """How the figures were released: exact and live, or with differential privacy."""

    mode: str
    """'differential_privacy' or 'exact'."""
    epsilon: float | None
    """The campaign's privacy budget; null when exact."""
    release_period_seconds: int | None
    """Figures cover closed periods of this length only; null when exact (live)."""
    released_until: datetime | None
    """The end of the last period in the figures; null when exact."""
    first_open_at: datetime | None
    """When opens began: exact when exact, else the start of the first release period whose
    released opens clearly exceed the noise (null until one does)."""
    notes: tuple[str, ...]
    """Plain lines on what the figures cannot see, for every output to show."""
    first_figures_at: datetime | None = None
    """While no closed release period covers any of the range since the campaign was made:
    when the first one's figures come out. Until then every figure is zero because nothing
    has been released, not because nobody opened. Null once figures cover some of the range,
    and when exact."""


@dataclass(frozen=True, slots=True)
class Report:
    """The statistics of one campaign over a range of days."""

    campaign: CampaignRef
    range: DayRange
    opens: Opens
    unique_opens: UniqueOpens
    open_rate: OpenRate | None
    machine_share: float | None
    by_day: tuple[DayRow, ...]
    by_hour: tuple[HourRow, ...]
    by_region: tuple[RegionRow, ...]
    min_bucket: int
    privacy: ReleaseInfo
    by_client: tuple[ClientRow, ...]
    open_rate_observed: float | None
    """(human + image_proxy uniques) / recipients, capped at 1: keys seen, not readers, and not
    a lower bound (a reader on three devices is three keys)."""
    apple_mpp: Bounds | None
    """Recipients with Apple Mail Privacy Protection on, estimated from its prefetch loads."""
    open_rate_without_mpp: RateBounds | None
    """The open rate among the other recipients (the figure other tools show)."""
    clicks: Clicks
    """Follows of the campaign's links, by class, link, day and region."""

    def to_json(self) -> dict[str, Any]:
        """The report as the API serves it."""
        return _dump_fields(self)

    @classmethod
    def from_json(cls, data: object) -> Report:
        """Read a report back from `to_json` output (the CLI gets it from the API)."""
        report = _load(cls, data, "report")
        assert isinstance(report, cls)
        return report


@dataclass(frozen=True, slots=True)
class Withheld:
    """The answer for a campaign too small to report under differential privacy: no figures."""

    campaign: CampaignRef
    range: DayRange
    status: str
    """'too_few_recipients'."""
    message: str
    privacy: ReleaseInfo

    def to_json(self) -> dict[str, Any]:
        """The answer as the API serves it."""
        return _dump_fields(self)

    @classmethod
    def from_json(cls, data: object) -> Withheld:
        """Read it back from `to_json` output."""
        withheld = _load(cls, data, "report")
        assert isinstance(withheld, cls)
        return withheld


def client_rows(opens: Mapping[str, int], kept: Iterable[str]) -> tuple[ClientRow, ...]:
    """Rows of opens per mail-client family: the `kept` ones, and every other one merged into
    'other' (small groups never stand out, as with regions); shares of their sum."""
    keep = set(kept) - {"other"}
    rows = {f: n for f, n in opens.items() if f in keep}
    rest = sum(n for f, n in opens.items() if f not in keep)
    if rest:
        rows["other"] = rest
    total = sum(rows.values())
    if not total:
        return ()
    ordered = sorted(rows.items(), key=lambda item: (item[0] == "other", -item[1], item[0]))
    return tuple(ClientRow(f, n, round(n / total, 4)) for f, n in ordered)


def report_from_json(data: object) -> Report | Withheld:
    """A report or a withheld answer, from the API's JSON."""
    if isinstance(data, dict) and "status" in data:
        return Withheld.from_json(data)
    return Report.from_json(data)


@dataclass(frozen=True, slots=True)
class ComparisonRow:
    """One campaign's headline figures, as the compare endpoint lists them side by side.

    A campaign too small to report has no figures (nulls) and says why in `status`.
    """

    campaign: CampaignRef
    opens: int | None
    unique_opens: Bounds | None
    unique_human_opens: Bounds | None
    open_rate: OpenRate | None
    machine_share: float | None
    status: str

    @classmethod
    def of(cls, report: Report | Withheld) -> ComparisonRow:
        """The row of one campaign's report."""
        if isinstance(report, Withheld):
            return cls(report.campaign, None, None, None, None, None, report.status)
        u = report.unique_opens
        return cls(
            campaign=report.campaign,
            opens=report.opens.total,
            unique_opens=Bounds(u.estimate, u.low, u.high),
            unique_human_opens=u.human,
            open_rate=report.open_rate,
            machine_share=report.machine_share,
            status="ok",
        )

    def to_json(self) -> dict[str, Any]:
        """The row as the compare endpoint serves it."""
        return _dump_fields(self)


def json_name(f: dataclasses.Field[Any]) -> str:
    """The name of a field in the JSON form."""
    return str(f.metadata.get("json", f.name))


def _dump_fields(value: DataclassInstance) -> dict[str, Any]:
    return {json_name(f): _dump(getattr(value, f.name)) for f in dataclasses.fields(value)}


def _dump(value: object) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _dump_fields(value)
    if isinstance(value, Mapping):
        return {k: _dump(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_dump(v) for v in value]
    if isinstance(value, date):  # and datetime, a subclass
        return value.isoformat()
    return value


def _load(hint: Any, data: object, path: str) -> Any:
    """A value of type `hint` from its JSON form; PixelaggError, naming `path`, when it does not fit."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):  # only `X | None` is declared
        if data is None:
            return None
        (inner,) = (a for a in get_args(hint) if a is not type(None))
        return _load(inner, data, path)
    if origin is tuple:
        return tuple(_load(get_args(hint)[0], v, f"{path}[{n}]") for n, v in enumerate(_of(list, data, path)))
    if origin is Mapping:
        return {str(k): _load(get_args(hint)[1], v, f"{path}.{k}") for k, v in _of(dict, data, path).items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        obj = _of(dict, data, path)
        hints = get_type_hints(hint)
        values = {}
        for f in dataclasses.fields(hint):
            name = json_name(f)
            if name not in obj:
                raise PixelaggError(f"Report field '{path}' has no '{name}'.")
            values[f.name] = _load(hints[f.name], obj[name], f"{path}.{name}")
        return hint(**values)
    if hint is datetime or hint is date:
        try:
            return hint.fromisoformat(_of(str, data, path))
        except ValueError:
            raise PixelaggError(
                f"Report field '{path}' has value {data!r}. Not an ISO {hint.__name__}."
            ) from None
    if hint is float and isinstance(data, int | float) and not isinstance(data, bool):
        return float(data)
    return _of(hint, data, path)


def _of(kind: type[T], data: object, path: str) -> T:
    if not isinstance(data, kind) or (isinstance(data, bool) and kind is not bool):
        raise PixelaggError(f"Report field '{path}' has value {data!r}. Must be {kind.__name__}.")
    return data
