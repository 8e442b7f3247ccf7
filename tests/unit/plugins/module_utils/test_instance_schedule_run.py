# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One instance_schedule run against an in-memory EC2: the calls it makes, batches refused whole, hibernation
refused, instances that do not get there in time, backups in progress, check mode; and the maintenance marks
of patch and deploy runs."""

import datetime

import pytest
from botocore.exceptions import ClientError
from fakes import Clock

from ansible_collections.cloudops.aws.plugins.module_utils.instance_schedule import ScheduleRun
from ansible_collections.cloudops.aws.plugins.module_utils.instance_schedule_settings import ScheduleSettings
from ansible_collections.cloudops.aws.plugins.module_utils.instance_schedule_settings import argument_spec
from ansible_collections.cloudops.aws.plugins.module_utils.maintenance_marks import MAINTENANCE_TAG
from ansible_collections.cloudops.aws.plugins.module_utils.maintenance_marks import MaintenanceMarks
from ansible_collections.cloudops.aws.plugins.module_utils.maintenance_marks import Mark
from ansible_collections.cloudops.aws.plugins.module_utils.maintenance_marks import active_mark

UTC = datetime.timezone.utc
APPLIED = "cloudops:schedule-applied"
EVENING = "2026-11-27T17:03:00Z"


def error(code, message="refused"):
    return ClientError({"Error": {"Code": code, "Message": message}}, "Call")


class FakeEc2:
    """Instances by id ({state, tags, hibernation, volumes}), pending images and snapshots, and every call made."""

    def __init__(self):
        self.instances = {}
        self.images = []
        self.snapshots = []
        self.calls = []
        # Instances that stay in their transitional state; instances that refuse any start or stop.
        self.stuck = set()
        self.refusing = {}
        self.page_size = 2

    def add(self, number, state="running", hibernation=False, **tags):
        instance_id = "i-%017x" % number
        tags.setdefault("Schedule", "office")
        self.instances[instance_id] = {"state": state, "tags": tags, "hibernation": hibernation, "volumes": ["vol-%08x" % number]}
        return instance_id

    def mutations(self):
        return [call for call in self.calls if call[0] not in ("describe_instances", "describe_images", "describe_snapshots")]

    def _matches(self, instance_id, filters):
        item = self.instances[instance_id]
        for entry in filters:
            name, values = entry["Name"], entry["Values"]
            if name == "tag-key" and not set(values) & set(item["tags"]):
                return False
            if name == "instance-state-name" and item["state"] not in values:
                return False
            if name == "instance-id" and instance_id not in values:
                return False
            if name.startswith("tag:") and item["tags"].get(name[4:]) not in values:
                return False
        return True

    def describe_instances(self, aws_retry=False, Filters=(), NextToken=None):
        self.calls.append(("describe_instances", NextToken))
        ids = sorted(i for i in self.instances if self._matches(i, Filters))
        start = int(NextToken or 0)
        page = ids[start:start + self.page_size]
        answer = {"Reservations": [{"Instances": [self._describe(i) for i in page]}]}
        if start + self.page_size < len(ids):
            answer["NextToken"] = str(start + self.page_size)
        return answer

    def _describe(self, instance_id):
        item = self.instances[instance_id]
        return {"InstanceId": instance_id, "State": {"Name": item["state"]}, "Tags": [{"Key": k, "Value": v} for k, v in item["tags"].items()],
                "HibernationOptions": {"Configured": item["hibernation"]},
                "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeId": volume}} for volume in item["volumes"]]}

    def describe_images(self, aws_retry=False, Owners=None, Filters=None):
        self.calls.append(("describe_images",))
        return {"Images": self.images}

    def describe_snapshots(self, aws_retry=False, OwnerIds=None, Filters=None):
        self.calls.append(("describe_snapshots",))
        return {"Snapshots": self.snapshots}

    def _change(self, call, instance_ids, final, transitional, **params):
        self.calls.append((call, tuple(instance_ids), params.get("Hibernate", False)))
        for instance_id in instance_ids:
            if instance_id in self.refusing:
                raise error(*self.refusing[instance_id])
        for instance_id in instance_ids:
            self.instances[instance_id]["state"] = transitional if instance_id in self.stuck else final

    def start_instances(self, aws_retry=False, InstanceIds=()):
        self._change("start_instances", InstanceIds, "running", "pending")

    def stop_instances(self, aws_retry=False, InstanceIds=(), Hibernate=False):
        if Hibernate:
            for instance_id in InstanceIds:
                if not self.instances[instance_id]["hibernation"]:
                    self.calls.append(("stop_instances", tuple(InstanceIds), True))
                    raise error("UnsupportedHibernationConfiguration", "not configured at launch for hibernation: %s" % instance_id)
        self._change("stop_instances", InstanceIds, "stopped", "stopping", Hibernate=Hibernate)

    def create_tags(self, aws_retry=False, Resources=(), Tags=()):
        self.calls.append(("create_tags", tuple(Resources), tuple((t["Key"], t["Value"]) for t in Tags)))
        for resource in Resources:
            self.instances[resource]["tags"].update({t["Key"]: t["Value"] for t in Tags})

    def delete_tags(self, aws_retry=False, Resources=(), Tags=()):
        self.calls.append(("delete_tags", tuple(Resources), tuple((t["Key"], t.get("Value")) for t in Tags)))
        for resource in Resources:
            for tag in Tags:
                if self.instances[resource]["tags"].get(tag["Key"]) == tag.get("Value", self.instances[resource]["tags"].get(tag["Key"])):
                    self.instances[resource]["tags"].pop(tag["Key"], None)


def params(**overrides):
    base = {name: spec.get("default") for name, spec in argument_spec().items()}
    base.update(periods=[{"name": "office", "begintime": "08:00", "endtime": "18:00", "weekdays": "mon-fri"}],
                schedules=[{"name": "office", "periods": ["office"], "timezone": "Europe/Berlin"}], now=EVENING)
    base.update(overrides)
    return base


def run(ec2, check_mode=False, **overrides):
    clock = Clock()
    settings = ScheduleSettings.from_params(params(**overrides), clock=lambda: datetime.datetime(2026, 11, 27, tzinfo=UTC))
    subject = ScheduleRun(ec2, settings, check_mode=check_mode, sleep=clock.sleep, clock=clock)
    return subject, subject.run()


def by_id(result):
    return {entry["instance_id"]: entry for entry in result["instances"]}


def test_one_paginated_describe_batched_stops_one_tag_per_value_and_a_second_run_makes_no_call():
    ec2 = FakeEc2()
    ids = [ec2.add(n) for n in range(1, 6)]
    ec2.instances[ids[4]]["state"] = "stopped"

    _subject, result = run(ec2)

    assert [call for call in ec2.calls if call[0] == "describe_instances"][:3] == [("describe_instances", None), ("describe_instances", "2"),
                                                                                   ("describe_instances", "4")]
    assert [call for call in ec2.mutations() if call[0] == "stop_instances"] == [("stop_instances", tuple(ids[:4]), False)]
    # Those stopped and the one already stopped carry the same value: one CreateTags.
    assert [call for call in ec2.mutations() if call[0] == "create_tags"] == [
        ("create_tags", tuple(ids), ((APPLIED, "stopped 2026-11-27T17:00:00Z"),))]
    assert result["stopped"] == ids[:4] and result["totals"]["changed"] == 4 and result["totals"]["unchanged"] == 1
    assert result["changed"] and result["failures"] == []

    ec2.calls = []
    _subject, again = run(ec2)
    assert ec2.mutations() == [] and not again["changed"] and again["totals"]["unchanged"] == 5
    assert {call[0] for call in ec2.calls} == {"describe_instances"}


def test_a_batch_refused_whole_is_retried_one_by_one_and_only_the_culprit_fails():
    ec2 = FakeEc2()
    ids = [ec2.add(n) for n in range(1, 4)]
    ec2.refusing[ids[1]] = ("IncorrectInstanceState", "The instance %s is not in a state from which it can be stopped." % ids[1])

    _subject, result = run(ec2)

    stops = [call[1] for call in ec2.calls if call[0] == "stop_instances"]
    assert stops == [tuple(ids), (ids[0],), (ids[1],), (ids[2],)]
    assert result["stopped"] == [ids[0], ids[2]]
    assert result["failures"] == [{"instance_id": ids[1], "error": "StopInstances refused: An error occurred (IncorrectInstanceState) when "
                                   "calling the Call operation: The instance %s is not in a state from which it can be stopped." % ids[1]}]
    assert by_id(result)[ids[1]]["status"] == "failed" and APPLIED not in ec2.instances[ids[1]]["tags"]


def test_hibernate_splits_between_hibernation_and_stop():
    ec2 = FakeEc2()
    sleeper, plain = ec2.add(1, hibernation=True), ec2.add(2)

    _subject, result = run(ec2, hibernate=True)

    assert result["hibernated"] == [sleeper] and result["stopped"] == [plain]
    assert ("stop_instances", (sleeper,), True) in ec2.calls and ("stop_instances", (plain,), False) in ec2.calls
    assert by_id(result)[plain]["reason"].endswith("stopped, not hibernated: it was not launched with hibernation configured")


def test_ec2_refusing_hibernation_is_answered_by_a_plain_stop():
    ec2 = FakeEc2()
    sleeper = ec2.add(1, hibernation=True)
    original = ec2.stop_instances

    def refuse_hibernation(aws_retry=False, InstanceIds=(), Hibernate=False):
        if Hibernate:
            ec2.calls.append(("stop_instances", tuple(InstanceIds), True))
            raise error("UnsupportedHibernationConfiguration", "the instance does not meet the hibernation prerequisites")
        return original(aws_retry=aws_retry, InstanceIds=InstanceIds)

    ec2.stop_instances = refuse_hibernation
    _subject, result = run(ec2, hibernate=True)

    assert result["stopped"] == [sleeper] and result["hibernated"] == [] and result["failures"] == []
    assert "stopped, not hibernated: EC2 refused to hibernate it" in by_id(result)[sleeper]["reason"]
    assert ec2.instances[sleeper]["state"] == "stopped"


def test_an_instance_not_in_its_state_by_verify_timeout_fails_and_is_not_recorded():
    ec2 = FakeEc2()
    slow, quick = ec2.add(1), ec2.add(2)
    ec2.stuck.add(slow)

    _subject, result = run(ec2, verify_timeout=30)

    assert result["failures"] == [{"instance_id": slow, "error": "not stopped within verify_timeout (30s): stopping"}]
    entry = by_id(result)[slow]
    assert entry["status"] == "failed" and entry["state_after"] == "stopping" and result["stopped"] == [quick]
    assert APPLIED not in ec2.instances[slow]["tags"] and APPLIED in ec2.instances[quick]["tags"]


def test_verify_timeout_zero_requests_and_does_not_wait():
    ec2 = FakeEc2()
    instance_id = ec2.add(1)
    ec2.stuck.add(instance_id)
    _subject, result = run(ec2, verify_timeout=0)
    assert by_id(result)[instance_id]["status"] == "requested" and result["stopped"] == [instance_id] and result["failures"] == []
    assert [call for call in ec2.calls if call[0] == "describe_instances"] == [("describe_instances", None)]


def test_backups_in_progress_are_looked_for_only_when_something_changes_and_skip_their_instances():
    ec2 = FakeEc2()
    imaged, snapped, free = ec2.add(1), ec2.add(2), ec2.add(3)
    ec2.images = [{"ImageId": "ami-1", "Tags": [{"Key": "cloudops:source-instance", "Value": imaged}, {"Key": "cloudops:policy", "Value": "daily"}]}]
    ec2.snapshots = [{"SnapshotId": "snap-1", "VolumeId": ec2.instances[snapped]["volumes"][0],
                      "Tags": [{"Key": "cloudops:policy", "Value": "hourly"}]}]

    _subject, result = run(ec2)

    assert result["stopped"] == [free]
    assert result["instances_skipped"] == [
        {"instance_id": imaged, "reason": "a backup is in progress: AMI ami-1 (policy daily) is pending"},
        {"instance_id": snapped, "reason": "a backup is in progress: snapshot snap-1 of %s (policy hourly) is pending"
         % ec2.instances[snapped]["volumes"][0]}]
    assert ec2.instances[imaged]["state"] == "running" and APPLIED not in ec2.instances[imaged]["tags"]


def test_check_mode_plans_everything_and_changes_nothing():
    ec2 = FakeEc2()
    running, stopped = ec2.add(1), ec2.add(2, state="stopped")

    subject, result = run(ec2, check_mode=True)

    assert ec2.mutations() == [] and result["changed"]
    assert result["stopped"] == [running] and by_id(result)[running]["status"] == "planned"
    assert by_id(result)[running]["state_after"] == "stopped"
    assert by_id(result)[stopped]["applied"] == "stopped 2026-11-27T17:00:00Z"
    assert subject.diff() == {"before": {running: "running"}, "after": {running: "stopped"}}


def test_unknown_schedules_and_filters():
    ec2 = FakeEc2()
    typo = ec2.add(1, Schedule="ofice")
    _subject, result = run(ec2)
    assert result["instances_skipped"] == [{"instance_id": typo, "reason": "schedule 'ofice' is not one of this run's schedules (office)"}]
    assert ec2.mutations() == []

    for bad, message in (({"tag-key": "x"}, "filters: tag-key selects by the schedule tag"),
                         ({"tag:Schedule": "x"}, "filters: tag:Schedule selects by the schedule tag")):
        with pytest.raises(ValueError) as refused:
            run(FakeEc2(), filters=bad)
        assert message in str(refused.value)


@pytest.mark.parametrize("overrides, message", [
    ({"tag_key": "aws:schedule"}, "tag_key: 'aws:schedule' must be 1 to 128 characters"),
    ({"tag_key": ""}, "tag_key: '' must be"),
    ({"verify_timeout": -1}, "verify_timeout: must be 0 (do not wait) or more seconds, got -1"),
    ({"now": "tomorrow"}, "now: 'tomorrow' is not an ISO 8601 date and time"),
    ({"timezone": "Mars/Olympus"}, "timezone: timezone 'Mars/Olympus' is not an IANA time zone name"),
    ({"filters": {"tag:Env": {"a": 1}}}, "filters: the value of 'tag:Env' must be a string or a list of strings"),
])
def test_bad_options_are_refused_before_any_call(overrides, message):
    ec2 = FakeEc2()
    with pytest.raises(ValueError) as refused:
        run(ec2, **overrides)
    assert message in str(refused.value) and ec2.calls == []


def test_describe_filters_add_the_tag_and_the_live_states():
    settings = ScheduleSettings.from_params(params(filters={"tag:Env": "dev"}), clock=lambda: None)
    assert {entry["Name"]: entry["Values"] for entry in settings.describe_filters()} == {
        "tag:Env": ["dev"], "tag-key": ["Schedule"], "instance-state-name": ["pending", "running", "stopping", "stopped"]}


# -- maintenance marks --------------------------------------------------------------------------------------

def test_marks_are_set_refreshed_and_cleared_by_value():
    ec2 = FakeEc2()
    ids = [ec2.add(n) for n in range(1, 4)]
    times = iter([datetime.datetime(2026, 11, 30, 1, tzinfo=UTC), datetime.datetime(2026, 11, 30, 1, 59, tzinfo=UTC),
                  datetime.datetime(2026, 11, 30, 2, tzinfo=UTC)])
    marks = MaintenanceMarks(ec2, "patch_rollout", clock=lambda: next(times))

    marks.mark(ids[:2])
    assert ec2.instances[ids[0]]["tags"][MAINTENANCE_TAG] == "2026-11-30T07:00:00Z patch_rollout"
    marks.refresh()
    # Renewed only once an hour old.
    assert len(ec2.mutations()) == 1
    marks.refresh()
    assert {ec2.instances[i]["tags"][MAINTENANCE_TAG] for i in ids[:2]} == {"2026-11-30T08:00:00Z patch_rollout"}
    # Another run's mark on the third instance stays when this run clears its own.
    ec2.instances[ids[2]]["tags"][MAINTENANCE_TAG] = "2026-11-30T09:00:00Z rolling_deploy"
    marks.instance_ids.append(ids[2])
    marks.clear()
    assert MAINTENANCE_TAG not in ec2.instances[ids[0]]["tags"] and ec2.instances[ids[2]]["tags"][MAINTENANCE_TAG].endswith("rolling_deploy")
    assert ec2.mutations()[-1] == ("delete_tags", tuple(ids), ((MAINTENANCE_TAG, "2026-11-30T08:00:00Z patch_rollout"),))


def test_clearing_errors_are_warnings_and_nothing_marked_makes_no_call():
    ec2 = FakeEc2()
    instance_id = ec2.add(1)
    marks = MaintenanceMarks(ec2, "rolling_deploy", clock=lambda: datetime.datetime(2026, 11, 30, tzinfo=UTC))
    marks.clear()
    marks.refresh()
    assert ec2.calls == []
    marks.mark([instance_id])

    def broken(**_kwargs):
        raise error("RequestLimitExceeded")
    ec2.delete_tags = broken
    marks.clear()
    assert len(marks.warnings) == 1
    assert "could not remove the cloudops:maintenance tag from %s (it expires at 2026-11-30T06:00:00Z)" % instance_id in marks.warnings[0]


def test_active_mark():
    now = datetime.datetime(2026, 11, 30, 12, tzinfo=UTC)
    later = datetime.datetime(2026, 11, 30, 12, 0, 1, tzinfo=UTC)
    assert active_mark({MAINTENANCE_TAG: "2026-11-30T12:00:01Z patch_rollout"}, now) == Mark(later, "patch_rollout")
    assert active_mark({MAINTENANCE_TAG: "2026-11-30T12:00:00Z patch_rollout"}, now) is None
    assert active_mark({MAINTENANCE_TAG: "2026-11-30T13:00:00+01:00"}, now) is None
    assert active_mark({MAINTENANCE_TAG: "2026-11-30T13:00:00"}, now) is None
    assert active_mark({MAINTENANCE_TAG: "2026-11-30T13:00:00Z"}, now).owner == "an unnamed run"
    assert active_mark({}, now) is None
