"""instance_refresh on an in-memory account: the options refused, the launch template version made from the group's,
the refresh started with its desired configuration and followed, nothing done when nothing is to do, a refresh in
progress reported or waited for, cancel and rollback. Each test reads back what the account holds and the calls made."""

import copy
import datetime
import itertools
import re

import pytest
from fakes import Clock
from fakes import client_error

from ansible_collections.cloudops.aws.plugins.module_utils.instance_refresh import Clients
from ansible_collections.cloudops.aws.plugins.module_utils.instance_refresh import InstanceRefreshRun
from ansible_collections.cloudops.aws.plugins.module_utils.instance_refresh_settings import InstanceRefreshSettings
from ansible_collections.cloudops.aws.plugins.module_utils.instance_refresh_settings import argument_spec
from ansible_collections.cloudops.aws.plugins.module_utils.launch_templates import image_version_request

TEMPLATE = "lt-0123456789abcdef0"
BASE, GOLDEN = "ami-00000000000000001", "ami-00000000000000002"
BUILDER = "i-0000000000000000b"
SOURCE_DATA = {"ImageId": BASE, "InstanceType": "t3.small", "UserData": "ZWNobyBoaQ==", "MetadataOptions": {"HttpTokens": "required"},
               "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}]}
MUTATING = ("CreateLaunchTemplateVersion", "StartInstanceRefresh", "CancelInstanceRefresh", "RollbackInstanceRefresh")
# What a refresh shows at each read, as AWS answers: (status, percentage, to update, reason).
SUCCEEDS = [("Pending", 0, 2, None), ("InProgress", 0, 2, None), ("InProgress", 50, 1, "Checkpoint 50% reached: waiting 600 seconds before continuing."),
            ("InProgress", 100, 0, None), ("Successful", 100, 0, None)]


class FakeAws:
    """EC2 (images, launch template versions, instances), Auto Scaling (one group, its refreshes) and CloudWatch alarms.

    A refresh walks through `script`, one entry per DescribeInstanceRefreshes of its id; when it ends Successful the
    group takes its desired version and its instances run the version's AMI.
    """

    def __init__(self, group_version="1", instance_versions=("1", "1")):
        self.calls = []
        self.ids = itertools.count(100)
        self.images = {BASE: self._image("base", "available", day=1), GOLDEN: self._image("golden", "available", day=2)}
        self.versions = [copy.deepcopy(SOURCE_DATA)]
        self.instances = {"i-%017x" % next(self.ids): version for version in instance_versions}
        self.group = {"AutoScalingGroupName": "web", "DesiredCapacity": len(instance_versions),
                      "LaunchTemplate": {"LaunchTemplateId": TEMPLATE, "LaunchTemplateName": "web", "Version": group_version}}
        self.refreshes = []
        self.script = SUCCEEDS
        self.alarms = {"web-5xx"}

    @staticmethod
    def _image(name, state, day, tags=None):
        return {"Name": name, "State": state, "CreationDate": "2026-11-%02dT04:00:00.000Z" % day, "RootDeviceName": "/dev/xvda",
                "Tags": [{"Key": key, "Value": value} for key, value in (tags or {}).items()]}

    def add_generation(self, state, day, **tags):
        image_id = "ami-%017x" % next(self.ids)
        tags = dict({"cloudops:managed-by": "cloudops.aws", "cloudops:policy": "golden", "cloudops:source-instance": BUILDER}, **tags)
        self.images[image_id] = self._image("golden-%d" % day, state, day, tags)
        return image_id

    def mutations(self):
        return [call for call in self.calls if call[0] in MUTATING]

    def resolve(self, version):
        return {"$Latest": len(self.versions), "$Default": 1}.get(version) or int(version)

    # -- EC2 -----------------------------------------------------------------------------------

    def describe_images(self, aws_retry, ImageIds=None, Owners=None, Filters=None):
        self.calls.append(("DescribeImages", ImageIds))
        if ImageIds and ImageIds[0] not in self.images:
            raise client_error("InvalidAMIID.NotFound", "DescribeImages")
        wanted = {f["Name"][4:]: f["Values"][0] for f in Filters or [] if f["Name"].startswith("tag:")}
        chosen = [dict(image, ImageId=image_id) for image_id, image in sorted(self.images.items())
                  if (not ImageIds or image_id in ImageIds)
                  and all({t["Key"]: t["Value"] for t in image["Tags"]}.get(key) == value for key, value in wanted.items())]
        return {"Images": chosen}

    def describe_launch_template_versions(self, aws_retry, LaunchTemplateId, Versions):
        self.calls.append(("DescribeLaunchTemplateVersions", Versions[0]))
        number = self.resolve(Versions[0])
        if LaunchTemplateId != TEMPLATE or number > len(self.versions):
            raise client_error("InvalidLaunchTemplateId.VersionNotFound", "DescribeLaunchTemplateVersions")
        return {"LaunchTemplateVersions": [self._version(number)]}

    def _version(self, number):
        return {"LaunchTemplateId": TEMPLATE, "LaunchTemplateName": "web", "VersionNumber": number,
                "LaunchTemplateData": copy.deepcopy(self.versions[number - 1])}

    def create_launch_template_version(self, aws_retry, LaunchTemplateId, SourceVersion, LaunchTemplateData, VersionDescription, ClientToken):
        self.calls.append(("CreateLaunchTemplateVersion", LaunchTemplateData))
        data = copy.deepcopy(self.versions[self.resolve(SourceVersion) - 1])
        for mapping in data.get("BlockDeviceMappings", []):
            mapping["Ebs"].pop("SnapshotId", None)
        data.update(copy.deepcopy(LaunchTemplateData))
        self.versions.append(data)
        return {"LaunchTemplateVersion": self._version(len(self.versions))}

    def describe_instances(self, aws_retry, Filters):
        wanted = Filters[0]["Values"]
        return {"Reservations": [{"Instances": [
            {"InstanceId": i, "State": {"Name": "running"}, "ImageId": self.versions[self.resolve(version) - 1]["ImageId"]}
            for i, version in sorted(self.instances.items()) if i in wanted]}]}

    # -- Auto Scaling ------------------------------------------------------------------------------

    def describe_auto_scaling_groups(self, aws_retry, AutoScalingGroupNames):
        self.calls.append(("DescribeAutoScalingGroups", AutoScalingGroupNames))
        if AutoScalingGroupNames != ["web"]:
            return {"AutoScalingGroups": []}
        instances = [{"InstanceId": i, "LifecycleState": "InService", "HealthStatus": "Healthy",
                      "LaunchTemplate": {"LaunchTemplateId": TEMPLATE, "Version": version}} for i, version in sorted(self.instances.items())]
        return {"AutoScalingGroups": [dict(copy.deepcopy(self.group), Instances=instances)]}

    def add_refresh(self, script, desired=None):
        refresh = {"InstanceRefreshId": "refresh-%d" % next(self.ids), "script": list(script), "desired": desired,
                   "StartTime": datetime.datetime(2026, 11, 30, 4, tzinfo=datetime.timezone.utc)}
        self.refreshes.append(refresh)
        return refresh

    def _show(self, refresh, advance):
        status, percentage, to_update, reason = refresh["script"][0]
        if advance and len(refresh["script"]) > 1:
            refresh["script"].pop(0)
            if refresh["script"][0][0] == "Successful" and refresh["desired"]:
                version = refresh["desired"]["LaunchTemplate"]["Version"]
                self.group["LaunchTemplate"]["Version"] = version
                self.instances = {i: version for i in self.instances}
        shown = {"InstanceRefreshId": refresh["InstanceRefreshId"], "Status": status, "PercentageComplete": percentage,
                 "InstancesToUpdate": to_update, "StartTime": refresh["StartTime"]}
        if reason:
            shown["StatusReason"] = reason
        if refresh["desired"]:
            shown["DesiredConfiguration"] = refresh["desired"]
        return shown

    def describe_instance_refreshes(self, aws_retry, AutoScalingGroupName, MaxRecords=None, InstanceRefreshIds=None):
        self.calls.append(("DescribeInstanceRefreshes", InstanceRefreshIds))
        if InstanceRefreshIds:
            return {"InstanceRefreshes": [self._show(r, advance=True) for r in self.refreshes if r["InstanceRefreshId"] in InstanceRefreshIds]}
        return {"InstanceRefreshes": [self._show(r, advance=False) for r in reversed(self.refreshes)][:MaxRecords]}

    def start_instance_refresh(self, aws_retry, AutoScalingGroupName, Strategy, DesiredConfiguration, Preferences):
        self.calls.append(("StartInstanceRefresh", {"DesiredConfiguration": DesiredConfiguration, "Preferences": Preferences}))
        return {"InstanceRefreshId": self.add_refresh(self.script, DesiredConfiguration)["InstanceRefreshId"]}

    def _stop(self, action, script):
        self.calls.append((action, None))
        self.refreshes[-1]["script"] = list(script)
        return {"InstanceRefreshId": self.refreshes[-1]["InstanceRefreshId"]}

    def cancel_instance_refresh(self, aws_retry, AutoScalingGroupName):
        return self._stop("CancelInstanceRefresh", [("Cancelling", 50, 1, None), ("Cancelled", 50, 1, None)])

    def rollback_instance_refresh(self, aws_retry, AutoScalingGroupName):
        return self._stop("RollbackInstanceRefresh", [("RollbackInProgress", 50, 1, None), ("RollbackSuccessful", 0, 1, None)])

    # -- CloudWatch ----------------------------------------------------------------------------------

    def describe_alarms(self, aws_retry, AlarmNames, AlarmTypes, MaxRecords):
        return {"MetricAlarms": [{"AlarmName": name, "StateValue": "OK"} for name in AlarmNames if name in self.alarms], "CompositeAlarms": []}


def settings(**changes):
    params = {name: spec.get("default") for name, spec in argument_spec().items()}
    params.update(dict({"group_name": "web", "image_id": GOLDEN, "poll_interval": 5}, **changes))
    return InstanceRefreshSettings.from_params(params)


def run(aws, check_mode=False, **changes):
    clock = Clock()
    refresh_run = InstanceRefreshRun(Clients(aws, aws, aws), settings(**changes), check_mode=check_mode, sleep=clock.sleep, clock=clock)
    refresh_run.run()
    refresh_run.clock_used = clock
    return refresh_run


# -- the options ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, message", [
    ({"min_healthy_percentage": 150}, "min_healthy_percentage: 150 is not a percentage from 0 to 100"),
    ({"max_healthy_percentage": 90}, "max_healthy_percentage: 90 is not a percentage from 100 to 200"),
    ({"max_healthy_percentage": 250}, "max_healthy_percentage: 250 is not a percentage from 100 to 200"),
    ({"min_healthy_percentage": 50, "max_healthy_percentage": 200}, "max_healthy_percentage: 200 is more than 100 above min_healthy_percentage 50"),
    ({"checkpoint_percentages": [50, 20]}, "checkpoint_percentages: [50, 20] must be ascending"),
    ({"checkpoint_percentages": [20, 20]}, "checkpoint_percentages: [20, 20] must be ascending, each once"),
    ({"checkpoint_percentages": [50, 120]}, "checkpoint_percentages: [50, 120]: each must be a percentage from 1 to 100"),
    ({"checkpoint_percentages": [0, 50]}, "checkpoint_percentages: [0, 50]: each must be a percentage from 1 to 100"),
    ({"checkpoint_delay": 60}, "checkpoint_delay: 60 needs checkpoint_percentages"),
    ({"checkpoint_percentages": [50], "checkpoint_delay": 172801}, "checkpoint_delay: 172801 is not a number of seconds from 0 to 172800"),
    ({"bake_time": -1}, "bake_time: -1 is not a number of seconds"),
    ({"instance_warmup": -5}, "instance_warmup: -5 is not a number of seconds"),
    ({"image_id": None}, "image_id, image_policy: give exactly one to name the AMI to roll out, got none"),
    ({"image_policy": "golden"}, "image_id, image_policy: give exactly one"),
    ({"image_id": "ami-12"}, "image_id: not an AMI id: 'ami-12'"),
    ({"image_id": None, "image_policy": "golden"}, "image_policy: 'golden' needs image_source_instance or image_tags"),
    ({"image_id": None, "image_policy": "golden", "image_source_instance": "web-1"}, "image_source_instance: not an instance id: 'web-1'"),
    ({"image_tags": {"Pipeline": "web"}}, "image_tags: only with image_policy"),
    ({"state": "cancelled"}, "image_id: only with state present"),
    ({"alarms": ["a%d" % n for n in range(11)]}, "alarms: 11 alarms, AWS takes at most 10"),
    ({"wait_timeout": 0}, "wait_timeout: must be 1 or more seconds, got 0"),
    ({"group_name": " "}, "group_name: must not be empty"),
])
def test_a_bad_option_is_refused_naming_it_and_the_value(changes, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        settings(**changes)


def test_the_preferences_carry_what_is_set_and_leave_the_rest_to_aws():
    chosen = settings(min_healthy_percentage=50, max_healthy_percentage=150, checkpoint_percentages=[20, 100], checkpoint_delay=300,
                      alarms=["web-5xx"], auto_rollback=True, bake_time=600)
    assert chosen.preferences() == {"MinHealthyPercentage": 50, "MaxHealthyPercentage": 150, "CheckpointPercentages": [20, 100],
                                    "CheckpointDelay": 300, "SkipMatching": True, "AutoRollback": True,
                                    "AlarmSpecification": {"Alarms": ["web-5xx"]}, "BakeTime": 600}
    assert settings().preferences() == {"MinHealthyPercentage": 90, "SkipMatching": True, "AutoRollback": False}


# -- the new version's launch data ------------------------------------------------------------------------

def test_only_the_image_is_sent_when_no_inherited_mapping_has_a_snapshot():
    source = dict(SOURCE_DATA, BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "SnapshotId": "snap-old-root"}}])
    request, expected = image_version_request(source, {"image_id": GOLDEN, "root_device": "/dev/xvda"})
    assert request == {"ImageId": GOLDEN}
    assert expected == dict(SOURCE_DATA, ImageId=GOLDEN)


