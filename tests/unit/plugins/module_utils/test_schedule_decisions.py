# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What instance_schedule does to one instance: skips, edges (enforced or not), retain_running, hibernation, and
the applied tag that remembers the schedule's last act."""

import datetime

import pytest

from ansible_collections.cloudops.aws.plugins.module_utils.maintenance_marks import MAINTENANCE_TAG
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_decisions import APPLIED_TAG
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_decisions import Applied
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_decisions import Situation
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_decisions import decide
from ansible_collections.cloudops.aws.plugins.module_utils.schedules import build_schedules
from ansible_collections.cloudops.aws.plugins.module_utils.schedules import parse_instant

PERIODS = [{"name": "office", "begintime": "08:00", "endtime": "18:00", "weekdays": "mon-fri"}]
# Europe/Berlin in November: UTC+1. The period of Friday 27 November 2026 runs 07:00-17:00 UTC.
FRIDAY_MORNING = "2026-11-27T07:00:00Z"
FRIDAY_EVENING = "2026-11-27T17:00:00Z"
THURSDAY_EVENING = "2026-11-26T17:00:00Z"


def at(text):
    return parse_instant("now", text)


def situation(now, **fields):
    spec = dict(name="office", periods=["office"], timezone="Europe/Berlin", **fields)
    return Situation.of(build_schedules([spec], PERIODS)["office"], at(now))


def instance(state="running", hibernation=False, **tags):
    return {"instance_id": "i-0123456789abcdef0", "state": state, "tags": dict(tags), "hibernation": hibernation}


def applied(value):
    return {APPLIED_TAG: value}


# -- the applied tag ------------------------------------------------------------------------------------

def test_applied_values_round_trip_and_hand_edits_read_as_none():
    for value in ("stopped 2026-11-27T17:00:00Z", "running override", "running none", "running 2026-11-27T07:00:00Z retained"):
        assert Applied.parse(value).value == value
    for value in (None, "", "stopped", "asleep 2026-11-27T17:00:00Z", "stopped 2026 kept", "running a b c"):
        assert Applied.parse(value) is None


# -- enforced: false acts on the first run after an edge ---------------------------------------------------

def test_first_run_after_the_evening_edge_stops_and_records_the_edge():
    now = "2026-11-27T17:03:00Z"
    decision = decide(instance(), situation(now), at(now))
    assert decision.action == "stop" and decision.tag == Applied("stopped", FRIDAY_EVENING)
    assert decision.reason == "outside every period at Fri 2026-11-27 18:03 Europe/Berlin"


def test_after_the_edge_was_acted_on_a_hand_start_is_left_alone_until_the_next_edge():
    now = "2026-11-27T21:00:00Z"
    decision = decide(instance("running", **applied("stopped " + FRIDAY_EVENING)), situation(now), at(now))
    assert decision.action is None and decision.tag is None and not decision.skip
    assert "the schedule brought it to stopped at 2026-11-27T17:00:00Z already; enforced is false, so it stays running" in decision.reason
    # The next edge (Monday morning) wants it running: nothing to do but record the edge.
    monday = "2026-11-30T07:01:00Z"
    decision = decide(instance("running", **applied("stopped " + FRIDAY_EVENING)), situation(monday), at(monday))
    assert decision.action is None and decision.tag == Applied("running", "2026-11-30T07:00:00Z")


def test_an_instance_already_in_the_wanted_state_at_a_new_edge_gets_the_tag_only():
    now = "2026-11-27T17:03:00Z"
    decision = decide(instance("stopped", **applied("running " + FRIDAY_MORNING)), situation(now), at(now))
    assert decision.action is None and decision.tag == Applied("stopped", FRIDAY_EVENING) and decision.reason == "already stopped"


def test_missed_runs_still_act_on_the_latest_edge():
    # No run since Thursday evening: Friday's morning edge passed unseen; the run on Saturday acts on the evening one.
    now = "2026-11-28T10:00:00Z"
    decision = decide(instance("running", **applied("stopped " + THURSDAY_EVENING)), situation(now), at(now))
    assert decision.action == "stop" and decision.tag == Applied("stopped", FRIDAY_EVENING)


