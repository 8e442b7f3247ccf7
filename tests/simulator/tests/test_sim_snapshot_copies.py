"""CopySnapshot: pending -> completed, the in-flight limit, cross-account sharing, KMS encryption."""

import json
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from simulator.tests.conftest import NO_RETRIES

DELAY = 0.5
DR_ACCOUNT = "222222222222"


@pytest.fixture
def source(ec2, instance):
    return ec2.create_snapshot(VolumeId=instance["volumes"][1], Description="source")["SnapshotId"]


def assumed(sim, service, account=DR_ACCOUNT, region="us-west-2"):
    sts = boto3.client("sts", endpoint_url=sim.endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/dr-copy", RoleSessionName="test")["Credentials"]
    return boto3.client(service, endpoint_url=sim.endpoint, region_name=region, config=NO_RETRIES,
                        aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials["SessionToken"])


def state_of(ec2, snapshot_id):
    return ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]


def test_a_copy_is_pending_then_completed(sim, aws, source):
    sim.configure(snapshot_completed_after=DELAY)
    west = aws("ec2", "us-west-2")
    copy_id = west.copy_snapshot(SourceSnapshotId=source, SourceRegion="us-east-1", Description="copy",
                                 TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "v"}]}])["SnapshotId"]

    assert state_of(west, copy_id)["State"] == "pending"
    time.sleep(DELAY + 0.1)
    copy = state_of(west, copy_id)
    assert copy["State"] == "completed" and copy["Tags"] == [{"Key": "k", "Value": "v"}]


def test_a_pending_copy_can_be_made_to_end_in_error_in_its_region(sim, aws, source):
    sim.configure(snapshot_completed_after=DELAY)
    west = aws("ec2", "us-west-2")
    copy_id = west.copy_snapshot(SourceSnapshotId=source, SourceRegion="us-east-1")["SnapshotId"]

    sim.fail_snapshot(copy_id, region="us-west-2")

    time.sleep(DELAY + 0.1)
    assert state_of(west, copy_id)["State"] == "error"


def test_copies_in_flight_are_limited_per_destination_region(sim, aws, source):
    sim.configure(snapshot_completed_after=30, snapshot_copies={"in_flight_per_region": 2})
    west, central = aws("ec2", "us-west-2"), aws("ec2", "eu-central-1")
    for _attempt in range(2):
        west.copy_snapshot(SourceSnapshotId=source, SourceRegion="us-east-1")

    with pytest.raises(ClientError) as error:
        west.copy_snapshot(SourceSnapshotId=source, SourceRegion="us-east-1")
    assert error.value.response["Error"]["Code"] == "ResourceLimitExceeded"
    central.copy_snapshot(SourceSnapshotId=source, SourceRegion="us-east-1")  # another Region has its own limit


def test_the_default_limit_is_twenty(sim):
    assert sim.config()["snapshot_copies"] == {"in_flight_per_region": 20}


