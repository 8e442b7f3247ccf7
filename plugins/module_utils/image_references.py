# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Which AMIs are still referenced, and by what (docs/architecture.md, safety rule 3).

An AMI that an instance, a launch template version or an Auto Scaling group points at must
not be deregistered: a scale-out or a replacement would fail. Any error while looking is
raised, never swallowed: an image whose use cannot be checked must not be deleted.
"""

from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import all_pages
from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import chunks

LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]
# DescribeLaunchConfigurations takes at most 50 names a call.
LAUNCH_CONFIGURATIONS_PER_CALL = 50


def _add(references, image_id, reason):
    references.setdefault(image_id, []).append(reason)


def _instance_references(ec2, image_ids, references):
    for chunk in chunks(image_ids):
        reservations = all_pages(
            ec2.describe_instances,
            "Reservations",
            Filters=[
                {"Name": "image-id", "Values": chunk},
                {"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES},
            ],
        )
        for reservation in reservations:
            for instance in reservation["Instances"]:
                _add(references, instance["ImageId"], "in use by instance %s (%s)" % (instance["InstanceId"], instance["State"]["Name"]))


def _template_version_label(version):
    labels = ["$Default"] if version.get("DefaultVersion") else []
    return "version %s%s" % (version["VersionNumber"], " (%s)" % ", ".join(labels) if labels else "")


def _launch_template_references(ec2, wanted, references):
    """$Latest and $Default of every launch template, in one paginated describe (as AWS allows)."""
    versions = all_pages(ec2.describe_launch_template_versions, "LaunchTemplateVersions", Versions=["$Latest", "$Default"])
    for version in versions:
        image_id = version.get("LaunchTemplateData", {}).get("ImageId")
        if image_id in wanted:
            _add(references, image_id, "referenced by launch template %s (%s) %s" % (
                version["LaunchTemplateName"], version["LaunchTemplateId"], _template_version_label(version)))


def _group_template_specs(group):
    specs = []
    if group.get("LaunchTemplate"):
        specs.append(group["LaunchTemplate"])
    mixed = group.get("MixedInstancesPolicy", {}).get("LaunchTemplate", {}).get("LaunchTemplateSpecification")
    if mixed:
        specs.append(mixed)
    return specs


def _template_spec_image(ec2, spec):
    selector = {"LaunchTemplateId": spec["LaunchTemplateId"]} if spec.get("LaunchTemplateId") else {"LaunchTemplateName": spec["LaunchTemplateName"]}
    versions = ec2.describe_launch_template_versions(aws_retry=True, Versions=[spec.get("Version") or "$Default"], **selector)["LaunchTemplateVersions"]
    return versions[0].get("LaunchTemplateData", {}).get("ImageId") if versions else None


def _auto_scaling_references(ec2, autoscaling, wanted, references):
    groups = all_pages(autoscaling.describe_auto_scaling_groups, "AutoScalingGroups")
    configurations = {}
    # Many groups share a template version: resolve each distinct one once.
    template_images = {}
    for group in groups:
        if group.get("LaunchConfigurationName"):
            configurations.setdefault(group["LaunchConfigurationName"], []).append(group["AutoScalingGroupName"])
        for spec in _group_template_specs(group):
            key = (spec.get("LaunchTemplateId") or spec.get("LaunchTemplateName"), spec.get("Version"))
            if key not in template_images:
                template_images[key] = _template_spec_image(ec2, spec)
            image_id = template_images[key]
            if image_id in wanted:
                _add(references, image_id, "used by Auto Scaling group %s" % group["AutoScalingGroupName"])
    for names in chunks(sorted(configurations), LAUNCH_CONFIGURATIONS_PER_CALL):
        for configuration in all_pages(autoscaling.describe_launch_configurations, "LaunchConfigurations", LaunchConfigurationNames=names):
            if configuration["ImageId"] in wanted:
                for group_name in configurations[configuration["LaunchConfigurationName"]]:
                    _add(references, configuration["ImageId"], "used by Auto Scaling group %s (launch configuration %s)" % (
                        group_name, configuration["LaunchConfigurationName"]))


def find_image_references(ec2, autoscaling, image_ids):
    """{image_id: "reason; reason"} for those of image_ids that something still uses."""
    wanted = set(image_ids)
    if not wanted:
        return {}
    references = {}
    _instance_references(ec2, sorted(wanted), references)
    _launch_template_references(ec2, wanted, references)
    _auto_scaling_references(ec2, autoscaling, wanted, references)
    return {image_id: "; ".join(reasons) for image_id, reasons in references.items()}