def test_a_schedule_edited_so_that_its_latest_edge_wants_another_state_acts_again():
    # The tag names the latest edge, 07:00 UTC, with the state an earlier version of the schedule wanted there.
    spec = [{"name": "office", "begintime": "08:00", "endtime": "18:00", "weekdays": "mon-fri"},
            {"name": "late", "begintime": "18:00", "endtime": "22:00", "weekdays": "mon-fri"}]
    now = at("2026-11-27T19:00:00Z")
    edited = Situation.of(build_schedules([{"name": "office", "periods": ["office", "late"], "timezone": "Europe/Berlin"}], spec)["office"], now)
    assert edited.edge.key == "2026-11-27T07:00:00Z"
    decision = decide(instance("stopped", **applied("stopped 2026-11-27T07:00:00Z")), edited, now)
    assert decision.action == "start" and decision.tag == Applied("running", "2026-11-27T07:00:00Z")


def test_a_newly_tagged_instance_is_brought_to_the_wanted_state():
    now = "2026-11-28T10:00:00Z"
    assert decide(instance("running"), situation(now), at(now)).action == "stop"
    assert decide(instance("stopped"), situation("2026-11-27T12:00:00Z"), at("2026-11-27T12:00:00Z")).action == "start"


# -- enforced: true corrects every run --------------------------------------------------------------------

def test_enforced_corrects_a_hand_start_and_records_only_when_it_acts():
    now = "2026-11-27T21:00:00Z"
    decision = decide(instance("running", **applied("stopped " + FRIDAY_EVENING)), situation(now, enforced=True), at(now))
    assert decision.action == "stop" and decision.tag == Applied("stopped", FRIDAY_EVENING)
    quiet = decide(instance("stopped", **applied("running " + FRIDAY_MORNING)), situation(now, enforced=True), at(now))
    assert quiet.action is None and quiet.tag is None


def test_an_override_is_enforced_and_recorded_as_such():
    now = "2026-11-27T12:00:00Z"
    decision = decide(instance("running", **applied("stopped override")), situation(now, override_status="stopped"), at(now))
    assert decision.action == "stop" and decision.tag == Applied("stopped", "override") and decision.reason == "override_status is stopped"
    # Lifting the override is a new edge for enforced: false: the schedule takes over at once.
    after = decide(instance("stopped", **applied("stopped override")), situation(now), at(now))
    assert after.action == "start" and after.tag == Applied("running", FRIDAY_MORNING)


# -- what is never touched ------------------------------------------------------------------------------

@pytest.mark.parametrize("tags, reason", [
    ({"cloudops:schedule-skip": "true"}, "tagged cloudops:schedule-skip=true: left alone"),
    ({"aws:autoscaling:groupName": "web"}, "member of Auto Scaling group web, which decides whether its instances run"),
    ({MAINTENANCE_TAG: "2026-11-27T20:00:00Z patch_rollout"},
     "in maintenance by patch_rollout until 2026-11-27T20:00:00Z (tag cloudops:maintenance)"),
])
def test_never_touched(tags, reason):
    now = "2026-11-27T17:03:00Z"
    decision = decide(instance("running", **tags), situation(now, enforced=True), at(now))
    assert decision.skip and decision.action is None and decision.reason == reason and decision.tag is None


def test_an_expired_or_unreadable_maintenance_mark_holds_nothing():
    now = "2026-11-27T17:03:00Z"
    for value in ("2026-11-27T17:00:00Z rolling_deploy", "until tomorrow"):
        decision = decide(instance("running", **{MAINTENANCE_TAG: value}), situation(now), at(now))
        assert not decision.skip and decision.action == "stop"


