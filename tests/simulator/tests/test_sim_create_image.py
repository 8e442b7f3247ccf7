"""CreateImage, RegisterImage, DeregisterImage and DeleteSnapshot as AWS documents them."""

import pytest
from botocore.exceptions import ClientError


def image_snapshots(ec2, image):
    ids = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"]]
    return {s["SnapshotId"]: s for s in ec2.describe_snapshots(SnapshotIds=ids)["Snapshots"]}


def test_create_image_snapshots_every_attached_volume(ec2, instance):
    image_id = ec2.create_image(InstanceId=instance["id"], Name="backup-1")["ImageId"]

    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    devices = [(m["DeviceName"], m["Ebs"]["VolumeSize"]) for m in image["BlockDeviceMappings"]]
    assert devices == [("/dev/xvda", 8), ("/dev/sdf", 100), ("/dev/sdg", 30)]
    assert image["RootDeviceName"] == "/dev/xvda"
    assert image["RootDeviceType"] == "ebs"
    snapshots = image_snapshots(ec2, image)
    assert len(snapshots) == 3
    assert sorted(s["VolumeId"] for s in snapshots.values()) == sorted(instance["volumes"])
    for mapping in image["BlockDeviceMappings"]:
        snapshot = snapshots[mapping["Ebs"]["SnapshotId"]]
        assert snapshot["VolumeSize"] == mapping["Ebs"]["VolumeSize"]
        assert snapshot["Description"] == f"Created by CreateImage({instance['id']}) for {image_id}"


def test_create_image_tags_image_and_snapshots_from_tag_specifications(ec2, instance):
    image_id = ec2.create_image(
        InstanceId=instance["id"], Name="backup-tags",
        TagSpecifications=[
            {"ResourceType": "image", "Tags": [{"Key": "cloudops:policy", "Value": "daily"}]},
            {"ResourceType": "snapshot", "Tags": [{"Key": "cloudops:source-instance", "Value": instance["id"]}]},
        ],
    )["ImageId"]

    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    assert image["Tags"] == [{"Key": "cloudops:policy", "Value": "daily"}]
    for snapshot in image_snapshots(ec2, image).values():
        assert snapshot["Tags"] == [{"Key": "cloudops:source-instance", "Value": instance["id"]}]


def test_create_image_rejects_other_tag_resource_types(ec2, instance):
    with pytest.raises(ClientError) as error:
        ec2.create_image(InstanceId=instance["id"], Name="backup-bad-tags",
                         TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "a", "Value": "b"}]}])
    assert error.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_create_image_with_a_name_in_use_is_a_duplicate(ec2, instance):
    first = ec2.create_image(InstanceId=instance["id"], Name="backup-dup")["ImageId"]

    with pytest.raises(ClientError) as error:
        ec2.create_image(InstanceId=instance["id"], Name="backup-dup")

    assert error.value.response["Error"]["Code"] == "InvalidAMIName.Duplicate"
    assert error.value.response["Error"]["Message"] == f"AMI name backup-dup is already in use by AMI {first}"
    assert len(ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": ["backup-dup"]}])["Images"]) == 1


def test_register_image_with_a_name_in_use_is_a_duplicate(ec2, instance):
    ec2.create_image(InstanceId=instance["id"], Name="backup-reg")

    with pytest.raises(ClientError) as error:
        ec2.register_image(Name="backup-reg", RootDeviceName="/dev/xvda")
    assert error.value.response["Error"]["Code"] == "InvalidAMIName.Duplicate"


def test_a_deregistered_name_can_be_reused(ec2, instance):
    first = ec2.create_image(InstanceId=instance["id"], Name="backup-reuse")["ImageId"]
    ec2.deregister_image(ImageId=first)

    assert ec2.create_image(InstanceId=instance["id"], Name="backup-reuse")["ImageId"] != first


def test_register_image_from_snapshots_keeps_their_devices(ec2, instance):
    source = ec2.describe_images(ImageIds=[ec2.create_image(InstanceId=instance["id"], Name="src")["ImageId"]])
    mappings = [
        {"DeviceName": m["DeviceName"], "Ebs": {"SnapshotId": m["Ebs"]["SnapshotId"]}}
        for m in source["Images"][0]["BlockDeviceMappings"]
    ]

    image_id = ec2.register_image(Name="restored", RootDeviceName="/dev/xvda", BlockDeviceMappings=mappings,
                                  Architecture="arm64", VirtualizationType="hvm")["ImageId"]

    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    assert [(m["DeviceName"], m["Ebs"]["VolumeSize"]) for m in image["BlockDeviceMappings"]] == [
        ("/dev/xvda", 8), ("/dev/sdf", 100), ("/dev/sdg", 30)]
    assert image["Architecture"] == "arm64"


def test_deregister_image_leaves_its_snapshots(ec2, instance):
    image_id = ec2.create_image(InstanceId=instance["id"], Name="backup-dereg")["ImageId"]
    snapshot_ids = list(image_snapshots(ec2, ec2.describe_images(ImageIds=[image_id])["Images"][0]))

    ec2.deregister_image(ImageId=image_id)

    assert ec2.describe_images(Owners=["self"], Filters=[{"Name": "image-id", "Values": [image_id]}])["Images"] == []
    remaining = ec2.describe_snapshots(SnapshotIds=snapshot_ids)["Snapshots"]
    assert sorted(s["SnapshotId"] for s in remaining) == sorted(snapshot_ids)
    for snapshot_id in snapshot_ids:
        ec2.delete_snapshot(SnapshotId=snapshot_id)
    assert ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": snapshot_ids}])["Snapshots"] == []


def test_delete_snapshot_of_a_registered_image_is_in_use(ec2, instance):
    image_id = ec2.create_image(InstanceId=instance["id"], Name="backup-inuse")["ImageId"]
    snapshot_id = ec2.describe_images(ImageIds=[image_id])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]

    with pytest.raises(ClientError) as error:
        ec2.delete_snapshot(SnapshotId=snapshot_id)
    assert error.value.response["Error"]["Code"] == "InvalidSnapshot.InUse"
