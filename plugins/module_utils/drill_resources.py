# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS I/O of restore drills: the throwaway instances and volumes, found again by their tags.

Everything a drill makes is tagged at birth (TagSpecifications) with the drill's run and its expiry
(docs/tags.md), so a run killed half-way leaves nothing that a later run cannot find and remove.
"""

from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import tolerating
from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import all_pages
from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import chunks
from ansible_collections.cloudops.aws.plugins.module_utils.ebs_snapshots import summarize_snapshot
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_images import summarize_image
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import DRILL_RUN_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import MANAGED_BY_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import MANAGED_BY_VALUE
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import POLICY_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import SOURCE_INSTANCE_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import SOURCE_VOLUME_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.selection import refusal_named

# Instance states that still hold the instance (and its attached volumes).
LIVE_STATES = ("pending", "running", "stopping", "stopped", "shutting-down")
INSTANCE_GONE_CODES = ("InvalidInstanceID.NotFound",)
VOLUME_GONE_CODES = ("InvalidVolume.NotFound",)

_DRILL_FILTERS = [{"Name": "tag-key", "Values": [DRILL_RUN_KEY]}, {"Name": "tag:" + MANAGED_BY_KEY, "Values": [MANAGED_BY_VALUE]}]


def _lineage_filters(lineage_key, source_ids, policy):
    filters = [{"Name": "tag:" + MANAGED_BY_KEY, "Values": [MANAGED_BY_VALUE]}, {"Name": "tag:" + lineage_key, "Values": source_ids}]
    if policy:
        filters.append({"Name": "tag:" + POLICY_KEY, "Values": [policy]})
    return filters


def describe_source_images(ec2, instance_ids, policy=None):
    """The managed images of these instances (of one policy, when given), by their lineage tag: an instance
    terminated since keeps its images, and a drill of them is still worth making."""
    images = []
    for chunk in chunks(instance_ids):
        images += all_pages(ec2.describe_images, "Images", Owners=["self"], Filters=_lineage_filters(SOURCE_INSTANCE_KEY, chunk, policy))
    return [summarize_image(image) for image in images]


def describe_source_snapshots(ec2, volume_ids, policy=None):
    """The managed snapshots of these volumes, or their DR copies in this Region, by their lineage tag; the
    snapshots behind images ("Created by CreateImage") are the images' and left out."""
    snapshots = []
    for chunk in chunks(volume_ids):
        snapshots += all_pages(ec2.describe_snapshots, "Snapshots", OwnerIds=["self"], Filters=_lineage_filters(SOURCE_VOLUME_KEY, chunk, policy))
    return [summary for summary in (summarize_snapshot(snapshot) for snapshot in snapshots) if not summary["image_id"]]


def summarize_drill_instance(instance):
    tags = boto3_tag_list_to_ansible_dict(instance.get("Tags", []))
    return {
        "resource_id": instance["InstanceId"],
        "resource_type": "instance",
        "state": instance["State"]["Name"],
        "state_reason": (instance.get("StateReason") or {}).get("Message", ""),
        "availability_zone": (instance.get("Placement") or {}).get("AvailabilityZone", ""),
        "public_ip": instance.get("PublicIpAddress"),
        "tags": tags,
    }


def summarize_drill_volume(volume):
    attachments = volume.get("Attachments", [])
    return {
        "resource_id": volume["VolumeId"],
        "resource_type": "volume",
        "state": volume["State"],
        "attached_to": attachments[0]["InstanceId"] if attachments else None,
        "attachment_state": attachments[0].get("State") if attachments else None,
        "tags": boto3_tag_list_to_ansible_dict(volume.get("Tags", [])),
    }


def describe_drill_resources(ec2):
    """Every instance (not yet terminated) and volume a restore drill of this collection made, whatever its run."""
    reservations = all_pages(ec2.describe_instances, "Reservations",
                             Filters=_DRILL_FILTERS + [{"Name": "instance-state-name", "Values": list(LIVE_STATES)}])
    instances = [summarize_drill_instance(i) for r in reservations for i in r["Instances"]]
    volumes = [summarize_drill_volume(v) for v in all_pages(ec2.describe_volumes, "Volumes", Filters=_DRILL_FILTERS)]
    return instances + volumes


