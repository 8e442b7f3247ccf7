# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS I/O for AMIs and their snapshots: batched describes, create, deregister, delete."""

try:
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_code
from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import tolerating
from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import all_pages
from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import chunks
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import CREATED_AT_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import SOURCE_INSTANCE_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import created_at_of
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import is_managed
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import managed_policy_filters
from ansible_collections.cloudops.aws.plugins.module_utils.waiting import poll_until_settled


def summarize_image(image):
    """The fields rotation needs, with tags as a dict."""
    tags = boto3_tag_list_to_ansible_dict(image.get("Tags", []))
    return {
        "image_id": image["ImageId"],
        "name": image.get("Name", ""),
        "state": image["State"],
        "instance_id": tags.get(SOURCE_INSTANCE_KEY, ""),
        "created_at": created_at_of(tags, image["CreationDate"]),
        "managed": is_managed(tags),
        "tags": tags,
        "root_device": image.get("RootDeviceName", ""),
        "snapshot_ids": sorted(
            mapping["Ebs"]["SnapshotId"]
            for mapping in image.get("BlockDeviceMappings", [])
            if mapping.get("Ebs", {}).get("SnapshotId")
        ),
    }


def describe_policy_images(ec2, policy, tags=None, instance_ids=None):
    """All of this account's images managed under `policy` (and carrying `tags`, and made of one of at most 200
    `instance_ids`, when given), in one paginated describe."""
    filters = managed_policy_filters(policy) + [{"Name": "tag:" + key, "Values": [str(value)]} for key, value in sorted((tags or {}).items())]
    if instance_ids:
        filters.append({"Name": "tag:" + SOURCE_INSTANCE_KEY, "Values": sorted(instance_ids)})
    images = all_pages(ec2.describe_images, "Images", Owners=["self"], Filters=filters)
    return [summarize_image(image) for image in images]


def newest_available_image(images):
    """The newest `available` of image summaries (a generation a rollout may deploy), or None."""
    available = [image for image in images if image["state"] == "available"]
    return max(available, key=lambda image: (image["created_at"], image["image_id"])) if available else None


def describe_image(ec2, image_id):
    """One image by id, whoever owns it (a golden image may be shared by a build account); None when EC2 knows none."""
    try:
        images = ec2.describe_images(aws_retry=True, ImageIds=[image_id])["Images"]
    except ClientError as error:
        if error_code(error) in IMAGE_GONE_CODES + ("InvalidAMIID.Malformed",):
            return None
        raise
    return summarize_image(images[0]) if images else None


def describe_images_by_id(ec2, image_ids):
    """Images by id; a filter, not ImageIds, so one deregistered id does not fail the whole call."""
    images = []
    for chunk in chunks(image_ids):
        images += all_pages(ec2.describe_images, "Images", Owners=["self"], Filters=[{"Name": "image-id", "Values": chunk}])
    return [summarize_image(image) for image in images]


def describe_image_by_name(ec2, name):
    images = ec2.describe_images(aws_retry=True, Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])["Images"]
    return summarize_image(images[0]) if images else None


def create_image(ec2, instance_id, name, description, no_reboot, tags):
    """Create an AMI tagged (with its snapshots) at birth; returns its id.

    CreateImage has no client token. AMI names are unique per account and region, so when a
    retry follows a request whose answer was lost, AWS answers InvalidAMIName.Duplicate: the
    image that holds the name is ours if it carries this instance's lineage and this run's
    created-at, and is adopted instead of being created twice. An older image holding the name
    is an earlier backup: adopting it would report a backup that was never made.
    """
    tag_list = ansible_dict_to_boto3_tag_list(tags)
    try:
        return ec2.create_image(
            aws_retry=True,
            InstanceId=instance_id,
            Name=name,
            Description=description,
            NoReboot=no_reboot,
            TagSpecifications=[
                {"ResourceType": "image", "Tags": tag_list},
                {"ResourceType": "snapshot", "Tags": tag_list},
            ],
        )["ImageId"]
    except ClientError as error:
        if error_code(error) != "InvalidAMIName.Duplicate":
            raise
        existing = describe_image_by_name(ec2, name)
        if (existing and existing["managed"] and existing["instance_id"] == instance_id
                and existing["tags"].get(CREATED_AT_KEY) == tags.get(CREATED_AT_KEY)):
            return existing["image_id"]
        raise


def wait_for_images(ec2, image_ids, timeout, **clock):
    """{image_id: summary} once no image is pending or time is up, one DescribeImages a round for all."""
    return poll_until_settled(lambda ids: describe_images_by_id(ec2, ids), "image_id", image_ids, timeout, **clock)


# What DeregisterImage answers for an image that is already deregistered.
IMAGE_GONE_CODES = ("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable")


def deregister_image(ec2, image_id):
    """Deregister an image; an image already gone counts as done.

    When the answer to a DeregisterImage is lost (timeout, 5xx after AWS acted), the retry finds
    the image gone: the outcome wanted holds, and failing the instance would only leave its
    snapshots for the next run.
    """
    with tolerating(IMAGE_GONE_CODES):
        ec2.deregister_image(aws_retry=True, ImageId=image_id)


def images_using_snapshots(ec2, snapshot_ids):
    """{snapshot_id: [image ids]} for snapshots that back a registered image of this account."""
    users = {}
    wanted = set(snapshot_ids)
    for chunk in chunks(snapshot_ids):
        images = all_pages(ec2.describe_images, "Images", Owners=["self"], Filters=[{"Name": "block-device-mapping.snapshot-id", "Values": chunk}])
        for image in images:
            for snapshot_id in summarize_image(image)["snapshot_ids"]:
                if snapshot_id in wanted:
                    users.setdefault(snapshot_id, []).append(image["ImageId"])
    return users
