# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS I/O for launch template versions: read one, and make a version that changes only the AMI.

CreateLaunchTemplateVersion with SourceVersion inherits the source version's launch parameters,
each parameter given replacing its own. One exception: "snapshots applied to the block device
mapping are ignored when creating a new version unless they are explicitly included" (API
reference), so a data volume restored from a snapshot would come up empty. When the source has
such a mapping, the request restates the block device mappings with their snapshots, all but the
root device's, which the new AMI provides.
"""

import copy

try:
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_code

# What DescribeLaunchTemplateVersions answers for a template or a version that does not exist.
VERSION_GONE_CODES = ("InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateName.NotFoundException",
                      "InvalidLaunchTemplateId.VersionNotFound", "InvalidLaunchTemplateId.Malformed")


def summarize_version(version):
    data = version.get("LaunchTemplateData", {})
    return {
        "launch_template_id": version["LaunchTemplateId"],
        "launch_template_name": version["LaunchTemplateName"],
        "version": version["VersionNumber"],
        "image_id": data.get("ImageId"),
        "data": data,
    }


def describe_version(ec2, template_id, version):
    """A version (a number, `$Latest` or `$Default`) of a launch template, or None when either does not exist."""
    try:
        versions = ec2.describe_launch_template_versions(aws_retry=True, LaunchTemplateId=template_id, Versions=[str(version)])
    except ClientError as error:
        if error_code(error) in VERSION_GONE_CODES:
            return None
        raise
    found = versions["LaunchTemplateVersions"]
    return summarize_version(found[0]) if found else None


def _mappings_without_root_snapshot(mappings, root_device):
    mappings = copy.deepcopy(mappings or [])
    for mapping in mappings:
        if mapping.get("DeviceName") == root_device:
            mapping.get("Ebs", {}).pop("SnapshotId", None)
    return mappings


def image_version_request(source_data, image):
    """(LaunchTemplateData to send with SourceVersion, the launch data the new version will hold) for `image` (a summary).

    Only ImageId is sent, unless a mapping other than the image's root device names a snapshot: then the
    mappings too, which SourceVersion alone would give without their snapshots.
    """
    mappings = _mappings_without_root_snapshot(source_data.get("BlockDeviceMappings"), image["root_device"])
    request = {"ImageId": image["image_id"]}
    if any(mapping.get("Ebs", {}).get("SnapshotId") for mapping in mappings):
        request["BlockDeviceMappings"] = mappings
    expected = dict(copy.deepcopy(source_data), ImageId=image["image_id"])
    if "BlockDeviceMappings" in source_data:
        expected["BlockDeviceMappings"] = mappings
    return request, expected


def create_version(ec2, source, data, description, client_token):
    """A new version of `source`'s template (a summary) with `data` over the source's; its summary.

    `client_token` makes a retried request (its answer lost) return the version the first one made.
    """
    created = ec2.create_launch_template_version(
        aws_retry=True, LaunchTemplateId=source["launch_template_id"], SourceVersion=str(source["version"]),
        LaunchTemplateData=data, VersionDescription=description, ClientToken=client_token)
    return summarize_version(created["LaunchTemplateVersion"])
