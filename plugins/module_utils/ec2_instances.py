# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Selecting the instances an operation works on."""

import re

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import all_pages
from ansible_collections.cloudops.aws.plugins.module_utils.selection import REFUSED_FILTER_CODES
from ansible_collections.cloudops.aws.plugins.module_utils.selection import SelectionError
from ansible_collections.cloudops.aws.plugins.module_utils.selection import filter_list
from ansible_collections.cloudops.aws.plugins.module_utils.selection import refusal_named

INSTANCE_ID_PATTERN = re.compile(r"^i-[0-9a-f]{8}([0-9a-f]{9})?$")
# An instance that is going away has nothing left worth backing up.
GONE_STATES = ("shutting-down", "terminated")


def validate_instance_ids(instance_ids, pattern=INSTANCE_ID_PATTERN):
    """The ids, each once, in the order given; SelectionError naming every value `pattern` refuses."""
    bad = [value for value in instance_ids if not pattern.match(str(value))]
    if bad:
        raise SelectionError("instance_ids: not an instance id: %s" % ", ".join(repr(value) for value in bad))
    return list(dict.fromkeys(instance_ids))


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
    if instance_ids:
        validate_instance_ids(instance_ids)
        with refusal_named("instance_ids", instance_ids, ("InvalidInstanceID.NotFound",)):
            reservations = all_pages(ec2.describe_instances, "Reservations", InstanceIds=list(instance_ids))
    else:
        with refusal_named("filters", filters, REFUSED_FILTER_CODES):
            reservations = all_pages(ec2.describe_instances, "Reservations", Filters=filter_list(filters or {}))
    instances = [summarize_instance(i) for reservation in reservations for i in reservation["Instances"]]
    live = [i for i in instances if i["state"] not in GONE_STATES]
    gone = [i["instance_id"] for i in instances if i["state"] in GONE_STATES]
    return sorted(live, key=lambda i: i["instance_id"]), sorted(gone)
