"""The OpenAPI document's statistics schemas, derived from the typed report."""

from __future__ import annotations

import pytest

from pixelagg.reports.report import ComparisonRow
from pixelagg.web.openapi import openapi_spec
from tests.reports.samples import REPORT

SCHEMAS = openapi_spec()["components"]["schemas"]
TYPES = {int: "integer", float: "number", str: "string"}


def _assert_fits(schema, value, path="$"):
    """The schema names exactly the value's keys, in order and all required, at every depth."""
    if value is None:
        assert schema.get("nullable"), path
    elif isinstance(value, dict):
        assert list(schema["properties"]) == list(value) == schema["required"], path
        for key, item in value.items():
            _assert_fits(schema["properties"][key], item, f"{path}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            _assert_fits(schema["items"], item, f"{path}[{n}]")
    else:
        assert schema["type"] == TYPES[type(value)], path


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Stats", REPORT.to_json()),
        ("Comparison", {"campaigns": [ComparisonRow.of(REPORT).to_json()]}),
        ("OpenRate", REPORT.to_json()["open_rate"]),
        ("Bounds", REPORT.to_json()["unique_opens"]["human"]),
    ],
    ids=["stats", "comparison", "open-rate", "bounds"],
)
def test_schema_is_the_report_json(name, value):
    """Each statistics schema has every field of the report's JSON, required, and no other."""
    _assert_fits(SCHEMAS[name], value)


def test_missing_figures_are_nullable():
    """open_rate, machine_share and recipients may be null, as the report declares."""
    properties = SCHEMAS["Stats"]["properties"]
    assert properties["open_rate"]["nullable"] and properties["machine_share"]["nullable"]
    assert properties["campaign"]["properties"]["recipients"]["nullable"]


def test_days_and_hours_are_dated():
    """Days are dates and hours date-times, as the report declares."""
    properties = SCHEMAS["Stats"]["properties"]
    assert properties["by_day"]["items"]["properties"]["date"]["format"] == "date"
    assert properties["by_hour"]["items"]["properties"]["hour"]["format"] == "date-time"


def test_compare_endpoint_answers_comparison_rows():
    """GET /api/stats answers the Comparison schema."""
    response = openapi_spec()["paths"]["/api/stats"]["get"]["responses"]["200"]
    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Comparison"}
