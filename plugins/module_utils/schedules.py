# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Schedules: periods in an IANA time zone, holidays and an override; the state a schedule wants at an
instant, and its edges (pure: no AWS, no clock; docs/schedule.md).

A schedule wants its instances running when any of its periods says running, stopped when every period
says stopped, and has no opinion (ANY) otherwise. On a holiday (a date in the schedule's time zone) it
wants holiday_state all day; override_status, when set, wins over everything.

Wall-clock time: an instant is read in the schedule's time zone. Where the clocks go forward, the skipped
times never happen: a period beginning 02:30 in the skipped hour begins when the clocks jump past it. Where
the clocks go back, each wall-clock time takes effect the first time round: during the repeated hour the
schedule keeps the state it had just before the clocks went back, so no instance is started or stopped
twice.

An edge is an instant where the wanted state changes. enforced: false acts only on the first run after an
edge; instance_schedule remembers on each instance which edge it last acted on (schedule_decisions).
"""

import datetime
from dataclasses import dataclass
from typing import Optional

try:
    import zoneinfo
    HAS_ZONEINFO = True
except ImportError:  # Python before 3.9
    HAS_ZONEINFO = False

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.cloudops.aws.plugins.module_utils.schedule_periods import ANY
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_periods import RUNNING
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_periods import STOPPED
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_periods import Period

UTC = datetime.timezone.utc
STATES = (RUNNING, STOPPED)
SCHEDULE_FIELDS = ("name", "description", "periods", "timezone", "holidays", "holiday_state", "override_status",
                   "enforced", "retain_running", "hibernate")
# Instance Scheduler fields this collection does not take, and why, so a migrated schedule fails clearly.
NOT_SUPPORTED = {
    "stop_new_instances": "every instance carrying the schedule tag is scheduled from the first run",
    "use_maintenance_window": "SSM maintenance windows are not read",
    "ssm_maintenance_window": "SSM maintenance windows are not read",
    "instance_type": "instance types are never changed",
}
# How far back (and ahead) edges are looked for: over a year, so a schedule of some months finds its edge.
LOOKBACK_DAYS = 400
TINY = datetime.timedelta(microseconds=1)
# Sampling step when looking for the time zone's offset changes (clock changes are months apart).
_OFFSET_SAMPLE = datetime.timedelta(hours=2)


@dataclass(frozen=True)
class Edge:
    """An instant (aware, UTC) where a schedule's wanted state changes from `before` to `state`."""

    at: datetime.datetime
    state: Optional[str]
    before: Optional[str]

    @property
    def key(self):
        """The edge as it is written in a tag: ISO 8601 UTC, to the second."""
        return format_instant(self.at)


def format_instant(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(option, value):
    """An aware datetime of an ISO 8601 value with a UTC offset (or Z); ValueError naming `option` otherwise."""
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            moment = datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise ValueError("%s: %r is not an ISO 8601 date and time, e.g. 2026-11-27T19:00:00+01:00" % (option, value)) from None
    if moment.tzinfo is None:
        raise ValueError("%s: %r has no UTC offset; add one (2026-11-27T19:00:00+01:00) or Z for UTC" % (option, value))
    return moment.astimezone(UTC)


def time_zone(where, name):
    """The zoneinfo.ZoneInfo of an IANA name; ValueError naming `where` and the name when this host does not know it."""
    if not HAS_ZONEINFO:
        raise ValueError("%s: time zones need Python 3.9 or later (zoneinfo) on the host that runs the module" % where)
    try:
        return zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("%s: timezone %r is not an IANA time zone name known on this host (for example UTC, "
                         "Europe/Berlin, America/New_York)" % (where, name)) from None


def _holiday(where, value):
    """(year or None, month, day) of a holiday: a date, "YYYY-MM-DD", or "MM-DD" for every year."""
    if isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, datetime.date):
        return value.year, value.month, value.day
    text = str(value).strip()
    parts = text.split("-")
    try:
        if len(parts) == 3 and len(parts[0]) == 4:
            day = datetime.date(int(parts[0]), int(parts[1]), int(parts[2]))
            return day.year, day.month, day.day
        if len(parts) == 2:
            # A leap year, so that 02-29 is a date.
            day = datetime.date(2024, int(parts[0]), int(parts[1]))
            return None, day.month, day.day
    except ValueError:
        pass
    raise ValueError("%s: holiday %r is not a date YYYY-MM-DD, or MM-DD for every year" % (where, value))


def _choice(where, field, value, choices):
    if value not in choices:
        raise ValueError("%s: %s %r is not one of %s" % (where, field, value, ", ".join(choices)))
    return value


def _flag(where, field, value):
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise ValueError("%s: %s %r is not a boolean (true or false)" % (where, field, value)) from None


def _offset_changes(zone, start, end):
    """The instants in [start, end] where the zone's UTC offset changes (the first instant of the new offset)."""
    changes = []
    previous, before = start, start.astimezone(zone).utcoffset()
    moment = start
    while moment < end:
        moment = min(moment + _OFFSET_SAMPLE, end)
        offset = moment.astimezone(zone).utcoffset()
        if offset != before:
            low, high = previous, moment
            while high - low > datetime.timedelta(seconds=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == before:
                    low = middle
                else:
                    high = middle
            changes.append(high.replace(microsecond=0) if high.microsecond else high)
        previous, before = moment, offset
    return changes


class Schedule:
    """One schedule, checked when built: ValueError names the schedule, the field and the value."""

    def __init__(self, name, periods, zone_name="UTC", holidays=(), holiday_state=STOPPED, override_status=None,
                 enforced=False, retain_running=False, hibernate=False, description=None):
        where = "schedule %s" % name
        self.name = name
        self.description = description
        self.periods = list(periods)
        self.zone_name = str(zone_name)
        self.zone = time_zone(where, zone_name)
        self.holidays = frozenset(_holiday(where, value) for value in holidays or ())
        self.holiday_state = _choice(where, "holiday_state", holiday_state, STATES)
        self.override_status = None if override_status in (None, "") else _choice(where, "override_status", override_status, STATES)
        self.enforced = _flag(where, "enforced", enforced)
        self.retain_running = _flag(where, "retain_running", retain_running)
        self.hibernate = _flag(where, "hibernate", hibernate)
        if not self.periods and self.override_status is None:
            raise ValueError("%s: no period; give periods, or override_status" % where)

    # -- the wall clock ----------------------------------------------------------------------------

    def wall_clock(self, instant):
        """The naive wall-clock time the schedule reads at `instant`; in a repeated hour, the time just before the
        clocks went back (each wall-clock time takes effect once)."""
        local = instant.astimezone(self.zone)
        if local.fold:
            first = local.replace(fold=0)
            repeat = first.utcoffset() - local.utcoffset()
            if repeat > datetime.timedelta(0):
                change = _offset_changes(self.zone, instant - repeat, instant)
                if change:
                    return (change[0] - TINY).astimezone(self.zone).replace(tzinfo=None)
        return local.replace(tzinfo=None)

    def instant_of(self, day, minute):
        """The instant the wall clock first reads `minute` after midnight on `day`; None when the clocks skip it."""
        naive = datetime.datetime.combine(day, datetime.time()) + datetime.timedelta(minutes=minute)
        instant = naive.replace(tzinfo=self.zone).astimezone(UTC)
        if instant.astimezone(self.zone).replace(tzinfo=None) != naive:
            return None
        return instant

    # -- the state wanted ----------------------------------------------------------------------------

    def is_holiday(self, day):
        return (day.year, day.month, day.day) in self.holidays or (None, day.month, day.day) in self.holidays

    def state_at(self, instant):
        """(RUNNING, STOPPED or ANY, the reason) the schedule wants at `instant` (aware)."""
        if self.override_status:
            return self.override_status, "override_status is %s" % self.override_status
        wall = self.wall_clock(instant)
        when = "%s %s" % (wall.strftime("%a %Y-%m-%d %H:%M"), self.zone_name)
        if self.is_holiday(wall.date()):
            return self.holiday_state, "%s is a holiday (holiday_state %s)" % (wall.date().isoformat(), self.holiday_state)
        states = [(period, period.state_at(wall)) for period in self.periods]
        running = [period for period, state in states if state == RUNNING]
        if running:
            return RUNNING, "in period %s at %s" % (running[0].describe(), when)
        if any(state is ANY for _period, state in states):
            return ANY, ("no period decides at %s (a period with a begintime or an endtime only leaves the instances as "
                         "they are before that time)" % when)
        return STOPPED, "outside every period at %s" % when

    def state_only(self, instant):
        return self.state_at(instant)[0]

    # -- edges ---------------------------------------------------------------------------------------

    def _candidates(self, low, high):
        """The instants in (low, high] where the wanted state may change: the periods' times and midnight as the
        wall clock reads them each day, and the time zone's clock changes."""
        minutes = {0}
        for period in self.periods:
            minutes.update(period.wall_times())
        first, last = low.astimezone(self.zone).date(), high.astimezone(self.zone).date()
        found = set(_offset_changes(self.zone, low, high))
        for number in range(-1, (last - first).days + 2):
            day = first + datetime.timedelta(days=number)
            found.update(instant for instant in (self.instant_of(day, minute) for minute in minutes) if instant)
        return [instant for instant in found if low < instant <= high]

    def _changes(self, now, forward):
        """The Edges from `now` on (after it), or back from it (at or before it), nearest first, within LOOKBACK_DAYS.

        Week by week in UTC, so the order holds whatever the clock changes do to local dates."""
        if self.override_status:
            return
        week = datetime.timedelta(days=7)
        for number in range(LOOKBACK_DAYS // 7 + 1):
            if forward:
                low, high = now + number * week, now + (number + 1) * week
            else:
                low, high = now - (number + 1) * week, now - number * week
            for instant in sorted(self._candidates(low, high), reverse=not forward):
                after, before = self.state_only(instant), self.state_only(instant - TINY)
                if after != before:
                    yield Edge(instant, after, before)

    def last_edge(self, now):
        """The latest Edge at or before `now` (within LOOKBACK_DAYS); None when the wanted state did not change in that
        time, or an override_status holds it."""
        return next(self._changes(now, forward=False), None)

    def next_edge(self, now):
        """The first Edge after `now` (within LOOKBACK_DAYS); None when there is none in that time."""
        return next(self._changes(now, forward=True), None)

    def edge_since(self, previous, now):
        """The latest Edge in (previous, now], None when the state did not change in that time."""
        edge = self.last_edge(now)
        return edge if edge is not None and edge.at > previous else None


def _period_list(where, entries, named):
    """The Periods of a schedule's `periods`: names of `named` periods, or period dicts written in place."""
    if isinstance(entries, (str, dict)):
        entries = [entries]
    if not isinstance(entries, (list, tuple)):
        raise ValueError("%s: periods must be a list of period names or period dicts, got %r" % (where, entries))
    periods = []
    for number, entry in enumerate(entries, 1):
        if isinstance(entry, dict):
            periods.append(Period.from_dict("%s, period %d" % (where, number), entry, "%s#%d" % (where.split(" ", 1)[1], number)))
            continue
        text = str(entry)
        if "@" in text:
            raise ValueError("%s: period %r: instance types (period@type) are not supported; instance types are never changed"
                             % (where, entry))
        if text not in named:
            raise ValueError("%s: period %r is not defined in periods (defined: %s)" % (where, entry, ", ".join(sorted(named)) or "none"))
        periods.append(named[text])
    return periods


def build_schedules(schedules, periods=None, defaults=None):
    """{name: Schedule} of the `schedules` option, with the named `periods`; `defaults` gives timezone, enforced,
    retain_running and hibernate for schedules that do not set them. ValueError names the first bad value."""
    defaults = dict(defaults or {})
    named = {}
    for number, spec in enumerate(periods or [], 1):
        if not isinstance(spec, dict) or not spec.get("name"):
            raise ValueError("periods: entry %d has no name (named periods are referred to by name from schedules)" % number)
        name = str(spec["name"])
        if name in named:
            raise ValueError("periods: period %s is defined twice" % name)
        named[name] = Period.from_dict("period %s" % name, spec, name)
    built = {}
    if not schedules:
        raise ValueError("schedules: give at least one schedule")
    for number, spec in enumerate(schedules, 1):
        if not isinstance(spec, dict) or not spec.get("name"):
            raise ValueError("schedules: entry %d has no name (the value of the schedule tag that selects its instances)" % number)
        name = str(spec["name"])
        where = "schedule %s" % name
        if name in built:
            raise ValueError("schedules: schedule %s is defined twice" % name)
        if len(name) > 256:
            raise ValueError("%s: the name is longer than 256 characters, the longest tag value" % where)
        for field in sorted(spec):
            if field in NOT_SUPPORTED:
                raise ValueError("%s: %s is not supported: %s" % (where, field, NOT_SUPPORTED[field]))
        unknown = sorted(set(spec) - set(SCHEDULE_FIELDS))
        if unknown:
            raise ValueError("%s: unknown field(s) %s; a schedule has %s" % (where, ", ".join(unknown), ", ".join(SCHEDULE_FIELDS)))
        settings = {field: spec[field] if spec.get(field) is not None else defaults.get(field)
                    for field in ("enforced", "retain_running", "hibernate")}
        built[name] = Schedule(
            name, _period_list(where, spec.get("periods") or [], named),
            zone_name=spec.get("timezone") or defaults.get("timezone") or "UTC",
            holidays=spec.get("holidays") or (), holiday_state=spec.get("holiday_state") or STOPPED,
            override_status=spec.get("override_status"), description=spec.get("description"),
            **{field: False if value is None else value for field, value in settings.items()})
    return built
