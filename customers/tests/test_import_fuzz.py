"""Both imports fed files of arbitrary cells (boundary values, bad dates and amounts,
unknown zones and languages, NUL bytes, formulas, repeated ids): an import never fails
with an exception, every problem names a line of the file, and an import refused for
its problems (without --skip-invalid) leaves nothing behind."""

import io
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers.imports.customers import customers_import
from customers.imports.orders import orders_import
from customers.models import Customer, Order

CELLS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["O1", "O2", "C1", "C2", "b@example.com", "B@EXAMPLE.COM"]),
    st.sampled_from(
        [
            *("", "0", "-1", "1e400", "NaN", "Infinity", "12.345", "9999999999999", "10.00"),
            *("2026-02-30", "2026-01-01T25:00", "2024-02-29", "2026-01-01T10:00:00+14:00", "0001-01-01", "9999-12-31"),
            *("paid", "PAID", "refunded", "a@b.c", "Europe/Copenhagen", "Mars/Base", "da", "zh-hans", "xx", "yes"),
            *("\x00", "=1+1", "'=SUM(A1)", "EUR", "eu", "€"),
        ]
    ),
)
ORDER_COLUMNS = (
    *("order_id", "customer_id", "placed_at", "total"),
    *("currency", "status", "customer_email", "customer_name"),
)
# What the reader counts as a line break (universal newlines, not str.splitlines).
LINE_BREAK = re.compile("\r\n|\r|\n")
CUSTOMER_COLUMNS = ("customer_id", "email", "name", "phone", "locale", "time_zone", "birthday", "first_seen")


def csv_file(columns, rows, delimiter: str) -> tuple[io.BytesIO, list[int]]:
    """The file, and the line each row starts on (a value may hold line breaks)."""
    lines = [delimiter.join(columns)]
    lines += [delimiter.join('"' + value.replace('"', '""') + '"' for value in row) for row in rows]
    starts, line = [], 2
    for text in lines[1:]:
        starts.append(line)
        line += len(LINE_BREAK.findall(text)) + 1
    return io.BytesIO(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")), starts


@pytest.mark.django_db
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    st.data(),
    st.sampled_from(["orders:postgres", "orders:orm", "customers"]),
    st.sampled_from([",", ";"]),
    st.booleans(),
)
def test_an_import_reports_by_line_and_refuses_whole(data, kind, delimiter, skip_invalid):
    columns = CUSTOMER_COLUMNS if kind == "customers" else ORDER_COLUMNS
    rows = data.draw(st.lists(st.lists(CELLS, min_size=len(columns), max_size=len(columns)), max_size=6))
    file, row_starts = csv_file(columns, rows, delimiter)
    before = (Customer.objects.count(), Order.objects.count())
    if kind == "customers":
        report = customers_import(file, skip_invalid=skip_invalid)
    else:
        report = orders_import(file, writer=kind.split(":")[1], skip_invalid=skip_invalid)
    assert {problem.line for problem in report.sorted_problems()} <= set(row_starts)
    if report.file_error or (report.problem_count and not skip_invalid):
        assert (Customer.objects.count(), Order.objects.count()) == before
