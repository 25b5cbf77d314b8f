"""Reading a CSV file a row at a time, with the line number each row starts on."""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from django.utils.translation import gettext as _

DELIMITERS = ",;\t"


class FileError(ValueError):
    """The file as a whole cannot be read (encoding, header): nothing is imported."""


@dataclass
class CsvRow:
    line: int  # the physical line the row starts on; the header is line 1
    values: dict[str, str]
    wrong_width: int | None = None  # how many values the row had, when not one per column


class CsvReader:
    """Streams a CSV file: constant memory whatever its size.

    Accepts UTF-8 with or without a byte-order mark, and a comma, semicolon or tab as
    the delimiter (spreadsheets in Danish or Russian save with semicolons). Header names
    are matched without regard to case or surrounding spaces.
    """

    def __init__(self, stream: BinaryIO, *, required: tuple[str, ...], known: tuple[str, ...]):
        self._binary = stream
        self.text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        try:
            first_line = self.text.readline()
        except UnicodeDecodeError as exc:
            raise FileError(_("The file is not UTF-8 text (save it as CSV UTF-8).")) from exc
        if not first_line.strip():
            raise FileError(_("The file is empty: line 1 must be a header row."))
        delimiter = max(DELIMITERS, key=first_line.count)
        header = next(csv.reader([first_line], delimiter=delimiter))
        self.columns = [name.strip().lower() for name in header]
        missing = [name for name in required if name not in self.columns]
        if missing:
            raise FileError(
                _("Line 1: the header lacks the column(s) %(missing)s (it has: %(found)s).")
                % {"missing": ", ".join(missing), "found": ", ".join(self.columns)}
            )
        duplicated = sorted({name for name in self.columns if self.columns.count(name) > 1 and name})
        if duplicated:
            raise FileError(_("Line 1: the column(s) %(names)s appear twice.") % {"names": ", ".join(duplicated)})
        self.ignored = [name for name in self.columns if name not in known]
        self._reader = csv.reader(self.text, delimiter=delimiter)
        self._width = len(self.columns)

    def bytes_read(self) -> int:
        """How far into the file reading has come, for a progress bar."""
        try:
            return self._binary.tell()
        except (OSError, ValueError):
            return 0

    def __iter__(self) -> Iterator[CsvRow]:
        columns, width = self.columns, self._width
        reader = self._reader
        line = 2
        try:
            for values in reader:
                start, line = line, reader.line_num + 2
                if not values or (len(values) == 1 and not values[0].strip()):
                    continue  # blank line
                if len(values) != width:
                    yield CsvRow(start, {}, wrong_width=len(values))
                    continue
                yield CsvRow(start, dict(zip(columns, values, strict=True)))
        except UnicodeDecodeError as exc:
            raise FileError(
                _("Line %(line)d: the file is not UTF-8 text (save it as CSV UTF-8).") % {"line": line}
            ) from exc
        except csv.Error as exc:
            raise FileError(_("Line %(line)d: %(error)s") % {"line": line, "error": exc}) from exc
