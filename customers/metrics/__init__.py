"""Retention metrics exactly as ../shared/METRICS.md defines them.

`retention_figures` and `cohorts` are the selectors every caller uses (the command, the
API, the admin): they read the activity aggregates when those were built for the asked
window (PostgreSQL, the default window) and compute from the orders table otherwise.
Both ways give the same numbers; the tests hold them to it.
"""

from .aggregates import (
    aggregates_time_zone_current,
    cohorts_fast,
    fast_path_available,
    fold_pending,
    orders_changing,
    rebuild,
    retention_figures_fast,
)
from .figures import Cohort, RetentionFigures
from .period import Period, PeriodError, period_validate
from .plain import cohorts_plain, retention_figures_plain


def retention_figures(period: Period) -> RetentionFigures:
    if fast_path_available(period.window_days):
        return retention_figures_fast(period)
    return retention_figures_plain(period)


def cohorts(period: Period) -> list[Cohort]:
    # The cohort counts do not depend on the window; any built state will do, as long
    # as its time zone is today's.
    if aggregates_time_zone_current():
        return cohorts_fast(period)
    return cohorts_plain(period)


__all__ = [
    "Cohort",
    "Period",
    "PeriodError",
    "RetentionFigures",
    "cohorts",
    "fold_pending",
    "orders_changing",
    "period_validate",
    "rebuild",
    "retention_figures",
]
