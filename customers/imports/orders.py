"""Importing orders from CSV, as METRICS.md fixes it.

One transaction per file: a file with a bad row imports nothing (every problem is
reported with its line), unless skip_invalid leaves the bad rows out. Importing the
same file twice changes nothing: orders are matched by order_id, customers by
customer_id; a known order whose placed_at, total, currency, status or discount code
differ in the file is updated. A new customer takes the email and name of its first
row in the file; a customer known only by that email (say, from a support ticket) gets
the customer_id instead of a duplicate.

Two writers do the work: on PostgreSQL the rows stream through COPY into a temporary
table and set-based SQL does the rest (constant memory, hundreds of thousands of rows
a second); elsewhere the ORM writes chunks of rows. The rules are the same; the tests
run both.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import BinaryIO

from django.conf import settings
from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils.translation import gettext as _

from ..metrics import orders_changing
from ..models import Customer, Order, OrderStatus
from ..services import orders_points_update
from . import fields
from .csvfile import CsvReader, CsvRow, FileError
from .report import ImportReport
from .rows import parsed_rows

REQUIRED_COLUMNS = ("order_id", "customer_id", "placed_at", "total")
OPTIONAL_COLUMNS = ("currency", "status", "customer_email", "customer_name", "discount_code")
STATUSES = {value: value for value in OrderStatus.values}


@dataclass(slots=True)
class OrderRow:
    line: int
    order_id: str
    customer_id: str
    placed_at: datetime
    total: Decimal
    currency: str
    status: str
    customer_email: str | None
    customer_name: str
    discount_code: str | None  # None: the file says nothing, keep what the order has


class OrderRowParser:
    def __init__(self, columns: list[str]):
        self.moment = fields.MomentParser()
        self.has_discount_code = "discount_code" in columns

    def __call__(self, row: CsvRow) -> OrderRow:
        values = row.values
        get = values.get
        return OrderRow(
            line=row.line,
            order_id=fields.text("order_id", values["order_id"], max_length=64, required=True),
            customer_id=fields.text("customer_id", values["customer_id"], max_length=64, required=True),
            placed_at=self.moment("placed_at", values["placed_at"]),
            total=fields.money("total", values["total"]),
            currency=fields.currency("currency", get("currency", "")),
            status=fields.choice("status", get("status", ""), STATUSES, default=OrderStatus.PLACED),
            customer_email=fields.email("customer_email", get("customer_email", "")),
            customer_name=fields.text("customer_name", get("customer_name", ""), max_length=200),
            discount_code=fields.text("discount_code", values["discount_code"], max_length=64)
            if self.has_discount_code
            else None,
        )


def orders_import(
    stream: BinaryIO,
    *,
    dry_run: bool = False,
    skip_invalid: bool = False,
    on_progress: Callable[[int], None] | None = None,
    writer: str | None = None,
) -> ImportReport:
    """Import an orders CSV (a binary stream). Returns what was done and every problem.

    `on_progress` is called now and then with the bytes read so far. `writer` forces
    "postgres" or "orm"; by default the database decides.
    """
    report = ImportReport(dry_run=dry_run, skip_invalid=skip_invalid)
    try:
        reader = CsvReader(stream, required=REQUIRED_COLUMNS, known=REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    except FileError as exc:
        report.file_error = str(exc)
        return report
    report.ignored_columns = reader.ignored
    parse = OrderRowParser(reader.columns)
    writer = writer or ("postgres" if connection.vendor == "postgresql" else "orm")
    writer_class = PostgresOrderWriter if writer == "postgres" else OrmOrderWriter

    with transaction.atomic():
        sink = writer_class(report)
        try:
            for _line, row in parsed_rows(reader, report, parse, on_progress):
                sink.add(row)
        except FileError as exc:
            report.file_error = str(exc)
        sink.finish_reading()
        if report.file_error or (report.problem_count and not skip_invalid):
            transaction.set_rollback(True)
            return report
        sink.write()
        report.skipped = report.rows - report.created - report.updated - report.unchanged
        if on_progress:
            on_progress(reader.bytes_read())
        if dry_run:
            transaction.set_rollback(True)
    return report


# --- PostgreSQL: COPY into a temporary table, then set-based SQL ---------------------

STAGING_COLUMNS = (
    "line, order_id, customer_id, placed_at, total, currency, status, customer_email, customer_name, discount_code"
)


COPY_BATCH = 2000
# COPY's text format: a backslash, tab, newline or carriage return in a value is escaped.
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str | None) -> str:
    return "\\N" if value is None else value.translate(COPY_ESCAPES)


class PostgresOrderWriter:
    def __init__(self, report: ImportReport):
        self.report = report
        self.cursor = connection.cursor()
        self.cursor.execute(
            # Sorts and hash joins over hundreds of thousands of rows stay in memory
            # (the default 4 MB would spill them to disk); for this transaction only.
            "SET LOCAL work_mem = '256MB';"
            "DROP TABLE IF EXISTS _import_orders, _import_existing, _import_new_customers, _import_changed;"
            "CREATE TEMP TABLE _import_orders ("
            " line integer NOT NULL, order_id text NOT NULL, customer_id text NOT NULL,"
            " placed_at timestamptz NOT NULL, total numeric(12, 2) NOT NULL, currency text NOT NULL,"
            " status text NOT NULL, customer_email text, customer_name text NOT NULL, discount_code text)"
        )
        self._copy_context = self.cursor.copy(f"COPY _import_orders ({STAGING_COLUMNS}) FROM STDIN")
        self._copy = self._copy_context.__enter__()
        self._lines: list[str] = []

    def add(self, row: OrderRow) -> None:
        # COPY's text format written directly: several times faster than write_row's
        # per-value adaptation, which was the largest cost of reading a big file.
        self._lines.append(
            f"{row.line}\t{_copy_text(row.order_id)}\t{_copy_text(row.customer_id)}\t{row.placed_at.isoformat()}\t"
            f"{row.total}\t{row.currency}\t{row.status}\t{_copy_text(row.customer_email)}\t"
            f"{_copy_text(row.customer_name)}\t{_copy_text(row.discount_code)}\n"
        )
        if len(self._lines) >= COPY_BATCH:
            self._flush()

    def _flush(self) -> None:
        self._copy.write("".join(self._lines))
        self._lines.clear()

    def finish_reading(self) -> None:
        self._flush()
        self._copy_context.__exit__(None, None, None)
        self.cursor.execute("CREATE INDEX ON _import_orders (order_id); ANALYZE _import_orders")
        # The rows whose order_id is known, with the stored order: one pass over the
        # orders table serves both the ownership check and finding what changed.
        self.cursor.execute(
            "CREATE TEMP TABLE _import_existing AS"
            " SELECT s.line, o.customer_id AS owner_pk, o.placed_at, o.total, o.currency, o.status, o.discount_code"
            " FROM _import_orders s JOIN customers_order o ON o.external_id = s.order_id;"
            "CREATE UNIQUE INDEX ON _import_existing (line); ANALYZE _import_existing"
        )
        self._check_rows()

    def _rows(self, sql: str, params: dict | None = None) -> list[tuple]:
        self.cursor.execute(sql, params or {})
        return self.cursor.fetchall()

    def _reject(self, lines: list[int]) -> None:
        if lines:
            self.cursor.execute("DELETE FROM _import_orders WHERE line = ANY(%(lines)s)", {"lines": lines})

    def _check_rows(self) -> None:
        """The rules that need more than one row, or the database, to check."""
        report = self.report
        rejected = []
        for line, order_id, first_line in self._rows(
            "SELECT line, order_id, first_line FROM ("
            " SELECT line, order_id, min(line) OVER (PARTITION BY order_id) AS first_line FROM _import_orders"
            ") AS t WHERE line <> first_line ORDER BY line"
        ):
            report.add_problem(
                line,
                _("order_id %(order)s is already on line %(first)d.") % {"order": order_id, "first": first_line},
            )
            rejected.append(line)
        for line, order_id, owner, customer_id in self._rows(
            "SELECT s.line, s.order_id, c.external_id, s.customer_id FROM _import_orders s"
            " JOIN _import_existing e USING (line)"
            " JOIN customers_customer c ON c.id = e.owner_pk"
            " WHERE c.external_id IS DISTINCT FROM s.customer_id ORDER BY s.line"
        ):
            report.add_problem(
                line,
                _("order %(order)s belongs to customer %(owner)s, not %(customer)s.")
                % {"order": order_id, "owner": owner, "customer": customer_id},
            )
            rejected.append(line)
        self._reject(rejected)

        # New customers take the email and name of their first row.
        self.cursor.execute(
            "CREATE TEMP TABLE _import_new_customers AS"
            " SELECT DISTINCT ON (s.customer_id) s.customer_id, s.customer_email AS email, s.customer_name AS name,"
            "  s.line, lower(s.customer_email) AS email_lower"
            " FROM _import_orders s"
            " WHERE NOT EXISTS (SELECT 1 FROM customers_customer c WHERE c.external_id = s.customer_id)"
            " ORDER BY s.customer_id, s.line"
        )
        bad_customers = []
        for line, customer_id, email, other in self._rows(
            "SELECT n.line, n.customer_id, n.email, c.external_id FROM _import_new_customers n"
            " JOIN customers_customer c ON lower(c.email) = n.email_lower"
            " WHERE c.external_id IS NOT NULL"
            " UNION ALL "
            "SELECT line, customer_id, email, first_customer FROM ("
            " SELECT line, customer_id, email,"
            "  first_value(customer_id) OVER (PARTITION BY email_lower ORDER BY line) AS first_customer"
            " FROM _import_new_customers WHERE email_lower IS NOT NULL"
            ") AS t WHERE customer_id <> first_customer"
            " ORDER BY 1"
        ):
            report.add_problem(
                line,
                _("customer %(customer)s cannot be created: %(email)s is the email of customer %(other)s.")
                % {"customer": customer_id, "email": email, "other": other},
            )
            bad_customers.append(customer_id)
        if bad_customers:
            # Every row of a customer that cannot be created is left out with it.
            self.cursor.execute(
                "DELETE FROM _import_orders WHERE customer_id = ANY(%(ids)s);"
                "DELETE FROM _import_new_customers WHERE customer_id = ANY(%(ids)s)",
                {"ids": bad_customers},
            )

    def write(self) -> None:
        report = self.report
        cursor = self.cursor
        # A customer known only by email (no customer_id yet) is the same person.
        cursor.execute(
            "UPDATE customers_customer c SET external_id = n.customer_id, updated_at = now()"
            " FROM _import_new_customers n"
            " WHERE n.email_lower IS NOT NULL AND c.external_id IS NULL AND lower(c.email) = n.email_lower"
        )
        cursor.execute(
            "WITH created AS ("
            " INSERT INTO customers_customer (external_id, email, name, phone, locale, time_zone,"
            "  acquisition_channel, marketing_consent, survey_consent, first_seen, created_at, updated_at)"
            " SELECT n.customer_id, n.email, n.name, '', %(locale)s, %(zone)s, '', false, false, f.first_seen,"
            "  now(), now()"
            " FROM _import_new_customers n"
            " JOIN (SELECT customer_id, min(placed_at) AS first_seen FROM _import_orders GROUP BY customer_id) f"
            "  USING (customer_id)"
            " ORDER BY n.customer_id"
            " ON CONFLICT (external_id) DO NOTHING RETURNING 1"
            ") SELECT count(*) FROM created",
            {"locale": settings.LANGUAGE_CODE, "zone": settings.TIME_ZONE},
        )
        report.customers_created = cursor.fetchone()[0]

        cursor.execute(
            "CREATE TEMP TABLE _import_changed AS"
            " SELECT s.order_id, c.id AS customer_pk, s.placed_at, s.total, s.currency, s.status,"
            "  coalesce(s.discount_code, o.discount_code, '') AS discount_code,"
            # The earliest moment this row touches: its new placed_at, or the stored one.
            "  least(s.placed_at, o.placed_at) AS touched_since"
            " FROM _import_orders s"
            " JOIN customers_customer c ON c.external_id = s.customer_id"
            " LEFT JOIN _import_existing o USING (line)"
            " WHERE o.line IS NULL"
            "  OR (o.placed_at, o.total, o.currency, o.status, o.discount_code)"
            "   IS DISTINCT FROM"
            "   (s.placed_at, s.total, s.currency, s.status, coalesce(s.discount_code, o.discount_code))"
        )
        cursor.execute("ANALYZE _import_changed")
        cursor.execute("SELECT count(*) FROM _import_orders")
        valid_rows = cursor.fetchone()[0]
        with orders_changing(customer_ids_sql="SELECT customer_pk, touched_since FROM _import_changed"):
            cursor.execute(
                "WITH written AS ("
                " INSERT INTO customers_order (external_id, customer_id, placed_at, total, currency, status,"
                "  discount_code, created_at, updated_at)"
                " SELECT order_id, customer_pk, placed_at, total, currency, status, discount_code, now(), now()"
                " FROM _import_changed ORDER BY order_id"
                " ON CONFLICT (external_id) DO UPDATE SET placed_at = EXCLUDED.placed_at, total = EXCLUDED.total,"
                "  currency = EXCLUDED.currency, status = EXCLUDED.status, discount_code = EXCLUDED.discount_code,"
                "  updated_at = now()"
                " RETURNING xmax = 0 AS inserted"
                ") SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written"
            )
            report.created, report.updated = cursor.fetchone()
            # first_seen is the earliest we know of the customer, orders included.
            cursor.execute(
                "UPDATE customers_customer c SET first_seen = m.first_seen"
                " FROM (SELECT customer_pk, min(placed_at) AS first_seen FROM _import_changed GROUP BY customer_pk) m"
                " WHERE c.id = m.customer_pk AND c.first_seen > m.first_seen"
            )
        report.unchanged = valid_rows - report.created - report.updated
        _points_in_chunks(
            "SELECT o.id FROM customers_order o JOIN _import_changed c ON o.external_id = c.order_id ORDER BY o.id"
        )
        cursor.execute("DROP TABLE _import_orders, _import_existing, _import_new_customers, _import_changed")


# The loyalty points of this many orders at a time: a million order ids in lists and
# query parameters at once took half a gigabyte.
POINTS_CHUNK = 50_000


def _points_in_chunks(order_ids_sql: str) -> None:
    """`orders_points_update` for the orders `order_ids_sql` selects, a chunk at a time,
    read through a server-side cursor: the import's memory stays flat whatever the
    file's size. Every order is in the table already, so a chunk's tiers and first
    orders are those of the whole file."""
    with connection.chunked_cursor() as ids:
        ids.execute(order_ids_sql)
        while chunk := [row[0] for row in ids.fetchmany(POINTS_CHUNK)]:
            orders_points_update(order_ids=chunk)


# --- Any database: the ORM, a chunk of rows at a time --------------------------------

CHUNK_SIZE = 2000


class OrmOrderWriter:
    """The same rules through the ORM, writing a chunk of rows at a time as they are
    read. Memory grows with the number of distinct orders in the file (it remembers
    which it has seen, to find duplicates)."""

    def __init__(self, report: ImportReport):
        self.report = report
        self.chunk: list[OrderRow] = []
        self.first_line_of_order: dict[str, int] = {}
        self.rejected_customers: set[str] = set()
        self.new_email_owner: dict[str, str] = {}  # lower email -> customer_id created by this import

    def add(self, row: OrderRow) -> None:
        first = self.first_line_of_order.setdefault(row.order_id, row.line)
        if first != row.line:
            self.report.add_problem(
                row.line,
                _("order_id %(order)s is already on line %(first)d.") % {"order": row.order_id, "first": first},
            )
            return
        self.chunk.append(row)
        if len(self.chunk) >= CHUNK_SIZE:
            self._write_chunk(self.chunk)
            self.chunk = []

    def finish_reading(self) -> None:
        # Problems found here roll the whole file back too (unless skip_invalid): the
        # caller's transaction holds every chunk.
        if self.chunk:
            self._write_chunk(self.chunk)
            self.chunk = []

    def write(self) -> None:
        pass  # the chunks were written while reading

    def _write_chunk(self, rows: list[OrderRow]) -> None:
        report = self.report
        existing = {
            order.external_id: order
            for order in Order.objects.filter(external_id__in=[row.order_id for row in rows]).select_related("customer")
        }
        customers = {
            customer.external_id: customer
            for customer in Customer.objects.filter(external_id__in={row.customer_id for row in rows})
        }
        self._create_customers(rows, customers)

        to_create, to_update, kept = [], [], []
        for row in rows:
            customer = customers.get(row.customer_id)
            if customer is None:
                continue  # rejected with its customer
            order = existing.get(row.order_id)
            if order is None:
                to_create.append(
                    Order(
                        external_id=row.order_id,
                        customer=customer,
                        placed_at=row.placed_at,
                        total=row.total,
                        currency=row.currency,
                        status=row.status,
                        discount_code=row.discount_code or "",
                    )
                )
            elif order.customer.external_id != row.customer_id:
                report.add_problem(
                    row.line,
                    _("order %(order)s belongs to customer %(owner)s, not %(customer)s.")
                    % {"order": row.order_id, "owner": order.customer.external_id, "customer": row.customer_id},
                )
            else:
                new_values = (
                    row.placed_at,
                    row.total,
                    row.currency,
                    row.status,
                    row.discount_code or order.discount_code,
                )
                if (order.placed_at, order.total, order.currency, order.status, order.discount_code) == new_values:
                    kept.append(order)
                else:
                    order.placed_at, order.total, order.currency, order.status, order.discount_code = new_values
                    to_update.append(order)

        changed = to_create + to_update
        with orders_changing({order.customer.pk for order in changed}):
            Order.objects.bulk_create(to_create)
            Order.objects.bulk_update(to_update, ["placed_at", "total", "currency", "status", "discount_code"])
            earliest: dict[int, datetime] = {}
            for order in changed:
                if order.placed_at < earliest.get(order.customer.pk, order.customer.first_seen):
                    earliest[order.customer.pk] = order.placed_at
            for customer_pk, first_seen in earliest.items():
                Customer.objects.filter(pk=customer_pk, first_seen__gt=first_seen).update(first_seen=first_seen)
        orders_points_update(order_ids=[order.pk for order in changed])
        report.created += len(to_create)
        report.updated += len(to_update)
        report.unchanged += len(kept)

    def _create_customers(self, rows: list[OrderRow], customers: dict[str, Customer]) -> None:
        """Create (or link by email) the unknown customers of these rows, in place."""
        report = self.report
        first_rows: dict[str, OrderRow] = {}
        for row in rows:
            if row.customer_id not in customers and row.customer_id not in self.rejected_customers:
                first_rows.setdefault(row.customer_id, row)
        if not first_rows:
            return
        emails = {row.customer_email.lower() for row in first_rows.values() if row.customer_email}
        by_email = {
            customer.email.lower(): customer
            for customer in Customer.objects.alias(email_lower=Lower("email")).filter(email_lower__in=emails)
        }
        first_seen: dict[str, datetime] = {}
        for row in rows:
            if row.customer_id in first_rows:
                first_seen[row.customer_id] = min(first_seen.get(row.customer_id, row.placed_at), row.placed_at)
        new = []
        for customer_id, row in first_rows.items():
            email_lower = row.customer_email.lower() if row.customer_email else None
            owner = by_email.get(email_lower) if email_lower else None
            other_id = owner.external_id if owner else self.new_email_owner.get(email_lower)
            if owner is not None and owner.external_id is None:
                owner.external_id = customer_id
                owner.save(update_fields=["external_id", "updated_at"])
                customers[customer_id] = owner
                continue
            if other_id is not None:
                report.add_problem(
                    row.line,
                    _("customer %(customer)s cannot be created: %(email)s is the email of customer %(other)s.")
                    % {"customer": customer_id, "email": row.customer_email, "other": other_id},
                )
                self.rejected_customers.add(customer_id)
                continue
            if email_lower:
                self.new_email_owner[email_lower] = customer_id
            new.append(
                Customer(
                    external_id=customer_id,
                    email=row.customer_email,
                    name=row.customer_name,
                    locale=settings.LANGUAGE_CODE,
                    time_zone=settings.TIME_ZONE,
                    first_seen=first_seen[customer_id],
                )
            )
        Customer.objects.bulk_create(new)
        # bulk_create sets primary keys on PostgreSQL and SQLite; fetch them to be sure.
        for customer in Customer.objects.filter(external_id__in=[c.external_id for c in new]):
            customers[customer.external_id] = customer
        report.customers_created += len(new)