def test_a_data_volume_from_a_snapshot_keeps_its_snapshot_and_the_root_takes_the_new_image():
    mappings = [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "SnapshotId": "snap-old-root"}},
                {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 100, "SnapshotId": "snap-data"}}]
    request, expected = image_version_request(dict(SOURCE_DATA, BlockDeviceMappings=mappings), {"image_id": GOLDEN, "root_device": "/dev/xvda"})
    kept = [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}, {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 100, "SnapshotId": "snap-data"}}]
    assert request == {"ImageId": GOLDEN, "BlockDeviceMappings": kept}
    assert expected == dict(SOURCE_DATA, ImageId=GOLDEN, BlockDeviceMappings=kept)


# -- rolling out ----------------------------------------------------------------------------------------

def test_a_rollout_makes_a_version_from_the_groups_and_refreshes_to_it_with_progress():
    aws = FakeAws()
    done = run(aws, checkpoint_percentages=[50, 100], auto_rollback=True)

    assert done.verdict() is None and done.result["changed"] is True
    assert aws.versions[1] == dict(SOURCE_DATA, ImageId=GOLDEN)
    assert aws.mutations() == [
        ("CreateLaunchTemplateVersion", {"ImageId": GOLDEN}),
        ("StartInstanceRefresh", {"DesiredConfiguration": {"LaunchTemplate": {"LaunchTemplateId": TEMPLATE, "Version": "2"}},
                                  "Preferences": {"MinHealthyPercentage": 90, "CheckpointPercentages": [50, 100],
                                                  "SkipMatching": True, "AutoRollback": True}})]
    # The group was never pointed at the new version but by the refresh's success.
    assert aws.group["LaunchTemplate"]["Version"] == "2"
    assert done.result["launch_template"] == {"launch_template_id": TEMPLATE, "launch_template_name": "web",
                                              "source_version": 1, "version": 2, "created": True}
    assert done.result["instance_refresh"]["status"] == "Successful"
    assert [(s["status"], s["percentage_complete"], s["status_reason"]) for s in done.result["progress"]] == [
        (status, percentage, reason) for status, percentage, _count, reason in SUCCEEDS]
    assert {i["image_id"] for i in done.result["instances"]} == {GOLDEN}
    assert max(done.clock_used.sleeps) <= 5


