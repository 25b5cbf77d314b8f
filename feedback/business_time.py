"""Business-time arithmetic for SLA clocks: pure functions, no database.

A `Calendar` says when the team works: weekly opening hours in its own time zone (any
number of intervals per weekday, so split shifts are just two intervals) and holidays
(whole local days off). With no calendar (`None`) every second counts.

"Business time" is the set of instants whose local wall-clock time falls inside an
opening interval of a working day. That definition is taken literally, daylight-saving
changes included: on a spring-forward day, wall times inside the skipped hour do not
exist and count for nothing; on a fall-back day, an interval that covers the repeated
hour counts it twice (the team really is at work for those two hours). `day_intervals`
turns one local day into exact UTC intervals; everything else adds them up.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

# A calendar whose working time cannot be found within this many days (no opening
# hours, or holidays covering everything) is refused rather than looped over forever.
SEARCH_DAYS = 3660


class NoBusinessTime(ValueError):
    """The calendar has no working time in the searched range."""


@dataclass(frozen=True)
class Calendar:
    zone: ZoneInfo
    # weekday (Monday 0 … Sunday 6) -> sorted, non-overlapping (opens, closes) pairs,
    # opens < closes; `time.max` is not needed: an interval may close at 00:00 of the
    # next day by using `closes=None` (to midnight).
    hours: tuple[tuple[tuple[time, time | None], ...], ...] = field(default=((),) * 7)
    holidays: frozenset[date] = frozenset()

    @classmethod
    def build(
        cls,
        zone: str | ZoneInfo,
        hours: dict[int, list[tuple[time, time | None]]],
        holidays: frozenset[date] | set[date] = frozenset(),
    ) -> "Calendar":
        zone = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
        week = tuple(tuple(sorted(hours.get(weekday, []), key=lambda pair: pair[0])) for weekday in range(7))
        return cls(zone=zone, hours=week, holidays=frozenset(holidays))

    @property
    def has_hours(self) -> bool:
        return any(self.hours)


def _naive_to_utc(moment: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time under a fixed reading (fold 0)."""
    return moment.replace(tzinfo=zone).astimezone(UTC)


def _offset(instant: datetime, zone: ZoneInfo) -> timedelta:
    return instant.astimezone(zone).utcoffset()


def _segments(start: datetime, end: datetime, zone: ZoneInfo) -> list[tuple[datetime, datetime, timedelta]]:
    """Split [start, end) (UTC) into pieces of constant UTC offset in `zone`.

    Real zones change offset at most once within the span of a day and a half, and
    always on a whole second: look at both ends, and bisect when they differ.
    """
    first, last = _offset(start, zone), _offset(end, zone)
    if first == last:
        return [(start, end, first)]
    low, high = start, end  # offset(low) == first, offset(high) != first
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle <= low:
            middle = low + timedelta(seconds=1)
        if _offset(middle, zone) == first:
            low = middle
        else:
            high = middle
    return [(start, high, first), *_segments(high, end, zone)]


@lru_cache(maxsize=65536)
def day_intervals(calendar: Calendar, day: date) -> tuple[tuple[datetime, datetime], ...]:
    """The UTC intervals of working time whose local wall clock reads `day`."""
    if day in calendar.holidays:
        return ()
    pairs = calendar.hours[day.weekday()]
    if not pairs:
        return ()
    zone = calendar.zone
    # Every instant whose wall clock reads `day` lies within a day and a half around it.
    span_start = _naive_to_utc(datetime.combine(day, time()), zone) - timedelta(hours=18)
    span_end = _naive_to_utc(datetime.combine(day + timedelta(days=1), time()), zone) + timedelta(hours=18)
    result: list[tuple[datetime, datetime]] = []
    for segment_start, segment_end, offset in _segments(span_start, span_end, zone):
        # In this piece, wall time = instant + offset: the instants with a wall time in
        # [day opens, day closes) are [day opens - offset, day closes - offset).
        for opens, closes in pairs:
            wall_open = datetime.combine(day, opens, tzinfo=UTC)
            wall_close = (
                datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
                if closes is None
                else datetime.combine(day, closes, tzinfo=UTC)
            )
            low = max(segment_start, wall_open - offset)
            high = min(segment_end, wall_close - offset)
            if low < high:
                result.append((low, high))
    result.sort()
    merged: list[tuple[datetime, datetime]] = []
    for low, high in result:
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return tuple(merged)


def _local_day(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()


def _intervals_from(calendar: Calendar, instant: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Working intervals that end after `instant`, in time order, clipped to start at it."""
    if not calendar.has_hours:
        raise NoBusinessTime("The business calendar has no opening hours.")
    day = _local_day(instant, calendar.zone) - timedelta(days=1)
    for _ in range(SEARCH_DAYS):
        for low, high in day_intervals(calendar, day):
            if high > instant:
                yield max(low, instant), high
        day += timedelta(days=1)
    raise NoBusinessTime("The business calendar has no working time in the next ten years.")


def _intervals_before(calendar: Calendar, instant: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Working intervals that start before `instant`, latest first, clipped to end at it."""
    if not calendar.has_hours:
        raise NoBusinessTime("The business calendar has no opening hours.")
    day = _local_day(instant, calendar.zone) + timedelta(days=1)
    for _ in range(SEARCH_DAYS):
        for low, high in reversed(day_intervals(calendar, day)):
            if low < instant:
                yield low, min(high, instant)
        day -= timedelta(days=1)
    raise NoBusinessTime("The business calendar has no working time in the last ten years.")


def add(start: datetime, duration: timedelta, calendar: Calendar | None) -> datetime:
    """The instant at which `duration` of business time has passed since `start`.

    A zero duration from outside business hours gives `start` itself: nothing is owed yet.
    """
    if calendar is None or duration <= timedelta(0):
        return start + max(duration, timedelta(0))
    left = duration
    for low, high in _intervals_from(calendar, start):
        if high - low >= left:
            return low + left
        left -= high - low
    raise AssertionError("unreachable")  # _intervals_from raises first


def subtract(end: datetime, duration: timedelta, calendar: Calendar | None) -> datetime:
    """The latest instant from which `duration` of business time reaches `end`."""
    if calendar is None or duration <= timedelta(0):
        return end - max(duration, timedelta(0))
    left = duration
    for low, high in _intervals_before(calendar, end):
        if high - low >= left:
            return high - left
        left -= high - low
    raise AssertionError("unreachable")


def between(start: datetime, end: datetime, calendar: Calendar | None) -> timedelta:
    """Business time in [start, end); negative when end is before start."""
    if end < start:
        return -between(end, start, calendar)
    if calendar is None:
        return end - start
    total = timedelta(0)
    for low, high in _intervals_from(calendar, start):
        if low >= end:
            break
        total += min(high, end) - low
    return total


def is_open(instant: datetime, calendar: Calendar | None) -> bool:
    if calendar is None:
        return True
    day = _local_day(instant, calendar.zone)
    return any(
        low <= instant < high
        for candidate in (day - timedelta(days=1), day, day + timedelta(days=1))
        for low, high in day_intervals(calendar, candidate)
    )


def next_open(instant: datetime, calendar: Calendar | None) -> datetime:
    """`instant` when the team is at work then, else when it next starts."""
    if calendar is None:
        return instant
    low, _high = next(_intervals_from(calendar, instant))
    return low
