# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS I/O for EBS snapshots: create (single and multi-volume), batched describes, wait, delete, and copies
to another Region or account (copy, find the managed copies, share the sources)."""

import re

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import tolerating
from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import all_pages
from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import chunks
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import MANAGED_BY_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import MANAGED_BY_VALUE
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import SOURCE_REGION_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import SOURCE_VOLUME_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import created_at_of
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import is_managed
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import parse_aws_time
from ansible_collections.cloudops.aws.plugins.module_utils.waiting import poll_until_settled

CREATE_IMAGE_DESCRIPTION = re.compile(r"^Created by CreateImage\([^)]*\) for (ami-[0-9a-f]+)")


def image_id_from_description(description):
    """The AMI id in AWS's "Created by CreateImage(i-...) for ami-..." snapshot description, or None."""
    match = CREATE_IMAGE_DESCRIPTION.search(description)
    return match.group(1) if match else None


def summarize_snapshot(snapshot):
    """The fields the collection needs, with tags as a dict and the AMI a CreateImage snapshot was made for."""
    tags = boto3_tag_list_to_ansible_dict(snapshot.get("Tags", []))
    return {
        "snapshot_id": snapshot["SnapshotId"],
        "volume_id": snapshot.get("VolumeId", ""),
        "state": snapshot["State"],
        "image_id": image_id_from_description(snapshot.get("Description", "")),
        "volume_size": snapshot.get("VolumeSize", 0),
        "start_time": parse_aws_time(snapshot["StartTime"]),
        "description": snapshot.get("Description", ""),
        "tags": tags,
        # Generations: grouped by the volume lineage tag (copies keep their source's), aged by created-at.
        "source_volume": tags.get(SOURCE_VOLUME_KEY) or snapshot.get("VolumeId", ""),
        "created_at": created_at_of(tags, snapshot["StartTime"]),
        "managed": is_managed(tags),
        # Copies need these: a copy's key, and AWS's reason when a copy ends in error.
        "encrypted": bool(snapshot.get("Encrypted")),
        "kms_key_id": snapshot.get("KmsKeyId"),
        "state_message": snapshot.get("StateMessage", ""),
    }


def describe_snapshots(ec2, filters):
    """This account's snapshots matching DescribeSnapshots filters, in one paginated describe."""
    return [summarize_snapshot(snapshot) for snapshot in all_pages(ec2.describe_snapshots, "Snapshots", OwnerIds=["self"], Filters=filters)]


def describe_snapshots_by_id(ec2, snapshot_ids):
    """{snapshot_id: summary} for those that exist; a filter, not SnapshotIds, so a gone id fails nothing."""
    found = {}
    for chunk in chunks(snapshot_ids):
        for summary in describe_snapshots(ec2, [{"Name": "snapshot-id", "Values": chunk}]):
            found[summary["snapshot_id"]] = summary
    return found


def wait_for_snapshots(ec2, snapshot_ids, timeout, **clock):
    """{snapshot_id: summary} once no snapshot is pending or time is up, one DescribeSnapshots a round for all."""
    return poll_until_settled(lambda ids: describe_snapshots_by_id(ec2, ids).values(), "snapshot_id", snapshot_ids, timeout, **clock)


# AWS answers these while earlier snapshots of the volume are pending or too recent: they are
# waited out (minutes at most), never reported as failures.
VOLUME_LIMIT_ERRORS = ["ConcurrentSnapshotLimitExceeded", "SnapshotCreationPerVolumeRateExceeded"]
wait_out_volume_limits = AWSRetry.jittered_backoff(retries=12, delay=5, max_delay=60, catch_extra_error_codes=VOLUME_LIMIT_ERRORS)


@wait_out_volume_limits
def create_volume_snapshot(ec2, volume_id, description, tags):
    """CreateSnapshot tagged at birth; returns the snapshot id."""
    return ec2.create_snapshot(
        aws_retry=True, VolumeId=volume_id, Description=description,
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": ansible_dict_to_boto3_tag_list(tags)}])["SnapshotId"]


@wait_out_volume_limits
def create_instance_snapshots(ec2, instance_id, exclude_boot_volume, excluded_data_volume_ids, description, tags, copy_volume_tags):
    """CreateSnapshots: one crash-consistent set of an instance's volumes; returns {snapshot_id: volume_id}."""
    specification = {"InstanceId": instance_id, "ExcludeBootVolume": exclude_boot_volume}
    if excluded_data_volume_ids:
        specification["ExcludeDataVolumeIds"] = list(excluded_data_volume_ids)
    extra = {"CopyTagsFromSource": "volume"} if copy_volume_tags else {}
    snapshots = ec2.create_snapshots(
        aws_retry=True, InstanceSpecification=specification, Description=description,
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": ansible_dict_to_boto3_tag_list(tags)}], **extra)["Snapshots"]
    return {snapshot["SnapshotId"]: snapshot["VolumeId"] for snapshot in snapshots}


def tag_resource(ec2, resource_id, tags):
    ec2.create_tags(aws_retry=True, Resources=[resource_id], Tags=ansible_dict_to_boto3_tag_list(tags))


def delete_snapshot(ec2, snapshot_id):
    """Delete a snapshot; one already gone counts as done (a retry after a lost answer finds it so)."""
    with tolerating(["InvalidSnapshot.NotFound"]):
        ec2.delete_snapshot(aws_retry=True, SnapshotId=snapshot_id)


def describe_copies(ec2, source_region):
    """The managed copies in the destination whose sources are in source_region."""
    filters = [{"Name": "tag:" + MANAGED_BY_KEY, "Values": [MANAGED_BY_VALUE]}, {"Name": "tag:" + SOURCE_REGION_KEY, "Values": [source_region]}]
    return describe_snapshots(ec2, filters)


def shared_snapshot_ids(ec2, account_id):
    """Ids of this account's snapshots that account_id may create volumes from."""
    return {s["SnapshotId"] for s in all_pages(ec2.describe_snapshots, "Snapshots", OwnerIds=["self"], RestorableByUserIds=[account_id])}


def set_shared(ec2, snapshot_id, account_id, shared):
    """Let account_id create volumes from (and so copy) the snapshot, or stop letting it."""
    ec2.modify_snapshot_attribute(aws_retry=True, SnapshotId=snapshot_id, Attribute="createVolumePermission",
                                  OperationType="add" if shared else "remove", UserIds=[account_id])


def copy_snapshot(ec2, source_region, source_snapshot_id, description, tags, encrypted, kms_key_id):
    """CopySnapshot into the Region (and account) of `ec2`, tagged at birth; returns the copy's id."""
    params = {"SourceRegion": source_region, "SourceSnapshotId": source_snapshot_id, "Description": description,
              "TagSpecifications": [{"ResourceType": "snapshot", "Tags": ansible_dict_to_boto3_tag_list(tags)}]}
    if encrypted:
        params["Encrypted"] = True
    if kms_key_id:
        params["KmsKeyId"] = kms_key_id
    return ec2.copy_snapshot(aws_retry=True, **params)["SnapshotId"]
