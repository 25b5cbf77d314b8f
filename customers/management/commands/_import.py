"""What import_orders and import_customers share: options, progress bar, report."""

import os
import sys

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from tqdm import tqdm

from customers.imports.report import ImportReport
from retention_crm.commands import TranslatedCommand

# Show at most this many problems on the terminal; the count says how many there were.
SHOWN_PROBLEMS = 50


class ImportCommand(TranslatedCommand):
    """Runs an import service on a file and prints its report.

    Exits non-zero when nothing was imported because of problems (or the file could not
    be read), so that a script notices.
    """

    def add_arguments(self, parser):
        parser.add_argument("file", help=_("CSV file, UTF-8, header row first"))
        parser.add_argument("--dry-run", action="store_true", help=_("check everything and report, but save nothing"))
        parser.add_argument(
            "--skip-invalid", action="store_true", help=_("import the good rows and report the bad ones")
        )
        parser.add_argument("--no-progress", action="store_true", help=_("no progress bar"))

    def run_import(self, stream, **options) -> ImportReport:
        raise NotImplementedError

    def handle(self, *args, **options):
        path = options["file"]
        try:
            stream = open(path, "rb")  # noqa: SIM115 - closed below, after the import
        except OSError as exc:
            raise CommandError(_("Cannot read %(path)s: %(error)s") % {"path": path, "error": exc.strerror}) from exc
        size = os.fstat(stream.fileno()).st_size
        show_progress = not options["no_progress"] and sys.stderr.isatty()
        with stream, tqdm(total=size, unit="B", unit_scale=True, disable=not show_progress, leave=False) as bar:

            def on_progress(position: int) -> None:
                bar.update(position - bar.n)

            report = self.run_import(
                stream, dry_run=options["dry_run"], skip_invalid=options["skip_invalid"], on_progress=on_progress
            )
        self.print_report(report)
        if not report.succeeded:
            raise CommandError(report.summary())

    def print_report(self, report: ImportReport) -> None:
        if report.ignored_columns:
            self.stderr.write(
                _("Ignored column(s) this import does not know: %(columns)s")
                % {"columns": ", ".join(report.ignored_columns)}
            )
        problems = report.sorted_problems()
        for problem in problems[:SHOWN_PROBLEMS]:
            self.stderr.write(str(problem))
        if report.problem_count > SHOWN_PROBLEMS:
            self.stderr.write(_("… and %(count)d more.") % {"count": report.problem_count - SHOWN_PROBLEMS})
        if report.succeeded:
            self.stdout.write(report.summary())
