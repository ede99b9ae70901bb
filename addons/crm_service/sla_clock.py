# This file is part of the CRM lifecycle suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Business-hours clock of service level agreements

All datetimes are naive and in UTC as Tryton stores them; the schedule and
the holidays are in the local time of the agreement's time zone, so each
business day is converted on its own and daylight saving changes are exact.
"""
import datetime as dt
from zoneinfo import ZoneInfo

UTC = dt.UTC
# A schedule without any business hour would never reach a deadline
MAX_DAYS = 3 * 366
# An end of business hours at 00:00 is the midnight ending the day
MIDNIGHT = dt.time()
ONE_DAY = dt.timedelta(days=1)


def _add_days(date, days):
    "Return date plus days, stopped at the first or last date Python holds"
    try:
        return date + dt.timedelta(days=days)
    except OverflowError:
        return dt.date.max if days > 0 else dt.date.min


class BusinessClock:
    "Count business time of a weekly schedule in a time zone"

    def __init__(self, schedule, holidays=(), timezone='UTC'):
        """schedule: iterable of (weekday, start time, end time) with
        Monday = 0 and end 00:00 for midnight; holidays: iterable of local
        dates"""
        self.schedule = {}
        for weekday, start, end in schedule:
            self.schedule.setdefault(weekday, []).append((start, end))
        for intervals in self.schedule.values():
            intervals.sort()
        self.holidays = set(holidays)
        self.tz = ZoneInfo(timezone or 'UTC')

    def _to_utc(self, date, time, days=0):
        """Return the naive UTC datetime of the local time days after date;
        at the ends of the calendar the first or last datetime Python holds,
        so that a date that came in some other way never overflows"""
        try:
            local = dt.datetime.combine(
                date + dt.timedelta(days=days), time, tzinfo=self.tz)
            return local.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            return dt.datetime.max if date.year > 1 else dt.datetime.min

    def _local_date(self, value):
        try:
            return value.replace(tzinfo=UTC).astimezone(self.tz).date()
        except OverflowError:
            return value.date()

    def _day_intervals(self, date):
        "Return the business intervals of the local date in UTC"
        if date in self.holidays:
            return []
        intervals = []
        for s, e in self.schedule.get(date.weekday(), []):
            if e == MIDNIGHT:
                end = self._to_utc(date, MIDNIGHT, days=1)
            else:
                end = self._to_utc(date, e)
            intervals.append((self._to_utc(date, s), end))
        return intervals

    def intervals(self, start, end=None):
        "Yield the business intervals in UTC from start (until end)"
        date = _add_days(self._local_date(start), -1)
        last = _add_days(date, MAX_DAYS)
        while True:
            for i_start, i_end in self._day_intervals(date):
                i_start = max(i_start, start)
                if end is not None:
                    i_end = min(i_end, end)
                if i_start < i_end:
                    yield i_start, i_end
            if end is not None and self._to_utc(date, dt.time()) > end:
                return
            if date >= last:
                return
            date += ONE_DAY

    def elapsed(self, start, end):
        "Return the business time between start and end"
        total = dt.timedelta()
        if not start or not end or end <= start:
            return total
        for i_start, i_end in self.intervals(start, end):
            total += i_end - i_start
        return total

    def deadline(self, start, duration):
        """Return when duration of business time since start is spent,
        None when the schedule has no business time"""
        if duration <= dt.timedelta():
            return start
        remaining = duration
        for i_start, i_end in self.intervals(start):
            length = i_end - i_start
            if remaining <= length:
                return i_start + remaining
            remaining -= length
        return None


def deadline(start, duration, schedule, holidays=(), timezone='UTC'):
    return BusinessClock(schedule, holidays, timezone).deadline(
        start, duration)


def elapsed(start, end, schedule, holidays=(), timezone='UTC', pauses=()):
    "Return the business time between start and end without the pauses"
    clock = BusinessClock(schedule, holidays, timezone)
    total = clock.elapsed(start, end)
    for p_start, p_end in pauses:
        total -= clock.elapsed(max(p_start, start), min(p_end, end))
    return total
