"""Importing customers from CSV.

Matched by customer_id: a new id creates a customer, a known one updates it. An empty
cell leaves the stored value as it is (a new customer gets the default), so a file with
a few columns filled in never wipes out what staff entered; clear a value in the admin.
A customer known only by the file's email (say, from a support ticket) gets the
customer_id. One transaction per file, as for orders: a bad row imports nothing unless
skip_invalid leaves it out.
"""

from collections.abc import Callable
from typing import BinaryIO

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import EARLIEST_DAY, AcquisitionChannel, Customer
from . import fields
from .csvfile import CsvReader, CsvRow, FileError
from .report import ImportReport
from .rows import parsed_rows

REQUIRED_COLUMNS = ("customer_id",)
OPTIONAL_COLUMNS = (
    "email",
    "name",
    "phone",
    "locale",
    "time_zone",
    "birthday",
    "acquisition_channel",
    "marketing_consent",
    "survey_consent",
    "first_seen",
)
CHUNK_SIZE = 2000
LOCALES = {
    **{code.lower(): code for code, _name in settings.LANGUAGES},
    **{code.lower().replace("-", "_"): code for code, _name in settings.LANGUAGES},
    "zh": "zh-hans",
}
CHANNELS = {value: value for value in AcquisitionChannel.values}


class CustomerRowParser:
    """Parses the non-empty cells of a row into model field values."""

    def __init__(self) -> None:
        self.moment = fields.MomentParser()
        self.today = timezone.localdate()

    def __call__(self, row: CsvRow) -> tuple[str, dict]:
        values = {name: value.strip() for name, value in row.values.items()}
        customer_id = fields.text("customer_id", values["customer_id"], max_length=64, required=True)
        parsed: dict = {}
        for column, value in values.items():
            if not value or column == "customer_id" or column not in OPTIONAL_COLUMNS:
                continue
            parsed[column] = self.parse(column, value)
        return customer_id, parsed

    def parse(self, column: str, value: str):
        if column == "email":
            return fields.email(column, value)
        if column == "name":
            return fields.text(column, value, max_length=200)
        if column == "phone":
            return fields.text(column, value, max_length=40)
        if column == "locale":
            return fields.choice(column, value, LOCALES, default=settings.LANGUAGE_CODE)
        if column == "time_zone":
            return fields.time_zone(column, value)
        if column == "birthday":
            birthday = fields.day(column, value)
            if birthday > self.today or birthday < EARLIEST_DAY:
                raise fields.CellError(column, _("%(value)s is not a plausible birthday.") % {"value": value})
            return birthday
        if column == "acquisition_channel":
            return fields.choice(column, value, CHANNELS, default="")
        if column in ("marketing_consent", "survey_consent"):
            return fields.boolean(column, value)
        if column == "first_seen":
            return self.moment(column, value)
        raise AssertionError(column)


def customers_import(
    stream: BinaryIO,
    *,
    dry_run: bool = False,
    skip_invalid: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a customers CSV (a binary stream). Returns what was done and every problem."""
    report = ImportReport(dry_run=dry_run, skip_invalid=skip_invalid)
    try:
        reader = CsvReader(stream, required=REQUIRED_COLUMNS, known=REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    except FileError as exc:
        report.file_error = str(exc)
        return report
    report.ignored_columns = reader.ignored
    parse = CustomerRowParser()
    with transaction.atomic():
        writer = _CustomerWriter(report)
        try:
            for line, (customer_id, values) in parsed_rows(reader, report, parse, on_progress):
                writer.add(line, customer_id, values)
            writer.flush()
        except FileError as exc:
            report.file_error = str(exc)
        report.skipped = report.rows - report.created - report.updated - report.unchanged
        if not report.committed:
            transaction.set_rollback(True)
    if on_progress:
        on_progress(reader.bytes_read())
    return report


class _CustomerWriter:
    def __init__(self, report: ImportReport):
        self.report = report
        self.chunk: list[tuple[int, str, dict]] = []
        self.line_of_customer: dict[str, int] = {}
        self.customer_of_email: dict[str, str] = {}  # lower email -> customer_id in this file

    def add(self, line: int, customer_id: str, values: dict) -> None:
        first = self.line_of_customer.setdefault(customer_id, line)
        if first != line:
            self.report.add_problem(
                line,
                _("customer_id %(customer)s is already on line %(first)d.") % {"customer": customer_id, "first": first},
            )
            return
        email = values.get("email")
        if email:
            other = self.customer_of_email.setdefault(email.lower(), customer_id)
            if other != customer_id:
                self.report.add_problem(
                    line,
                    _("email %(email)s is already given to customer %(other)s in this file.")
                    % {"email": email, "other": other},
                )
                return
        self.chunk.append((line, customer_id, values))
        if len(self.chunk) >= CHUNK_SIZE:
            self.flush()

    def flush(self) -> None:
        rows, self.chunk = self.chunk, []
        if not rows:
            return
        report = self.report
        existing = {c.external_id: c for c in Customer.objects.filter(external_id__in=[row[1] for row in rows])}
        emails = {values["email"].lower() for _line, _id, values in rows if values.get("email")}
        by_email = {
            c.email.lower(): c
            for c in Customer.objects.alias(email_lower=Lower("email")).filter(email_lower__in=emails)
        }
        to_create, to_update = [], []
        for line, customer_id, values in rows:
            customer = existing.get(customer_id)
            email = values.get("email")
            owner = by_email.get(email.lower()) if email else None
            if owner is not None and owner.external_id is None and customer is None:
                customer = owner  # known by email only: this is the same person
                customer.external_id = customer_id
                to_update.append(customer)
            elif owner is not None and owner != customer:
                report.add_problem(
                    line,
                    _("email %(email)s is the email of customer %(other)s.")
                    % {"email": email, "other": owner.external_id or owner.pk},
                )
                continue
            if customer is None:
                to_create.append(Customer(external_id=customer_id, **values))
                continue
            changed = False
            for name, value in values.items():
                if getattr(customer, name) != value:
                    setattr(customer, name, value)
                    changed = True
            if changed and customer not in to_update:
                to_update.append(customer)
            elif not changed and customer not in to_update:
                report.unchanged += 1
        now = timezone.now()
        for customer in to_update:
            customer.updated_at = now  # bulk_update does not apply auto_now
        Customer.objects.bulk_create(to_create)
        Customer.objects.bulk_update(to_update, ["external_id", *OPTIONAL_COLUMNS, "updated_at"])
        report.created += len(to_create)
        report.customers_created += len(to_create)
        report.updated += len(to_update)
