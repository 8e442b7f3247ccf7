"""cloudops.aws.instance_schedule and the cloudops.aws.schedule role through ansible-playbook against the simulator, its
instances passing through pending and stopping, the clock set with the module's `now`.

Every test reads AWS back (instance states, state reasons, tags) and the simulator's call log, rather than trusting the
report. The office schedule runs 08:00-18:00 Monday to Friday in Berlin (UTC+1 in November): on Friday 27 November 2026
its evening edge is 17:00 UTC, on Monday 30 November its morning edge is 07:00 UTC.
"""

import datetime
import json

import boto3
import pytest
import yaml

from aws_state import mutating_calls
from aws_state import tags_of
from conftest import run_play

APPLIED = "cloudops:schedule-applied"
FRIDAY_EVENING = "2026-11-27T17:00:00Z"
PERIODS = [{"name": "office-hours", "begintime": "08:00", "endtime": "18:00", "weekdays": "mon-fri"}]
OFFICE = {"name": "office", "periods": ["office-hours"], "timezone": "Europe/Berlin"}
# The simulator's instances take this long to start or stop, so the module has to wait for them.
TRANSITIONS = {"instances": {"start_seconds": 1, "stop_seconds": 1}}


@pytest.fixture
def slow(sim):
    sim.configure(**TRANSITIONS)
    return sim


def fleet(sim, *specs):
    return sim.seed({"instances": [dict(spec, tags=dict({"Schedule": "office"}, **spec.get("tags", {}))) for spec in specs]})["instances"]


def described(ec2, instance_ids):
    return {i["InstanceId"]: i for r in ec2.describe_instances(InstanceIds=list(instance_ids))["Reservations"] for i in r["Instances"]}


def states(ec2, instance_ids):
    return {instance_id: instance["State"]["Name"] for instance_id, instance in described(ec2, instance_ids).items()}


def applied(ec2, instance_ids):
    return {instance_id: tags_of(instance).get(APPLIED) for instance_id, instance in described(ec2, instance_ids).items()}


def play(sim, tasks, **env):
    """The results of the tasks of one play on localhost, and the play's JSON report."""
    stdout, stderr = run_play(sim, [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}], env=env)
    try:
        report = json.loads(stdout)
    except ValueError as error:
        raise AssertionError("ansible-playbook gave no report:\n%s\n%s" % (stdout, stderr)) from error
    return [task["hosts"]["localhost"] for task in report["plays"][0]["tasks"]], report


def schedule_task(check=False, **args):
    task = {"name": "schedule", "cloudops.aws.instance_schedule": dict({"periods": PERIODS, "schedules": [OFFICE]}, **args),
            "ignore_errors": True}
    if check:
        task["check_mode"] = True
    return task


def schedule_run(sim, **args):
    return play(sim, [schedule_task(**args)])[0][0]


def starts_and_stops(sim):
    return [call for call in sim.calls() if call["action"] in ("StartInstances", "StopInstances")]


