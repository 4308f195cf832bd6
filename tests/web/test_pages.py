"""Dashboard HTML: the pure page builders."""

from __future__ import annotations

from datetime import UTC, datetime

from pixelagg.web.pages import X_LABELS, day_columns, document, error_main, hour_columns


def _hour(iso, human=1, machine=0):
    return {"hour": iso, "opens": human + machine, "human_opens": human, "machine_opens": machine}


def _ts(iso):
    return datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp()


def test_hour_columns_fill_gaps_with_zero():
    """Hours without opens between two with opens become zero columns."""
    rows = [_hour("2024-03-04T10:00:00+00:00"), _hour("2024-03-04T13:00:00+00:00", 2, 1)]
    columns = hour_columns(rows, "UTC", _ts("2024-03-04T13:30:00"))
    assert [c.values for c in columns] == [(1, 0), (0, 0), (0, 0), (2, 1)]


def test_hour_columns_run_up_to_now():
    """Hours after the last open up to now are shown as zero."""
    columns = hour_columns([_hour("2024-03-04T10:00:00+00:00")], "UTC", _ts("2024-03-04T12:10:00"))
    assert len(columns) == 3


def test_hour_columns_stop_after_72_hours():
    """However late it is, the hourly chart covers at most 72 hours."""
    columns = hour_columns([_hour("2024-03-04T10:00:00+00:00")], "UTC", _ts("2024-04-01T00:00:00"))
    assert len(columns) == 72


def test_hour_columns_keep_hours_across_a_clock_change():
    """On the day clocks go back, the repeated local hour appears twice, once per UTC hour."""
    rows = [_hour("2024-10-27T01:00:00+02:00"), _hour("2024-10-27T03:00:00+01:00")]
    columns = hour_columns(rows, "Europe/Amsterdam", _ts("2024-10-27T02:00:00"))
    assert [c.label[-5:] for c in columns] == ["01:00", "02:00", "02:00", "03:00"]


def test_hour_columns_without_opens():
    """No opens in the first hours gives no columns."""
    assert hour_columns([], "UTC", 0.0) == []


def test_document_without_session_has_no_navigation():
    """The sign-in page shows no navigation and no sign-out button."""
    html = document("Sign in", "<h1>Sign in</h1>", None)
    assert "<nav" not in html and "Sign out" not in html


def test_error_message_is_escaped():
    """Error pages escape their message."""
    assert "&lt;x&gt;" in error_main("Not found", "<x>", True)


def test_day_columns_label_at_most_five_days():
    """A month of days gets at most X_LABELS axis labels, starting with the first day."""
    days = [{"date": f"2024-10-{d:02d}", "human_opens": 1, "machine_opens": 0} for d in range(1, 31)]
    labels = [c.axis_label for c in day_columns(days) if c.axis_label]
    assert labels[0] == "01 Oct" and len(labels) <= X_LABELS


def test_hour_columns_label_midnight_with_the_date():
    """Over three days the hourly axis is labelled at local midnight, with the date."""
    rows = [_hour("2024-03-04T10:00:00+00:00")]
    columns = hour_columns(rows, "UTC", _ts("2024-04-01T00:00:00"))
    assert [c.axis_label for c in columns if c.axis_label] == ["05 Mar", "06 Mar", "07 Mar"]


def test_hour_columns_in_a_half_hour_zone():
    """In a zone offset by half an hour, labels show the real local minutes."""
    columns = hour_columns([_hour("2024-03-04T10:00:00+00:00")], "Asia/Kolkata", _ts("2024-03-04T10:00:00"))
    assert columns[0].label == "2024-03-04 15:30"
