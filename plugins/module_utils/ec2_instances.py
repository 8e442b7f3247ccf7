# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Selecting the instances an operation works on."""

import re

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import all_pages
from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import chunks
from ansible_collections.cloudops.aws.plugins.module_utils.selection import REFUSED_FILTER_CODES
from ansible_collections.cloudops.aws.plugins.module_utils.selection import SelectionError
from ansible_collections.cloudops.aws.plugins.module_utils.selection import filter_list
from ansible_collections.cloudops.aws.plugins.module_utils.selection import refusal_named
from ansible_collections.cloudops.aws.plugins.module_utils.waiting import poll_until_settled

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
        "image_id": instance.get("ImageId", ""),
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
            # AWS's largest page: a fleet of up to 1000 is one call (MaxResults cannot go with InstanceIds).
            reservations = all_pages(ec2.describe_instances, "Reservations", Filters=filter_list(filters or {}), MaxResults=1000)
    instances = [summarize_instance(i) for reservation in reservations for i in reservation["Instances"]]
    live = [i for i in instances if i["state"] not in GONE_STATES]
    gone = [i["instance_id"] for i in instances if i["state"] in GONE_STATES]
    return sorted(live, key=lambda i: i["instance_id"]), sorted(gone)


# -- starting and stopping (patch_rollout's start_stopped) ------------------------------------------

# States an instance passes through on its way to running or stopped.
TRANSITIONAL_STATES = ("pending", "stopping")


def describe_instances_by_id(ec2, instance_ids):
    """Instance summaries, one DescribeInstances per 200 ids; a filter, not InstanceIds, so an id EC2 does not
    know (yet, just after a launch) is left out rather than failing the call."""
    summaries = []
    for chunk in chunks(instance_ids):
        reservations = all_pages(ec2.describe_instances, "Reservations", Filters=[{"Name": "instance-id", "Values": chunk}])
        summaries += [summarize_instance(instance) for reservation in reservations for instance in reservation["Instances"]]
    return summaries


def describe_instance_states(ec2, instance_ids):
    """[{instance_id, state}], one DescribeInstances per 200 ids.

    `stopping` also reads `pending`: poll_until_settled waits while a state is `pending`.
    """
    return [{"instance_id": summary["instance_id"], "state": "pending" if summary["state"] in TRANSITIONAL_STATES else summary["state"]}
            for summary in describe_instances_by_id(ec2, instance_ids)]


def wait_for_instance_states(ec2, instance_ids, timeout, **clock):
    """{instance_id: state} once none is pending or stopping, or time is up."""
    settled = poll_until_settled(lambda ids: describe_instance_states(ec2, ids), "instance_id", instance_ids, timeout, **clock)
    return {instance_id: summary["state"] for instance_id, summary in settled.items()}


def start_instances(ec2, instance_ids):
    for chunk in chunks(instance_ids):
        ec2.start_instances(aws_retry=True, InstanceIds=chunk)


def stop_instances(ec2, instance_ids):
    for chunk in chunks(instance_ids):
        ec2.stop_instances(aws_retry=True, InstanceIds=chunk)