def test_friday_evening_the_role_stops_hibernates_and_skips_with_reasons_and_leaves_a_hand_start_until_the_next_edge(slow, ec2):
    ids = fleet(slow, {"name": "dev-1"}, {"name": "dev-2"}, {"name": "dev-3", "state": "stopped"},
                {"name": "sleeper", "hibernation": True},
                {"name": "hands-off", "tags": {"cloudops:schedule-skip": "true"}},
                {"name": "patching", "tags": {"cloudops:maintenance": "2026-11-27T23:00:00Z patch_rollout"}},
                {"name": "imaged"}, {"name": "typo", "tags": {"Schedule": "ofice"}})
    slow.seed({"launch_templates": [{"name": "web-lt"}]})
    autoscaling = boto3.client("autoscaling", endpoint_url=slow.endpoint, region_name="us-east-1",
                               aws_access_key_id="testing", aws_secret_access_key="testing")
    autoscaling.create_auto_scaling_group(AutoScalingGroupName="web", LaunchTemplate={"LaunchTemplateName": "web-lt"}, MinSize=1, MaxSize=1,
                                          AvailabilityZones=["us-east-1a"], Tags=[{"Key": "Schedule", "Value": "office", "PropagateAtLaunch": True}])
    member = next(i["InstanceId"] for r in ec2.describe_instances(Filters=[{"Name": "tag:aws:autoscaling:groupName", "Values": ["web"]}])["Reservations"]
                  for i in r["Instances"])
    slow.configure(ami_available_after=300)
    image = ec2.create_image(InstanceId=ids["imaged"], Name="imaged-backup", TagSpecifications=[{"ResourceType": "image", "Tags": [
        {"Key": "cloudops:managed-by", "Value": "cloudops.aws"}, {"Key": "cloudops:policy", "Value": "daily"},
        {"Key": "cloudops:source-instance", "Value": ids["imaged"]}]}])["ImageId"]
    every = list(ids.values()) + [member]
    slow.clear_log()

    role = {"name": "schedule", "ansible.builtin.include_role": {"name": "cloudops.aws.schedule"},
            "vars": {"schedule_periods": PERIODS, "schedule_schedules": [dict(OFFICE, hibernate=True)],
                     "schedule_now": "2026-11-27T19:00:00+01:00"}}
    results, report = play(slow, [role], ANSIBLE_SHOW_CUSTOM_STATS="true")

    assert report["stats"]["localhost"]["failures"] == 0, results
    result = next(r for r in results if "instances" in r)
    stopped = [ids["dev-1"], ids["dev-2"], ids["dev-3"], ids["sleeper"]]
    assert states(ec2, every) == dict(dict.fromkeys(every, "running"), **dict.fromkeys(stopped, "stopped"))
    state_reasons = {i: instance["StateReason"]["Code"] for i, instance in described(ec2, [ids["dev-1"], ids["sleeper"]]).items()}
    assert state_reasons == {ids["dev-1"]: "Client.UserInitiatedShutdown", ids["sleeper"]: "Client.UserInitiatedHibernate"}
    # One StopInstances for the two to stop, one (Hibernate) for the one to hibernate; nothing else started or stopped.
    assert sorted(sorted(call["resource_ids"]) for call in starts_and_stops(slow)) == sorted([sorted([ids["dev-1"], ids["dev-2"]]), [ids["sleeper"]]])
    tags = applied(ec2, every)
    assert {i for i, value in tags.items() if value} == {ids["dev-1"], ids["dev-2"], ids["dev-3"], ids["sleeper"]}
    assert set(tags.values()) == {None, "stopped " + FRIDAY_EVENING}
    assert len(slow.calls(action="CreateTags")) == 1 and len(slow.calls(action="DescribeInstances")) >= 2
    reasons = {entry["instance_id"]: entry["reason"] for entry in result["instances_skipped"]}
    assert reasons == {
        ids["hands-off"]: "tagged cloudops:schedule-skip=true: left alone",
        ids["patching"]: "in maintenance by patch_rollout until 2026-11-27T23:00:00Z (tag cloudops:maintenance)",
        ids["imaged"]: "a backup is in progress: AMI %s (policy daily) is pending" % image,
        ids["typo"]: "schedule 'ofice' is not one of this run's schedules (office)",
        member: "member of Auto Scaling group web, which decides whether its instances run",
    }
    stats = report["global_custom_stats"]
    assert sorted(stats["schedule_stopped"]) == sorted([ids["dev-1"], ids["dev-2"], ids["sleeper"]]) and stats["schedule_started"] == []
    assert stats["schedule_totals"] == {"localhost": {"instances": 9, "changed": 3, "requested": 0, "planned": 0, "unchanged": 1,
                                                      "skipped": 5, "failed": 0}}
    assert stats["schedule_failed_targets"] == [] and sorted(stats["schedule_skipped"]) == sorted(reasons)

    # Someone starts dev-1 by hand at night; at 21:00 (no new edge) the schedule leaves it running, and changes nothing.
    ec2.start_instances(InstanceIds=[ids["dev-1"]])
    slow.clear_log()
    again = schedule_run(slow, now="2026-11-27T21:00:00+01:00", schedules=[dict(OFFICE, hibernate=True)])
    assert not again.get("failed") and again["changed"] is False
    # Reads only: the instances, and the backups again, since the instance being imaged still waits to be stopped.
    assert mutating_calls(slow) == [] and {call["action"] for call in slow.calls()} == {"DescribeInstances", "DescribeImages", "DescribeSnapshots"}
    entry = next(e for e in again["instances"] if e["instance_id"] == ids["dev-1"])
    assert entry["status"] == "unchanged" and "enforced is false, so it stays" in entry["reason"]
    assert states(ec2, [ids["dev-1"]]) == {ids["dev-1"]: "running"}