def test_nothing_is_done_when_every_instance_runs_the_groups_version_with_the_image():
    aws = FakeAws()
    aws.versions[0]["ImageId"] = GOLDEN
    done = run(aws)

    assert done.result["changed"] is False and done.verdict() is None
    assert aws.mutations() == []
    assert done.result["launch_template"]["version"] == 1 and done.result["instance_refresh"] is None


def test_instances_left_on_an_older_version_are_refreshed_to_the_groups_without_a_new_version():
    aws = FakeAws(group_version="2", instance_versions=("1", "2"))
    aws.versions.append(dict(SOURCE_DATA, ImageId=GOLDEN))
    done = run(aws)

    assert [call[0] for call in aws.mutations()] == ["StartInstanceRefresh"]
    assert aws.mutations()[0][1]["DesiredConfiguration"]["LaunchTemplate"]["Version"] == "2"
    assert done.result["launch_template"]["created"] is False


def test_the_version_an_earlier_run_made_is_used_again_when_it_is_the_latest():
    aws = FakeAws()
    aws.versions.append(dict(SOURCE_DATA, ImageId=GOLDEN))
    done = run(aws)

    assert [call[0] for call in aws.mutations()] == ["StartInstanceRefresh"]
    assert done.result["launch_template"] == {"launch_template_id": TEMPLATE, "launch_template_name": "web",
                                              "source_version": 1, "version": 2, "created": False}


