"""SLA arithmetic with business calendars: split shifts, holidays, pauses and DST,
held to a plain reference model that walks time minute by minute."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from feedback import business_time
from feedback.business_time import Calendar, NoBusinessTime

MINUTE = timedelta(minutes=1)
ZONES = [
    "UTC",
    "Europe/Copenhagen",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute daylight-saving shift
    "Asia/Kathmandu",  # UTC+05:45
    "Asia/Seoul",
    "America/Sao_Paulo",
]


def office(zone="Europe/Copenhagen", holidays=()) -> Calendar:
    """Monday to Friday 9-12 and 13-17 (a split shift), Saturday 10-14."""
    week = {day: [(time(9), time(12)), (time(13), time(17))] for day in range(5)}
    week[5] = [(time(10), time(14))]
    return Calendar.build(zone, week, frozenset(holidays))


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- The reference model: is this minute business time? ------------------------------


def minute_is_open(instant: datetime, calendar: Calendar) -> bool:
    local = instant.astimezone(calendar.zone)
    if local.date() in calendar.holidays:
        return False
    wall = local.time().replace(tzinfo=None)
    return any(opens <= wall and (closes is None or wall < closes) for opens, closes in calendar.hours[local.weekday()])


def reference_between(start: datetime, end: datetime, calendar: Calendar) -> timedelta:
    total, moment = timedelta(0), start
    while moment < end:
        if minute_is_open(moment, calendar):
            total += MINUTE
        moment += MINUTE
    return total


def reference_add(start: datetime, duration: timedelta, calendar: Calendar, limit_minutes: int) -> datetime | None:
    left, moment = duration, start
    for _ in range(limit_minutes):
        if left <= timedelta(0):
            return moment
        if minute_is_open(moment, calendar):
            left -= MINUTE
        moment += MINUTE
    return None


# --- Examples ----------------------------------------------------------------------------


def test_without_a_calendar_every_second_counts():
    start = utc(2026, 3, 6, 22, 0)
    assert business_time.add(start, timedelta(hours=3), None) == utc(2026, 3, 7, 1, 0)
    assert business_time.between(start, utc(2026, 3, 7, 1, 0), None) == timedelta(hours=3)


def test_a_split_shift_skips_the_lunch_break():
    calendar = office("UTC")
    # Monday 2026-11-23, 11:30 + 1 h of business time = 13:30 (lunch 12-13 does not count).
    assert business_time.add(utc(2026, 11, 23, 11, 30), timedelta(hours=1), calendar) == utc(2026, 11, 23, 13, 30)


def test_a_friday_evening_ticket_is_due_on_saturday_then_monday():
    calendar = office("UTC")
    friday_evening = utc(2026, 11, 27, 16, 0)
    # 1 h left on Friday, 4 h on Saturday (10-14), then Monday from 9.
    assert business_time.add(friday_evening, timedelta(hours=6), calendar) == utc(2026, 11, 30, 10, 0)


def test_holidays_are_skipped():
    calendar = office("UTC", holidays=[date(2026, 12, 24), date(2026, 12, 25)])
    # Wednesday 23 December 16:00 + 2 h: 1 h that day, then Saturday 26th from 10.
    assert business_time.add(utc(2026, 12, 23, 16, 0), timedelta(hours=2), calendar) == utc(2026, 12, 26, 11, 0)


def test_opening_hours_are_wall_clock_times_across_a_dst_change():
    calendar = office("Europe/Copenhagen")
    # Friday 27 March 2026 16:00 CET; summer time starts on Sunday 29 March.
    friday = datetime(2026, 3, 27, 16, 0, tzinfo=ZoneInfo("Europe/Copenhagen"))
    due = business_time.add(friday, timedelta(hours=2), calendar)
    # 1 h Friday, then Saturday 10:00 CET + 1 h = 11:00 CET; the week after, 9:00 is CEST.
    assert due == datetime(2026, 3, 28, 11, 0, tzinfo=ZoneInfo("Europe/Copenhagen"))
    # 1 h Friday + 4 h Saturday + 1 h on Monday from 9:00, now summer time (UTC+2).
    assert business_time.add(friday, timedelta(hours=6), calendar) == utc(2026, 3, 30, 8, 0)


def test_an_interval_in_the_skipped_hour_counts_only_real_time():
    # Open 01:30-03:30 on the night summer time starts in Copenhagen (02:00 -> 03:00).
    calendar = Calendar.build("Europe/Copenhagen", {6: [(time(1, 30), time(3, 30))]})
    sunday = date(2026, 3, 29)
    (interval,) = business_time.day_intervals(calendar, sunday)
    assert interval[1] - interval[0] == timedelta(hours=1)  # 01:30-02:00 CET and 03:00-03:30 CEST


def test_an_interval_over_the_repeated_hour_is_worked_twice():
    # Open 01:00-04:00 on the night summer time ends (03:00 CEST -> 02:00 CET).
    calendar = Calendar.build("Europe/Copenhagen", {6: [(time(1), time(4))]})
    (interval,) = business_time.day_intervals(calendar, date(2026, 10, 25))
    assert interval[1] - interval[0] == timedelta(hours=4)


def test_pausing_keeps_the_business_time_left():
    calendar = office("UTC")
    start = utc(2026, 11, 23, 9, 0)
    deadline = business_time.add(start, timedelta(hours=10), calendar)
    paused_at = utc(2026, 11, 23, 15, 0)  # 5 h used (9-12, 13-15)
    left = business_time.between(paused_at, deadline, calendar)
    assert left == timedelta(hours=5)
    resumed = utc(2026, 11, 25, 9, 0)
    assert business_time.add(resumed, left, calendar) == utc(2026, 11, 25, 15, 0)


def test_when_the_team_is_back():
    calendar = office("UTC")
    assert not business_time.is_open(utc(2026, 11, 28, 18, 0), calendar)  # Saturday evening
    assert business_time.next_open(utc(2026, 11, 28, 18, 0), calendar) == utc(2026, 11, 30, 9, 0)
    assert business_time.is_open(utc(2026, 11, 30, 9, 0), calendar)
    assert business_time.next_open(utc(2026, 11, 30, 9, 30), calendar) == utc(2026, 11, 30, 9, 30)


def test_a_calendar_without_hours_is_refused():
    with pytest.raises(NoBusinessTime):
        business_time.add(utc(2026, 1, 1), timedelta(hours=1), Calendar.build("UTC", {}))


def test_closing_at_midnight_runs_to_the_end_of_the_day():
    calendar = Calendar.build("UTC", {0: [(time(20), None)]})
    assert business_time.add(utc(2026, 11, 23, 23, 0), timedelta(hours=2), calendar) == utc(2026, 11, 30, 21, 0)


# --- Properties against the reference model ------------------------------------------------


@st.composite
def calendars(draw):
    zone = draw(st.sampled_from(ZONES))
    week = {}
    for weekday in range(7):
        points = sorted(set(draw(st.lists(st.integers(0, 24 * 60), min_size=0, max_size=6))))
        pairs = []
        for opens, closes in zip(points[::2], points[1::2], strict=False):
            if closes > opens:
                end = None if closes == 24 * 60 else time(closes // 60, closes % 60)
                pairs.append((time(opens // 60, opens % 60), end))
        week[weekday] = pairs
    assume(any(week.values()))
    first = date(2024, 1, 1)
    holidays = draw(st.lists(st.integers(0, 3 * 366).map(lambda n: first + timedelta(days=n)), max_size=20))
    return Calendar.build(zone, week, frozenset(holidays))


moments = st.integers(0, 3 * 365 * 24 * 60).map(lambda m: utc(2024, 1, 1) + timedelta(minutes=m))
durations = st.integers(0, 12 * 60).map(lambda m: timedelta(minutes=m))
# Dates around daylight-saving changes, where the arithmetic is most likely to slip.
dst_moments = st.sampled_from(
    [utc(2025, 3, 29, 20), utc(2025, 10, 25, 20), utc(2026, 3, 7, 20), utc(2026, 11, 1, 0), utc(2025, 4, 5, 10)]
).flatmap(lambda base: st.integers(0, 48 * 60).map(lambda m: base + timedelta(minutes=m)))


@settings(max_examples=150, deadline=None)
@given(calendars(), st.one_of(moments, dst_moments), st.integers(0, 3 * 24 * 60))
def test_between_equals_the_minute_by_minute_count(calendar, start, span):
    end = start + timedelta(minutes=span)
    assert business_time.between(start, end, calendar) == reference_between(start, end, calendar)


@settings(max_examples=150, deadline=None)
@given(calendars(), st.one_of(moments, dst_moments), durations)
def test_add_equals_the_minute_by_minute_walk(calendar, start, duration):
    expected = reference_add(start, duration, calendar, limit_minutes=60 * 24 * 30)
    assume(expected is not None)  # the calendar works too little to finish within a month
    assert business_time.add(start, duration, calendar) == expected
    assert business_time.between(start, expected, calendar) == duration


@settings(max_examples=150, deadline=None)
@given(calendars(), st.one_of(moments, dst_moments), durations)
def test_subtract_undoes_add(calendar, start, duration):
    try:
        end = business_time.add(start, duration, calendar)
        back = business_time.subtract(end, duration, calendar)
    except NoBusinessTime:
        assume(False)
    assert back <= end
    assert business_time.between(back, end, calendar) == duration
    # The latest such instant: nothing of the duration was spent before `start`.
    assert back >= start or duration == timedelta(0) or business_time.between(back, start, calendar) == timedelta(0)


@settings(max_examples=100, deadline=None)
@given(
    calendars(), st.one_of(moments, dst_moments), durations, st.integers(0, 4 * 24 * 60), st.integers(0, 7 * 24 * 60)
)
def test_a_pause_resumes_where_it_stopped(calendar, start, duration, used, paused):
    """Pausing after `used` minutes for `paused` minutes, then resuming, gives a deadline
    that has exactly `duration` of business time outside the pause."""
    try:
        deadline = business_time.add(start, duration, calendar)
        pause_at = min(start + timedelta(minutes=used), deadline)
        left = business_time.between(pause_at, deadline, calendar)
        resume_at = pause_at + timedelta(minutes=paused)
        new_deadline = business_time.add(resume_at, left, calendar)
    except NoBusinessTime:
        assume(False)
    worked = business_time.between(start, pause_at, calendar) + business_time.between(resume_at, new_deadline, calendar)
    assert worked == duration


@settings(max_examples=150, deadline=None)
@given(calendars(), st.one_of(moments, dst_moments))
def test_is_open_agrees_with_the_reference(calendar, moment):
    assert business_time.is_open(moment, calendar) == minute_is_open(moment, calendar)
