"""CreateLaunchTemplateVersion as the EC2 API reference describes it, patched into moto's response.

moto 5.2.5 gives a new version only the LaunchTemplateData of the request, whatever SourceVersion
says, and keeps the version's UserData as plain text, which its Auto Scaling launches then refuse
(HTTP 500). Here:

- SourceVersion (a number, `$Latest` or `$Default`, resolved before the new version exists): the new
  version inherits the source version's launch parameters, and each top-level parameter given in
  LaunchTemplateData replaces the inherited one whole. Snapshot ids of inherited block device
  mappings are dropped ("Snapshots applied to the block device mapping are ignored when creating a
  new version unless they are explicitly included"). An unknown source version answers
  InvalidLaunchTemplateId.VersionNotFound and creates nothing.
- UserData is kept as CreateLaunchTemplate keeps it, so instances launch from every version.
"""

import copy

from moto.ec2.responses.launch_templates import LaunchTemplates
from moto.ec2.utils import convert_tag_spec, parse_user_data


def _template(response):
    template_id = response._get_param("LaunchTemplateId")
    if template_id:
        return response.ec2_backend.get_launch_template(template_id)
    return response.ec2_backend.get_launch_template_by_name(response._get_param("LaunchTemplateName"))


def _inherited(source_data):
    data = copy.deepcopy(source_data)
    for mapping in data.get("BlockDeviceMappings") or []:
        (mapping.get("Ebs") or {}).pop("SnapshotId", None)
    return data


def create_launch_template_version(self):
    source_version = self._get_param("SourceVersion")
    template = _template(self)
    source = template.get_version(source_version) if source_version else None
    result = _moto_create_launch_template_version(self)
    described = result.result["LaunchTemplateVersion"]
    version = template.get_version(described["VersionNumber"])
    # The response holds the version's own data dict: merging in place answers the merged data.
    given = dict(version.data)
    if "UserData" in given:
        given["UserData"] = parse_user_data(given["UserData"])
    if source is not None:
        version.data.clear()
        version.data.update(_inherited(source.data))
    version.data.update(given)
    version.instance_tags = convert_tag_spec(version.data.get("TagSpecifications", [])).get("instance", {})
    return result


_moto_create_launch_template_version = LaunchTemplates.create_launch_template_version


def install():
    """Patch moto's launch template response; idempotent so tests and the CLI may both call it."""
    if LaunchTemplates.create_launch_template_version is not create_launch_template_version:
        LaunchTemplates.create_launch_template_version = create_launch_template_version
