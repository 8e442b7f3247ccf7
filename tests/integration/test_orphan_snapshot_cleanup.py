"""cloudops.aws.orphan_snapshot_cleanup against the simulator, asserting which snapshots exist afterwards."""

import pytest

from aws_state import existing_snapshot_ids
from aws_state import mutating_calls
from aws_state import snapshot_ids_of

FLEET = {
    "region": "us-east-1",
    "instances": [
        {"name": "app-1", "tags": {"Role": "app"}, "volumes": [{"device": "/dev/xvda", "size": 8}, {"device": "/dev/sdf", "size": 30}]},
        {"name": "app-2", "tags": {"Role": "app"}, "volumes": [{"device": "/dev/xvda", "size": 10}]},
    ],
}


@pytest.fixture
def world(sim, ec2, run_task):
    """Managed and hand-made AMIs, some deregistered, one snapshot re-used, one owned by AWS Backup."""
    instances = sim.seed(FLEET)["instances"]
    backups = run_task("cloudops.aws.ami_rotate", {"filters": {"tag:Role": "app"}, "policy": "daily", "retention": {"keep_last": 5}})
    managed = {image["instance_id"]: image for image in backups["images_created"]}
    gone_managed = managed[instances["app-1"]]  # 2 snapshots, 38 GiB
    kept_managed = managed[instances["app-2"]]
    ec2.deregister_image(ImageId=gone_managed["image_id"])

    def hand_made(name):
        image_id = ec2.create_image(InstanceId=instances["app-2"], Name=name)["ImageId"]
        ec2.get_waiter("image_available").wait(ImageIds=[image_id], WaiterConfig={"Delay": 1})
        return image_id, snapshot_ids_of(ec2.describe_images(ImageIds=[image_id])["Images"][0])

    gone_unmanaged, gone_unmanaged_snapshots = hand_made("hand-made-gone")
    ec2.deregister_image(ImageId=gone_unmanaged)
    reused, reused_snapshots = hand_made("hand-made-reused")
    ec2.deregister_image(ImageId=reused)
    ec2.register_image(Name="restored", RootDeviceName="/dev/xvda",
                       BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": reused_snapshots[0]}}])
    vaulted, vaulted_snapshots = hand_made("aws-backup-made")
    ec2.create_tags(Resources=vaulted_snapshots, Tags=[{"Key": "aws:backup:source-resource", "Value": "arn:aws:ec2:us-east-1::instance/x"}])
    ec2.deregister_image(ImageId=vaulted)
    return {
        "gone_managed": gone_managed["snapshot_ids"],
        "kept_managed": kept_managed["snapshot_ids"],
        "gone_unmanaged": gone_unmanaged_snapshots,
        "reused": reused_snapshots,
        "vaulted": vaulted_snapshots,
    }


def test_deletes_managed_orphans_only_by_default(run_task, ec2, world):
    result = run_task("cloudops.aws.orphan_snapshot_cleanup", {"min_age": "0s"})

    assert not result.get("failed"), result.get("msg")
    assert sorted(s["snapshot_id"] for s in result["snapshots_deleted"]) == sorted(world["gone_managed"])
    assert result["gib_freed"] == 38
    remaining = existing_snapshot_ids(ec2)
    assert not set(world["gone_managed"]) & remaining
    assert set(world["kept_managed"] + world["gone_unmanaged"] + world["reused"] + world["vaulted"]) <= remaining
    skipped = {s["snapshot_id"]: s["reason"] for s in result["snapshots_skipped"]}
    assert "exists" in skipped[world["kept_managed"][0]]


def test_include_unmanaged_spares_used_and_aws_backup_snapshots(run_task, ec2, world):
    result = run_task("cloudops.aws.orphan_snapshot_cleanup", {"min_age": "0s", "include_unmanaged": True})

    assert not result.get("failed"), result.get("msg")
    assert sorted(s["snapshot_id"] for s in result["snapshots_deleted"]) == sorted(world["gone_managed"] + world["gone_unmanaged"])
    remaining = existing_snapshot_ids(ec2)
    assert set(world["kept_managed"] + world["reused"] + world["vaulted"]) <= remaining
    skipped = {s["snapshot_id"]: s["reason"] for s in result["snapshots_skipped"]}
    assert "used by ami-" in skipped[world["reused"][0]]
    assert "AWS Backup" in skipped[world["vaulted"][0]]


def test_min_age_spares_young_orphans(run_task, ec2, world):
    result = run_task("cloudops.aws.orphan_snapshot_cleanup", {})

    assert result["changed"] is False and result["snapshots_deleted"] == []
    skipped = {s["snapshot_id"]: s["reason"] for s in result["snapshots_skipped"]}
    assert "younger than min_age 1d" in skipped[world["gone_managed"][0]]
    assert set(world["gone_managed"]) <= existing_snapshot_ids(ec2)


def test_check_mode_reports_the_space_and_deletes_nothing(run_task, ec2, world, sim):
    before = existing_snapshot_ids(ec2)
    sim.clear_log()

    result = run_task("cloudops.aws.orphan_snapshot_cleanup", {"min_age": "0s", "include_unmanaged": True}, check=True)

    assert result["changed"] is True
    assert len(result["snapshots_deleted"]) == len(world["gone_managed"] + world["gone_unmanaged"])
    assert result["gib_freed"] == 38 + 10
    assert existing_snapshot_ids(ec2) == before
    assert mutating_calls(sim) == []


@pytest.mark.parametrize("args, named", [({"min_age": "yesterday"}, "yesterday"), ({"max_concurrency": 0}, "max_concurrency")])
def test_bad_input_is_refused_before_any_change(run_task, ec2, world, sim, args, named):
    before = existing_snapshot_ids(ec2)
    sim.clear_log()

    result = run_task("cloudops.aws.orphan_snapshot_cleanup", args)

    assert result["failed"] is True and named in result["msg"]
    assert mutating_calls(sim) == [] and existing_snapshot_ids(ec2) == before
