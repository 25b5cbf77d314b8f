"""The period of a retention report, validated as METRICS.md demands."""

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.utils.translation import gettext as _

from customers.models import EARLIEST_DAY

MAX_WINDOW_DAYS = 36_500
# The days a report takes: wide enough for any business's past and plans, narrow
# enough that a period with its activity window, the period before it and a zone's
# midnight stay within Python's dates (years 1 to 9999). A day at either end of those
# overflowed somewhere in the arithmetic: a 500.
LATEST_DAY = date(2999, 12, 31)


class PeriodError(ValueError):
    """A period the metrics refuse, with a one-line message for the user and the name of
    the parameter at fault (for the API's per-field errors)."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    window_days: int

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def after_end(self) -> date:
        """The day after `end`: the period covers [start 00:00, after_end 00:00)."""
        return self.end + timedelta(days=1)


def days_check(*, start: date, end: date) -> None:
    for name, day in (("start", start), ("end", end)):
        if not EARLIEST_DAY <= day <= LATEST_DAY:
            raise PeriodError(
                _("%(name)s must be a day from %(earliest)s to %(latest)s.")
                % {"name": name, "earliest": EARLIEST_DAY, "latest": LATEST_DAY},
                name,
            )


def period_validate(*, start: date, end: date, window_days: int | None = None, for_cohorts: bool = False) -> Period:
    """Refuse what METRICS.md refuses: an end before the start, and a window shorter than
    the period (with it, E - N can go negative and the retention rate means nothing).

    Cohorts do not use the window, so `for_cohorts` lets a period be longer than it: a
    three-year cohort matrix is a normal request."""
    if window_days is None:
        window_days = settings.RETENTION_WINDOW_DAYS
    days_check(start=start, end=end)
    if end < start:
        raise PeriodError(_("end (%(end)s) is before start (%(start)s).") % {"end": end, "start": start}, "end")
    if not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise PeriodError(_("window_days must be between 1 and %(max)d.") % {"max": MAX_WINDOW_DAYS}, "window_days")
    period = Period(start=start, end=end, window_days=window_days)
    if window_days < period.days and not for_cohorts:
        raise PeriodError(
            _(
                "window_days (%(window)d) is shorter than the period (%(days)d days): "
                "use a window of at least %(days)d days or a shorter period."
            )
            % {"window": window_days, "days": period.days},
            "window_days",
        )
    return period


def metrics_zone() -> zoneinfo.ZoneInfo:
    """The zone whose days and months the metrics use: settings.TIME_ZONE, never the
    zone a request happens to have activated."""
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def midnight(day: date) -> datetime:
    """The first instant of `day` in the metrics zone.

    With fold=0 this is right on DST days too: where midnight is skipped it is the
    moment of the change, where it repeats it is the first of the two.
    """
    return datetime.combine(day, time(), tzinfo=metrics_zone())


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def months_between(first: date, last: date) -> int:
    """Whole calendar months from the month of `first` to the month of `last`."""
    return (last.year - first.year) * 12 + last.month - first.month
