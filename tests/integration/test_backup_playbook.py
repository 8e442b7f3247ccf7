"""playbooks/backup.yml with the simulator inventory, as an operator runs it."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aws_state import images_by_instance
from aws_state import tags_of
from conftest import REPO
from conftest import ansible_env
from conftest import aws_client

DEMO_FLEET = REPO / "tests" / "simulator" / "fleets" / "demo.yml"


def run_playbook(sim, *extra):
    env = ansible_env(sim)
    env.pop("ANSIBLE_STDOUT_CALLBACK")
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(REPO / "inventories" / "simulator" / "hosts.yml"),
         str(REPO / "playbooks" / "backup.yml"), *extra],
        env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.pending  # as in AWS, each run waits for its AMIs before pruning
def test_backup_playbook_rotates_generations_of_tagged_instances(sim, ec2):

    instances = sim.seed(yaml.safe_load(DEMO_FLEET.read_text()))["instances"]
    tagged = {instance_id for name, instance_id in instances.items() if name != "db-old"}
    extra = ["-e", '{"ami_backup_retention": {"keep_last": 1}, "ami_backup_min_interval": ""}']

    first = run_playbook(sim, *extra)
    assert first.returncode == 0, first.stdout + first.stderr
    after_first = images_by_instance(ec2, "daily")
    second = run_playbook(sim, *extra)
    assert second.returncode == 0, second.stdout + second.stderr
    after_second = images_by_instance(ec2, "daily")

    assert set(after_first) == set(after_second) == tagged
    for instance_id in tagged:
        assert len(after_second[instance_id]) == 1
        assert after_second[instance_id][0]["ImageId"] != after_first[instance_id][0]["ImageId"]
        assert tags_of(after_second[instance_id][0])["cloudops:policy"] == "daily"
    assert "%d created, %d deregistered" % (len(tagged), len(tagged)) in second.stdout


def test_backup_playbook_check_mode_changes_nothing(sim, ec2):

    sim.seed(yaml.safe_load(DEMO_FLEET.read_text()))

    result = run_playbook(sim, "--check")

    assert result.returncode == 0, result.stdout + result.stderr
    assert images_by_instance(ec2, "daily") == {}


def test_backup_playbook_cleans_orphans_and_steps_can_be_switched_off(sim, ec2):
    instances = sim.seed(yaml.safe_load(DEMO_FLEET.read_text()))["instances"]
    orphan_image = ec2.create_image(InstanceId=instances["web-1"], Name="made-by-hand", TagSpecifications=[
        {"ResourceType": "image", "Tags": [{"Key": "cloudops:managed-by", "Value": "cloudops.aws"}]},
        {"ResourceType": "snapshot", "Tags": [{"Key": "cloudops:managed-by", "Value": "cloudops.aws"}]}])["ImageId"]
    ec2.get_waiter("image_available").wait(ImageIds=[orphan_image], WaiterConfig={"Delay": 1})
    orphan_snapshots = [m["Ebs"]["SnapshotId"] for m in ec2.describe_images(ImageIds=[orphan_image])["Images"][0]["BlockDeviceMappings"]]
    ec2.deregister_image(ImageId=orphan_image)

    result = run_playbook(sim, "-e", '{"backup_amis": false, "backup_orphan_min_age": "0s"}')

    assert result.returncode == 0, result.stdout + result.stderr
    assert images_by_instance(ec2, "daily") == {}
    remaining = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert not set(orphan_snapshots) & remaining
    assert "orphaned snapshots: %d deleted" % len(orphan_snapshots) in result.stdout


def seed_tagged_web_volumes(sim):
    """Seeds the demo fleet with the web instances' root volumes tagged Backup=daily; their ids."""
    fleet = yaml.safe_load(DEMO_FLEET.read_text())
    fleet["instances"][0]["volumes"][0]["tags"] = {"Backup": "daily"}
    volumes = sim.seed(fleet)["volumes"]
    return {ids[0] for name, ids in volumes.items() if name.startswith("web")}


def test_backup_playbook_snapshot_step_backs_up_tagged_volumes(sim, ec2):
    tagged = seed_tagged_web_volumes(sim)

    result = run_playbook(sim, "-e", '{"backup_amis": false, "backup_snapshots": true}')

    assert result.returncode == 0, result.stdout + result.stderr
    snapshots = ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:cloudops:policy", "Values": ["daily"]}])["Snapshots"]
    assert {s["VolumeId"] for s in snapshots} == tagged
    assert "%d snapshots created" % len(tagged) in result.stdout


def test_backup_playbook_copies_snapshots_to_the_dr_region(sim, ec2):
    tagged = seed_tagged_web_volumes(sim)
    extra = ('{"backup_amis": false, "backup_snapshots": true, "snapshot_backup_dr_region": "us-west-2", '
             '"snapshot_backup_min_interval": "", "snapshot_backup_dr_retention": {"keep_last": 2}}')

    first = run_playbook(sim, "-e", extra)
    second = run_playbook(sim, "-e", extra)

    assert first.returncode == 0, first.stdout + first.stderr
    assert second.returncode == 0, second.stdout + second.stderr
    dr = aws_client(sim, "ec2", "us-west-2")
    copies = dr.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:cloudops:managed-by", "Values": ["cloudops.aws"]}])["Snapshots"]
    lineage = {}
    for copy in copies:
        tags = {t["Key"]: t["Value"] for t in copy.get("Tags", [])}
        assert tags["cloudops:source-region"] == "us-east-1" and tags["cloudops:policy"] == "daily"
        lineage.setdefault(tags["cloudops:source-volume"], []).append(copy)
    # Two runs, two generations of each volume's copy (keep_last 2 in the DR Region).
    assert set(lineage) == tagged
    assert all(len(group) == 2 for group in lineage.values())
    assert "DR us-west-2: %d copies started" % len(tagged) in second.stdout


def test_backup_playbook_dr_copies_leave_the_ami_snapshots_of_the_same_policy_alone(sim, ec2):
    tagged = seed_tagged_web_volumes(sim)
    extra = '{"backup_amis": true, "backup_snapshots": true, "snapshot_backup_dr_region": "us-west-2"}'

    result = run_playbook(sim, "-e", extra)

    assert result.returncode == 0, result.stdout + result.stderr
    # Both steps made "daily" snapshots: the AMIs' (CreateImage) and the volumes' (snapshot_rotate).
    ami_snapshots = [s for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] if "CreateImage" in s.get("Description", "")]
    assert ami_snapshots and all(tags_of(s)["cloudops:policy"] == "daily" for s in ami_snapshots)
    dr = aws_client(sim, "ec2", "us-west-2")
    copies = dr.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:cloudops:managed-by", "Values": ["cloudops.aws"]}])["Snapshots"]
    assert {tags_of(c)["cloudops:source-volume"] for c in copies} == tagged
    assert not {tags_of(c)["cloudops:source-snapshot"] for c in copies} & {s["SnapshotId"] for s in ami_snapshots}
