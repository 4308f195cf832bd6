"""The typed report: its JSON form, read back, and the compare endpoint's rows."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest

from pixelagg.exceptions import PixelaggError
from pixelagg.reports.report import ComparisonRow, Report
from tests.reports.samples import JSON, REPORT


def _without_rate(report: Report) -> Report:
    return dataclasses.replace(report, open_rate=None, machine_share=None)


def test_to_json_is_the_api_json_field_for_field_in_order():
    """to_json() gives the API's JSON with every field, named and ordered as before."""
    assert json.dumps(REPORT.to_json()) == JSON


def test_to_json_writes_missing_figures_as_null():
    """Without recipients and opens, open_rate and machine_share are null."""
    data = _without_rate(REPORT).to_json()
    assert (data["open_rate"], data["machine_share"]) == (None, None)


@pytest.mark.parametrize("report", [REPORT, _without_rate(REPORT)], ids=["full", "no-rate"])
def test_from_json_reads_back_what_to_json_wrote(report):
    """from_json(to_json()) is the same report, and writes the same JSON again."""
    data = json.loads(json.dumps(report.to_json()))
    again = Report.from_json(data)
    assert again == report
    assert json.dumps(again.to_json()) == json.dumps(report.to_json())


def test_from_json_keeps_the_hour_offset():
    """An hour read back keeps its UTC offset, so it is written back unchanged."""
    (hour,) = Report.from_json(json.loads(JSON)).by_hour
    assert hour.hour.utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["opens"].pop("total"), "Report field 'report.opens' has no 'total'."),
        (lambda d: d["range"].update({"from": "3 March"}), "'report.range.from' has value '3 March'"),
        (lambda d: d["by_region"][1].update(opens="3"), "'report.by_region[1].opens' has value '3'"),
        (lambda d: d["unique_opens"].update(low=True), "'report.unique_opens.low' has value True"),
        (lambda d: d.update(by_day={}), "'report.by_day' has value {}"),
    ],
    ids=["missing", "bad-date", "string-for-int", "bool-for-int", "object-for-array"],
)
def test_from_json_names_what_does_not_fit(change, message):
    """JSON that is not a report is refused with an error naming the field and its value."""
    data = json.loads(JSON)
    change(data)
    with pytest.raises(PixelaggError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Report.from_json(data)


def test_opens_human_counts_the_reading_classes():
    """Opens.human adds the human and image_proxy classes."""
    assert REPORT.opens.human == 5


def test_comparison_row_has_headline_figures_only():
    """A compare row holds the campaign, opens, the two unique figures, rate and share."""
    assert ComparisonRow.of(REPORT).to_json() == {
        "campaign": {"id": "AAAAAAAAAAAAAAAA", "name": "Spring", "recipients": 40},
        "opens": 9,
        "unique_opens": {"estimate": 8, "low": 7, "high": 9},
        "unique_human_opens": {"estimate": 5, "low": 5, "high": 6},
        "open_rate": {
            "estimate": 0.125,
            "low": 0.125,
            "high": 0.15,
            "method": "unique human opens / recipients",
        },
        "machine_share": 0.4444,
        "status": "ok",
    }
