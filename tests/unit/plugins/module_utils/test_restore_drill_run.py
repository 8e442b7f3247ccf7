# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore drills: the pure decisions (which backup, which leftovers, which verdict), the options, and whole runs
against an in-memory EC2 and SSM that keep what exists, so each test reads the state left behind."""

import datetime
import itertools

import pytest
from botocore.exceptions import ClientError

from ansible_collections.cloudops.aws.plugins.module_utils.restore_drill import DrillRun
from ansible_collections.cloudops.aws.plugins.module_utils.restore_drill import choose_backups
from ansible_collections.cloudops.aws.plugins.module_utils.restore_drill import select_leftovers
from ansible_collections.cloudops.aws.plugins.module_utils.restore_drill import verdict
from ansible_collections.cloudops.aws.plugins.module_utils.restore_drill_settings import DrillSettings
from ansible_collections.cloudops.aws.plugins.module_utils.restore_drill_settings import argument_spec
from ansible_collections.cloudops.aws.plugins.module_utils.selection import SelectionError

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 23, 4, 0, 0, tzinfo=UTC)
HOUR = datetime.timedelta(hours=1)
SUBNET = "subnet-0123456789abcdef0"
GROUP = "sg-0123456789abcdef0"
HELPER = "ami-0123456789abcdef0"


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def image(image_id, instance_id, age_hours, state="available", managed=True, **tags):
    created = NOW - age_hours * HOUR
    return {"image_id": image_id, "instance_id": instance_id, "state": state, "created_at": created, "managed": managed, "tags": dict(tags)}


def drill_resource(resource_id, run_id, expires_at, resource_type="instance", managed=True):
    tags = {"cloudops:drill-run": run_id, "cloudops:drill-of": "ami-1"}
    if expires_at is not None:
        tags["cloudops:drill-expires-at"] = expires_at
    if managed:
        tags["cloudops:managed-by"] = "cloudops.aws"
    return {"resource_id": resource_id, "resource_type": resource_type, "tags": tags}


# -- the pure decisions ------------------------------------------------------------------------------------

def test_each_source_gets_its_newest_finished_managed_backup_or_a_reason():
    backups = [
        image("ami-old", "i-1", 30), image("ami-new", "i-1", 6), image("ami-pending", "i-1", 1, state="pending"),
        image("ami-hand", "i-1", 2, managed=False),
        image("ami-failed", "i-2", 3, state="failed"),
        image("ami-drilled", "i-3", 5, **{"cloudops:verify-result": "passed", "cloudops:verified-at": "2026-11-22T04:10:00Z"}),
    ]

    chosen, skipped = choose_backups(["i-1", "i-2", "i-3"], backups, "image")

    assert [(source, backup["image_id"]) for source, backup in chosen] == [("i-1", "ami-new")]
    assert skipped == [
        {"source_id": "i-2", "reason": "no image managed by cloudops.aws is available"},
        {"source_id": "i-3", "backup_id": "ami-drilled",
         "reason": "its newest image ami-drilled was drilled at 2026-11-22T04:10:00Z: passed (redrill to drill it again)"},
    ]
    chosen, skipped = choose_backups(["i-3"], backups, "image", redrill=True)
    assert [backup["image_id"] for _source, backup in chosen] == ["ami-drilled"] and skipped == []


def test_snapshots_are_chosen_per_source_volume_lineage():
    snapshots = [{"snapshot_id": "snap-a", "source_volume": "vol-1", "state": "completed", "created_at": NOW - 2 * HOUR, "managed": True, "tags": {}},
                 {"snapshot_id": "snap-b", "source_volume": "vol-1", "state": "completed", "created_at": NOW - HOUR, "managed": True, "tags": {}},
                 {"snapshot_id": "snap-c", "source_volume": "vol-2", "state": "error", "created_at": NOW, "managed": True, "tags": {}}]
    chosen, skipped = choose_backups(["vol-1", "vol-2"], snapshots, "snapshot")
    assert [(source, backup["snapshot_id"]) for source, backup in chosen] == [("vol-1", "snap-b")]
    assert skipped == [{"source_id": "vol-2", "reason": "no snapshot managed by cloudops.aws is completed"}]


def test_leftovers_are_this_runs_and_the_expired_ones_of_any_run_never_a_drill_under_way():
    resources = [
        drill_resource("i-own", "run-b", iso(NOW + HOUR)),
        drill_resource("i-expired", "run-a", iso(NOW - HOUR)),
        drill_resource("vol-expired", "run-a", iso(NOW), resource_type="volume"),
        drill_resource("i-running", "run-c", iso(NOW + HOUR)),
        drill_resource("i-garbled", "run-d", "next tuesday"),
        drill_resource("i-unmanaged", "run-a", iso(NOW - HOUR), managed=False),
    ]

    chosen = {r["resource_id"]: reason for r, reason in select_leftovers(resources, "run-b", NOW, own=True)}

    assert chosen == {
        "i-own": "made by this drill (run run-b)",
        "i-expired": "left by drill run run-a, expired at 2026-11-23T03:00:00Z",
        "vol-expired": "left by drill run run-a, expired at 2026-11-23T04:00:00Z",
        "i-garbled": "left by drill run run-d, with no valid expiry ('next tuesday')",
    }
    assert "i-own" not in {r["resource_id"] for r, _reason in select_leftovers(resources, "run-b", NOW, own=False)}


LAUNCHED = "2026-11-23T04:00:00.000Z"


def ready_drill(**changes):
    drill = {"source_id": "i-1", "backup_id": "ami-1", "status": "ready", "drill_instance_id": "i-d1", "launched_at": LAUNCHED, "reason": ""}
    drill.update(changes)
    return drill


@pytest.mark.parametrize("drill, invocation, expected", [
    (ready_drill(), {"status": "Success", "response_code": 0, "end": "2026-11-23T04:01:12.500Z"},
     {"result": "passed", "seconds_to_verified": 72.5}),
    (ready_drill(), {"status": "Failed", "status_details": "Failed", "response_code": 3, "end": "2026-11-23T04:01:00.000Z",
                     "stderr": "checking\nno such file: orders.db\nfailed to run commands: exit status 3\n"},
     {"result": "failed", "reason": "verification Failed (exit code 3): failed to run commands: exit status 3"}),
    (ready_drill(), {"status": "TimedOut", "status_details": "ExecutionTimedOut", "response_code": -1, "stdout": "waiting\n"},
     {"result": "failed", "reason": "verification ExecutionTimedOut (exit code -1): waiting"}),
    (ready_drill(), None, {"result": "error", "reason": "no verification result for i-d1: the verification did not run there"}),
    (ready_drill(status="not_ready", reason="still waiting for its SSM agent to come online after wait_timeout 900s"), None,
     {"result": "failed", "reason": "the restore did not come up: still waiting for its SSM agent to come online after wait_timeout 900s"}),
    (ready_drill(status="error", drill_instance_id=None, reason="RunInstances: InsufficientInstanceCapacity"), None,
     {"result": "error", "reason": "RunInstances: InsufficientInstanceCapacity"}),
    (ready_drill(status="error", reason="CreateVolume: RequestLimitExceeded"), None, {"result": "error"}),
    (ready_drill(status="failed", reason="the instance is terminated: Server.InternalError"), None,
     {"result": "failed", "reason": "the restore did not come up: the instance is terminated: Server.InternalError"}),
    (ready_drill(status="planned", drill_instance_id=None), None, {"result": "planned"}),
])
def test_a_drill_is_judged_from_its_state_and_verification(drill, invocation, expected):
    judged = verdict(drill, invocation, NOW)
    assert {key: judged[key] for key in expected} == expected


# -- the options -------------------------------------------------------------------------------------------

def params(**changes):
    values = {name: spec.get("default") for name, spec in argument_spec().items()}
    values.update(instance_ids=["i-0123456789abcdef0"], subnet_id=SUBNET, security_group_ids=[GROUP], run_id="run-1")
    values.update(changes)
    return values


@pytest.mark.parametrize("changes, message", [
    ({"filters": {"tag:Backup": "daily"}}, "instance_ids, filters: with source=image select the instances by exactly one of them, "
                                           "got instance_ids and filters"),
    ({"instance_ids": None, "volume_ids": ["vol-0123456789abcdef0"]}, "instance_ids, filters: with source=image select"),
    ({"instance_ids": None, "filters": {}}, "filters: {} selects every instance of the Region"),
    ({"instance_ids": ["web-1"]}, "instance_ids: not an instance id: 'web-1'"),
    ({"subnet_id": None}, "subnet_id: the isolated subnet the drill instances run in is required, got None"),
    ({"security_group_ids": None}, "security_group_ids: the drill instances' security groups are required"),
    ({"security_group_ids": ["default"]}, "security_group_ids: not a security group id: 'default'"),
    ({"source": "snapshot", "instance_ids": None, "volume_ids": ["vol-0123456789abcdef0"]}, "helper_image_id: with source=snapshot"),
    ({"source": "snapshot", "instance_ids": None, "volume_ids": ["vol-0123456789abcdef0"], "helper_image_id": HELPER, "device_name": "/dev/sda1"},
     "device_name: '/dev/sda1' is not a data volume device name"),
    ({"run_id": "run id with spaces"}, "run_id: 'run id with spaces' must be 1 to 36 letters"),
    ({"expire_after": "10m"}, "expire_after: 10m is not longer than wait_timeout 900s"),
    ({"expire_after": "soon"}, "expire_after: invalid duration 'soon'"),
    ({"tags": {"cloudops:drill-run": "x"}}, "tags: keys starting with 'cloudops:' are reserved"),
    ({"state": "finished", "run_id": None}, "run_id: required with state=finished"),
    ({"wait_timeout": 0}, "wait_timeout: must be 1 or more seconds, got 0"),
])
def test_bad_options_are_refused_naming_the_option_and_value(changes, message):
    with pytest.raises(ValueError) as refused:
        DrillSettings.from_params(params(**changes), NOW)
    assert str(refused.value).startswith(message)


def test_finished_needs_no_selection_and_started_makes_a_run_id_when_none_is_given():
    assert DrillSettings.from_params(params(state="finished", instance_ids=None, subnet_id=None, security_group_ids=None), NOW).run_id == "run-1"
    made = DrillSettings.from_params(params(run_id=None), NOW).run_id
    assert made.startswith("drill-20261123T040000-") and len(made) == len("drill-20261123T040000-") + 8


# -- whole runs against an in-memory EC2 and SSM ------------------------------------------------------------

def client_error(code):
    return ClientError({"Error": {"Code": code, "Message": code}}, "Call")


def tag_list(tags):
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def tags_of(tag_list_value):
    return {tag["Key"]: tag["Value"] for tag in tag_list_value}


class FakeCloud:
    """EC2 and SSM in dicts. An instance is pending for `boot_rounds` describes, then running; its agent comes online
    `agent_rounds` describes later. Images and snapshots are backups; every call is recorded."""

    def __init__(self):
        self.instances = {}
        self.volumes = {}
        self.images = {}
        self.snapshots = {}
        self.ids = itertools.count(1)
        self.calls = []
        self.boot_rounds = 1
        self.agent_rounds = 1
        self.fail_launch_of = set()
        self.never_online = set()

    # -- seeding -----------------------------------------------------------------------------------------

    def add_image(self, image_id, instance_id, age_hours, **extra_tags):
        tags = {"cloudops:managed-by": "cloudops.aws", "cloudops:policy": "daily", "cloudops:source-instance": instance_id,
                "cloudops:created-at": iso(NOW - age_hours * HOUR)}
        tags.update(extra_tags)
        self.images[image_id] = {"ImageId": image_id, "Name": image_id, "State": "available", "CreationDate": iso(NOW), "Tags": tag_list(tags),
                                 "BlockDeviceMappings": []}

    def add_snapshot(self, snapshot_id, volume_id, age_hours):
        tags = {"cloudops:managed-by": "cloudops.aws", "cloudops:policy": "daily", "cloudops:source-volume": volume_id,
                "cloudops:created-at": iso(NOW - age_hours * HOUR)}
        self.snapshots[snapshot_id] = {"SnapshotId": snapshot_id, "VolumeId": volume_id, "State": "completed", "StartTime": iso(NOW),
                                       "Description": "daily", "Tags": tag_list(tags)}

    def add_leftover(self, run_id, expires_at, with_volume=True):
        tags = {"cloudops:managed-by": "cloudops.aws", "cloudops:drill-run": run_id, "cloudops:drill-expires-at": expires_at}
        instance_id = self._instance("ami-x", tags, booted=True)
        volume_id = None
        if with_volume:
            volume_id = self._volume("snap-x", tags)
            self.volumes[volume_id].update(state="in-use", attached_to=instance_id)
        return instance_id, volume_id

    def _instance(self, image_id, tags, booted=False):
        instance_id = "i-%017x" % next(self.ids)
        self.instances[instance_id] = {"image_id": image_id, "state": "running" if booted else "pending", "tags": dict(tags),
                                       "rounds": 0, "online": booted, "public_ip": None}
        return instance_id

    def _volume(self, snapshot_id, tags):
        volume_id = "vol-%017x" % next(self.ids)
        self.volumes[volume_id] = {"snapshot_id": snapshot_id, "state": "available", "attached_to": None, "tags": dict(tags)}
        return volume_id

    def drill_resources(self):
        """What exists with a drill tag: instances not terminated, and volumes."""
        live = sorted(i for i, item in self.instances.items() if item["state"] != "terminated" and "cloudops:drill-run" in item["tags"])
        return live + sorted(v for v, item in self.volumes.items() if "cloudops:drill-run" in item["tags"])

    def mutations(self):
        return [call for call in self.calls if not call[0].startswith("describe")]

    # -- EC2 -----------------------------------------------------------------------------------------------

    @staticmethod
    def _matches(item_id, item, filters):
        for entry in filters or []:
            name, values = entry["Name"], entry["Values"]
            tags = item["tags"] if "tags" in item else tags_of(item.get("Tags", []))
            if name == "tag-key":
                ok = bool(set(values) & set(tags))
            elif name.startswith("tag:"):
                ok = tags.get(name[4:]) in values
            elif name in ("instance-id", "volume-id", "image-id", "snapshot-id"):
                ok = item_id in values
            elif name == "instance-state-name":
                ok = item["state"] in values
            else:
                raise AssertionError("filter %s not faked" % name)
            if not ok:
                return False
        return True

    def _tick(self, instance):
        instance["rounds"] += 1
        if instance["state"] == "pending" and instance["rounds"] >= self.boot_rounds:
            instance["state"] = "running"
        elif instance["state"] == "running" and instance["rounds"] >= self.boot_rounds + self.agent_rounds:
            instance["online"] = True

    def describe_instances(self, aws_retry=False, Filters=None, **_params):
        self.calls.append(("describe_instances",))
        found = []
        for instance_id, item in self.instances.items():
            if self._matches(instance_id, item, Filters):
                self._tick(item)
                found.append({"InstanceId": instance_id, "State": {"Name": item["state"]}, "Tags": tag_list(item["tags"]),
                              "Placement": {"AvailabilityZone": "us-east-1a"}})
        return {"Reservations": [{"Instances": found}]}

    def describe_volumes(self, aws_retry=False, Filters=None, **_params):
        self.calls.append(("describe_volumes",))
        return {"Volumes": [{"VolumeId": volume_id, "State": item["state"], "Tags": tag_list(item["tags"]),
                             "Attachments": [{"InstanceId": item["attached_to"], "State": "attached"}] if item["attached_to"] else []}
                            for volume_id, item in self.volumes.items() if self._matches(volume_id, item, Filters)]}

    def describe_images(self, aws_retry=False, Owners=None, Filters=None, ImageIds=None):
        self.calls.append(("describe_images",))
        if ImageIds:
            return {"Images": [dict(self.images[i]) for i in ImageIds if i in self.images] or
                    ([{"ImageId": HELPER, "State": "available", "CreationDate": iso(NOW)}] if ImageIds == [HELPER] else [])}
        return {"Images": [dict(item) for image_id, item in self.images.items() if self._matches(image_id, item, Filters)]}

    def describe_snapshots(self, aws_retry=False, OwnerIds=None, Filters=None):
        self.calls.append(("describe_snapshots",))
        return {"Snapshots": [dict(item) for snapshot_id, item in self.snapshots.items() if self._matches(snapshot_id, item, Filters)]}

    def describe_subnets(self, aws_retry=False, SubnetIds=None):
        self.calls.append(("describe_subnets",))
        if SubnetIds != [SUBNET]:
            raise client_error("InvalidSubnetID.NotFound")
        return {"Subnets": [{"SubnetId": SUBNET, "AvailabilityZone": "us-east-1a"}]}

    def describe_security_groups(self, aws_retry=False, GroupIds=None):
        self.calls.append(("describe_security_groups",))
        return {"SecurityGroups": [{"GroupId": group} for group in GroupIds]}

    def run_instances(self, aws_retry=False, ImageId=None, TagSpecifications=None, NetworkInterfaces=None, ClientToken=None, **_params):
        self.calls.append(("run_instances", ImageId))
        assert NetworkInterfaces[0]["AssociatePublicIpAddress"] is False and NetworkInterfaces[0]["SubnetId"] == SUBNET
        if ImageId in self.fail_launch_of:
            raise client_error("InsufficientInstanceCapacity")
        instance_id = self._instance(ImageId, tags_of(TagSpecifications[0]["Tags"]))
        self.instances[instance_id]["token"] = ClientToken
        if ImageId in self.never_online:
            self.instances[instance_id]["rounds"] = -1000
        return {"Instances": [{"InstanceId": instance_id}]}

    def create_volume(self, aws_retry=False, SnapshotId=None, AvailabilityZone=None, ClientToken=None, TagSpecifications=None):
        self.calls.append(("create_volume", SnapshotId))
        return {"VolumeId": self._volume(SnapshotId, tags_of(TagSpecifications[0]["Tags"]))}

    def attach_volume(self, aws_retry=False, VolumeId=None, InstanceId=None, Device=None):
        self.calls.append(("attach_volume", VolumeId, InstanceId, Device))
        self.volumes[VolumeId].update(state="in-use", attached_to=InstanceId)

    def terminate_instances(self, aws_retry=False, InstanceIds=None):
        self.calls.append(("terminate_instances", tuple(InstanceIds)))
        for instance_id in InstanceIds:
            self.instances[instance_id].update(state="terminated", online=False)
            for volume in self.volumes.values():
                if volume["attached_to"] == instance_id:
                    volume.update(state="available", attached_to=None)

    def delete_volume(self, aws_retry=False, VolumeId=None):
        self.calls.append(("delete_volume", VolumeId))
        del self.volumes[VolumeId]

    def create_tags(self, aws_retry=False, Resources=None, Tags=None):
        self.calls.append(("create_tags", tuple(Resources), tuple((t["Key"], t["Value"]) for t in Tags)))
        for resource_id in Resources:
            store = self.images if resource_id in self.images else self.snapshots
            store[resource_id]["Tags"] = tag_list(dict(tags_of(store[resource_id]["Tags"]), **tags_of(Tags)))

    # -- SSM -----------------------------------------------------------------------------------------------

    def describe_instance_information(self, aws_retry=False, Filters=None, MaxResults=None):
        self.calls.append(("describe_instance_information",))
        wanted = Filters[0]["Values"]
        return {"InstanceInformationList": [{"InstanceId": i, "PingStatus": "Online"} for i in wanted
                                            if i in self.instances and self.instances[i]["online"]]}


class Clock:
    def __init__(self):
        self.seconds = 0.0
        self.moment = NOW

    def __call__(self):
        return self.seconds

    def sleep(self, seconds):
        self.seconds += seconds
        self.moment += datetime.timedelta(seconds=seconds)

    def utcnow(self):
        return self.moment


def drill_run(cloud, clock=None, **changes):
    clock = clock or Clock()
    settings = DrillSettings.from_params(params(**changes), NOW)
    return DrillRun(cloud, cloud, settings, NOW, clock=clock, sleep=clock.sleep, utcnow=clock.utcnow)


def start(cloud, **changes):
    run = drill_run(cloud, **changes)
    return run, run.start(run.check_network())


def finish(cloud, drills, verification, **changes):
    run = drill_run(cloud, state="finished", instance_ids=None, drills=drills, verification=verification, **changes)
    return run, run.finish()


def success(drill, end="2026-11-23T04:00:10.000Z"):
    return {"instance_id": drill["drill_instance_id"], "status": "Success", "status_details": "Success", "response_code": 0, "end": end}


def test_a_drill_launches_without_public_ip_waits_until_online_records_passed_and_leaves_nothing():
    cloud = FakeCloud()
    cloud.add_image("ami-old", "i-0123456789abcdef0", 30)
    cloud.add_image("ami-new", "i-0123456789abcdef0", 6)
    cloud.boot_rounds, cloud.agent_rounds = 2, 1

    run, started = start(cloud)

    drill = started["drills"][0]
    assert drill["backup_id"] == "ami-new" and drill["status"] == "ready" and drill["launched_at"] == LAUNCHED
    # Polled at 0 s (pending), 2 s (running, agent not yet online) and 6 s (online).
    assert drill["seconds_to_ready"] == 6.0
    tags = cloud.instances[drill["drill_instance_id"]]["tags"]
    assert tags["cloudops:drill-run"] == "run-1" and tags["cloudops:drill-expires-at"] == "2026-11-23T07:00:00Z"
    assert tags["cloudops:drill-of"] == "ami-new" and tags["cloudops:managed-by"] == "cloudops.aws"
    assert run.changed and started["failures"] == []

    run, finished = finish(cloud, started["drills"], [success(drill)])

    judged = finished["drills"][0]
    assert (judged["result"], judged["seconds_to_verified"], judged["cleanup"], judged["recorded"]) == ("passed", 10.0, "done", True)
    assert tags_of(cloud.images["ami-new"]["Tags"])["cloudops:verify-result"] == "passed"
    assert tags_of(cloud.images["ami-new"]["Tags"])["cloudops:verified-at"] == "2026-11-23T04:00:10Z"
    assert "cloudops:verify-result" not in tags_of(cloud.images["ami-old"]["Tags"])
    assert cloud.drill_resources() == [] and finished["cleanup"]["complete"]


def test_finishing_again_writes_nothing_and_a_second_start_skips_the_drilled_backup():
    cloud = FakeCloud()
    cloud.add_image("ami-new", "i-0123456789abcdef0", 6)
    _run, started = start(cloud)
    verification = [success(started["drills"][0])]
    finish(cloud, started["drills"], verification)
    cloud.calls.clear()

    run, again = finish(cloud, started["drills"], verification)
    assert cloud.mutations() == [] and not run.changed and again["drills"][0]["recorded"] is False

    run, second = start(cloud, run_id="run-2")
    assert cloud.mutations() == [] and not run.changed and second["drills"] == []
    assert second["sources_skipped"][0]["backup_id"] == "ami-new"


def test_a_snapshot_drill_attaches_the_restored_volume_to_a_helper_and_deletes_it_afterwards():
    cloud = FakeCloud()
    cloud.add_snapshot("snap-1", "vol-0123456789abcdef0", 3)
    options = dict(source="snapshot", instance_ids=None, volume_ids=["vol-0123456789abcdef0"], helper_image_id=HELPER, device_name="/dev/sdg")

    _run, started = start(cloud, **options)

    drill = started["drills"][0]
    assert drill["status"] == "ready" and drill["backup_type"] == "snapshot"
    assert ("attach_volume", drill["drill_volume_id"], drill["drill_instance_id"], "/dev/sdg") in cloud.calls
    assert cloud.instances[drill["drill_instance_id"]]["image_id"] == HELPER

    _run, finished = finish(cloud, started["drills"], [success(drill)], source="snapshot")

    assert finished["cleanup"]["volumes_deleted"] == [drill["drill_volume_id"]]
    assert tags_of(cloud.snapshots["snap-1"]["Tags"])["cloudops:verify-result"] == "passed"
    assert cloud.drill_resources() == []


def test_a_failed_launch_and_a_restore_that_never_comes_up_do_not_stop_the_others():
    cloud = FakeCloud()
    ids = ["i-%017x" % n for n in (0xa1, 0xa2, 0xa3)]
    for number, instance_id in enumerate(ids):
        cloud.add_image("ami-%d" % number, instance_id, 2)
    cloud.fail_launch_of.add("ami-0")
    cloud.never_online.add("ami-1")

    _run, started = start(cloud, instance_ids=ids, wait_timeout=20)

    by_backup = {drill["backup_id"]: drill for drill in started["drills"]}
    assert by_backup["ami-0"]["status"] == "error" and by_backup["ami-0"]["drill_instance_id"] is None
    assert by_backup["ami-1"]["status"] == "not_ready"
    assert by_backup["ami-1"]["reason"] == "still waiting for the instance to run after wait_timeout 20s"
    assert by_backup["ami-2"]["status"] == "ready"
    assert started["failures"] == [{"id": ids[0], "error": "RunInstances: An error occurred (InsufficientInstanceCapacity) when calling "
                                                           "the Call operation: InsufficientInstanceCapacity"}]

    _run, finished = finish(cloud, started["drills"], [success(by_backup["ami-2"])])

    results = {drill["backup_id"]: drill["result"] for drill in finished["drills"]}
    assert results == {"ami-0": "error", "ami-1": "failed", "ami-2": "passed"}
    assert "cloudops:verify-result" not in tags_of(cloud.images["ami-0"]["Tags"])
    assert tags_of(cloud.images["ami-1"]["Tags"])["cloudops:verify-result"] == "failed"
    assert cloud.drill_resources() == []


def test_expired_leftovers_of_a_killed_drill_are_removed_first_and_a_drill_under_way_is_left_alone():
    cloud = FakeCloud()
    cloud.add_image("ami-new", "i-0123456789abcdef0", 6)
    killed = cloud.add_leftover("run-killed", iso(NOW - HOUR))
    under_way = cloud.add_leftover("run-other", iso(NOW + HOUR), with_volume=False)

    _run, started = start(cloud)

    assert sorted(entry["resource_id"] for entry in started["leftovers_removed"]) == sorted(killed)
    assert {entry["run_id"] for entry in started["leftovers_removed"]} == {"run-killed"}
    assert cloud.calls.index(("terminate_instances", (killed[0],))) < cloud.calls.index(("run_instances", "ami-new"))
    assert killed[1] not in cloud.volumes and cloud.instances[killed[0]]["state"] == "terminated"
    assert cloud.instances[under_way[0]]["state"] == "running"


def test_finish_without_drills_removes_what_a_start_stopped_half_way_made():
    cloud = FakeCloud()
    cloud.add_snapshot("snap-1", "vol-0123456789abcdef0", 3)
    options = dict(source="snapshot", instance_ids=None, volume_ids=["vol-0123456789abcdef0"], helper_image_id=HELPER)
    start(cloud, **options)
    assert len(cloud.drill_resources()) == 2

    _run, finished = finish(cloud, [], [], source="snapshot")

    assert cloud.drill_resources() == [] and finished["cleanup"]["complete"]
    assert "cloudops:verify-result" not in tags_of(cloud.snapshots["snap-1"]["Tags"])


def test_check_mode_plans_the_drills_and_the_leftovers_and_changes_nothing():
    cloud = FakeCloud()
    cloud.add_image("ami-new", "i-0123456789abcdef0", 6)
    killed = cloud.add_leftover("run-killed", iso(NOW - HOUR))

    run = drill_run(cloud)
    run.check_network()
    planned = run.preview_start()
    finished_run = drill_run(cloud, state="finished", instance_ids=None, drills=planned["drills"])
    finished_run.finish(preview=True)

    assert cloud.mutations() == [] and run.changed and finished_run.changed
    assert [(d["backup_id"], d["status"]) for d in planned["drills"]] == [("ami-new", "planned")]
    assert sorted(entry["resource_id"] for entry in planned["leftovers_removed"]) == sorted(killed)
    assert finished_run.result["drills"][0]["result"] == "planned" and finished_run.result["totals"]["planned"] == 1


def test_an_unknown_subnet_is_refused_before_anything_is_done():
    cloud = FakeCloud()
    cloud.add_leftover("run-killed", iso(NOW - HOUR))
    run = drill_run(cloud, subnet_id="subnet-0fffffffffffffff0")

    with pytest.raises(SelectionError, match="subnet_id: Call refused 'subnet-0fffffffffffffff0'"):
        run.check_network()
    assert cloud.mutations() == []


def test_a_later_drill_of_the_same_backup_under_the_same_run_id_sends_a_new_client_token():
    cloud = FakeCloud()
    cloud.add_image("ami-new", "i-0123456789abcdef0", 6)
    tokens = []
    for start_time in (NOW, NOW + 24 * HOUR):
        settings = DrillSettings.from_params(params(redrill=True), start_time)
        clock = Clock()
        run = DrillRun(cloud, cloud, settings, start_time, clock=clock, sleep=clock.sleep, utcnow=clock.utcnow)
        drill = run.start(run.check_network())["drills"][0]
        tokens.append(cloud.instances[drill["drill_instance_id"]]["token"])
    # AWS would answer a reused token with the first drill's instance, terminated long since.
    assert tokens[0] != tokens[1] and all(0 < len(token) <= 64 for token in tokens)
