"""make bench [BENCH="dataset metrics admin api import tickets support surveys loyalty insights privacy"]"""

import sys
import time

from .common import Report, setup_django, vacuum_as_autovacuum_would

SUITES = [
    "dataset",
    "metrics",
    "admin",
    "api",
    "import",
    "tickets",
    "support",
    "surveys",
    "loyalty",
    "insights",
    "privacy",
]
# Parts of a suite, to measure one figure again without the rest (not run by default).
PARTS = ["loyalty-nightly", "loyalty-redemptions", "loyalty-ingest", "surveys-submissions"]


def main(argv: list[str]) -> int:
    setup_django()
    from . import (
        admin_list,
        api_orders,
        dataset,
        imports,
        insights,
        loyalty,
        metrics,
        privacy,
        support,
        surveys,
        tickets,
    )

    chosen = argv or SUITES
    unknown = set(chosen) - set(SUITES) - set(PARTS)
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from {', '.join(SUITES + PARTS)}")
        return 2
    from django.core.management import call_command

    call_command("collectstatic", "--no-input", verbosity=0)  # production static storage needs its manifest
    report = Report(name="-".join(chosen))
    started = time.perf_counter()
    dataset.ensure(report)
    runners = {
        "metrics": metrics.run,
        "admin": admin_list.run,
        "api": api_orders.run,
        "import": imports.run,
        "tickets": tickets.run,
        "support": support.run,
        "surveys": surveys.run,
        "loyalty": loyalty.run,
        "insights": insights.run,
        "privacy": privacy.run,
        "loyalty-nightly": loyalty.run_nightly,
        "loyalty-redemptions": loyalty.run_redemptions,
        "loyalty-ingest": loyalty.run_ingest,
        "surveys-submissions": surveys.run_submissions,
    }
    for name in chosen:
        if name in runners:
            vacuum_as_autovacuum_would(report)
            runners[name](report)
    report.say(f"\nDone in {time.perf_counter() - started:.0f} s; results in {report.save()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
