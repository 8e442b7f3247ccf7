"""AMIs and snapshots go pending -> available/completed (or failed/error) after a delay."""

import time

import pytest

from simulator.client import SimulatorError

# Long enough that the describe right after a create still sees it pending on a loaded machine (0.2-0.3 s
# was not always, in a full parallel run); the tests then poll for the end rather than sleep for it.
DELAY = 2.0


def settled(read, timeout=DELAY + 5):
    """The first description read() gives that is no longer pending (the last one, pending, past `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        described = read()
        if described["State"] != "pending" or time.monotonic() > deadline:
            return described
        time.sleep(0.05)


def image(ec2, image_id):
    return ec2.describe_images(ImageIds=[image_id])["Images"][0]


def snapshot_states(ec2, image_doc):
    ids = [m["Ebs"]["SnapshotId"] for m in image_doc["BlockDeviceMappings"]]
    return {s["State"] for s in ec2.describe_snapshots(SnapshotIds=ids)["Snapshots"]}


def test_images_are_available_at_once_by_default(ec2, instance):
    image_id = ec2.create_image(InstanceId=instance["id"], Name="instant")["ImageId"]

    assert image(ec2, image_id)["State"] == "available"


def test_image_and_its_snapshots_become_available_after_the_delay(sim, ec2, instance):
    sim.configure(ami_available_after=DELAY)
    image_id = ec2.create_image(InstanceId=instance["id"], Name="slow")["ImageId"]

    pending = image(ec2, image_id)
    assert pending["State"] == "pending"
    assert snapshot_states(ec2, pending) == {"pending"}
    assert ec2.describe_images(Owners=["self"], Filters=[{"Name": "state", "Values": ["pending"]}])["Images"]

    available = settled(lambda: image(ec2, image_id))
    assert available["State"] == "available"
    assert snapshot_states(ec2, available) == {"completed"}


def test_image_available_waiter_sees_the_transition(sim, ec2, instance):
    sim.configure(ami_available_after=DELAY)
    image_id = ec2.create_image(InstanceId=instance["id"], Name="waited")["ImageId"]

    ec2.get_waiter("image_available").wait(ImageIds=[image_id], WaiterConfig={"Delay": 0.2, "MaxAttempts": 20})

    assert image(ec2, image_id)["State"] == "available"


def test_images_of_a_marked_instance_end_failed(sim, ec2, instance):
    sim.configure(ami_available_after=DELAY)
    sim.fail_images(instance_id=instance["id"])
    image_id = ec2.create_image(InstanceId=instance["id"], Name="doomed")["ImageId"]
    assert image(ec2, image_id)["State"] == "pending"

    failed = settled(lambda: image(ec2, image_id))
    assert failed["State"] == "failed"
    assert failed["StateReason"]["Code"]
    assert snapshot_states(ec2, failed) == {"error"}


def test_a_pending_image_can_be_made_to_fail(sim, ec2, instance):
    sim.configure(ami_available_after=DELAY)
    image_id = ec2.create_image(InstanceId=instance["id"], Name="doomed-by-id")["ImageId"]

    sim.fail_images(image_id=image_id)

    assert settled(lambda: image(ec2, image_id))["State"] == "failed"


def test_an_available_image_cannot_be_made_to_fail(sim, ec2, instance):
    image_id = ec2.create_image(InstanceId=instance["id"], Name="done")["ImageId"]

    with pytest.raises(SimulatorError, match="409"):
        sim.fail_images(image_id=image_id)


def test_copied_image_is_pending_then_available_with_its_own_snapshots(sim, ec2, instance):
    source_id = ec2.create_image(InstanceId=instance["id"], Name="to-copy")["ImageId"]
    sim.configure(ami_available_after=DELAY)

    copy_id = ec2.copy_image(SourceImageId=source_id, SourceRegion="us-east-1", Name="copied")["ImageId"]

    copy = image(ec2, copy_id)
    assert copy["State"] == "pending"
    source_snapshots = {m["Ebs"]["SnapshotId"] for m in image(ec2, source_id)["BlockDeviceMappings"]}
    copy_snapshots = {m["Ebs"]["SnapshotId"] for m in copy["BlockDeviceMappings"]}
    assert len(copy_snapshots) == 3 and not copy_snapshots & source_snapshots
    assert settled(lambda: image(ec2, copy_id))["State"] == "available"


def test_create_snapshot_completes_after_its_own_delay(sim, ec2, instance):
    sim.configure(snapshot_completed_after=DELAY)

    snapshot = ec2.create_snapshot(VolumeId=instance["volumes"][1], Description="manual")

    described = ec2.describe_snapshots(SnapshotIds=[snapshot["SnapshotId"]])["Snapshots"][0]
    assert described["State"] == "pending"
    assert described["VolumeSize"] == 100
    described = settled(lambda: ec2.describe_snapshots(SnapshotIds=[snapshot["SnapshotId"]])["Snapshots"][0])
    assert (described["State"], described["Progress"]) == ("completed", "100%")


def test_a_pending_snapshot_can_be_made_to_end_in_error(sim, ec2, instance):
    sim.configure(snapshot_completed_after=DELAY)
    snapshot_id = ec2.create_snapshot(VolumeId=instance["volumes"][1])["SnapshotId"]

    sim.fail_snapshot(snapshot_id)

    assert ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]["State"] == "pending"
    assert settled(lambda: ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0])["State"] == "error"


def test_a_completed_snapshot_cannot_be_made_to_fail(sim, ec2, instance):
    snapshot_id = ec2.create_snapshot(VolumeId=instance["volumes"][1])["SnapshotId"]

    with pytest.raises(SimulatorError, match="409"):
        sim.fail_snapshot(snapshot_id)


def test_snapshots_can_be_made_to_look_old(sim, ec2, instance):
    volume_id = ec2.describe_volumes()["Volumes"][0]["VolumeId"]
    old = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    young = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]

    sim.age_snapshots([old], 2 * 86400)

    started = {s["SnapshotId"]: s["StartTime"] for s in ec2.describe_snapshots(SnapshotIds=[old, young])["Snapshots"]}
    assert 2 * 86400 - 60 < (started[young] - started[old]).total_seconds() < 2 * 86400 + 60
    with pytest.raises(SimulatorError, match="404"):
        sim.age_snapshots(["snap-0000000000000dead"], 60)
