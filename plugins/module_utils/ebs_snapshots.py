# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS I/O for EBS snapshots: batched describes, wait, delete."""

import re

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import all_pages
from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import chunks
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import parse_aws_time
from ansible_collections.cloudops.aws.plugins.module_utils.waiting import poll_until_settled

CREATE_IMAGE_DESCRIPTION = re.compile(r"^Created by CreateImage\([^)]*\) for (ami-[0-9a-f]+)")


def image_id_from_description(description):
    """The AMI id in AWS's "Created by CreateImage(i-...) for ami-..." snapshot description, or None."""
    match = CREATE_IMAGE_DESCRIPTION.search(description)
    return match.group(1) if match else None


def summarize_snapshot(snapshot):
    """The fields the collection needs, with tags as a dict and the AMI a CreateImage snapshot was made for."""
    return {
        "snapshot_id": snapshot["SnapshotId"],
        "volume_id": snapshot.get("VolumeId", ""),
        "state": snapshot["State"],
        "image_id": image_id_from_description(snapshot.get("Description", "")),
        "volume_size": snapshot.get("VolumeSize", 0),
        "start_time": parse_aws_time(snapshot["StartTime"]),
        "tags": boto3_tag_list_to_ansible_dict(snapshot.get("Tags", [])),
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


def delete_snapshot(ec2, snapshot_id):
    ec2.delete_snapshot(aws_retry=True, SnapshotId=snapshot_id)
