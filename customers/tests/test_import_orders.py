"""import_orders: the contract of METRICS.md, on both writers (COPY and ORM)."""

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from customers.imports.orders import orders_import
from customers.models import Customer, DailyActivity, Order

from .factories import CustomerFactory, OrderFactory
from .helpers import csv_bytes

pytestmark = pytest.mark.django_db

HEADER = ("order_id", "customer_id", "placed_at", "total", "currency", "status", "customer_email", "customer_name")
ROWS = [
    ("A-1", "C1", "2024-01-05", "100.00", "EUR", "paid", "ann@example.com", "Ann"),
    ("A-2", "C1", "2024-02-05T10:30:00+01:00", "20.50", "", "", "", ""),
    ("A-3", "C2", "2024-03-01 09:00", "7", "DKK", "Refunded", "bo@example.com", "Bo"),
]


@pytest.fixture(params=["postgres", "orm"])
def writer(request):
    return request.param


def run(rows, *, header=HEADER, writer="postgres", **options):
    return orders_import(csv_bytes(header, rows), writer=writer, **options)


def state():
    return sorted(
        Order.objects.values_list(
            "external_id", "customer__external_id", "placed_at", "total", "currency", "status", "discount_code"
        )
    )


def test_it_creates_orders_and_their_customers(writer):
    report = run(ROWS, writer=writer)
    assert report.committed
    assert (report.rows, report.created, report.updated, report.unchanged, report.skipped) == (3, 3, 0, 0, 0)
    assert report.customers_created == 2
    ann = Customer.objects.get(external_id="C1")
    assert (ann.email, ann.name) == ("ann@example.com", "Ann")
    assert ann.first_seen == datetime(2024, 1, 5, tzinfo=UTC)  # the first order, not the import time
    a2 = Order.objects.get(external_id="A-2")
    assert a2.placed_at == datetime(2024, 2, 5, 9, 30, tzinfo=UTC)
    assert (a2.currency, a2.status) == ("EUR", "placed")  # the defaults
    assert Order.objects.get(external_id="A-3").status == "refunded"


def test_importing_the_same_file_twice_changes_nothing(writer):
    run(ROWS, writer=writer)
    before, daily = state(), list(DailyActivity.objects.order_by("day").values_list())
    report = run(ROWS, writer=writer)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 3)
    assert state() == before
    assert list(DailyActivity.objects.order_by("day").values_list()) == daily
    assert Customer.objects.count() == 2


def test_both_writers_leave_the_same_data():
    run(ROWS, writer="postgres")
    by_copy = state()
    Order.objects.all().delete()
    Customer.objects.all().delete()
    run(ROWS, writer="orm")
    assert state() == by_copy


def test_a_changed_status_is_updated_and_the_metrics_follow(writer):
    from datetime import date

    from customers.metrics import period_validate, retention_figures

    run(ROWS, writer=writer)
    period = period_validate(start=date(2024, 1, 1), end=date(2024, 3, 31))
    assert retention_figures(period).orders == 2
    changed = [(*ROWS[0][:5], "refunded", *ROWS[0][6:]), *ROWS[1:]]
    report = run(changed, writer=writer)
    assert (report.updated, report.unchanged) == (1, 2)
    assert retention_figures(period).orders == 1


def test_a_file_with_a_bad_row_imports_nothing_and_says_which_line_and_why(writer):
    rows = [
        *ROWS,
        ("B-1", "C3", "yesterday", "10", "", "", "", ""),
        ("B-2", "C3", "2024-01-01", "-5", "", "", "", ""),
        ("B-3", "C3", "2024-01-01", "1,50", "", "", "", ""),
        ("B-4", "C3", "2024-01-01", "10", "EURO", "", "", ""),
        ("B-5", "C3", "2024-01-01", "10", "", "lost", "", ""),
        ("B-6", "C3", "2024-01-01", "10", "", "", "not-an-email", ""),
        ("", "C3", "2024-01-01", "10", "", "", "", ""),
        ("B-8", "C3", "2999-01-01", "10", "", "", "", ""),
        ("B-9", "C3", "2024-01-01", "10.555", "", "", "", ""),
        ("B-10", "C3", "0001-01-01", "10", "", "", "", ""),
    ]
    report = run(rows, writer=writer)
    assert not report.succeeded
    assert Order.objects.count() == 0 and Customer.objects.count() == 0
    problems = {problem.line: problem.message for problem in report.sorted_problems()}
    assert sorted(problems) == list(range(5, 15))
    assert "placed_at" in problems[5] and "'yesterday'" in problems[5]
    assert problems[6] == "total: must be zero or more."
    assert "is not an amount" in problems[7]
    assert "three-letter currency" in problems[8]
    assert "'lost' is not one of" in problems[9]
    assert "not an email address" in problems[10]
    assert problems[11] == "order_id: is required."
    assert "in the future" in problems[12]
    assert "more than two decimals" in problems[13]
    assert problems[14] == "placed_at: 0001-01-01 is before 1900."


