"""The cloudops.aws.restore_drill role and playbook through ansible-playbook against the simulator.

Backups restore on throwaway instances that come up (after a delay) with the files of the instance the image was
made of, or with a volume made from a snapshot holding the volume's files; the verification runs in those sandboxes.
The tests read AWS back: the outcome tags on the images and snapshots, what is left with a drill tag (nothing, but a
drill of another run still under way), the drill instances' network, the calls made; and the role's report and stats.
"""

import datetime
import json

import pytest

from aws_state import managed_images
from aws_state import tags_of
from conftest import run_play

DRILL_TAG = "cloudops:drill-run"
PASSED_TAG = "cloudops:verify-result"


def shell(ssm, instance_id, line):
    """Run a line on an instance of the fleet and wait for it (test set-up, not under test)."""
    command_id = ssm.send_command(InstanceIds=[instance_id], DocumentName="AWS-RunShellScript",
                                  Parameters={"commands": [line]})["Command"]["CommandId"]
    ssm.get_waiter("command_executed").wait(CommandId=command_id, InstanceId=instance_id, WaiterConfig={"Delay": 0.2})


def backup_tags(policy, instance_id, created_at):
    return [{"Key": "cloudops:managed-by", "Value": "cloudops.aws"}, {"Key": "cloudops:policy", "Value": policy},
            {"Key": "cloudops:source-instance", "Value": instance_id}, {"Key": "cloudops:created-at", "Value": created_at}]


def image_backup(ec2, instance_id, name, created_at):
    """An AMI as ami_rotate makes it, tagged at birth."""
    return ec2.create_image(InstanceId=instance_id, Name=name, TagSpecifications=[
        {"ResourceType": "image", "Tags": backup_tags("daily", instance_id, created_at)}])["ImageId"]


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def drill_leftovers(ec2, base_image, subnet, run_id, expires_at):
    """What a drill killed half-way leaves: an instance and a restored volume tagged with its run and expiry."""
    tags = [{"Key": "cloudops:managed-by", "Value": "cloudops.aws"}, {"Key": DRILL_TAG, "Value": run_id},
            {"Key": "cloudops:drill-expires-at", "Value": expires_at}]
    instance = ec2.run_instances(ImageId=base_image, MinCount=1, MaxCount=1, SubnetId=subnet,
                                 TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])["Instances"][0]
    volume = ec2.create_volume(Size=8, AvailabilityZone=instance["Placement"]["AvailabilityZone"],
                               TagSpecifications=[{"ResourceType": "volume", "Tags": tags}])["VolumeId"]
    return instance["InstanceId"], volume


def live_drill_resources(ec2):
    reservations = ec2.describe_instances(Filters=[{"Name": "tag-key", "Values": [DRILL_TAG]}])["Reservations"]
    instances = [i["InstanceId"] for r in reservations for i in r["Instances"] if i["State"]["Name"] != "terminated"]
    volumes = [v["VolumeId"] for v in ec2.describe_volumes(Filters=[{"Name": "tag-key", "Values": [DRILL_TAG]}])["Volumes"]]
    return sorted(instances + volumes)


