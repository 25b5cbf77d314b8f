"""Timing helpers and the results file."""

import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()


def best_of(function: Callable, repeat: int) -> tuple[float, object]:
    """The fastest of `repeat` runs (seconds) and the last result: the fastest run is the
    one least disturbed by the rest of a noisy machine."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return min(times), result


def timings(function: Callable, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    times.sort()
    return {
        "min": times[0],
        "median": statistics.median(times),
        "max": times[-1],
        "p95": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
    }


@dataclass
class Report:
    name: str
    lines: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)

    def say(self, text: str) -> None:
        print(text, flush=True)
        self.lines.append(text)

    def figure(self, key: str, value, text: str) -> None:
        self.figures[key] = value
        self.say(text)

    def save(self) -> Path:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-{self.name}.json"
        path.write_text(json.dumps(asdict(self), indent=2, default=str))
        return path


def vacuum_as_autovacuum_would(report: Report) -> None:
    """Where the server runs without autovacuum (this workplace's machines have
    `autovacuum = off` in conf.d/90-ci.conf), VACUUM ANALYZE each table that autovacuum
    would have vacuumed by now, by its default thresholds (50 rows + 20 % of the table
    dead). The suites' clean-ups delete what they made; without this, the dead rows
    stay, and every later figure pays for them (the admin's email search over a customer
    table with 157,000 dead rows took 194 ms instead of 60-118 ms). A production server
    keeps autovacuum on (docs/deployment.md)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        if cursor.fetchone()[0] == "on":
            return
        cursor.execute(
            "SELECT relname, n_dead_tup FROM pg_stat_user_tables"
            " WHERE n_dead_tup > 50 + 0.2 * n_live_tup ORDER BY relname"
        )
        due = cursor.fetchall()
        started = time.perf_counter()
        for table, _dead in due:
            cursor.execute(f'VACUUM (ANALYZE) "{table}"')
    if due:
        report.say(
            f"\n(autovacuum is off on this server: vacuumed {len(due)} table(s) as it would have,"
            f" {sum(dead for _table, dead in due):,} dead rows, in {time.perf_counter() - started:.1f} s)"
        )
