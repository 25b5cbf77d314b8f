"""What an import did, or would do, and what was wrong with which line."""

from dataclasses import dataclass, field

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

# Keep at most this many problems in memory; the count goes on.
MAX_KEPT_PROBLEMS = 1000


@dataclass(frozen=True)
class RowProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return _("line %(line)d: %(message)s") % {"line": self.line, "message": self.message}


@dataclass
class ImportReport:
    dry_run: bool = False
    skip_invalid: bool = False
    rows: int = 0  # data rows read (blank lines not counted)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    customers_created: int = 0
    skipped: int = 0  # invalid rows left out (with skip_invalid)
    problems: list[RowProblem] = field(default_factory=list)
    problem_count: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    file_error: str = ""

    def add_problem(self, line: int, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_KEPT_PROBLEMS:
            self.problems.append(RowProblem(line, message))

    @property
    def succeeded(self) -> bool:
        """True when the rows were (or, in a dry run, would be) imported."""
        return not self.file_error and (self.problem_count == 0 or self.skip_invalid)

    @property
    def committed(self) -> bool:
        return self.succeeded and not self.dry_run

    def sorted_problems(self) -> list[RowProblem]:
        return sorted(self.problems, key=lambda problem: problem.line)

    def summary(self) -> str:
        if self.file_error:
            return self.file_error
        counts = _(
            # Counts after labels, so that one row reads as well as many in every language.
            "Rows: %(rows)d; created: %(created)d, updated: %(updated)d, unchanged: %(unchanged)d, "
            "skipped: %(skipped)d; new customers: %(customers)d."
        ) % {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "customers": self.customers_created,
        }
        if not self.succeeded:
            return ngettext(
                "Nothing was imported: %(count)d row has a problem. Fix it, or skip invalid rows.",
                "Nothing was imported: %(count)d rows have problems. Fix them, or skip invalid rows.",
                self.problem_count,
            ) % {"count": self.problem_count}
        if self.dry_run:
            return _("Dry run, nothing saved. It would give: %(counts)s") % {"counts": counts}
        return _("Imported. %(counts)s") % {"counts": counts}
