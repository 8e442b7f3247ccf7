# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Schedules: time zones and their clock changes, holidays, overrides, edges, and the checks of the options.

The edge properties compare last_edge and next_edge with an oracle that reads the wanted state minute by
minute (every change is on a whole minute of UTC in the zones drawn), so a mistake in the candidate instants
(a clock change, a period crossing midnight, a day rule) would show up as a disagreement.
"""

import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.cloudops.aws.plugins.module_utils.schedule_periods import ANY
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_periods import RUNNING
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_periods import STOPPED
from ansible_collections.cloudops.aws.plugins.module_utils.schedules import TINY
from ansible_collections.cloudops.aws.plugins.module_utils.schedules import build_schedules
from ansible_collections.cloudops.aws.plugins.module_utils.schedules import parse_instant

UTC = datetime.timezone.utc
MINUTE = datetime.timedelta(minutes=1)


def at(text):
    return parse_instant("now", text)


def schedule(periods, **fields):
    return build_schedules([dict(name="s", periods=periods, **fields)])["s"]


def office(zone="Europe/Berlin", **fields):
    return schedule([{"name": "office", "begintime": "08:00", "endtime": "18:00", "weekdays": "mon-fri"}], timezone=zone, **fields)


# -- time zones and the wall clock --------------------------------------------------------------------

def test_periods_are_read_in_the_schedules_time_zone():
    berlin, new_york = office(), office("America/New_York")
    # 16:59 UTC on Friday 27 November 2026: 17:59 in Berlin, 11:59 in New York.
    assert berlin.state_at(at("2026-11-27T16:59:00Z"))[0] == RUNNING
    assert berlin.state_at(at("2026-11-27T17:00:00Z")) == (STOPPED, "outside every period at Fri 2026-11-27 18:00 Europe/Berlin")
    assert new_york.state_at(at("2026-11-27T17:00:00Z"))[0] == RUNNING
    assert new_york.state_at(at("2026-11-27T23:00:00Z"))[0] == STOPPED


def test_spring_forward_a_begintime_in_the_skipped_hour_begins_when_the_clocks_jump_past_it():
    # Europe/Berlin, 29 March 2026: 02:00 CET becomes 03:00 CEST at 01:00 UTC.
    early = schedule([{"begintime": "02:30", "endtime": "05:00"}], timezone="Europe/Berlin")
    assert early.state_at(at("2026-03-29T00:59:59Z"))[0] == STOPPED
    assert early.state_at(at("2026-03-29T01:00:00Z"))[0] == RUNNING
    edge = early.last_edge(at("2026-03-29T02:00:00Z"))
    assert edge.at == at("2026-03-29T01:00:00Z") and (edge.before, edge.state) == (STOPPED, RUNNING)
    # It ends at 05:00 CEST, 03:00 UTC.
    assert early.next_edge(at("2026-03-29T02:00:00Z")).at == at("2026-03-29T03:00:00Z")


def test_fall_back_each_wall_clock_time_takes_effect_once():
    # Europe/Berlin, 25 October 2026: 03:00 CEST becomes 02:00 CET at 01:00 UTC; 02:00-03:00 happens twice.
    ends = schedule([{"begintime": "00:00", "endtime": "02:30"}], timezone="Europe/Berlin")
    assert ends.state_at(at("2026-10-25T00:29:00Z"))[0] == RUNNING  # 02:29 CEST
    assert ends.state_at(at("2026-10-25T00:30:00Z"))[0] == STOPPED  # 02:30 CEST
    # 02:00 to 02:59 CET, the second time round: still stopped, no second running span.
    for minute in range(0, 60, 5):
        assert ends.state_at(at("2026-10-25T01:%02d:00Z" % minute))[0] == STOPPED
    edges = [ends.next_edge(at("2026-10-24T23:00:00Z"))]
    edges.append(ends.next_edge(edges[0].at))
    assert [edge.at for edge in edges] == [at("2026-10-25T00:30:00Z"), at("2026-10-25T23:00:00Z")]

    begins = schedule([{"begintime": "02:30", "endtime": "06:00"}], timezone="Europe/Berlin")
    assert begins.state_at(at("2026-10-25T00:30:00Z"))[0] == RUNNING  # 02:30 CEST, the first time round
    assert begins.state_at(at("2026-10-25T01:10:00Z"))[0] == RUNNING  # 02:10 CET: already running, stays so
    assert begins.last_edge(at("2026-10-25T04:00:00Z")).at == at("2026-10-25T00:30:00Z")


def test_new_york_changes_its_clocks_on_other_days():
    # America/New_York, 8 March 2026: 02:00 EST becomes 03:00 EDT (07:00 UTC); 9-17 is 14:00-22:00 UTC before, 13:00-21:00 after.
    nine = schedule([{"begintime": "09:00", "endtime": "17:00"}], timezone="America/New_York")
    assert nine.next_edge(at("2026-03-06T12:00:00Z")).at == at("2026-03-06T14:00:00Z")
    assert nine.next_edge(at("2026-03-09T12:00:00Z")).at == at("2026-03-09T13:00:00Z")
    assert nine.last_edge(at("2026-03-09T12:00:00Z")).at == at("2026-03-08T21:00:00Z")


# -- holidays and overrides ---------------------------------------------------------------------------

def test_holidays_keep_the_day_stopped_or_running_as_configured():
    stopped = office(holidays=["2026-12-24", "12-25", datetime.date(2026, 12, 31)])
    assert stopped.state_at(at("2026-12-24T10:00:00Z")) == (STOPPED, "2026-12-24 is a holiday (holiday_state stopped)")
    assert stopped.state_at(at("2027-12-24T10:00:00Z"))[0] == RUNNING  # a dated holiday is one day
    assert stopped.state_at(at("2028-12-25T10:00:00Z"))[0] == STOPPED  # MM-DD is every year
    assert stopped.state_at(at("2026-12-31T10:00:00Z"))[0] == STOPPED
    # The holiday is the day in Berlin: 23:30 UTC on the 24th is already the 25th there.
    assert stopped.state_at(at("2026-12-23T23:30:00Z"))[0] == STOPPED

    running = schedule([{"begintime": "08:00", "endtime": "18:00", "weekdays": "mon-fri"}], holidays=["12-26"], holiday_state="running")
    assert running.state_at(at("2026-12-26T03:00:00Z"))[0] == RUNNING  # a Saturday, all day
    edge = running.last_edge(at("2026-12-26T03:00:00Z"))
    assert edge.at == at("2026-12-26T00:00:00Z") and edge.state == RUNNING


def test_an_override_wins_and_has_no_edges():
    held = office(override_status="running", holidays=["12-25"])
    assert held.state_at(at("2026-12-25T03:00:00Z")) == (RUNNING, "override_status is running")
    assert held.last_edge(at("2026-12-25T03:00:00Z")) is None and held.next_edge(at("2026-12-25T03:00:00Z")) is None
    assert build_schedules([{"name": "off", "override_status": "stopped"}])["off"].state_at(at("2026-12-25T03:00:00Z"))[0] == STOPPED


def test_a_period_with_a_begintime_only_has_no_opinion_before_it():
    morning = schedule([{"begintime": "09:00", "weekdays": "mon-fri"}])
    state, reason = morning.state_at(at("2026-11-24T08:00:00Z"))
    assert state is ANY and "no period decides at Tue 2026-11-24 08:00 UTC" in reason
    # Its begintime is an edge every day it applies, also when the day before kept running.
    edge = morning.last_edge(at("2026-11-24T10:00:00Z"))
    assert edge.at == at("2026-11-24T09:00:00Z") and (edge.before, edge.state) == (ANY, RUNNING)
    # Saturday stops what Friday's period left running.
    assert morning.next_edge(at("2026-11-27T10:00:00Z")).at == at("2026-11-28T00:00:00Z")


def test_adjacent_periods_make_no_edge_between_them():
    day_and_night = schedule([{"begintime": "08:00", "endtime": "23:59"}, {"begintime": "00:00", "endtime": "02:00"}])
    assert day_and_night.state_at(at("2026-11-27T23:59:30Z"))[0] == RUNNING
    assert day_and_night.next_edge(at("2026-11-27T20:00:00Z")).at == at("2026-11-28T02:00:00Z")


def test_last_friday_and_first_monday():
    closing = schedule([{"weekdays": "friL"}, {"weekdays": "mon#1"}])
    # November 2026: Monday the 2nd, Friday the 27th; December: Monday the 7th.
    assert closing.next_edge(at("2026-11-01T12:00:00Z")).at == at("2026-11-02T00:00:00Z")
    assert closing.next_edge(at("2026-11-02T12:00:00Z")).at == at("2026-11-03T00:00:00Z")
    assert closing.next_edge(at("2026-11-03T12:00:00Z")).at == at("2026-11-27T00:00:00Z")
    assert closing.next_edge(at("2026-11-28T12:00:00Z")).at == at("2026-12-07T00:00:00Z")


def test_a_schedule_of_some_months_finds_an_edge_months_back():
    summer = schedule([{"months": "jun-aug"}])
    assert summer.last_edge(at("2027-05-20T00:00:00Z")).at == at("2026-09-01T00:00:00Z")
    assert summer.next_edge(at("2027-05-20T00:00:00Z")).at == at("2027-06-01T00:00:00Z")
    always = schedule([{"weekdays": "*"}])
    assert always.last_edge(at("2026-11-27T00:00:00Z")) is None and always.next_edge(at("2026-11-27T00:00:00Z")) is None


def test_edge_since():
    berlin = office()
    friday_evening = at("2026-11-27T17:00:00Z")
    assert berlin.edge_since(at("2026-11-27T16:55:00Z"), at("2026-11-27T17:05:00Z")).at == friday_evening
    assert berlin.edge_since(friday_evening, at("2026-11-27T17:05:00Z")) is None


# -- the options' checks ----------------------------------------------------------------------------

@pytest.mark.parametrize("schedules, periods, message", [
    ([{"name": "office", "periods": [{"weekdays": "mun"}]}], [],
     "schedule office, period 1: weekday 'mun' is not a day name"),
    ([{"name": "office", "periods": ["ofice"]}], [{"name": "office-hours", "begintime": "08:00"}],
     "schedule office: period 'ofice' is not defined in periods (defined: office-hours)"),
    ([{"name": "office", "periods": ["p"], "timezone": "Europe/Berln"}], [{"name": "p", "begintime": "08:00"}],
     "schedule office: timezone 'Europe/Berln' is not an IANA time zone name"),
    ([{"name": "office", "periods": ["p"], "holidays": ["2026-02-30"]}], [{"name": "p", "begintime": "08:00"}],
     "schedule office: holiday '2026-02-30' is not a date YYYY-MM-DD"),
    ([{"name": "office", "periods": ["p"], "holiday_state": "off"}], [{"name": "p", "begintime": "08:00"}],
     "schedule office: holiday_state 'off' is not one of running, stopped"),
    ([{"name": "office", "override_status": "started"}], [], "schedule office: override_status 'started' is not one of running, stopped"),
    ([{"name": "office", "periods": ["p"], "enforced": "sometimes"}], [{"name": "p", "begintime": "08:00"}],
     "schedule office: enforced 'sometimes' is not a boolean"),
    ([{"name": "office"}], [], "schedule office: no period; give periods, or override_status"),
    ([{"name": "office", "periods": ["p"], "stop_new_instances": False}], [{"name": "p", "begintime": "08:00"}],
     "schedule office: stop_new_instances is not supported"),
    ([{"name": "office", "periods": ["p@t3.large"]}], [{"name": "p", "begintime": "08:00"}],
     "schedule office: period 'p@t3.large': instance types (period@type) are not supported"),
    ([{"name": "office", "periods": ["p"], "timezone_name": "UTC"}], [{"name": "p", "begintime": "08:00"}],
     "schedule office: unknown field(s) timezone_name"),
    ([{"name": "a", "override_status": "running"}, {"name": "a", "override_status": "running"}], [], "schedule a is defined twice"),
    ([{"periods": ["p"]}], [{"name": "p"}], "schedules: entry 1 has no name"),
    ([], [], "schedules: give at least one schedule"),
    ([{"name": "a", "periods": ["p"]}], [{"name": "p", "endtime": "25:00"}], "period p: endtime '25:00' is not a time HH:MM"),
    ([{"name": "a", "periods": ["p"]}], [{"name": "p"}, {"name": "p"}], "periods: period p is defined twice"),
    ([{"name": "a", "periods": ["p"]}], [{"begintime": "08:00"}], "periods: entry 1 has no name"),
])
def test_bad_schedules_are_refused_naming_the_value(schedules, periods, message):
    with pytest.raises(ValueError) as refused:
        build_schedules(schedules, periods)
    assert message in str(refused.value)


def test_module_defaults_apply_where_a_schedule_is_silent():
    specs = [{"name": "a", "periods": [{"begintime": "08:00"}]},
             {"name": "b", "periods": [{"begintime": "08:00"}], "enforced": False, "timezone": "Asia/Tokyo"}]
    built = build_schedules(specs, defaults={"timezone": "Europe/Paris", "enforced": True, "retain_running": True, "hibernate": True})
    assert (built["a"].zone_name, built["a"].enforced, built["a"].retain_running, built["a"].hibernate) == ("Europe/Paris", True, True, True)
    assert (built["b"].zone_name, built["b"].enforced) == ("Asia/Tokyo", False)


@pytest.mark.parametrize("bad, message", [
    ("2026-11-27T19:00:00", "has no UTC offset"),
    ("Friday 7pm", "is not an ISO 8601 date and time"),
])
def test_now_needs_an_iso_instant_with_an_offset(bad, message):
    with pytest.raises(ValueError) as refused:
        parse_instant("now", bad)
    assert "now: %r %s" % (bad, message) in str(refused.value)


def test_now_in_any_offset_is_the_same_instant():
    assert at("2026-11-27T19:00:00+01:00") == at("2026-11-27T18:00:00Z") == at("2026-11-27T18:00:00z")


# -- edges against a minute-by-minute oracle ------------------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago", "Pacific/Chatham"]
# Around the clock changes of 2026 in these zones, and ordinary days.
ANCHORS = [at(text) for text in ("2026-03-08T07:00:00Z", "2026-03-29T01:00:00Z", "2026-04-04T15:00:00Z", "2026-04-05T03:00:00Z",
                                 "2026-09-06T04:00:00Z", "2026-10-04T02:00:00Z", "2026-10-25T01:00:00Z", "2026-11-01T06:00:00Z",
                                 "2026-11-27T12:00:00Z")]
times = st.one_of(st.none(), st.integers(0, 47).map(lambda half_hours: "%02d:%02d" % divmod(half_hours * 30, 60)),
                  st.sampled_from(["01:30", "02:00", "02:30", "03:00", "23:59"]))
weekday_rules = st.one_of(st.none(), st.sampled_from(["mon-fri", "sat,sun", "fri-mon", "mon#1", "sunL", "wed", "*"]))
monthday_rules = st.one_of(st.none(), st.sampled_from(["1-15", "L", "25-L", "1/2", "4W"]))


@st.composite
def periods(draw):
    begin, end = draw(times), draw(times)
    if begin is not None and begin == end:
        end = None
    spec = {"begintime": begin, "endtime": end, "weekdays": draw(weekday_rules), "monthdays": draw(monthday_rules)}
    return {key: value for key, value in spec.items() if value is not None}


def oracle(subject, now, minutes, forward):
    """The nearest instant after `now` (forward) or at or before it where the wanted state changes, read minute by minute."""
    base = now.replace(second=0, microsecond=0)
    for number in range(minutes):
        moment = base + (number + 1) * MINUTE if forward else base - number * MINUTE
        if subject.state_only(moment) != subject.state_only(moment - TINY):
            return moment
    return None


PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WINDOW = 2 * 24 * 60


@PROPERTY_SETTINGS
@given(st.lists(periods(), min_size=1, max_size=3), st.sampled_from(ZONES), st.sampled_from(ANCHORS),
       st.integers(-36 * 60 * 60, 36 * 60 * 60))
def test_last_and_next_edge_agree_with_the_minute_by_minute_oracle(period_specs, zone, anchor, offset_seconds):
    subject = schedule(period_specs, timezone=zone)
    now = anchor + datetime.timedelta(seconds=offset_seconds)
    last, found_last = subject.last_edge(now), oracle(subject, now, WINDOW, forward=False)
    if found_last is not None:
        assert last is not None and last.at == found_last
    elif last is not None:
        assert last.at <= now - (WINDOW - 1) * MINUTE
    nxt, found_next = subject.next_edge(now), oracle(subject, now, WINDOW, forward=True)
    if found_next is not None:
        assert nxt is not None and nxt.at == found_next
    elif nxt is not None:
        assert nxt.at > now + WINDOW * MINUTE
    for edge in (last, nxt):
        if edge is not None:
            assert subject.state_only(edge.at) == edge.state != edge.before == subject.state_only(edge.at - TINY)
    if last is not None:
        # Constant from the edge to now.
        assert subject.state_only(now) == last.state
