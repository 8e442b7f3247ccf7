# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Running periods as data, in AWS Instance Scheduler's vocabulary (pure: no AWS, no clock).

A period says when instances run: begintime and endtime (wall clock, "HH:MM"), on the days that
match every one of weekdays, monthdays and months that it sets (docs/schedule.md). On a day that
does not match, the period wants instances stopped; on a day that matches:

- begintime and endtime: running from begintime until endtime, stopped otherwise;
- begintime only: running from begintime to the end of the day, no opinion before it;
- endtime only: stopped from endtime to the end of the day, no opinion before it;
- neither: running all day.

Departures from Instance Scheduler, each for a reason:
- A period whose endtime is earlier than its begintime crosses midnight (22:00-06:00): it runs from
  begintime on a matching day until endtime the next morning, whatever the next day is. Instance
  Scheduler has no such period (its 22:00-06:00 never runs).
- An endtime of 23:59 means the end of the day, as "24:00" does, so that a period ending 23:59 and
  one beginning 00:00 the next day leave no stopped minute between them.
- Steps (`/`) are taken in monthdays and months only; `*` stands for every value everywhere.

A period is evaluated on a wall-clock time (a naive datetime in the schedule's time zone);
schedules.py decides which wall-clock time an instant is.
"""

import calendar
import datetime
import re

RUNNING = "running"
STOPPED = "stopped"
# A period without an opinion at this time (before the begintime of a period that has no endtime).
ANY = None

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
FULL_WEEKDAY_NAMES = tuple(name.lower() for name in calendar.day_name)
FULL_MONTH_NAMES = tuple(name.lower() for name in calendar.month_name[1:])
PERIOD_FIELDS = ("name", "description", "begintime", "endtime", "weekdays", "monthdays", "months")
END_OF_DAY = 24 * 60

_TIME = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
_NTH = re.compile(r"^([a-z]+|[0-9]+)#([0-9]+)$")
_LAST_WEEKDAY = re.compile(r"^([a-z]+|[0-9]+)l$")
_STEP = re.compile(r"^(.+)/([0-9]+)$")
_NEAREST_WEEKDAY = re.compile(r"^([0-9]+)w$")

WEEKDAY_FORMS = ("a day name (mon..sun), a number 0-6 (0 is Monday), a range (mon-fri), "
                 "the nth weekday of the month (mon#1 .. mon#5), the last one (friL) or *")
MONTHDAY_FORMS = "a day 1-31, a range (1-15, 20-L), L (the last day), 15W (the weekday nearest the 15th), a step (1/7) or *"
MONTH_FORMS = "a month name (jan..dec), a number 1-12, a range (jan-mar, nov-feb), a step (jan/3) or *"


def format_minutes(minutes):
    return "%02d:%02d" % divmod(minutes, 60)


def parse_time(where, field, value):
    """Minutes after midnight of a "HH:MM" value; an endtime may be "24:00" (23:59 reads as 24:00).

    YAML 1.1 reads an unquoted 17:30 as the number 1050 (base 60), which is its minutes after
    midnight: such a number is taken as that time.
    """
    if isinstance(value, bool):
        raise ValueError("%s: %s %r is not a time HH:MM" % (where, field, value))
    if isinstance(value, int):
        if not 0 <= value < END_OF_DAY:
            raise ValueError("%s: %s %r is not a time HH:MM (an unquoted 17:30 is read by YAML as 1050; quote times)"
                             % (where, field, value))
        minutes = value
    else:
        text = str(value).strip()
        if field == "endtime" and text == "24:00":
            return END_OF_DAY
        match = _TIME.match(text)
        if not match:
            raise ValueError("%s: %s %r is not a time HH:MM (00:00 to 23:59%s)"
                             % (where, field, value, ", or 24:00" if field == "endtime" else ""))
        minutes = int(match.group(1)) * 60 + int(match.group(2))
    if field == "endtime" and minutes == END_OF_DAY - 1:
        return END_OF_DAY
    return minutes


def _items(where, field, value):
    """The comma-separated items of a field given as a string, a number or a list of them."""
    values = value if isinstance(value, (list, tuple)) else [value]
    items = []
    for entry in values:
        if isinstance(entry, bool) or not isinstance(entry, (str, int)):
            raise ValueError("%s: %s %r is not a string or a number" % (where, field, entry))
        items.extend(part.strip() for part in str(entry).split(","))
    if not items or any(not item for item in items):
        raise ValueError("%s: %s %r has an empty item" % (where, field, value))
    return items


def _named(text, names, full_names, first, last):
    """The number of a name (mon, monday, jan, january) or of a number within first..last; None if neither."""
    if text in names:
        return names.index(text) + first
    if text in full_names:
        return full_names.index(text) + first
    if text.isdigit() and first <= int(text) <= last:
        return int(text)
    return None


def _span(start, end, first, last, wrap):
    """The values from start to end; with wrap, past the last value back to the first (fri-mon)."""
    if start <= end:
        return list(range(start, end + 1))
    if not wrap:
        return None
    return list(range(start, last + 1)) + list(range(first, end + 1))


def _split_step(where, field, item, text):
    """(the text before /N, N) for a monthday or month item with a step such as 1-15/2; (text, None) without one."""
    match = _STEP.match(text)
    if not match:
        return text, None
    step = int(match.group(2))
    if step < 1:
        raise ValueError("%s: %s %r: the step after / must be 1 or more" % (where, field, item))
    return match.group(1), step


# -- weekdays ----------------------------------------------------------------------------------


def _weekday(text):
    return _named(text, WEEKDAY_NAMES, FULL_WEEKDAY_NAMES, 0, 6)


def _weekday_item(where, item):
    """A test (day -> bool) for one weekdays item."""
    text = item.lower()
    bad = ValueError("%s: weekday %r is not %s" % (where, item, WEEKDAY_FORMS))
    if text == "*":
        return lambda day: True
    match = _NTH.match(text)
    if match:
        weekday, nth = _weekday(match.group(1)), int(match.group(2))
        if weekday is None:
            raise bad
        if not 1 <= nth <= 5:
            raise ValueError("%s: weekday %r: the number after # must be 1 to 5" % (where, item))
        return lambda day: day.weekday() == weekday and (day.day - 1) // 7 + 1 == nth
    match = _LAST_WEEKDAY.match(text)
    if match and _weekday(match.group(1)) is not None:
        weekday = _weekday(match.group(1))
        return lambda day: day.weekday() == weekday and day.day + 7 > calendar.monthrange(day.year, day.month)[1]
    start, dash, end = text.partition("-")
    if dash:
        first, last = _weekday(start), _weekday(end)
        if first is None or last is None:
            raise bad
        days = set(_span(first, last, 0, 6, wrap=True))
        return lambda day: day.weekday() in days
    weekday = _weekday(text)
    if weekday is None:
        raise bad
    return lambda day: day.weekday() == weekday


# -- monthdays ---------------------------------------------------------------------------------


def last_day(day):
    return calendar.monthrange(day.year, day.month)[1]


def nearest_weekday(year, month, wanted):
    """The day of the month, Monday to Friday, nearest to day `wanted`, never leaving the month; None when the month
    is shorter than that. A Saturday gives the Friday before (the Monday after when it is the 1st), a Sunday the
    Monday after (the Friday before when it is the last day)."""
    length = calendar.monthrange(year, month)[1]
    if wanted > length:
        return None
    weekday = datetime.date(year, month, wanted).weekday()
    if weekday == 5:
        return wanted - 1 if wanted > 1 else wanted + 2
    if weekday == 6:
        return wanted + 1 if wanted < length else wanted - 2
    return wanted


def _monthday_number(where, item, text):
    if not text.isdigit() or not 1 <= int(text) <= 31:
        raise ValueError("%s: monthday %r is not %s" % (where, item, MONTHDAY_FORMS))
    return int(text)


def _monthday_item(where, item):
    text = item.lower()
    if text == "*":
        return lambda day: True
    if text == "l":
        return lambda day: day.day == last_day(day)
    match = _NEAREST_WEEKDAY.match(text)
    if match:
        wanted = _monthday_number(where, item, match.group(1))
        return lambda day: day.day == nearest_weekday(day.year, day.month, wanted)
    text, step = _split_step(where, "monthday", item, text)
    start, dash, end = text.partition("-")
    if text == "*":
        first, last = 1, None
    elif dash:
        first = _monthday_number(where, item, start)
        last = None if end == "l" else _monthday_number(where, item, end)
        if last is not None and last < first:
            raise ValueError("%s: monthday %r: a range of days runs from the smaller to the larger" % (where, item))
    else:
        first = _monthday_number(where, item, start)
        # A single day with a step runs to the end of the month (1/7: 1, 8, 15, 22, 29).
        last = first if step is None else None
    every = step or 1
    return lambda day: first <= day.day <= (last_day(day) if last is None else last) and (day.day - first) % every == 0


# -- months ------------------------------------------------------------------------------------


def _month(text):
    return _named(text, MONTH_NAMES, FULL_MONTH_NAMES, 1, 12)


def _month_item(where, item):
    text = item.lower()
    bad = ValueError("%s: month %r is not %s" % (where, item, MONTH_FORMS))
    text, step = _split_step(where, "month", item, text)
    start, dash, end = text.partition("-")
    if text == "*":
        months = list(range(1, 13))
    elif dash:
        first, last = _month(start), _month(end)
        if first is None or last is None:
            raise bad
        months = _span(first, last, 1, 12, wrap=True)
    else:
        first = _month(text)
        if first is None:
            raise bad
        months = [first] if step is None else list(range(first, 13))
    chosen = set(months[::step or 1])
    return lambda day: day.month in chosen


class DayRule:
    """Which days one of weekdays, monthdays or months allows: any of its items."""

    PARSERS = {"weekdays": _weekday_item, "monthdays": _monthday_item, "months": _month_item}

    def __init__(self, where, field, value):
        self.text = ",".join(_items(where, field, value))
        self.tests = [self.PARSERS[field](where, item) for item in self.text.split(",")]

    def allows(self, day):
        return any(test(day) for test in self.tests)


class Period:
    """One running period, checked when built: ValueError names the period, the field and the value."""

    def __init__(self, name, begintime=None, endtime=None, weekdays=None, monthdays=None, months=None, description=None, where=None):
        where = where or "period %s" % name
        self.name = name
        self.description = description
        self.begin = None if begintime in (None, "") else parse_time(where, "begintime", begintime)
        self.end = None if endtime in (None, "") else parse_time(where, "endtime", endtime)
        if self.begin is not None and self.begin == self.end:
            raise ValueError("%s: begintime and endtime are both %s; a period needs two different times (or only one)"
                             % (where, format_minutes(self.begin)))
        self.rules = [(field, DayRule(where, field, value)) for field, value in
                      (("weekdays", weekdays), ("monthdays", monthdays), ("months", months)) if value not in (None, "", [])]
        self._days = {}

    @classmethod
    def from_dict(cls, where, spec, default_name):
        """A Period of a dict with PERIOD_FIELDS; ValueError naming `where` for an unknown field."""
        if not isinstance(spec, dict):
            raise ValueError("%s: a period is a dict of %s, got %r" % (where, ", ".join(PERIOD_FIELDS), spec))
        unknown = sorted(set(spec) - set(PERIOD_FIELDS))
        if unknown:
            raise ValueError("%s: unknown period field(s) %s; a period has %s" % (where, ", ".join(unknown), ", ".join(PERIOD_FIELDS)))
        name = spec.get("name") or default_name
        return cls(str(name), where=where, **{key: value for key, value in spec.items() if key != "name"})

    @property
    def crosses_midnight(self):
        return self.begin is not None and self.end is not None and self.end < self.begin

    def day_matches(self, day):
        """Whether every day rule of the period allows `day` (a date)."""
        found = self._days.get(day)
        if found is None:
            found = self._days[day] = all(rule.allows(day) for _field, rule in self.rules)
        return found

    def state_at(self, wall):
        """RUNNING, STOPPED or ANY at the wall-clock time `wall` (a naive datetime)."""
        day, minute = wall.date(), wall.hour * 60 + wall.minute
        if self.crosses_midnight:
            if (self.day_matches(day) and minute >= self.begin) or (minute < self.end and self.day_matches(day - datetime.timedelta(days=1))):
                return RUNNING
            return STOPPED
        if not self.day_matches(day):
            return STOPPED
        if self.begin is None and self.end is None:
            return RUNNING
        if self.end is None:
            return RUNNING if minute >= self.begin else ANY
        if self.begin is None:
            return STOPPED if minute >= self.end else ANY
        return RUNNING if self.begin <= minute < self.end else STOPPED

    def wall_times(self):
        """The minutes after midnight at which the period may change its mind: its times, and midnight."""
        return sorted({0} | {m for m in (self.begin, self.end) if m is not None and m < END_OF_DAY})

    def describe(self):
        """The period as people read it: "office 08:00-18:00 weekdays mon-fri"."""
        times = "%s-%s" % (format_minutes(self.begin) if self.begin is not None else "",
                           format_minutes(self.end) if self.end is not None else "")
        parts = [self.name, "all day" if times == "-" else times]
        for field, rule in self.rules:
            parts.append("%s %s" % (field, rule.text))
        return " ".join(parts)
