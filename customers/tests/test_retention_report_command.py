"""retention_report: the script contract of METRICS.md."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from .helpers import load_orders

pytestmark = pytest.mark.django_db

KEYS = {
    "customers_at_start",
    "customers_at_end",
    "new_customers",
    "retention_rate",
    "churn_rate",
    "returning_customer_rate",
    "repeat_purchase_rate",
    "orders",
    "revenue",
    "average_order_value",
}


@pytest.fixture
def orders():
    load_orders(
        [
            ("o1", "a", "2024-02-01", "10.00", "paid"),
            ("o2", "a", "2024-05-01", "30.00", "paid"),
            ("o3", "b", "2024-05-02", "20.00", "paid"),
        ]
    )


def report(*args, capsys):
    call_command("retention_report", *args)
    return capsys.readouterr().out


def test_json_holds_every_key_of_the_period_table(orders, capsys):
    data = json.loads(report("--start", "2024-04-01", "--end", "2024-06-30", "--json", capsys=capsys))
    assert data.keys() >= KEYS
    assert data["retention_rate"] == 100.0
    assert data["revenue"] == 50.0
    assert data["average_order_value"] == 25.0
    assert data["window_days"] == 365


def test_the_cohort_matrix_as_json(orders, capsys):
    data = json.loads(report("--start", "2024-02-01", "--end", "2024-05-31", "--cohorts", "--json", capsys=capsys))
    assert data == {
        "cohorts": [
            {"cohort": "2024-02", "customers": 1, "retention": [100.0, 0.0, 0.0, 100.0]},
            {"cohort": "2024-05", "customers": 1, "retention": [100.0]},
        ]
    }


def test_a_cohort_matrix_longer_than_the_window_is_fine(orders, capsys):
    data = json.loads(report("--start", "2023-01-01", "--end", "2025-12-31", "--cohorts", "--json", capsys=capsys))
    assert [row["cohort"] for row in data["cohorts"]] == ["2024-02", "2024-05"]
    assert len(data["cohorts"][0]["retention"]) == 23


def test_a_readable_table_by_default(orders, capsys):
    out = report("--start", "2024-04-01", "--end", "2024-06-30", capsys=capsys)
    assert "Retention rate" in out and "100.00 %" in out
    assert "Revenue" in out and "50.00" in out
    out = report("--start", "2024-02-01", "--end", "2024-05-31", "--cohorts", capsys=capsys)
    assert "2024-02" in out and "100.0%" in out


def test_a_rate_without_denominator_prints_null(capsys):
    data = json.loads(report("--start", "2024-04-01", "--end", "2024-06-30", "--json", capsys=capsys))
    assert data["retention_rate"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--start", "2024-04-01", "--end", "2024-03-01"), "end (2024-03-01) is before start (2024-04-01)."),
        (
            ("--start", "2024-01-01", "--end", "2024-03-31", "--window-days", "30"),
            "window_days (30) is shorter than the period (91 days)",
        ),
    ],
)
def test_a_refused_period_exits_non_zero_with_one_line(args, message):
    with pytest.raises(CommandError) as error:
        call_command("retention_report", *args)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_malformed_date_is_an_error():
    with pytest.raises(CommandError, match="is not a date"):
        call_command("retention_report", "--start", "April", "--end", "2024-06-30")
