"""The reading loop both imports share."""

from collections.abc import Callable, Iterator
from typing import TypeVar

from django.utils.translation import gettext as _

from .csvfile import CsvReader, CsvRow
from .fields import CellError
from .report import ImportReport

Parsed = TypeVar("Parsed")
PROGRESS_EVERY = 10_000


def parsed_rows(
    reader: CsvReader,
    report: ImportReport,
    parse: Callable[[CsvRow], Parsed],
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[int, Parsed]]:
    """Yield (line, parsed row) for every row that parses. Counts the rows, records a
    problem for each row with the wrong number of values or a bad cell, and reports
    progress now and then. A FileError (bad encoding, broken quoting) propagates."""
    for csv_row in reader:
        report.rows += 1
        if on_progress and report.rows % PROGRESS_EVERY == 0:
            on_progress(reader.bytes_read())
        if csv_row.wrong_width is not None:
            report.add_problem(
                csv_row.line,
                _("has %(found)d values, the header has %(expected)d.")
                % {"found": csv_row.wrong_width, "expected": len(reader.columns)},
            )
            continue
        try:
            parsed = parse(csv_row)
        except CellError as exc:
            report.add_problem(csv_row.line, str(exc))
            continue
        yield csv_row.line, parsed