@pytest.fixture
def world(sim, ec2, ssm):
    """db-1 (a data volume at /dev/xvdf holding orders) and db-2, each with a daily AMI; db-1's data volume with a
    daily snapshot; db-1 also with an older AMI; an isolated subnet and security group; leftovers of a killed drill
    (expired) and a drill under way (not expired)."""
    sim.configure(launches={"pending_seconds": 0.3, "agent_registers_after": 0.8})
    seeded = sim.seed({"instances": [
        {"name": "db-1", "tags": {"Backup": "daily"}, "volumes": [{"device": "/dev/xvda", "size": 8}, {"device": "/dev/xvdf", "size": 20}]},
        {"name": "db-2", "tags": {"Backup": "daily"}},
    ]})
    db1, db2 = seeded["instances"]["db-1"], seeded["instances"]["db-2"]
    data_volume = seeded["volumes"]["db-1"][1]
    shell(ssm, db1, "echo ok > marker && mkdir -p volumes/xvdf && echo order-1 > volumes/xvdf/orders.db")
    now = datetime.datetime.now(datetime.timezone.utc)
    older = image_backup(ec2, db1, "db-1-daily-older", iso(now - datetime.timedelta(days=2)))
    images = {db1: image_backup(ec2, db1, "db-1-daily", iso(now - datetime.timedelta(hours=3))),
              db2: image_backup(ec2, db2, "db-2-daily", iso(now - datetime.timedelta(hours=3)))}
    snapshot = ec2.create_snapshot(VolumeId=data_volume, TagSpecifications=[{"ResourceType": "snapshot", "Tags": backup_tags(
        "daily", db1, iso(now - datetime.timedelta(hours=3))) + [{"Key": "cloudops:source-volume", "Value": data_volume}]}])["SnapshotId"]
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.50.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="restore-drill", Description="isolated", VpcId=vpc)["GroupId"]
    base_image = ec2.describe_instances(InstanceIds=[db2])["Reservations"][0]["Instances"][0]["ImageId"]
    killed = drill_leftovers(ec2, base_image, subnet, "drill-killed", iso(now - datetime.timedelta(minutes=5)))
    under_way = drill_leftovers(ec2, base_image, subnet, "drill-under-way", iso(now + datetime.timedelta(hours=2)))
    sim.clear_log()
    return {"db1": db1, "db2": db2, "older": older, "images": images, "snapshot": snapshot, "data_volume": data_volume,
            "subnet": subnet, "group": group, "base_image": base_image, "killed": killed, "under_way": under_way}


def drill_play(world, report_path):
    network = {"restore_drill_subnet_id": world["subnet"], "restore_drill_security_group_ids": [world["group"]]}
    return [{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "module_defaults": {"group/cloudops.aws.aws": {"region": "us-east-1"}},
        "tasks": [
            # db-1's image holds the marker, db-2's does not: one passes, one fails, and the role fails at its end.
            {"name": "Drill the daily AMIs", "block": [{"name": "Role", "ansible.builtin.include_role": {"name": "cloudops.aws.restore_drill"}, "vars": dict(
                network, restore_drill_filters={"tag:Backup": "daily"}, restore_drill_policy="daily", restore_drill_run_id="drill-images",
                restore_drill_commands=["test -f marker"], restore_drill_report_path=report_path)}],
             "rescue": [{"name": "Expected", "ansible.builtin.set_fact": {"images_drill_failed": True}}]},
            {"name": "Drill the data volume's snapshot on a helper", "ansible.builtin.include_role": {"name": "cloudops.aws.restore_drill"}, "vars": dict(
                network, restore_drill_source="snapshot", restore_drill_volume_ids=[world["data_volume"]], restore_drill_run_id="drill-volume",
                restore_drill_helper_image_id=world["base_image"], restore_drill_commands=["grep -qx order-1 volumes/sdf/orders.db"])},
            {"name": "Drill the daily AMIs again: nothing new", "ansible.builtin.include_role": {"name": "cloudops.aws.restore_drill"}, "vars": dict(
                network, restore_drill_filters={"tag:Backup": "daily"}, restore_drill_run_id="drill-again", restore_drill_commands=["test -f marker"])},
            {"name": "Back up db-1, keeping the last image and the newest verified one", "cloudops.aws.ami_rotate": {
                "instance_ids": [world["db1"]], "policy": "daily", "retention": {"keep_last": 1}, "keep_verified": 1}, "register": "rotation"},
        ],
    }]


