"""The simulator's root volume replacement: task states, the volume swap, the instance's sandbox put back
as it was when the image was made, the reboot, idempotency, errors and injected failures."""

import time

import pytest
from botocore.exceptions import ClientError

from simulator.client import SimulatorError

SHELL = "AWS-RunShellScript"


@pytest.fixture
def ssm(aws):
    return aws("ssm")


@pytest.fixture
def quick(sim):
    """Tasks pending for 0.2 s, then in progress (the instance rebooting) for 0.2 s."""
    sim.configure(root_volumes={"replace_seconds": 0.4})


def run(ssm, instance_id, line):
    """Run one shell line on the instance; its stdout once it succeeded."""
    command_id = ssm.send_command(InstanceIds=[instance_id], DocumentName=SHELL,
                                  Parameters={"commands": [line]})["Command"]["CommandId"]
    deadline = time.monotonic() + 10
    while True:
        try:
            invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError:
            invocation = {"Status": "Pending"}
        if invocation["Status"] == "Success":
            return invocation["StandardOutputContent"]
        assert invocation["Status"] in ("Pending", "InProgress", "Delayed") and time.monotonic() < deadline, invocation
        time.sleep(0.05)


def start_task(ec2, instance_id, **params):
    return ec2.create_replace_root_volume_task(InstanceId=instance_id, **params)["ReplaceRootVolumeTask"]


def refused(ec2, instance_id, **params):
    """The error code CreateReplaceRootVolumeTask answers."""
    return error_code(lambda: start_task(ec2, instance_id, **params))


def task_of(ec2, task_id):
    return ec2.describe_replace_root_volume_tasks(ReplaceRootVolumeTaskIds=[task_id])["ReplaceRootVolumeTasks"][0]


def wait_until_done(ec2, task_id, timeout=10):
    """The task once it ended, and every state it was seen in."""
    seen, deadline = [], time.monotonic() + timeout
    while True:
        task = task_of(ec2, task_id)
        if not seen or seen[-1] != task["TaskState"]:
            seen.append(task["TaskState"])
        if task["TaskState"] in ("succeeded", "failed"):
            return task, seen
        assert time.monotonic() < deadline, seen
        time.sleep(0.02)


def root_volume_id(ec2, instance_id):
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return next(m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]
                if m["DeviceName"] == instance["RootDeviceName"])


def error_code(call):
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"]


def test_replacing_from_an_image_puts_the_sandbox_back_and_swaps_the_root_volume(sim, ec2, ssm, instance, quick):
    run(ssm, instance["id"], "echo v1 > version")
    image_id = ec2.create_image(InstanceId=instance["id"], Name="pre-patch")["ImageId"]
    run(ssm, instance["id"], "echo v2 > version; echo unhealthy > health")
    original = root_volume_id(ec2, instance["id"])

    created = start_task(ec2, instance["id"], ImageId=image_id, TagSpecifications=[
        {"ResourceType": "replace-root-volume-task", "Tags": [{"Key": "cloudops:policy", "Value": "rollback"}]}])
    assert created["ReplaceRootVolumeTaskId"].startswith("replacevol-") and len(created["ReplaceRootVolumeTaskId"]) == 28
    assert created["TaskState"] == "pending" and created["ImageId"] == image_id and "CompleteTime" not in created
    assert created["Tags"] == [{"Key": "cloudops:policy", "Value": "rollback"}]
    assert created["DeleteReplacedRootVolume"] is False

    done, seen = wait_until_done(ec2, created["ReplaceRootVolumeTaskId"])
    assert seen == ["pending", "in-progress", "succeeded"]
    assert done["StartTime"] <= done["CompleteTime"]
    assert run(ssm, instance["id"], "cat version; ls") == "v1\nversion\n"
    replacement = root_volume_id(ec2, instance["id"])
    assert replacement != original
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    volumes = {v["VolumeId"]: v for v in ec2.describe_volumes(VolumeIds=[original, replacement])["Volumes"]}
    assert volumes[original]["State"] == "available" and not volumes[original]["Attachments"]
    assert volumes[replacement]["SnapshotId"] == image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert volumes[replacement]["Size"] == volumes[original]["Size"]
    mappings = ec2.describe_instances(InstanceIds=[instance["id"]])["Reservations"][0]["Instances"][0]["BlockDeviceMappings"]
    by_volume = {m["Ebs"]["VolumeId"]: m for m in mappings}
    assert set(by_volume) == {replacement, *instance["volumes"][1:]}
    assert (by_volume[replacement]["DeviceName"], by_volume[replacement]["Ebs"]["DeleteOnTermination"]) == ("/dev/xvda", True)


