import csv
import io

from customers.imports.orders import orders_import

ORDER_HEADER = ("order_id", "customer_id", "placed_at", "total", "status")


def csv_bytes(header, rows, *, delimiter=",") -> io.BytesIO:
    text = io.StringIO()
    writer = csv.writer(text, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return io.BytesIO(text.getvalue().encode())


def load_orders(rows, *, header=ORDER_HEADER, writer="postgres"):
    """Import (order_id, customer_id, placed_at, total, status) rows; fail loudly."""
    report = orders_import(csv_bytes(header, rows), writer=writer)
    assert report.committed, [str(p) for p in report.sorted_problems()] or report.file_error
    return report