def test_skip_invalid_imports_the_good_rows_and_lists_the_bad(writer):
    rows = [*ROWS, ("B-1", "C3", "not a date", "10", "", "", "", "")]
    report = run(rows, writer=writer, skip_invalid=True)
    assert report.committed
    assert (report.created, report.skipped, report.problem_count) == (3, 1, 1)
    assert str(report.problems[0]).startswith("line 5: placed_at:")
    assert Order.objects.count() == 3


def test_a_duplicate_order_id_in_the_file_is_a_problem(writer):
    report = run([*ROWS, ("A-1", "C1", "2024-01-05", "100.00", "EUR", "paid", "", "")], writer=writer)
    assert [str(p) for p in report.problems] == ["line 5: order_id A-1 is already on line 2."]
    assert Order.objects.count() == 0


def test_an_order_cannot_move_to_another_customer_by_import(writer):
    run(ROWS, writer=writer)
    report = run([("A-1", "C2", "2024-01-05", "100.00", "EUR", "paid", "", "")], writer=writer)
    assert [str(p) for p in report.problems] == ["line 2: order A-1 belongs to customer C1, not C2."]


def test_an_email_of_another_customer_is_refused_for_a_new_one(writer):
    CustomerFactory(external_id="OLD", email="Ann@Example.com")
    report = run(ROWS[:1], writer=writer)
    assert [str(p) for p in report.problems] == [
        "line 2: customer C1 cannot be created: ann@example.com is the email of customer OLD."
    ]
    assert Order.objects.count() == 0


def test_two_new_customers_with_one_email_in_the_file_are_refused(writer):
    rows = [ROWS[0], ("X-1", "C9", "2024-01-05", "1", "", "", "ANN@example.com", "")]
    report = run(rows, writer=writer, skip_invalid=True)
    assert [str(p) for p in report.problems] == [
        "line 3: customer C9 cannot be created: ANN@example.com is the email of customer C1."
    ]
    assert report.created == 1


def test_a_customer_known_only_by_email_gets_the_customer_id(writer):
    known = CustomerFactory(external_id=None, email="ann@example.com", name="Ann from support")
    report = run(ROWS[:2], writer=writer)
    assert report.committed and report.customers_created == 0
    known.refresh_from_db()
    assert known.external_id == "C1"
    assert known.orders.count() == 2
    assert known.name == "Ann from support"


def test_known_customers_keep_their_details_and_first_seen_moves_back(writer):
    customer = CustomerFactory(
        external_id="C1", email="ann@new.example", name="Ann B.", first_seen=datetime(2024, 6, 1, tzinfo=UTC)
    )
    run(ROWS[:1], writer=writer)
    customer.refresh_from_db()
    assert (customer.email, customer.name) == ("ann@new.example", "Ann B.")
    assert customer.first_seen == datetime(2024, 1, 5, tzinfo=UTC)


def test_a_discount_code_is_kept_when_the_file_has_no_such_column(writer):
    OrderFactory(external_id="A-1", customer=CustomerFactory(external_id="C1"), discount_code="WELCOME10")
    report = run([("A-1", "C1", "2024-01-05", "100.00")], header=HEADER[:4], writer=writer)
    assert report.updated == 1
    assert Order.objects.get(external_id="A-1").discount_code == "WELCOME10"