def test_the_newest_available_generation_of_the_policy_is_rolled_out():
    aws = FakeAws()
    older = aws.add_generation("available", day=3)
    newest = aws.add_generation("available", day=5)
    aws.add_generation("pending", day=6)
    aws.add_generation("failed", day=7)
    aws.add_generation("available", day=8, **{"cloudops:source-instance": "i-0000000000000000c"})
    done = run(aws, image_id=None, image_policy="golden", image_source_instance=BUILDER)

    assert done.result["image"]["image_id"] == newest != older
    assert aws.mutations()[0] == ("CreateLaunchTemplateVersion", {"ImageId": newest})


@pytest.mark.parametrize("change, message", [
    (lambda aws: None, "group_name: no Auto Scaling group 'db'"),
    (lambda aws: aws.images.pop(GOLDEN), "image_id: %s does not exist" % GOLDEN),
    (lambda aws: aws.images[GOLDEN].update(State="pending"), "image_id: %s is pending, not available" % GOLDEN),
    (lambda aws: aws.alarms.clear(), "alarms: no CloudWatch alarm named web-5xx"),
    (lambda aws: aws.group["LaunchTemplate"].update(Version="$Latest"), "auto_rollback: 'web' launches from launch template version $Latest"),
    (lambda aws: aws.group["LaunchTemplate"].update(Version="7"), "group_name: the launch template %s version 7 of 'web' does not exist" % TEMPLATE),
    (lambda aws: aws.group.pop("LaunchTemplate"), "group_name: 'web' launches from a launch configuration"),
])
def test_what_aws_does_not_have_refuses_the_run_before_any_change(change, message):
    aws = FakeAws()
    change(aws)
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        run(aws, group_name="db" if "'db'" in message else "web", alarms=["web-5xx"], auto_rollback=True)
    assert aws.mutations() == []