def test_another_account_copies_only_a_shared_snapshot(sim, ec2, source):
    dr = assumed(sim, "ec2")
    with pytest.raises(ClientError) as error:
        dr.copy_snapshot(SourceSnapshotId=source, SourceRegion="us-east-1")
    assert error.value.response["Error"]["Code"] == "InvalidSnapshot.NotFound"

    ec2.modify_snapshot_attribute(SnapshotId=source, Attribute="createVolumePermission", OperationType="add", UserIds=[DR_ACCOUNT])
    shared = ec2.describe_snapshots(OwnerIds=["self"], RestorableByUserIds=[DR_ACCOUNT])["Snapshots"]
    assert [s["SnapshotId"] for s in shared] == [source]
    copy_id = dr.copy_snapshot(SourceSnapshotId=source, SourceRegion="us-east-1")["SnapshotId"]

    copy = state_of(dr, copy_id)
    assert copy["OwnerId"] == DR_ACCOUNT and copy["State"] == "completed"
    assert copy_id not in {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    ec2.modify_snapshot_attribute(SnapshotId=source, Attribute="createVolumePermission", OperationType="remove", UserIds=[DR_ACCOUNT])
    assert not ec2.describe_snapshots(OwnerIds=["self"], RestorableByUserIds=[DR_ACCOUNT])["Snapshots"]


def encrypted_source(aws, ec2, policy=None):
    kms = aws("kms")
    key = kms.create_key(**({"Policy": json.dumps(policy)} if policy else {}))["KeyMetadata"]
    volume = ec2.create_volume(Size=10, AvailabilityZone="us-east-1a", Encrypted=True, KmsKeyId=key["Arn"])["VolumeId"]
    return ec2.create_snapshot(VolumeId=volume)["SnapshotId"], key


def test_snapshots_of_encrypted_volumes_carry_the_key(aws, ec2):
    snapshot_id, key = encrypted_source(aws, ec2)

    snapshot = state_of(ec2, snapshot_id)
    assert snapshot["Encrypted"] and snapshot["KmsKeyId"] == key["Arn"]


def test_encryption_of_copies(aws, ec2, source):
    west, west_kms = aws("ec2", "us-west-2"), aws("kms", "us-west-2")
    plain = west.copy_snapshot(SourceSnapshotId=source, SourceRegion="us-east-1")["SnapshotId"]
    assert not state_of(west, plain)["Encrypted"]

    with pytest.raises(ClientError) as error:
        west.copy_snapshot(SourceSnapshotId=source, SourceRegion="us-east-1", KmsKeyId="alias/x")
    assert error.value.response["Error"]["Code"] == "InvalidParameterDependency"

    by_default = state_of(west, west.copy_snapshot(SourceSnapshotId=source, SourceRegion="us-east-1", Encrypted=True)["SnapshotId"])
    default_key = west_kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]
    assert by_default["Encrypted"] and by_default["KmsKeyId"] == default_key["Arn"] and default_key["KeyManager"] == "AWS"

    key = west_kms.create_key()["KeyMetadata"]
    chosen = west.copy_snapshot(SourceSnapshotId=source, SourceRegion="us-east-1", Encrypted=True, KmsKeyId=key["KeyId"])["SnapshotId"]
    assert state_of(west, chosen)["KmsKeyId"] == key["Arn"]

    encrypted, _key = encrypted_source(aws, ec2)
    reencrypted = state_of(west, west.copy_snapshot(SourceSnapshotId=encrypted, SourceRegion="us-east-1")["SnapshotId"])
    assert reencrypted["Encrypted"] and reencrypted["KmsKeyId"] == default_key["Arn"]


def test_a_key_of_another_region_ends_the_copy_in_error(aws, ec2, source):
    west = aws("ec2", "us-west-2")
    east_key = aws("kms").create_key()["KeyMetadata"]["Arn"]

    copy_id = west.copy_snapshot(SourceSnapshotId=source, SourceRegion="us-east-1", Encrypted=True, KmsKeyId=east_key)["SnapshotId"]

    copy = state_of(west, copy_id)
    assert copy["State"] == "error" and copy["StateMessage"] == "Given key ID is not accessible"


def test_cross_account_copy_needs_the_source_key_shared(sim, aws, ec2):
    dr = assumed(sim, "ec2")
    private, _key = encrypted_source(aws, ec2)
    shared, _shared_key = encrypted_source(aws, ec2, policy={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::123456789012:root", f"arn:aws:iam::{DR_ACCOUNT}:root"]},
         "Action": "kms:*", "Resource": "*"}]})
    volume = ec2.create_volume(Size=10, AvailabilityZone="us-east-1a", Encrypted=True)["VolumeId"]
    aws_managed = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    for snapshot_id in (private, shared, aws_managed):
        ec2.modify_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission", OperationType="add", UserIds=[DR_ACCOUNT])

    states = {name: state_of(dr, dr.copy_snapshot(SourceSnapshotId=snapshot_id, SourceRegion="us-east-1")["SnapshotId"])["State"]
              for name, snapshot_id in (("private", private), ("shared", shared), ("aws_managed", aws_managed))}

    assert states == {"private": "error", "shared": "completed", "aws_managed": "error"}


def test_assumed_role_credentials_act_in_the_role_account_until_reset(sim):
    dr_sts = assumed(sim, "sts")
    assert dr_sts.get_caller_identity()["Account"] == DR_ACCOUNT

    sim.reset()

    assert dr_sts.get_caller_identity()["Account"] == "123456789012"
