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

    def _to_utc(self, date, time):
        local = dt.datetime.combine(date, time, tzinfo=self.tz)
        return local.astimezone(UTC).replace(tzinfo=None)

    def _local_date(self, value):
        return value.replace(tzinfo=UTC).astimezone(self.tz).date()

    def _day_intervals(self, date):
        "Return the business intervals of the local date in UTC"
        if date in self.holidays:
            return []
        intervals = []
        for s, e in self.schedule.get(date.weekday(), []):
            if e == MIDNIGHT:
                end = self._to_utc(date + dt.timedelta(days=1), MIDNIGHT)
            else:
                end = self._to_utc(date, e)
            intervals.append((self._to_utc(date, s), end))
        return intervals

    def intervals(self, start, end=None):
        "Yield the business intervals in UTC from start (until end)"
        date = self._local_date(start) - dt.timedelta(days=1)
        last = date + dt.timedelta(days=MAX_DAYS)
        while date <= last:
            for i_start, i_end in self._day_intervals(date):
                i_start = max(i_start, start)
                if end is not None:
                    i_end = min(i_end, end)
                if i_start < i_end:
                    yield i_start, i_end
            if end is not None and self._to_utc(date, dt.time()) > end:
                return
            date += dt.timedelta(days=1)

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