def test_enforced_corrects_a_hand_start_every_run_and_a_run_again_changes_nothing(slow, ec2):
    ids = fleet(slow, {"name": "dev-1", "tags": {APPLIED: "stopped " + FRIDAY_EVENING}}, {"name": "dev-2", "state": "stopped"})
    slow.clear_log()

    first = play(slow, [dict(schedule_task(now="2026-11-27T21:00:00+01:00", enforced=True), diff=True)])[0][0]

    assert not first.get("failed") and first["stopped"] == [ids["dev-1"]] and first["diff"] == {
        "before": {ids["dev-1"]: "running"}, "after": {ids["dev-1"]: "stopped"}}
    assert states(ec2, ids.values()) == dict.fromkeys(ids.values(), "stopped")
    assert [call["resource_ids"] for call in starts_and_stops(slow)] == [[ids["dev-1"]]]
    # Enforced records only what it did.
    assert applied(ec2, ids.values()) == {ids["dev-1"]: "stopped " + FRIDAY_EVENING, ids["dev-2"]: None}

    slow.clear_log()
    again = schedule_run(slow, now="2026-11-27T21:05:00+01:00", enforced=True)
    assert again["changed"] is False and mutating_calls(slow) == [] and again["totals"]["unchanged"] == 2


def test_monday_morning_starts_what_the_schedule_stopped_and_retain_running_keeps_what_was_already_running(slow, ec2, tmp_path):
    ids = fleet(slow, {"name": "stopped-on-friday", "state": "stopped", "tags": {APPLIED: "stopped " + FRIDAY_EVENING}},
                {"name": "started-by-hand", "tags": {APPLIED: "stopped " + FRIDAY_EVENING}})
    schedules = [dict(OFFICE, retain_running=True)]
    # The morning through the role, the schedules in a file.
    schedule_file = tmp_path / "schedules.yml"
    schedule_file.write_text(yaml.safe_dump({"periods": PERIODS, "schedules": schedules}))
    role = {"name": "schedule", "ansible.builtin.include_role": {"name": "cloudops.aws.schedule"},
            "vars": {"schedule_file": str(schedule_file), "schedule_now": "2026-11-30T08:05:00+01:00"}}

    results, report = play(slow, [role])
    morning = next(result for result in results if "instances" in result)

    assert report["stats"]["localhost"]["failures"] == 0, results

    assert not morning.get("failed") and morning["started"] == [ids["stopped-on-friday"]]
    assert states(ec2, ids.values()) == dict.fromkeys(ids.values(), "running")
    assert applied(ec2, ids.values()) == {ids["stopped-on-friday"]: "running 2026-11-30T07:00:00Z",
                                          ids["started-by-hand"]: "running 2026-11-30T07:00:00Z retained"}

    slow.clear_log()
    evening = schedule_run(slow, now="2026-11-30T18:05:00+01:00", schedules=schedules)

    assert not evening.get("failed") and evening["stopped"] == [ids["stopped-on-friday"]]
    assert states(ec2, ids.values()) == {ids["stopped-on-friday"]: "stopped", ids["started-by-hand"]: "running"}
    kept = next(e for e in evening["instances"] if e["instance_id"] == ids["started-by-hand"])
    assert kept["reason"].startswith("retain_running: it was already running when the period began")
    assert [call["resource_ids"] for call in starts_and_stops(slow)] == [[ids["stopped-on-friday"]]]


