# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Periods in Instance Scheduler's vocabulary: the day rules, the times, and the state a period wants."""

import calendar
import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.cloudops.aws.plugins.module_utils.schedule_periods import ANY
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_periods import RUNNING
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_periods import STOPPED
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_periods import DayRule
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_periods import Period
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_periods import nearest_weekday
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_periods import parse_time

D = datetime.date


def days_of(year, month):
    return [D(year, month, day) for day in range(1, calendar.monthrange(year, month)[1] + 1)]


def allowed(field, value, year=2026, month=11):
    rule = DayRule("period p", field, value)
    return [day.day for day in days_of(year, month) if rule.allows(day)]


def wall(text):
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M")


# -- weekdays ------------------------------------------------------------------------------------------
# November 2026: Sunday the 1st; Mondays 2, 9, 16, 23, 30; Fridays 6, 13, 20, 27.

@pytest.mark.parametrize("value, days", [
    ("mon", [2, 9, 16, 23, 30]),
    ("Monday", [2, 9, 16, 23, 30]),
    ("0", [2, 9, 16, 23, 30]),
    (0, [2, 9, 16, 23, 30]),
    ("sat-sun", [1, 7, 8, 14, 15, 21, 22, 28, 29]),
    ("sat, sun", [1, 7, 8, 14, 15, 21, 22, 28, 29]),
    (["sat", "sun"], [1, 7, 8, 14, 15, 21, 22, 28, 29]),
    # A range past Sunday wraps round to Monday.
    ("sun-mon", [1, 2, 8, 9, 15, 16, 22, 23, 29, 30]),
    ("mon#1", [2]),
    ("mon#5", [30]),
    ("fri#5", []),
    ("friL", [27]),
    ("monL", [30]),
    ("sunL", [29]),
    ("4L", [27]),
    ("mon#1,friL", [2, 27]),
    ("*", list(range(1, 31))),
])
def test_weekdays(value, days):
    assert allowed("weekdays", value) == days


@pytest.mark.parametrize("bad, message", [
    ("mun", "weekday 'mun' is not a day name"),
    ("mo", "weekday 'mo' is not"),
    ("7", "weekday '7' is not"),
    ("mon-fry", "weekday 'mon-fry' is not"),
    ("mon#6", "the number after # must be 1 to 5"),
    ("mon#0", "the number after # must be 1 to 5"),
    ("xyzL", "weekday 'xyzL' is not"),
    ("mon,,fri", "has an empty item"),
    (True, "is not a string or a number"),
])
def test_bad_weekdays_are_named(bad, message):
    with pytest.raises(ValueError) as refused:
        DayRule("schedule office", "weekdays", bad)
    assert str(refused.value).startswith("schedule office: ") and message in str(refused.value)


# -- monthdays -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, month, days", [
    ("1", 11, [1]),
    ("1-3", 11, [1, 2, 3]),
    ("L", 11, [30]),
    ("L", 2, [28]),
    ("28-L", 2, [28]),
    ("25-L", 12, [25, 26, 27, 28, 29, 30, 31]),
    ("31", 11, []),
    ("29-31", 2, []),
    ("1/7", 11, [1, 8, 15, 22, 29]),
    ("10-20/5", 11, [10, 15, 20]),
    ("*/10", 11, [1, 11, 21]),
    # The weekday nearest: Sunday the 1st gives Monday the 2nd; Saturday the 14th the Friday before.
    ("1W", 11, [2]),
    ("14W", 11, [13]),
    ("16W", 11, [16]),
    # Sunday the 29th gives Monday the 30th; Saturday the 31st of October the Friday before.
    ("29W", 11, [30]),
    ("31W", 10, [30]),
    ("31W", 11, []),
    ("1,15,L", 11, [1, 15, 30]),
])
def test_monthdays(value, month, days):
    assert allowed("monthdays", value, month=month) == days


def test_nearest_weekday_never_leaves_the_month():
    # August 2026 begins on a Saturday: the 1st gives Monday the 3rd. May 2026 ends on a Sunday: the 31st gives Friday the 29th.
    assert nearest_weekday(2026, 8, 1) == 3
    assert nearest_weekday(2026, 5, 31) == 29
    assert nearest_weekday(2026, 2, 30) is None


@given(st.integers(2000, 2100), st.integers(1, 12), st.integers(1, 31))
@settings(max_examples=200, deadline=None)
def test_nearest_weekday_is_a_weekday_of_the_month_at_most_two_days_away(year, month, wanted):
    found = nearest_weekday(year, month, wanted)
    length = calendar.monthrange(year, month)[1]
    if wanted > length:
        assert found is None
        return
    assert 1 <= found <= length and D(year, month, found).weekday() < 5 and abs(found - wanted) <= 2


@pytest.mark.parametrize("bad, message", [
    ("0", "monthday '0' is not"),
    ("32", "monthday '32' is not"),
    ("15-10", "runs from the smaller to the larger"),
    ("L-5", "monthday 'L-5' is not"),
    ("40W", "monthday '40W' is not"),
    ("1/0", "the step after / must be 1 or more"),
    ("first", "monthday 'first' is not"),
])
def test_bad_monthdays_are_named(bad, message):
    with pytest.raises(ValueError) as refused:
        DayRule("period p", "monthdays", bad)
    assert message in str(refused.value)