def test_a_dry_run_reports_the_counts_and_saves_nothing(writer):
    report = run(ROWS, writer=writer, dry_run=True)
    assert report.succeeded and not report.committed
    assert (report.created, report.customers_created) == (3, 2)
    assert Order.objects.count() == 0 and Customer.objects.count() == 0
    assert not DailyActivity.objects.exists()


def test_spreadsheet_files_semicolons_bom_crlf_and_quoted_newlines_are_read(writer):
    content = (
        "\ufeffOrder_ID ; Customer_ID;placed_at;total;customer_name\r\n"
        'S-1;C7;2024-01-05;10.00;"Anne\r\nMarie"\r\n'
        "\r\n"
        "S-2;C7;2024-01-06;oops;\r\n"
    ).encode()
    report = orders_import(io.BytesIO(content), writer=writer)
    assert [str(p) for p in report.problems] == [
        "line 5: total: 'oops' is not an amount (use digits and a decimal point, e.g. 1234.50)."
    ]


def test_a_row_with_the_wrong_number_of_values_is_a_problem(writer):
    content = b"order_id,customer_id,placed_at,total\nA,C,2024-01-01,1\nB,C,2024-01-01\n"
    report = orders_import(io.BytesIO(content), writer=writer)
    assert [str(p) for p in report.problems] == ["line 3: has 3 values, the header has 4."]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty"),
        (b"order_id,customer_id,total\n", "the header lacks the column(s) placed_at"),
        (b"order_id,customer_id,placed_at,total,total\n", "appear twice"),
        ("order_id,customer_id,placed_at,total\nA,Ø,2024-01-01,1\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_a_file_that_cannot_be_read_imports_nothing(writer, content, message):
    report = orders_import(io.BytesIO(content), writer=writer)
    assert message in report.file_error
    assert not report.succeeded and Order.objects.count() == 0


def test_unknown_columns_are_ignored_and_reported(writer):
    report = run([("A-1", "C1", "2024-01-05", "1", "x")], header=(*HEADER[:4], "colour"), writer=writer)
    assert report.committed and report.ignored_columns == ["colour"]


def test_the_command_exits_non_zero_and_names_the_line(tmp_path, capsys):
    path = tmp_path / "orders.csv"
    path.write_bytes(csv_bytes(HEADER[:4], [("A-1", "C1", "2024-13-01", "1")]).getvalue())
    with pytest.raises(CommandError, match="Nothing was imported"):
        call_command("import_orders", str(path))
    assert "line 2: placed_at: '2024-13-01' is not a date" in capsys.readouterr().err


def test_the_command_prints_what_it_did(tmp_path, capsys):
    path = tmp_path / "orders.csv"
    path.write_bytes(csv_bytes(HEADER, ROWS).getvalue())
    call_command("import_orders", str(path))
    assert "Rows: 3; created: 3, updated: 0, unchanged: 0, skipped: 0; new customers: 2." in capsys.readouterr().out
    call_command("import_orders", str(path), "--dry-run")
    assert "Dry run, nothing saved" in capsys.readouterr().out


def test_the_command_says_when_the_file_is_missing():
    with pytest.raises(CommandError, match=r"Cannot read /nonexistent\.csv"):
        call_command("import_orders", "/nonexistent.csv")


def test_totals_keep_their_cents(writer):
    run([("A-1", "C1", "2024-01-05", "0.10")], header=HEADER[:4], writer=writer)
    assert Order.objects.get().total == Decimal("0.10")


def test_nul_characters_and_copy_escapes_are_handled(writer):
    """A NUL byte is a clear problem on its line; backslashes and tabs in values (which
    COPY's text format escapes) arrive as written."""
    report = run(
        [
            ("A-1", "C1", "2024-01-05", "100.00", "EUR", "paid", "", "An\x00n"),
            ("A-2", "C\\2\t", "2024-01-05", "1E+2", "EUR", "paid", "", "x\\y\\N"),
        ],
        writer=writer,
        skip_invalid=True,
    )
    assert [(problem.line, problem.message) for problem in report.problems] == [
        (2, "customer_name: contains a NUL character: is this a text file?")
    ]
    assert report.created == 1
    customer = Customer.objects.get(external_id="C\\2")
    assert customer.name == "x\\y\\N"
    assert Order.objects.get(external_id="A-2").total == Decimal("100.00")