def test_the_agent_is_connection_lost_while_the_task_is_in_progress(sim, ec2, ssm, instance):
    sim.configure(root_volumes={"replace_seconds": 1.0})
    task_id = start_task(ec2, instance["id"])["ReplaceRootVolumeTaskId"]

    def ping():
        nodes = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance["id"]]}])
        return nodes["InstanceInformationList"][0]["PingStatus"]

    assert (task_of(ec2, task_id)["TaskState"], ping()) == ("pending", "Online")
    while task_of(ec2, task_id)["TaskState"] == "pending":
        time.sleep(0.02)
    assert ping() == "ConnectionLost"
    done, _states = wait_until_done(ec2, task_id)
    assert (done["TaskState"], ping()) == ("succeeded", "Online")


def test_delete_replaced_root_volume_deletes_the_original(ec2, instance, quick):
    original = root_volume_id(ec2, instance["id"])
    task = start_task(ec2, instance["id"], DeleteReplacedRootVolume=True)
    assert task["DeleteReplacedRootVolume"] is True and "ImageId" not in task and "SnapshotId" not in task

    assert wait_until_done(ec2, task["ReplaceRootVolumeTaskId"])[0]["TaskState"] == "succeeded"
    assert error_code(lambda: ec2.describe_volumes(VolumeIds=[original])) == "InvalidVolume.NotFound"
    assert root_volume_id(ec2, instance["id"]) != original


def test_a_snapshot_of_an_image_restores_that_image(ec2, ssm, instance, quick):
    run(ssm, instance["id"], "echo v1 > version")
    image_id = ec2.create_image(InstanceId=instance["id"], Name="pre-patch")["ImageId"]
    run(ssm, instance["id"], "echo v2 > version")
    snapshot_id = ec2.describe_images(ImageIds=[image_id])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]

    task = start_task(ec2, instance["id"], SnapshotId=snapshot_id)
    assert task["SnapshotId"] == snapshot_id
    assert wait_until_done(ec2, task["ReplaceRootVolumeTaskId"])[0]["TaskState"] == "succeeded"
    assert run(ssm, instance["id"], "cat version") == "v1\n"


def test_a_client_token_answers_the_first_task_or_a_mismatch(ec2, instance, quick):
    first = start_task(ec2, instance["id"], ClientToken="rollback-1")
    again = start_task(ec2, instance["id"], ClientToken="rollback-1")

    assert again["ReplaceRootVolumeTaskId"] == first["ReplaceRootVolumeTaskId"]
    assert refused(ec2, instance["id"], ClientToken="rollback-1", DeleteReplacedRootVolume=True) == "IdempotentParameterMismatch"
    wait_until_done(ec2, first["ReplaceRootVolumeTaskId"])
    later = start_task(ec2, instance["id"], ClientToken="rollback-1")
    assert (later["ReplaceRootVolumeTaskId"], later["TaskState"]) == (first["ReplaceRootVolumeTaskId"], "succeeded")
    assert len(ec2.describe_replace_root_volume_tasks()["ReplaceRootVolumeTasks"]) == 1


def test_requests_aws_refuses(sim, ec2, instance, quick):
    stopped = sim.seed({"instances": [{"name": "off", "state": "stopped"}]})["instances"]["off"]
    snapshot_id = ec2.create_snapshot(VolumeId=instance["volumes"][0])["SnapshotId"]

    image_id = ec2.create_image(InstanceId=instance["id"], Name="img")["ImageId"]

    assert refused(ec2, stopped) == "IncorrectState"
    assert refused(ec2, "i-0123456789abcdef0") == "InvalidInstanceID.NotFound"
    assert refused(ec2, instance["id"], ImageId="ami-0123456789abcdef0") == "InvalidAMIID.NotFound"
    assert refused(ec2, instance["id"], SnapshotId="snap-0123456789abcdef0") == "InvalidSnapshot.NotFound"
    assert refused(ec2, instance["id"], ImageId=image_id, SnapshotId=snapshot_id) == "InvalidParameterCombination"
    assert refused(ec2, instance["id"], TagSpecifications=[
        {"ResourceType": "volume", "Tags": [{"Key": "a", "Value": "b"}]}]) == "InvalidParameterValue"
    assert refused(ec2, instance["id"], DryRun=True) == "DryRunOperation"
    assert ec2.describe_replace_root_volume_tasks()["ReplaceRootVolumeTasks"] == []