def test_a_policy_without_an_available_generation_is_refused_listing_what_it_has():
    aws = FakeAws()
    pending = aws.add_generation("pending", day=6)
    with pytest.raises(ValueError, match=r"^image_policy: no available image of policy 'golden' .*found: %s \(pending\)" % pending):
        run(aws, image_id=None, image_policy="golden", image_tags={"cloudops:source-instance": BUILDER})
    assert aws.mutations() == []


def test_a_refresh_in_progress_is_reported_and_nothing_is_started():
    aws = FakeAws()
    aws.add_refresh([("InProgress", 40, 3, None)])
    done = run(aws)

    assert done.result["changed"] is False and done.verdict() is None
    assert done.result["refresh_in_progress"]["percentage_complete"] == 40
    assert "wait_for_in_progress" in done.result["msg"]
    assert aws.mutations() == []


def test_with_wait_for_in_progress_the_refresh_is_followed_first_then_the_rollout_starts():
    aws = FakeAws()
    aws.add_refresh([("InProgress", 40, 3, None), ("InProgress", 80, 1, None), ("Successful", 100, 0, None)])
    done = run(aws, wait_for_in_progress=True)

    assert done.verdict() is None
    assert [s["status"] for s in done.result["progress"]][:3] == ["InProgress", "InProgress", "Successful"]
    assert [call[0] for call in aws.mutations()] == ["CreateLaunchTemplateVersion", "StartInstanceRefresh"]


