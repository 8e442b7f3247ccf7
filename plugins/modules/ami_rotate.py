#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ami_rotate
short_description: Back up EC2 instances as AMIs and keep a number of generations
version_added: 0.1.0
description:
  - Creates an AMI of each selected instance and keeps generations per instance and policy,
    deregistering older AMIs and deleting their snapshots, with the retention vocabulary of
    C(restic forget) (C(keep_last), C(keep_daily), C(keep_weekly), ...).
  - Every image and its snapshots are tagged C(cloudops:managed-by=cloudops.aws),
    C(cloudops:policy), C(cloudops:source-instance) and C(cloudops:created-at). These tags are
    the only state; a run that crashed is repaired by the next run.
  - Only images carrying C(cloudops:managed-by=cloudops.aws) with the same policy and source
    instance are ever deregistered. The newest available generation is never deregistered,
    nor is an image still referenced by an instance, a launch template or an Auto Scaling group
    (see I(protect_in_use)).
  - A failure on one instance does not stop the others. That instance's generations are not
    pruned in that run, and the task fails at the end, listing every failure.
  - Supports check mode (returns the exact plan, changes nothing) and diff mode.
author:
  - cloudops.aws maintainers (@cloudops)
options:
  instance_ids:
    description:
      - The instances to back up. Terminated and shutting-down instances are ignored with a warning.
      - An id that does not exist fails the task before anything is created.
      - Mutually exclusive with I(filters); one of them is required.
    type: list
    elements: str
  filters:
    description:
      - EC2 DescribeInstances filters selecting the instances, for example C(tag:Backup) set to C(daily).
      - See U(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html) for the names.
      - A selection that matches no instance is not an error; the task reports no change and warns.
      - Each value is a string or a list of strings (numbers and booleans are sent as strings). A filter name or value
        that EC2 refuses fails the task, naming the filter, before anything is changed.
    type: dict
  name:
    description:
      - "Template for the AMI name. Placeholders are C({instance_name}) (the Name tag, or the id when there is none),
        C({instance_id}), C({policy}), C({timestamp}) (UTC, C(20261123T031500Z)) and C({date}) (C(2026-11-23))."
      - "Characters AWS does not allow in AMI names are replaced by C(-); a name longer than 128 characters is
        shortened in its C({instance_name}) part."
      - "AMI names are unique per Region, so the template must hold C({timestamp}) (or C({date}) for at most one
        backup a day); a template without either is refused."
    type: str
    default: "{instance_name}-{instance_id}-{policy}-{timestamp}"
  description:
    description:
      - "Template for the AMI description, with the placeholders C({policy}), C({instance_id}) and C({instance_name})."
      - "Defaults to C(cloudops.aws {policy} backup of {instance_id} ({instance_name}))."
      - "AWS allows 255 characters; a longer description, from a long Name tag, is cut there."
    type: str
  no_reboot:
    description:
      - Do not reboot the instance before imaging. C(true) avoids downtime; the image is then crash-consistent.
      - Set C(false) for file-system-consistent images when a reboot is acceptable.
    type: bool
    default: true
  protect_in_use:
    description:
      - Never deregister an AMI used by an instance (in any state but terminated), by the C($Default) or C($Latest)
        version of a launch template, or by an Auto Scaling group (launch template or launch configuration).
        Such images are returned in RV(images_protected) with the reason.
    type: bool
    default: true
  consistency:
    description:
      - How consistent the new backup of each instance is, as the caller knows it, for example from commands that
        quiesced the application before the backup (the C(ami_backup) and C(snapshot_backup) roles'
        C(pre_backup_commands)). Maps an instance id to C(application) or C(crash); the value is stored in the
        C(cloudops:consistency) tag of the new image and its snapshots.
      - Instances not named get no C(cloudops:consistency) tag. A value other than C(application) or C(crash) fails the
        task before anything is created.
    type: dict
    default: {}