# -- months ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, months", [
    ("jan", [1]),
    ("January", [1]),
    ("12", [12]),
    ("jan-mar", [1, 2, 3]),
    ("nov-feb", [1, 2, 11, 12]),
    ("jan/3", [1, 4, 7, 10]),
    ("2-12/2", [2, 4, 6, 8, 10, 12]),
    ("nov-feb/2", [1, 11]),
    ("*", list(range(1, 13))),
])
def test_months(value, months):
    rule = DayRule("period p", "months", value)
    assert [month for month in range(1, 13) if rule.allows(D(2026, month, 1))] == months


@pytest.mark.parametrize("bad", ["13", "0", "jun-jux", "foo", "jan/0"])
def test_bad_months_are_named(bad):
    with pytest.raises(ValueError) as refused:
        DayRule("period p", "months", bad)
    assert "period p: month %r" % bad in str(refused.value)


# -- times -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, field, minutes", [
    ("08:00", "begintime", 480),
    ("8:05", "begintime", 485),
    ("00:00", "begintime", 0),
    ("23:59", "begintime", 1439),
    ("24:00", "endtime", 1440),
    # 23:59 as an endtime is the end of the day.
    ("23:59", "endtime", 1440),
    # YAML 1.1 read an unquoted 17:30 as 1050.
    (1050, "endtime", 1050),
])
def test_times(value, field, minutes):
    assert parse_time("period p", field, value) == minutes


@pytest.mark.parametrize("bad, field", [("24:00", "begintime"), ("25:00", "endtime"), ("8", "begintime"), ("08:60", "begintime"),
                                        ("8am", "begintime"), (1440, "begintime"), (-1, "endtime"), (True, "begintime")])
def test_bad_times_are_named(bad, field):
    with pytest.raises(ValueError) as refused:
        parse_time("period p", field, bad)
    assert "period p: %s %r is not a time HH:MM" % (field, bad) in str(refused.value)


def test_a_period_refuses_unknown_fields_and_equal_times():
    with pytest.raises(ValueError) as unknown:
        Period.from_dict("schedule office, period 1", {"begintime": "08:00", "weekday": "mon"}, "office#1")
    assert "schedule office, period 1: unknown period field(s) weekday" in str(unknown.value)
    with pytest.raises(ValueError) as equal:
        Period("p", begintime="08:00", endtime="08:00")
    assert "begintime and endtime are both 08:00" in str(equal.value)


# -- the state a period wants ------------------------------------------------------------------------------

OFFICE = Period("office", begintime="08:00", endtime="18:00", weekdays="mon-fri")


@pytest.mark.parametrize("when, state", [
    ("2026-11-27 07:59", STOPPED),
    ("2026-11-27 08:00", RUNNING),
    ("2026-11-27 17:59", RUNNING),
    ("2026-11-27 18:00", STOPPED),
    ("2026-11-28 12:00", STOPPED),
])
def test_office_hours(when, state):
    assert OFFICE.state_at(wall(when)) == state


def test_a_begintime_alone_has_no_opinion_before_it_and_runs_after_it():
    period = Period("morning", begintime="09:00", weekdays="mon-fri")
    assert period.state_at(wall("2026-11-27 08:59")) is ANY
    assert period.state_at(wall("2026-11-27 09:00")) == RUNNING
    assert period.state_at(wall("2026-11-27 23:59")) == RUNNING
    # A day the period does not match wants the instances stopped.
    assert period.state_at(wall("2026-11-28 10:00")) == STOPPED


def test_an_endtime_alone_stops_after_it():
    period = Period("evening", endtime="19:00")
    assert period.state_at(wall("2026-11-27 18:59")) is ANY
    assert period.state_at(wall("2026-11-27 19:00")) == STOPPED


def test_no_time_runs_the_matching_days_all_day():
    period = Period("first-monday", weekdays="mon#1")
    assert period.state_at(wall("2026-11-02 00:00")) == RUNNING and period.state_at(wall("2026-11-02 23:59")) == RUNNING
    assert period.state_at(wall("2026-11-09 12:00")) == STOPPED


def test_a_period_crossing_midnight_runs_into_the_next_day_whatever_that_day_is():
    nights = Period("friday-night", begintime="22:00", endtime="06:00", weekdays="fri")
    assert nights.crosses_midnight
    assert nights.state_at(wall("2026-11-27 21:59")) == STOPPED
    assert nights.state_at(wall("2026-11-27 22:00")) == RUNNING
    # Saturday is not a matching day, but the night began on Friday.
    assert nights.state_at(wall("2026-11-28 05:59")) == RUNNING
    assert nights.state_at(wall("2026-11-28 06:00")) == STOPPED
    # Friday morning: Thursday night did not run.
    assert nights.state_at(wall("2026-11-27 03:00")) == STOPPED


def test_an_endtime_of_2359_runs_to_midnight():
    late = Period("late", begintime="20:00", endtime="23:59")
    assert late.state_at(wall("2026-11-27 23:59")) == RUNNING
    assert late.wall_times() == [0, 1200]


def test_describe_names_the_times_and_rules():
    assert OFFICE.describe() == "office 08:00-18:00 weekdays mon-fri"
    assert Period("q", weekdays="mon#1", months="jan/3").describe() == "q all day weekdays mon#1 months jan/3"