def test_an_instance_still_pending_at_verify_timeout_fails_the_task_and_is_not_recorded(sim, ec2):
    ids = fleet(sim, {"name": "slow", "state": "stopped"}, {"name": "quick", "state": "stopped"})
    sim.delay_instances([ids["slow"]], 30)

    result = schedule_run(sim, now="2026-11-27T12:00:00+01:00", verify_timeout=3)

    assert result["failed"] and "instance_schedule failed for 1 instance(s): %s: not running within verify_timeout (3s): pending" % ids["slow"] in result["msg"]
    assert result["failures"] == [{"instance_id": ids["slow"], "error": "not running within verify_timeout (3s): pending"}]
    assert states(ec2, ids.values()) == {ids["slow"]: "pending", ids["quick"]: "running"}
    # Not recorded: the next run deals with it.
    assert applied(ec2, ids.values()) == {ids["slow"]: None, ids["quick"]: "running 2026-11-27T07:00:00Z"}
    assert result["started"] == [ids["quick"]]


def test_check_mode_answers_what_happens_at_19_on_friday_and_bad_input_is_refused_before_any_call(sim, ec2):
    ids = fleet(sim, {"name": "dev-1"})
    sim.clear_log()
    bad = [
        ({"schedules": [{"name": "office", "periods": [{"begintime": "08:00", "weekdays": "mun-fri"}]}]},
         "schedule office, period 1: weekday 'mun-fri' is not a day name"),
        ({"schedules": [dict(OFFICE, timezone="Europe/Berln")]}, "schedule office: timezone 'Europe/Berln' is not an IANA time zone name"),
        ({"now": "2026-11-27T19:00:00"}, "now: '2026-11-27T19:00:00' has no UTC offset"),
        ({"schedules": [dict(OFFICE, periods=["office"])]}, "schedule office: period 'office' is not defined in periods (defined: office-hours)"),
        ({"verify_timeout": -5}, "verify_timeout: must be 0 (do not wait) or more seconds, got -5"),
    ]
    tasks = [schedule_task(check=True, now="2026-11-27T19:00:00+01:00")] + [schedule_task(**args) for args, _message in bad]
    # Through the role, a refused option is named as the role's variable.
    tasks.append({"block": [{"name": "role", "ansible.builtin.include_role": {"name": "cloudops.aws.schedule"},
                             "vars": {"schedule_periods": PERIODS, "schedule_schedules": [OFFICE], "schedule_verify_timeout": -5}}],
                  "rescue": [{"name": "refusal", "ansible.builtin.debug": {"msg": "{{ ansible_failed_result.msg }}"}}]})

    all_results, _report = play(sim, tasks)
    results = all_results[:len(bad) + 1]

    planned = results[0]
    assert not planned.get("failed") and planned["changed"] and planned["stopped"] == [ids["dev-1"]]
    assert planned["instances"][0]["status"] == "planned" and planned["schedules"]["office"]["next_edge"] == "2026-11-30T07:00:00Z"
    for result, (_args, message) in zip(results[1:], bad):
        assert result["failed"] and message in result["msg"]
    assert all_results[-1]["msg"] == "schedule_verify_timeout: must be 0 (do not wait) or more seconds, got -5"
    # Check mode read (the instances, and the pending backups since one instance is to stop); the refusals made no call.
    assert sorted(call["action"] for call in sim.calls()) == ["DescribeImages", "DescribeInstances", "DescribeSnapshots"]
    assert states(ec2, ids.values()) == {ids["dev-1"]: "running"} and applied(ec2, ids.values()) == {ids["dev-1"]: None}
    assert datetime.datetime.fromisoformat(planned["now"][:-1]) == datetime.datetime(2026, 11, 27, 18)