def test_a_refresh_that_outlives_wait_timeout_fails_the_task_within_it():
    aws = FakeAws()
    aws.script = [("InProgress", 10, 2, None)]
    done = run(aws, wait_timeout=60)

    assert "is still InProgress (10% complete) after wait_timeout (60s)" in done.verdict()
    assert sum(done.clock_used.sleeps) == 60


def test_a_refresh_rolled_back_by_an_alarm_fails_the_task_with_the_reason():
    aws = FakeAws()
    aws.script = [("InProgress", 50, 1, None), ("RollbackInProgress", 50, 1, None), ("RollbackSuccessful", 0, 1, None)]
    done = run(aws)

    assert done.verdict().endswith("ended RollbackSuccessful, not Successful: no reason given")
    assert aws.group["LaunchTemplate"]["Version"] == "1"


def test_a_start_whose_answer_was_lost_adopts_the_refresh_it_started():
    aws = FakeAws()
    start = aws.start_instance_refresh

    def lost_answer(**request):
        start(**request)
        raise client_error("InstanceRefreshInProgress", "StartInstanceRefresh")

    aws.start_instance_refresh = lost_answer
    done = run(aws)
    assert done.verdict() is None and len(aws.refreshes) == 1
    assert done.result["instance_refresh"]["instance_refresh_id"] == aws.refreshes[0]["InstanceRefreshId"]


def test_check_mode_plans_and_creates_nothing():
    aws = FakeAws()
    done = run(aws, check_mode=True)

    assert done.result["changed"] is True and aws.mutations() == []
    assert done.result["launch_template"]["version"] is None and done.result["launch_template"]["created"] is True


# -- cancelling and rolling back ----------------------------------------------------------------------------

@pytest.mark.parametrize("state, action, final", [("cancelled", "CancelInstanceRefresh", "Cancelled"),
                                                  ("rolled_back", "RollbackInstanceRefresh", "RollbackSuccessful")])
def test_the_refresh_in_progress_is_stopped_and_followed(state, action, final):
    aws = FakeAws()
    aws.add_refresh([("InProgress", 50, 1, None)])
    done = run(aws, state=state, image_id=None)

    assert done.result["changed"] is True and done.verdict() is None
    assert aws.mutations() == [(action, None)]
    assert done.result["instance_refresh"]["status"] == final


@pytest.mark.parametrize("state", ["cancelled", "rolled_back"])
def test_without_a_refresh_in_progress_there_is_nothing_to_stop(state):
    aws = FakeAws()
    aws.add_refresh([("Successful", 100, 0, None)])
    done = run(aws, state=state, image_id=None)

    assert done.result["changed"] is False and done.verdict() is None and aws.mutations() == []
    assert done.result["instance_refresh"]["status"] == "Successful"


def test_a_rollback_under_way_is_followed_without_a_second_request():
    aws = FakeAws()
    aws.add_refresh([("RollbackInProgress", 30, 1, None), ("RollbackSuccessful", 0, 1, None)])
    done = run(aws, state="rolled_back", image_id=None)

    assert done.result["changed"] is False and aws.mutations() == []
    assert done.result["instance_refresh"]["status"] == "RollbackSuccessful"


def test_a_refresh_being_cancelled_cannot_be_rolled_back():
    aws = FakeAws()
    aws.add_refresh([("Cancelling", 30, 1, None)])
    done = run(aws, state="rolled_back", image_id=None)

    assert done.verdict().endswith("is Cancelling: it cannot be rolled back") and aws.mutations() == []
