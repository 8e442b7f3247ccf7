"""Instances launched from an image the simulator saw made (pending, then running, SSM-managed once
booted, with the imaged instance's files), and the files on volumes, their snapshots and the volumes
made from them."""

import time

import pytest
from botocore.exceptions import ClientError

from simulator.tests.test_sim_root_volumes import run

SHELL = "AWS-RunShellScript"


@pytest.fixture
def ssm(aws):
    return aws("ssm")


def state_of(ec2, instance_id):
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]


def managed(ssm, instance_id):
    nodes = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])["InstanceInformationList"]
    return [node["PingStatus"] for node in nodes]


def image_of(ec2, instance_id):
    image_id = ec2.create_image(InstanceId=instance_id, Name="backup-" + instance_id)["ImageId"]
    ec2.get_waiter("image_available").wait(ImageIds=[image_id], WaiterConfig={"Delay": 0.1})
    return image_id


def test_an_instance_from_a_made_image_is_pending_then_running_and_managed_once_booted_with_the_images_files(sim, ec2, ssm, instance):
    # Long enough for the three checks just after the launch on a busy machine (0.3 s and 0.6 s were not).
    sim.configure(launches={"pending_seconds": 1.5, "agent_registers_after": 3})
    run(ssm, instance["id"], "echo v1 > version")
    image_id = image_of(ec2, instance["id"])
    run(ssm, instance["id"], "echo v2 > version")

    launched = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)["Instances"][0]
    restored = launched["InstanceId"]

    assert launched["State"] == {"Code": 0, "Name": "pending"}
    assert state_of(ec2, restored) == {"Code": 0, "Name": "pending"}
    assert managed(ssm, restored) == []
    with pytest.raises(ClientError) as refused:
        ssm.send_command(InstanceIds=[restored], DocumentName=SHELL, Parameters={"commands": ["true"]})
    assert refused.value.response["Error"]["Code"] == "InvalidInstanceId"
    time.sleep(1.6)
    assert state_of(ec2, restored) == {"Code": 16, "Name": "running"}
    time.sleep(1.5)
    assert managed(ssm, restored) == ["Online"]
    # The files as they were when the image was made, not as they are on the source now.
    assert run(ssm, restored, "cat version") == "v1\n"
    assert run(ssm, instance["id"], "cat version") == "v2\n"


def test_a_booting_instance_can_be_terminated_and_stopped_as_moto_does(sim, ec2, instance):
    sim.configure(launches={"pending_seconds": 5, "agent_registers_after": 5})
    image_id = image_of(ec2, instance["id"])
    restored = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]

    ended = ec2.terminate_instances(InstanceIds=[restored])["TerminatingInstances"][0]

    assert ended["PreviousState"]["Name"] == "pending"
    assert state_of(ec2, restored)["Name"] == "terminated"


def test_an_instance_from_the_fleets_base_image_runs_at_once(ec2, ssm, instance):
    base_image = ec2.describe_instances(InstanceIds=[instance["id"]])["Reservations"][0]["Instances"][0]["ImageId"]

    launched = ec2.run_instances(ImageId=base_image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]

    assert state_of(ec2, launched)["Name"] == "running"
    assert managed(ssm, launched) == ["Online"]


def test_a_snapshot_holds_the_volumes_files_and_a_volume_from_it_shows_them_where_it_is_attached(ec2, ssm, instance):
    data_volume = instance["volumes"][1]  # at /dev/sdf
    run(ssm, instance["id"], "mkdir -p volumes/sdf && echo order-1 > volumes/sdf/orders.db")
    snapshot_id = ec2.create_snapshot(VolumeId=data_volume)["SnapshotId"]
    run(ssm, instance["id"], "echo order-2 >> volumes/sdf/orders.db")
    helper = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]

    restored = ec2.create_volume(SnapshotId=snapshot_id, AvailabilityZone=helper["Placement"]["AvailabilityZone"])["VolumeId"]
    ec2.attach_volume(VolumeId=restored, InstanceId=helper["InstanceId"], Device="/dev/sdh")

    assert run(ssm, helper["InstanceId"], "cat volumes/sdh/orders.db") == "order-1\n"
    assert run(ssm, instance["id"], "cat volumes/sdf/orders.db") == "order-1\norder-2\n"
    # Detached, the volume keeps its files; attached elsewhere, they are there.
    run(ssm, helper["InstanceId"], "echo checked > volumes/sdh/drill")
    ec2.detach_volume(VolumeId=restored, InstanceId=helper["InstanceId"])
    assert run(ssm, helper["InstanceId"], "ls volumes") == ""
    ec2.attach_volume(VolumeId=restored, InstanceId=instance["id"], Device="/dev/sdk")
    assert run(ssm, instance["id"], "cat volumes/sdk/drill volumes/sdk/orders.db") == "checked\norder-1\n"


def test_a_root_volume_snapshot_holds_the_sandbox_and_a_copy_holds_the_same_files(ec2, ssm, aws, instance):
    run(ssm, instance["id"], "mkdir -p etc volumes/sdf && echo web > etc/role && echo x > volumes/sdf/data")
    root_snapshot = ec2.create_snapshots(InstanceSpecification={"InstanceId": instance["id"], "ExcludeBootVolume": False})["Snapshots"]
    root = next(s["SnapshotId"] for s in root_snapshot if s["VolumeId"] == instance["volumes"][0])
    dr = aws("ec2", region="us-west-2")
    copy_id = dr.copy_snapshot(SourceRegion="us-east-1", SourceSnapshotId=root)["SnapshotId"]
    helper = dr.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]

    restored = dr.create_volume(SnapshotId=copy_id, AvailabilityZone=helper["Placement"]["AvailabilityZone"])["VolumeId"]
    dr.attach_volume(VolumeId=restored, InstanceId=helper["InstanceId"], Device="/dev/sdf")

    dr_ssm = aws("ssm", region="us-west-2")
    # The root file system, without the data volumes mounted in it.
    assert run(dr_ssm, helper["InstanceId"], "cat volumes/sdf/etc/role; ls volumes/sdf") == "web\netc\n"


def test_every_volume_has_a_snapshot_id_empty_when_not_made_from_one(ec2, instance):
    snapshot_id = ec2.create_snapshot(VolumeId=instance["volumes"][1])["SnapshotId"]
    restored = ec2.create_volume(SnapshotId=snapshot_id, AvailabilityZone="us-east-1a")["VolumeId"]

    volumes = {v["VolumeId"]: v for v in ec2.describe_volumes()["Volumes"]}

    assert volumes[instance["volumes"][1]]["SnapshotId"] == "" and volumes[restored]["SnapshotId"] == snapshot_id
    filtered = ec2.describe_volumes(Filters=[{"Name": "snapshot-id", "Values": [snapshot_id]}])["Volumes"]
    assert [v["VolumeId"] for v in filtered] == [restored]
