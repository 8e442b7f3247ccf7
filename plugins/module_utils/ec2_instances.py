# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Selecting the instances an operation works on."""

import re

try:
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.amazon.aws.plugins.module_utils.transformation import ansible_dict_to_boto3_filter_list

from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import all_pages

INSTANCE_ID_PATTERN = re.compile(r"^i-[0-9a-f]{8}([0-9a-f]{9})?$")
# An instance that is going away has nothing left worth backing up.
GONE_STATES = ("shutting-down", "terminated")


class SelectionError(Exception):
    """The selection names something that does not exist or is not an instance id."""


def validate_instance_ids(instance_ids):
    bad = [value for value in instance_ids if not INSTANCE_ID_PATTERN.match(str(value))]
    if bad:
        raise SelectionError("instance_ids: not an instance id: %s" % ", ".join(repr(value) for value in bad))


def summarize_instance(instance):
    tags = boto3_tag_list_to_ansible_dict(instance.get("Tags", []))
    return {
        "instance_id": instance["InstanceId"],
        "name": tags.get("Name", ""),
        "state": instance["State"]["Name"],
        "tags": tags,
        "root_device": instance.get("RootDeviceName", ""),
        "block_device_mappings": instance.get("BlockDeviceMappings", []),
    }


def select_instances(ec2, instance_ids=None, filters=None):
    """(live instances, ids of gone instances) for explicit ids or for DescribeInstances filters."""
    params = {}
    if instance_ids:
        validate_instance_ids(instance_ids)
        params["InstanceIds"] = list(instance_ids)
    else:
        params["Filters"] = ansible_dict_to_boto3_filter_list(filters or {})
    try:
        reservations = all_pages(ec2.describe_instances, "Reservations", **params)
    except ClientError as error:
        if error.response["Error"]["Code"] == "InvalidInstanceID.NotFound":
            raise SelectionError("instance_ids: %s" % error.response["Error"]["Message"]) from error
        raise
    instances = [summarize_instance(i) for reservation in reservations for i in reservation["Instances"]]
    live = [i for i in instances if i["state"] not in GONE_STATES]
    gone = [i["instance_id"] for i in instances if i["state"] in GONE_STATES]
    return sorted(live, key=lambda i: i["instance_id"]), sorted(gone)