def test_drills_record_outcomes_leave_nothing_behind_and_keep_verified_keeps_the_proved_image(sim, ec2, world, tmp_path):
    report_path = tmp_path / "drill.json"

    stdout, stderr = run_play(sim, drill_play(world, str(report_path)), env={"ANSIBLE_SHOW_CUSTOM_STATS": "true"})
    output = json.loads(stdout)
    tasks = {task["task"]["name"]: task["hosts"]["localhost"] for task in output["plays"][0]["tasks"]}
    assert tasks["Expected"]["ansible_facts"]["images_drill_failed"] is True, stderr

    # The outcomes, on the images and the snapshot.
    db1_image, db2_image = world["images"][world["db1"]], world["images"][world["db2"]]
    tags = {image["ImageId"]: tags_of(image) for image in managed_images(ec2)}
    assert tags[db1_image][PASSED_TAG] == "passed" and tags[db2_image][PASSED_TAG] == "failed"
    snapshot = ec2.describe_snapshots(SnapshotIds=[world["snapshot"]])["Snapshots"][0]
    assert tags_of(snapshot)[PASSED_TAG] == "passed" and tags_of(snapshot)["cloudops:verified-at"].endswith("Z")

    # Nothing of the three drills is left, nor the killed drill's leftovers; the drill under way is untouched.
    assert live_drill_resources(ec2) == sorted(world["under_way"])
    calls = sim.calls()
    launches = [call for call in calls if call["action"] == "RunInstances"]
    assert len(launches) == 3  # db-1, db-2, the snapshot's helper; the third drill found nothing new
    assert {call["resource_ids"][0] for call in calls if call["action"] == "TerminateInstances"} >= {world["killed"][0]}
    drilled = ec2.describe_instances(Filters=[{"Name": "tag:" + DRILL_TAG, "Values": ["drill-images", "drill-volume"]}])["Reservations"]
    drilled = [i for r in drilled for i in r["Instances"]]
    assert len(drilled) == 3 and all(i["SubnetId"] == world["subnet"] and "PublicIpAddress" not in i for i in drilled)
    assert {i["ImageId"] for i in drilled} == {db1_image, db2_image, world["base_image"]}

    # The report per source, and the stats for AWX.
    report = json.loads(report_path.read_text())
    results = {drill["source_id"]: drill for drill in report["drills"]}
    assert results[world["db1"]]["result"] == "passed" and results[world["db1"]]["backup_id"] == db1_image
    assert 0 < results[world["db1"]]["seconds_to_verified"] < 60 and results[world["db1"]]["cleanup"] == "done"
    assert results[world["db2"]]["result"] == "failed" and "exit code 1" in results[world["db2"]]["reason"]
    assert sorted(entry["resource_id"] for entry in report["leftovers_removed"]) == sorted(world["killed"])
    stats = output["global_custom_stats"]
    assert stats["restore_drill_failed_sources"] == ["localhost: %s" % world["db2"]]
    assert stats["restore_drill_failed_targets"] == ["localhost"]
    assert stats["restore_drill_totals"]["localhost/drill-volume"]["passed"] == 1
    assert stats["restore_drill_totals"]["localhost/drill-again"]["skipped"] == 2
    assert stats["restore_drill_incomplete_cleanups"] == []

    # keep_verified: the newest verified image outlives keep_last 1; the older, unverified one goes.
    rotation = tasks["Back up db-1, keeping the last image and the newest verified one"]
    kept = {entry["image_id"]: entry["reason"] for entry in rotation["images_retained"]}
    assert kept[db1_image].startswith("keep_verified (1 of 1): restore drill passed ")
    assert [entry["image_id"] for entry in rotation["images_deregistered"]] == [world["older"]]
    assert {image["ImageId"] for image in managed_images(ec2, "daily", world["db1"])} == {db1_image, rotation["images_created"][0]["image_id"]}


def test_a_bad_variable_is_refused_by_its_name_before_any_change(sim, ec2, world):
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "module_defaults": {"group/cloudops.aws.aws": {"region": "us-east-1"}},
             "roles": [{"role": "cloudops.aws.restore_drill", "vars": {
                 "restore_drill_source": "snapshot", "restore_drill_volume_ids": [world["data_volume"]], "restore_drill_subnet_id": world["subnet"],
                 "restore_drill_security_group_ids": [world["group"]], "restore_drill_commands": ["true"]}}]}]

    stdout, _stderr = run_play(sim, play)

    failed = [task["hosts"]["localhost"]["msg"] for task in json.loads(stdout)["plays"][0]["tasks"] if task["hosts"]["localhost"].get("failed")]
    assert failed[-1].startswith("restore_drill_helper_image_id: with source=snapshot, the AMI of the instance"), failed
    # The killed drill's leftovers too are still there: a refused start changes nothing.
    assert [call for call in sim.calls() if not call["action"].startswith("Describe")] == []
    assert sorted(world["killed"]) == sorted(r for r in live_drill_resources(ec2) if r in world["killed"])