def test_an_injected_failure_ends_failed_with_the_original_volume_and_sandbox(sim, ec2, ssm, instance, quick):
    run(ssm, instance["id"], "echo v1 > version")
    image_id = ec2.create_image(InstanceId=instance["id"], Name="pre-patch")["ImageId"]
    run(ssm, instance["id"], "echo v2 > version")
    original = root_volume_id(ec2, instance["id"])
    sim.fail_root_volume_replacement(instance_id=instance["id"])

    task_id = start_task(ec2, instance["id"], ImageId=image_id)["ReplaceRootVolumeTaskId"]
    done, seen = wait_until_done(ec2, task_id)
    assert seen == ["pending", "in-progress", "failed"] and done["CompleteTime"]
    assert root_volume_id(ec2, instance["id"]) == original
    assert run(ssm, instance["id"], "cat version") == "v2\n"


def test_one_pending_task_can_be_failed_by_id(sim, ec2, instance, quick):
    task_id = start_task(ec2, instance["id"])["ReplaceRootVolumeTaskId"]
    sim.fail_root_volume_replacement(task_id=task_id)

    assert wait_until_done(ec2, task_id)[0]["TaskState"] == "failed"
    assert task_id in sim.calls(action="DescribeReplaceRootVolumeTasks")[0]["resource_ids"]
    with pytest.raises(SimulatorError, match="HTTP 409"):
        sim.fail_root_volume_replacement(task_id=task_id)
    with pytest.raises(SimulatorError, match="HTTP 404"):
        sim.fail_root_volume_replacement(task_id="replacevol-0123456789abcdef0")


def test_describe_filters_by_instance_and_pages(sim, ec2, instance, quick):
    other = sim.seed({"instances": [{"name": "other"}]})["instances"]["other"]
    ids = [start_task(ec2, instance_id)["ReplaceRootVolumeTaskId"] for instance_id in (instance["id"], other, instance["id"])]

    by_instance = ec2.describe_replace_root_volume_tasks(Filters=[{"Name": "instance-id", "Values": [instance["id"]]}])
    assert [t["ReplaceRootVolumeTaskId"] for t in by_instance["ReplaceRootVolumeTasks"]] == [ids[0], ids[2]]
    first = ec2.describe_replace_root_volume_tasks(MaxResults=2)
    second = ec2.describe_replace_root_volume_tasks(MaxResults=2, NextToken=first["NextToken"])
    assert [t["ReplaceRootVolumeTaskId"] for page in (first, second) for t in page["ReplaceRootVolumeTasks"]] == ids
    assert "NextToken" not in second
    paged = ec2.get_paginator("describe_replace_root_volume_tasks").paginate(PaginationConfig={"PageSize": 1})
    assert [t["ReplaceRootVolumeTaskId"] for page in paged for t in page["ReplaceRootVolumeTasks"]] == ids
    unknown_filter = [{"Name": "state", "Values": ["x"]}]
    assert error_code(lambda: ec2.describe_replace_root_volume_tasks(Filters=unknown_filter)) == "InvalidParameterValue"


def test_root_volume_settings_are_shown_checked_and_reset(sim):
    assert sim.config()["root_volumes"] == {"replace_seconds": 1.0}
    assert sim.configure(root_volumes={"replace_seconds": 3})["root_volumes"] == {"replace_seconds": 3.0}
    with pytest.raises(SimulatorError):
        sim.configure(root_volumes={"replace_seconds": -1})
    with pytest.raises(SimulatorError):
        sim.fail_root_volume_replacement()
    sim.reset()
    assert sim.config()["root_volumes"] == {"replace_seconds": 1.0}