extends_documentation_fragment:
  - cloudops.aws.rotation
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Daily AMI of every instance tagged Backup=daily, keeping 7 daily and 4 weekly generations
  cloudops.aws.ami_rotate:
    region: eu-west-1
    filters:
      "tag:Backup": daily
      instance-state-name: [running, stopped]
    policy: daily
    retention:
      keep_daily: 7
      keep_weekly: 4
    min_interval: 20h
    tags:
      CostCenter: ops

- name: Image before patching, kept for 14 days after the newest one
  cloudops.aws.ami_rotate:
    instance_ids:
      - i-0123456789abcdef0
    policy: pre-patch
    no_reboot: false
    retention:
      keep_last: 1
      keep_within: 14d
  register: pre_patch

- name: Show what a run would create and deregister
  cloudops.aws.ami_rotate:
    filters:
      "tag:Role": web
    policy: daily
    retention:
      keep_last: 3
  check_mode: true
  diff: true
  register: plan

- name: Start many images without waiting; the next run prunes once they are available
  cloudops.aws.ami_rotate:
    filters:
      "tag:Backup": hourly
    policy: hourly
    retention:
      keep_hourly: 24
    wait: false
    max_concurrency: 20
"""

RETURN = r"""
images_created:
  description: The images created by this run (in check mode, the images it would create, with a null id).
  returned: always
  type: list
  elements: dict
  contains:
    image_id:
      description: The new AMI's id; null in check mode.
      type: str
      sample: ami-0f1e2d3c4b5a69788
    instance_id:
      description: The source instance.
      type: str
      sample: i-0123456789abcdef0
    name:
      description: The AMI name.
      type: str
      sample: web-1-i-0123456789abcdef0-daily-20261123T031500Z
    created_at:
      description: The backup time, also in the C(cloudops:created-at) tag.
      type: str
      sample: "2026-11-23T03:15:00Z"
    snapshot_ids:
      description: The snapshots behind the image, once known (after waiting).
      type: list
      elements: str
      sample: [snap-0a1b2c3d4e5f60718]
    state:
      description: C(available), C(pending) (not waited for or timed out), C(failed), or C(planned) in check mode.
      type: str
      sample: available
  sample: [{"image_id": "ami-0f1e2d3c4b5a69788", "instance_id": "i-0123456789abcdef0", "state": "available",
            "name": "web-1-i-0123456789abcdef0-daily-20261123T031500Z", "created_at": "2026-11-23T03:15:00Z",
            "snapshot_ids": ["snap-0a1b2c3d4e5f60718"]}]
images_deregistered:
  description: The images deregistered (in check mode, that would be), with the same keys as RV(images_created) and a reason.
  returned: always
  type: list
  elements: dict
  sample: [{"image_id": "ami-0a9b8c7d6e5f40312", "instance_id": "i-0123456789abcdef0", "name": "web-1-i-0123456789abcdef0-daily-20261116T031500Z",
            "created_at": "2026-11-16T03:15:00Z", "snapshot_ids": ["snap-0b1c2d3e4f5a60718"],
            "reason": "not selected by retention (keep_daily=7)"}]
snapshots_deleted:
  description: Snapshots deleted after their image was deregistered.
  returned: always
  type: list
  elements: dict
  sample: [{"snapshot_id": "snap-0b1c2d3e4f5a60718", "image_id": "ami-0a9b8c7d6e5f40312"}]
snapshots_retained:
  description: Snapshots of deregistered images that were kept, with the reason (still used by another image, or not managed).
  returned: always
  type: list
  elements: dict
  sample: [{"snapshot_id": "snap-0c1d2e3f4a5b60718", "image_id": "ami-0a9b8c7d6e5f40312", "reason": "still used by ami-0d1e2f3a4b5c60718"}]
