"""cloudops.aws.ami_rotate (run in the test process, conftest's run_task) against the simulator; every test asserts AWS state."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from aws_state import existing_snapshot_ids
from aws_state import images_by_instance
from aws_state import managed_images
from aws_state import mutating_calls
from aws_state import own_images
from aws_state import snapshot_ids_of
from aws_state import tags_of

FLEET = {
    "region": "us-east-1",
    "instances": [
        {"name": "web-1", "tags": {"Role": "web"}, "volumes": [{"device": "/dev/xvda", "size": 8}, {"device": "/dev/sdf", "size": 20}]},
        {"name": "web-2", "tags": {"Role": "web"}, "volumes": [{"device": "/dev/xvda", "size": 8}]},
        {"name": "web-3", "tags": {"Role": "web"}, "state": "stopped", "volumes": [{"device": "/dev/xvda", "size": 8}]},
        {"name": "web-old", "tags": {"Role": "web"}, "state": "terminated", "volumes": [{"device": "/dev/xvda", "size": 8}]},
        {"name": "db-1", "tags": {"Role": "db"}, "volumes": [{"device": "/dev/xvda", "size": 8}]},
    ],
}
WEB = {"tag:Role": "web"}


@pytest.fixture
def fleet(sim):
    return sim.seed(FLEET)["instances"]


def rotate(run_task, **args):
    args.setdefault("filters", WEB)
    args.setdefault("policy", "daily")
    args.setdefault("retention", {"keep_last": 2})
    # filters=None means "not given", as a task would omit it.
    return run_task("cloudops.aws.ami_rotate", {key: value for key, value in args.items() if value is not None})


@pytest.mark.pending  # the run waits for its images to become available
def test_first_run_images_every_live_instance_with_tagged_snapshots(run_task, ec2, fleet):
    result = rotate(run_task, tags={"CostCenter": "ops"})

    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    web = {fleet["web-1"], fleet["web-2"], fleet["web-3"]}
    assert {image["instance_id"] for image in result["images_created"]} == web
    grouped = images_by_instance(ec2, "daily")
    assert set(grouped) == web  # the terminated and the db instance are not imaged
    for instance_id, images in grouped.items():
        assert len(images) == 1
        image = images[0]
        assert image["State"] == "available"
        tags = tags_of(image)
        assert tags["cloudops:managed-by"] == "cloudops.aws"
        assert tags["cloudops:policy"] == "daily"
        assert tags["cloudops:source-instance"] == instance_id
        assert tags["cloudops:created-at"].endswith("Z")
        assert tags["CostCenter"] == "ops"
        snapshots = ec2.describe_snapshots(SnapshotIds=snapshot_ids_of(image))["Snapshots"]
        assert snapshots and all(tags_of(s)["cloudops:source-instance"] == instance_id for s in snapshots)
        assert all(tags_of(s)["cloudops:managed-by"] == "cloudops.aws" for s in snapshots)
    assert len(snapshot_ids_of(grouped[fleet["web-1"]][0])) == 2  # one snapshot per attached volume
    assert any(fleet["web-old"] in warning for warning in result["warnings"])


def test_generations_rotate_and_deregistered_snapshots_are_deleted(run_task, ec2, fleet):
    first = rotate(run_task, retention={"keep_last": 2})
    first_image = next(i for i in first["images_created"] if i["instance_id"] == fleet["web-1"])
    rotate(run_task, retention={"keep_last": 2})
    third = rotate(run_task, retention={"keep_last": 2})

    assert not third.get("failed"), third.get("msg")
    grouped = images_by_instance(ec2, "daily")
    assert all(len(images) == 2 for images in grouped.values()), {k: len(v) for k, v in grouped.items()}
    assert first_image["image_id"] not in {i["ImageId"] for images in grouped.values() for i in images}
    deregistered = {i["image_id"] for i in third["images_deregistered"]}
    assert first_image["image_id"] in deregistered
    assert len(deregistered) == 3
    remaining = existing_snapshot_ids(ec2)
    assert not set(first_image["snapshot_ids"]) & remaining
    assert {s["snapshot_id"] for s in third["snapshots_deleted"]} >= set(first_image["snapshot_ids"])
    assert all(i["reason"] for i in third["images_retained"])


def test_only_managed_images_of_the_same_policy_and_instance_are_deregistered(run_task, ec2, fleet):
    web1 = fleet["web-1"]
    hand_made = ec2.create_image(InstanceId=web1, Name="hand-made-web-1")["ImageId"]
    other_policy = rotate(run_task, instance_ids=[web1], filters=None, policy="weekly")["images_created"][0]["image_id"]
    other_instance = rotate(run_task, instance_ids=[fleet["db-1"]], filters=None)["images_created"][0]["image_id"]
    # A managed-looking image without the managed-by tag must be safe too.
    lookalike = ec2.create_image(InstanceId=web1, Name="lookalike-web-1", TagSpecifications=[{
        "ResourceType": "image", "Tags": [{"Key": "cloudops:policy", "Value": "daily"}, {"Key": "cloudops:source-instance", "Value": web1}]}])["ImageId"]

    for _run in range(3):
        result = rotate(run_task, instance_ids=[web1], filters=None, retention={"keep_last": 1})
        assert not result.get("failed"), result.get("msg")

    all_ids = {image["ImageId"] for image in own_images(ec2)}
    assert {hand_made, other_policy, other_instance, lookalike} <= all_ids
    assert len(managed_images(ec2, "daily", web1)) == 1


def test_snapshot_still_used_by_another_image_is_kept_and_reported(run_task, ec2, fleet):
    web2 = fleet["web-2"]
    first = rotate(run_task, instance_ids=[web2], filters=None, retention={"keep_last": 1})["images_created"][0]
    shared_snapshot = first["snapshot_ids"][0]
    other = ec2.register_image(Name="restored-from-backup", RootDeviceName="/dev/xvda", BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": shared_snapshot}}])["ImageId"]

    second = rotate(run_task, instance_ids=[web2], filters=None, retention={"keep_last": 1})

    assert not second.get("failed"), second.get("msg")
    assert [i["image_id"] for i in second["images_deregistered"]] == [first["image_id"]]
    assert shared_snapshot in existing_snapshot_ids(ec2)
    retained = {s["snapshot_id"]: s["reason"] for s in second["snapshots_retained"]}
    assert other in retained[shared_snapshot]


def test_throttling_storm_ends_like_a_calm_run_without_duplicates(run_task, ec2, fleet, sim):
    # Every call has a 30% chance of RequestLimitExceeded, and the first CreateImage's answer is
    # lost after AWS acted on it: the retry must adopt that image, not make a second one.
    sim.add_fault(action="*", code="RequestLimitExceeded", probability=0.3, count=None)
    sim.add_fault(action="CreateImage", code="InternalError", after=True, count=1)
    for _run in range(3):
        result = rotate(run_task, retention={"keep_last": 2})
        assert not result.get("failed"), result.get("msg")
    sim.clear_faults()

    grouped = images_by_instance(ec2, "daily")
    assert set(grouped) == {fleet["web-1"], fleet["web-2"], fleet["web-3"]}
    assert all(len(images) == 2 for images in grouped.values()), {k: len(v) for k, v in grouped.items()}
    names = [i["Name"] for i in own_images(ec2)]
    assert len(names) == len(set(names))
    throttled = [c for c in sim.calls() if c["error_code"] == "RequestLimitExceeded"]
    assert throttled, "the storm injected no throttling"
    # Every snapshot left belongs to a registered image: nothing leaked by the retries.
    backing = {s for images in grouped.values() for image in images for s in snapshot_ids_of(image)}
    managed_snapshots = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"], Filters=[
        {"Name": "tag:cloudops:managed-by", "Values": ["cloudops.aws"]}])["Snapshots"]}
    assert managed_snapshots == backing


def test_one_failing_instance_does_not_stop_the_others_and_is_not_pruned(run_task, ec2, fleet, sim):
    rotate(run_task, retention={"keep_last": 1})
    before = images_by_instance(ec2, "daily")
    web2 = fleet["web-2"]
    sim.add_fault(action="CreateImage", code="IncorrectInstanceState", match=web2, count=None)

    result = rotate(run_task, retention={"keep_last": 1})

    assert result["failed"] is True
    assert web2 in result["msg"]
    assert [f["instance_id"] for f in result["failures"]] == [web2]
    after = images_by_instance(ec2, "daily")
    assert [i["ImageId"] for i in after[web2]] == [i["ImageId"] for i in before[web2]]  # not pruned
    for other in (fleet["web-1"], fleet["web-3"]):
        assert len(after[other]) == 1 and after[other][0]["ImageId"] != before[other][0]["ImageId"]


def test_image_that_ends_failed_is_a_failure_and_the_last_good_generation_stays(run_task, ec2, fleet, sim):
    web1 = fleet["web-1"]
    rotate(run_task, instance_ids=[web1], filters=None, retention={"keep_last": 1})
    good = managed_images(ec2, "daily", web1)[0]["ImageId"]
    sim.fail_images(instance_id=web1)

    result = rotate(run_task, instance_ids=[web1], filters=None, retention={"keep_last": 1})

    assert result["failed"] is True and "failed" in result["failures"][0]["error"]
    states = {i["ImageId"]: i["State"] for i in managed_images(ec2, "daily", web1)}
    assert states[good] == "available" and "failed" in states.values()


def test_bad_input_is_refused_before_any_change(run_task, ec2, fleet, sim):
    cases = [
        ({"instance_ids": ["i-0123456789abcdef0"], "filters": None}, "i-0123456789abcdef0"),
        ({"instance_ids": ["web-1"], "filters": None}, "web-1"),
        ({"min_interval": "7x"}, "7x"),
        ({"retention": {"keep_within": "abc"}}, "abc"),
        ({"retention": {}}, "keep_last"),
        ({"retention": {"keep_last": 0}}, "keep_last"),
        ({"name": "{hostname}-backup"}, "{hostname}"),
        ({"tags": {"cloudops:policy": "x"}}, "cloudops:policy"),
        ({"max_concurrency": 0}, "max_concurrency"),
    ]
    sim.clear_log()
    for args, named in cases:
        result = rotate(run_task, **args)
        assert result.get("failed") is True, args
        assert named in result["msg"], (args, result["msg"])
    assert mutating_calls(sim) == []
    assert managed_images(ec2) == []


def test_empty_selection_is_ok_unchanged_with_a_warning(run_task, ec2, fleet, sim):
    result = rotate(run_task, filters={"tag:Role": "nothing-has-this"})

    assert not result.get("failed") and result["changed"] is False
    assert any("no instance" in warning for warning in result["warnings"])
    assert managed_images(ec2) == []


def test_check_mode_returns_the_plan_and_changes_nothing(run_task, ec2, fleet, sim):
    first = rotate(run_task, retention={"keep_last": 1})
    sim.clear_log()

    plan = run_task("cloudops.aws.ami_rotate", {"filters": WEB, "policy": "daily", "retention": {"keep_last": 1}}, check=True, diff=True)

    assert plan["changed"] is True
    assert {i["instance_id"] for i in plan["images_created"]} == {i["instance_id"] for i in first["images_created"]}
    assert all(i["image_id"] is None for i in plan["images_created"])
    assert {i["image_id"] for i in plan["images_deregistered"]} == {i["image_id"] for i in first["images_created"]}
    assert len(plan["diff"]["before"]["images"]) == 3 and len(plan["diff"]["after"]["images"]) == 3
    assert mutating_calls(sim) == []
    assert {i["ImageId"] for i in managed_images(ec2)} == {i["image_id"] for i in first["images_created"]}


def test_images_in_use_are_protected_with_the_reason(run_task, ec2, autoscaling, fleet):
    web1 = fleet["web-1"]
    by_template, by_instance, by_group = [rotate(run_task, instance_ids=[web1], filters=None, retention={"keep_last": 5})["images_created"][0]["image_id"]
                                          for _run in range(3)]
    ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={"ImageId": by_template})
    ec2.run_instances(ImageId=by_instance, MinCount=1, MaxCount=1)
    ec2.create_launch_template(LaunchTemplateName="asg-web", LaunchTemplateData={"ImageId": by_group})
    ec2.create_launch_template_version(LaunchTemplateName="asg-web", SourceVersion="1", LaunchTemplateData={"ImageId": "ami-00000000"})
    autoscaling.create_auto_scaling_group(AutoScalingGroupName="web-asg", MinSize=0, MaxSize=1, AvailabilityZones=["us-east-1a"],
                                          LaunchTemplate={"LaunchTemplateName": "asg-web", "Version": "1"})

    result = rotate(run_task, instance_ids=[web1], filters=None, retention={"keep_last": 1})

    assert not result.get("failed"), result.get("msg")
    protected = {i["image_id"]: i["reason"] for i in result["images_protected"]}
    assert "launch template web" in protected[by_template]
    assert "instance" in protected[by_instance]
    assert "web-asg" in protected[by_group]
    assert {by_template, by_instance, by_group} <= {i["ImageId"] for i in managed_images(ec2, "daily", web1)}


def test_min_interval_skips_recent_backups(run_task, ec2, fleet):
    rotate(run_task, retention={"keep_last": 3})

    result = rotate(run_task, retention={"keep_last": 3}, min_interval="1h")

    assert result["changed"] is False and result["images_created"] == []
    assert len(result["instances_skipped"]) == 3
    assert "younger than min_interval 1h" in result["instances_skipped"][0]["reason"]
    assert all(len(images) == 1 for images in images_by_instance(ec2, "daily").values())


def test_without_wait_pending_images_do_not_count_as_generations(run_task, ec2, fleet, sim):
    web1 = fleet["web-1"]
    sim.configure(ami_available_after=30)
    rotate(run_task, instance_ids=[web1], filters=None, retention={"keep_last": 1}, wait=False)

    result = rotate(run_task, instance_ids=[web1], filters=None, retention={"keep_last": 1}, wait=False)

    assert result["images_deregistered"] == []
    assert {i["State"] for i in managed_images(ec2, "daily", web1)} == {"pending"}
    assert len(managed_images(ec2, "daily", web1)) == 2


def _playbook_process(sim, args):
    from conftest import ansible_env
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": [{"cloudops.aws.ami_rotate": args}]}]
    path = Path(os.environ.get("TMPDIR", "/tmp")) / ("killed-run-%d.yml" % os.getpid())
    path.write_text(yaml.safe_dump(play))
    return subprocess.Popen([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(path)],
                            env=ansible_env(sim), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _wait_for_call(sim, action, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sim.calls(action=action):
            return
        time.sleep(0.2)
    raise AssertionError("no %s call within %ss" % (action, timeout))


@pytest.mark.parametrize("stall_action, kill_after, deregistered_by_next_run, repair_reason", [
    # Killed after creating, before pruning: the next run prunes two generations per instance.
    ("DescribeLaunchTemplateVersions", "CreateImage", 6, "was deregistered"),
    # Killed after deregistering, before deleting snapshots: the next run finds the orphans.
    ("DeleteSnapshot", "DeregisterImage", 3, "no longer exists"),
])
def test_killed_run_is_repaired_by_the_next_run(run_task, ec2, fleet, sim, stall_action, kill_after, deregistered_by_next_run, repair_reason):
    args = {"filters": WEB, "policy": "daily", "retention": {"keep_last": 1}}
    rotate(run_task, retention={"keep_last": 1})
    sim.configure(latency={"actions": {stall_action: 120}})
    sim.clear_log()
    process = _playbook_process(sim, args)
    _wait_for_call(sim, kill_after)
    time.sleep(3)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    sim.configure(latency={"actions": {stall_action: None}})

    result = rotate(run_task, retention={"keep_last": 1})

    assert not result.get("failed"), result.get("msg")
    assert len(result["images_deregistered"]) == deregistered_by_next_run
    assert any(repair_reason in deleted["reason"] for deleted in result["snapshots_deleted"])
    grouped = images_by_instance(ec2, "daily")
    assert all(len(images) == 1 and images[0]["State"] == "available" for images in grouped.values())
    backing = {s for images in grouped.values() for image in images for s in snapshot_ids_of(image)}
    managed_snapshots = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"], Filters=[
        {"Name": "tag:cloudops:managed-by", "Values": ["cloudops.aws"]}])["Snapshots"]}
    assert managed_snapshots == backing