def describe_instances(ec2, instance_ids):
    """{instance_id: summary}, one DescribeInstances per 200 ids; an id EC2 does not list yet is absent."""
    found = {}
    for chunk in chunks(instance_ids):
        for reservation in all_pages(ec2.describe_instances, "Reservations", Filters=[{"Name": "instance-id", "Values": chunk}]):
            for instance in reservation["Instances"]:
                found[instance["InstanceId"]] = summarize_drill_instance(instance)
    return found


def describe_volumes(ec2, volume_ids):
    """{volume_id: summary}, one DescribeVolumes per 200 ids; an id EC2 does not list (yet, or any more) is absent."""
    found = {}
    for chunk in chunks(volume_ids):
        for volume in all_pages(ec2.describe_volumes, "Volumes", Filters=[{"Name": "volume-id", "Values": chunk}]):
            found[volume["VolumeId"]] = summarize_drill_volume(volume)
    return found


def subnet_zone(ec2, subnet_id):
    """The Availability Zone of the subnet a drill runs in; a subnet EC2 does not know is refused naming subnet_id."""
    with refusal_named("subnet_id", subnet_id, ("InvalidSubnetID.NotFound", "InvalidSubnetID.Malformed")):
        return ec2.describe_subnets(aws_retry=True, SubnetIds=[subnet_id])["Subnets"][0]["AvailabilityZone"]


def check_security_groups(ec2, group_ids):
    """Refuse, naming security_group_ids, groups EC2 does not know, before any drill is launched."""
    with refusal_named("security_group_ids", group_ids, ("InvalidGroup.NotFound", "InvalidGroupId.Malformed", "InvalidGroupId.NotFound")):
        ec2.describe_security_groups(aws_retry=True, GroupIds=list(group_ids))


def _tag_specifications(tags, *resource_types):
    tag_list = ansible_dict_to_boto3_tag_list(tags)
    return [{"ResourceType": resource_type, "Tags": tag_list} for resource_type in resource_types]


def launch_instance(ec2, image_id, network, tags, client_token):
    """RunInstances of one throwaway instance, tagged with its volumes at birth; its id.

    No public IP, in the drill's subnet and security groups; the client token makes a retry after a lost
    answer return the same instance instead of launching a second one. An instance that shuts itself
    down terminates, so it leaves nothing behind.
    """
    params = {
        "ImageId": image_id,
        "InstanceType": network["instance_type"],
        "MinCount": 1,
        "MaxCount": 1,
        "ClientToken": client_token,
        "InstanceInitiatedShutdownBehavior": "terminate",
        "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": network["subnet_id"], "Groups": list(network["security_group_ids"]),
                               "AssociatePublicIpAddress": False, "DeleteOnTermination": True}],
        "TagSpecifications": _tag_specifications(tags, "instance", "volume"),
    }
    profile = network.get("instance_profile")
    if profile:
        params["IamInstanceProfile"] = {"Arn": profile} if profile.startswith("arn:") else {"Name": profile}
    return ec2.run_instances(aws_retry=True, **params)["Instances"][0]["InstanceId"]


def create_volume(ec2, snapshot_id, zone, tags, client_token):
    """CreateVolume from a snapshot in the drill's zone, tagged at birth; its id. The token makes a retry idempotent."""
    return ec2.create_volume(aws_retry=True, SnapshotId=snapshot_id, AvailabilityZone=zone, ClientToken=client_token,
                             TagSpecifications=_tag_specifications(tags, "volume"))["VolumeId"]


def attach_volume(ec2, volume_id, instance_id, device):
    ec2.attach_volume(aws_retry=True, VolumeId=volume_id, InstanceId=instance_id, Device=device)


def terminate_instances(ec2, instance_ids):
    """Terminate, 200 ids a call; an instance already gone counts as done."""
    for chunk in chunks(instance_ids):
        with tolerating(INSTANCE_GONE_CODES):
            ec2.terminate_instances(aws_retry=True, InstanceIds=chunk)


def delete_volume(ec2, volume_id):
    """Delete a volume; one already gone counts as done."""
    with tolerating(VOLUME_GONE_CODES):
        ec2.delete_volume(aws_retry=True, VolumeId=volume_id)


def tag_backup(ec2, backup_id, tags):
    """Record a drill's outcome on the image or snapshot it restored."""
    ec2.create_tags(aws_retry=True, Resources=[backup_id], Tags=ansible_dict_to_boto3_tag_list(tags))
