"""The clicks part of a report: follows of a campaign's links, by class, link, day and region."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from ..core.classify import CLICK_CLASSES
from .report import Bounds, ClickDayRow, Clicks, UniqueClickers

__all__ = ["empty_clicks"]

_NONE = Bounds(0, 0, 0)


def empty_clicks(days: Sequence[date], links: int, method: str) -> Clicks:
    """The clicks of a campaign nobody clicked: zeros on every day."""
    return Clicks(
        total=0,
        by_class=dict.fromkeys(CLICK_CLASSES, 0),
        machine_share=None,
        unique_clickers=UniqueClickers(
            0, 0, 0, human=_NONE, by_class=dict.fromkeys(CLICK_CLASSES, _NONE), method=method
        ),
        click_rate=None,
        click_to_open_rate=None,
        links=links,
        by_link=(),
        by_day=tuple(ClickDayRow(d, 0, 0, 0, 0) for d in days),
        by_region=(),
    )