images_retained:
  description: Generations kept, each with the retention rule that keeps it.
  returned: always
  type: list
  elements: dict
  sample: [{"image_id": "ami-0f1e2d3c4b5a69788", "instance_id": "i-0123456789abcdef0", "state": "available",
            "name": "web-1-i-0123456789abcdef0-daily-20261123T031500Z", "created_at": "2026-11-23T03:15:00Z",
            "snapshot_ids": ["snap-0a1b2c3d4e5f60718"], "reason": "newest available generation; keep_daily 2026-11-23 (1 of 7)"}]
images_protected:
  description: Images the retention would deregister but that are still in use, with what uses them.
  returned: always
  type: list
  elements: dict
  sample: [{"image_id": "ami-0e1f2a3b4c5d60718", "instance_id": "i-0123456789abcdef0", "state": "available",
            "name": "web-1-i-0123456789abcdef0-daily-20261101T031500Z", "created_at": "2026-11-01T03:15:00Z",
            "snapshot_ids": [], "reason": "referenced by launch template web (lt-0123456789abcdef0) version 3 ($Default)"}]
instances_skipped:
  description: Instances not backed up because of I(min_interval), with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{"instance_id": "i-0123456789abcdef0", "reason": "newest generation ami-0f1e2d3c4b5a69788 (available) is 3h old, younger than min_interval 20h"}]
failures:
  description: Per-instance failures; the task fails when this is not empty.
  returned: always
  type: list
  elements: dict
  sample: [{"instance_id": "i-0123456789abcdef0", "error": "CreateImage: An error occurred (InternalError) when calling the CreateImage operation"}]
"""

import datetime

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudops.aws.plugins.module_utils.ami_rotation import AmiBackups
from ansible_collections.cloudops.aws.plugins.module_utils.ami_rotation import ImageSettings
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_instances import select_instances
from ansible_collections.cloudops.aws.plugins.module_utils.image_naming import DEFAULT_NAME_TEMPLATE
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import checked_settings
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import ending_on_errors
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import exit_with_failures
from ansible_collections.cloudops.aws.plugins.module_utils.request_pacing import RequestPacer
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_engine import RotationRun
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_settings import RotationSettings
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_settings import rotation_argument_spec


def argument_spec():
    spec = rotation_argument_spec()
    spec.update(
        instance_ids=dict(type="list", elements="str"),
        filters=dict(type="dict"),
        name=dict(type="str", default=DEFAULT_NAME_TEMPLATE),
        description=dict(type="str"),
        consistency=dict(type="dict", default={}),
        no_reboot=dict(type="bool", default=True),
        protect_in_use=dict(type="bool", default=True),
    )
    return spec


def settings_from_params(params):
    """The shared rotation options and the image options, each checked (ValueError naming a refused one)."""
    image_settings = ImageSettings(name_template=params["name"], description=params["description"], no_reboot=params["no_reboot"],
                                   protect_in_use=params["protect_in_use"], consistency=params["consistency"])
    return RotationSettings.from_params(params), image_settings


def main():
    module = AnsibleAWSModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("instance_ids", "filters")],
        required_one_of=[("instance_ids", "filters")],
        supports_check_mode=True,
    )
    settings, image_settings = checked_settings(module, settings_from_params)

    retry = AWSRetry.jittered_backoff(retries=10)
    ec2 = RequestPacer().install(module.client("ec2", retry_decorator=retry))
    autoscaling = module.client("autoscaling", retry_decorator=retry)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    rotation = RotationRun(AmiBackups(ec2, autoscaling, settings, image_settings), settings, now)

    with ending_on_errors(module, "ami_rotate", rotation):
        instances, gone = select_instances(ec2, module.params["instance_ids"], module.params["filters"])
        if gone:
            module.warn("ignoring terminated or shutting-down instances: %s" % ", ".join(gone))
        if not instances:
            module.warn("no instance matches the selection; nothing to back up")
            module.exit_json(changed=False, **rotation.result)
        if module.check_mode:
            rotation.preview(instances)
        else:
            rotation.run(instances)
    exit_with_failures(module, "ami_rotate", "instance_id", rotation.outcome(module._diff))


if __name__ == "__main__":
    main()