@pytest.mark.parametrize("state, now, skip, reason", [
    ("stopping", "2026-11-27T17:03:00Z", False, "already stopping, on its way to stopped"),
    ("pending", "2026-11-27T07:03:00Z", False, "already pending, on its way to running"),
    ("pending", "2026-11-27T17:03:00Z", True, "pending; the next run stops it"),
    ("stopping", "2026-11-27T07:03:00Z", True, "stopping; the next run starts it"),
])
def test_instances_in_transition(state, now, skip, reason):
    decision = decide(instance(state), situation(now), at(now))
    assert decision.action is None and decision.skip == skip and decision.reason == reason
    # One on its way to the wanted state counts as brought there; one heading elsewhere is for the next run.
    assert (decision.tag is None) == skip


def test_no_period_deciding_leaves_the_instance_as_it_is():
    spec = [{"name": "mornings", "begintime": "09:00", "weekdays": "mon-fri"}]
    now = at("2026-11-24T07:00:00Z")
    decision = decide(instance("stopped"), Situation.of(build_schedules([{"name": "m", "periods": ["mornings"]}], spec)["m"], now), now)
    assert decision.action is None and decision.desired is None and decision.reason.endswith(": left as it is")


# -- retain_running ----------------------------------------------------------------------------------------

def test_retain_running_keeps_an_instance_that_was_running_when_the_period_began():
    morning = "2026-11-27T07:02:00Z"
    found = decide(instance("running", **applied("stopped " + THURSDAY_EVENING)), situation(morning, retain_running=True), at(morning))
    assert found.action is None and found.tag == Applied("running", FRIDAY_MORNING, retained=True)
    assert "retain_running leaves it running past the period's end" in found.reason

    evening = "2026-11-27T17:02:00Z"
    kept = decide(instance("running", **applied(found.tag.value)), situation(evening, retain_running=True), at(evening))
    assert kept.action is None and kept.tag == Applied("stopped", FRIDAY_EVENING, retained=True)
    assert kept.reason.startswith("retain_running: it was already running when the period began")

    # Enforced, later runs of the stopped span keep honouring it.
    later = "2026-11-27T22:00:00Z"
    again = decide(instance("running", **applied(kept.tag.value)), situation(later, retain_running=True, enforced=True), at(later))
    assert again.action is None and again.tag is None


def test_retain_running_stops_an_instance_the_schedule_started():
    morning = "2026-11-27T07:02:00Z"
    started = decide(instance("stopped", **applied("stopped " + THURSDAY_EVENING)), situation(morning, retain_running=True), at(morning))
    assert started.action == "start" and started.tag == Applied("running", FRIDAY_MORNING)
    evening = "2026-11-27T17:02:00Z"
    stopped = decide(instance("running", **applied(started.tag.value)), situation(evening, retain_running=True), at(evening))
    assert stopped.action == "stop"


def test_a_retained_mark_of_an_older_period_does_not_hold():
    evening = "2026-11-27T17:02:00Z"
    old = "running 2026-11-26T07:00:00Z retained"
    assert decide(instance("running", **applied(old)), situation(evening, retain_running=True, enforced=True), at(evening)).action == "stop"


# -- hibernate ---------------------------------------------------------------------------------------------

def test_hibernate_where_configured_else_stop_saying_so():
    now = "2026-11-27T17:03:00Z"
    assert decide(instance(hibernation=True), situation(now, hibernate=True), at(now)).action == "hibernate"
    plain = decide(instance(hibernation=False), situation(now, hibernate=True), at(now))
    assert plain.action == "stop" and plain.reason.endswith("stopped, not hibernated: it was not launched with hibernation configured")
    assert decide(instance(hibernation=True), situation(now), at(now)).action == "stop"


def test_the_situation_summary_names_the_edges():
    summary = situation("2026-11-27T17:03:00Z").summary()
    assert summary == {"state": "stopped", "reason": "outside every period at Fri 2026-11-27 18:03 Europe/Berlin",
                       "last_edge": FRIDAY_EVENING, "next_edge": "2026-11-30T07:00:00Z", "next_state": "running", "enforced": False}
    assert datetime.datetime.fromisoformat(summary["last_edge"][:-1]) < datetime.datetime(2026, 11, 27, 17, 3)
