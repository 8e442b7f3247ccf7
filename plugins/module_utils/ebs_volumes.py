# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Selecting the EBS volumes to snapshot: by id, by DescribeVolumes filters, or by instance."""

import re

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import all_pages
from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import chunks
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_instances import select_instances
from ansible_collections.cloudops.aws.plugins.module_utils.selection import REFUSED_FILTER_CODES
from ansible_collections.cloudops.aws.plugins.module_utils.selection import SelectionError
from ansible_collections.cloudops.aws.plugins.module_utils.selection import filter_list
from ansible_collections.cloudops.aws.plugins.module_utils.selection import refusal_named

VOLUME_ID_PATTERN = re.compile(r"^vol-[0-9a-f]{8}([0-9a-f]{9})?$")


def summarize_volume(volume):
    attachments = volume.get("Attachments", [])
    return {
        "volume_id": volume["VolumeId"],
        "instance_id": attachments[0]["InstanceId"] if attachments else "",
        "device": attachments[0]["Device"] if attachments else "",
        "size": volume.get("Size", 0),
        "tags": boto3_tag_list_to_ansible_dict(volume.get("Tags", [])),
    }


def select_volumes(ec2, volume_ids=None, filters=None):
    """Volumes by explicit id (an unknown id is an error) or by DescribeVolumes filters."""
    if volume_ids:
        bad = [value for value in volume_ids if not VOLUME_ID_PATTERN.match(str(value))]
        if bad:
            raise SelectionError("volume_ids: not a volume id: %s" % ", ".join(repr(value) for value in bad))
        with refusal_named("volume_ids", volume_ids, ("InvalidVolume.NotFound",)):
            volumes = all_pages(ec2.describe_volumes, "Volumes", VolumeIds=list(volume_ids))
    else:
        with refusal_named("filters", filters, REFUSED_FILTER_CODES):
            volumes = all_pages(ec2.describe_volumes, "Volumes", Filters=filter_list(filters or {}))
    return sorted((summarize_volume(v) for v in volumes), key=lambda v: v["volume_id"])


def select_instance_volume_sets(ec2, instance_ids, exclude_boot_volume, exclude_devices):
    """(sets, gone instance ids): per live instance, the attached volumes a multi-volume snapshot takes.

    A set is {"instance_id", "volumes": [volume summaries], "excluded_data_volume_ids"}, as
    CreateSnapshots takes it (the boot volume is excluded by its own flag).
    """
    instances, gone = select_instances(ec2, instance_ids=instance_ids)
    volume_ids = [m["Ebs"]["VolumeId"] for i in instances for m in i["block_device_mappings"] if "Ebs" in m]
    volumes = {}
    for chunk in chunks(volume_ids):
        for volume in all_pages(ec2.describe_volumes, "Volumes", Filters=[{"Name": "volume-id", "Values": chunk}]):
            volumes[volume["VolumeId"]] = summarize_volume(volume)
    sets = []
    for instance in instances:
        taken, excluded = [], []
        for mapping in instance["block_device_mappings"]:
            if "Ebs" not in mapping or mapping["Ebs"]["VolumeId"] not in volumes:
                continue
            is_root = mapping["DeviceName"] == instance["root_device"]
            volume = volumes[mapping["Ebs"]["VolumeId"]]
            if not is_root and mapping["DeviceName"] in exclude_devices:
                excluded.append(volume["volume_id"])
            elif not (is_root and exclude_boot_volume):
                taken.append(volume)
        sets.append({"instance_id": instance["instance_id"], "volumes": taken, "excluded_data_volume_ids": excluded})
    return sets, gone
