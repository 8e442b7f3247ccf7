#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: snapshot_rotate
short_description: Snapshot EBS volumes and keep a number of generations per volume
version_added: 0.1.0
description:
  - Creates a snapshot of each selected EBS volume and keeps generations per volume and policy, deleting older
    snapshots, with the retention vocabulary of C(restic forget) (C(keep_last), C(keep_daily), C(keep_weekly), ...).
  - With I(instance_ids), the attached volumes of each instance are taken together as one crash-consistent
    multi-volume set (CreateSnapshots).
  - Every snapshot is tagged C(cloudops:managed-by=cloudops.aws), C(cloudops:policy), C(cloudops:source-volume),
    C(cloudops:source-instance) (when attached) and C(cloudops:created-at). These tags are the only state.
  - Only managed snapshots of the same policy and volume are ever deleted. The newest completed generation is never
    deleted, nor is a snapshot that a registered AMI uses.
  - AWS's per-volume limits (C(ConcurrentSnapshotLimitExceeded), C(SnapshotCreationPerVolumeRateExceeded)) are waited
    out, not reported as failures.
  - A failure on one volume does not stop the others. That volume's generations are not pruned in that run, and the
    task fails at the end, listing every failure.
  - Supports check mode (returns the exact plan, changes nothing) and diff mode.
author:
  - cloudops.aws maintainers (@cloudops)
options:
  volume_ids:
    description:
      - The volumes to snapshot. An id that does not exist fails the task before anything is created.
      - One of I(volume_ids), I(filters) and I(instance_ids) is required.
    type: list
    elements: str
  filters:
    description:
      - EC2 DescribeVolumes filters selecting the volumes, for example C(tag:Backup) set to C(daily).
      - A selection that matches no volume is not an error; the task reports no change and warns.
      - Each value is a string or a list of strings (numbers and booleans are sent as strings). A filter name or value
        that EC2 refuses fails the task, naming the filter, before anything is changed.
    type: dict
  instance_ids:
    description:
      - Snapshot all the volumes attached to these instances, each instance's volumes as one crash-consistent set.
      - Terminated and shutting-down instances are ignored with a warning.
    type: list
    elements: str
  exclude_boot_volume:
    description: With I(instance_ids), leave out each instance's root volume.
    type: bool
    default: false
  exclude_devices:
    description: With I(instance_ids), leave out data volumes attached at these device names, such as C(/dev/sdf).
    type: list
    elements: str
    default: []
  copy_volume_tags:
    description:
      - Copy the volume's tags onto its snapshots (keys starting with C(aws:) or C(cloudops:) excepted).
      - The collection's own tags and I(tags) take precedence over a volume tag of the same key.
    type: bool
    default: false
  description:
    description:
      - "Template for the snapshot description, with the placeholders C({policy}) and C({subject}) (the volume id, or
        the instance id for a multi-volume set). A run mark is appended to recognise twins made by retried requests."
      - At most 200 characters, so that the description stays within AWS's 255 with the subject and the run mark.
    type: str
  consistency:
    description:
      - How consistent the new backup of each instance is, as the caller knows it, for example from commands that
        quiesced the application before the backup (the C(ami_backup) and C(snapshot_backup) roles'
        C(pre_backup_commands)). Maps an instance id to C(application) or C(crash); the value is stored in the
        C(cloudops:consistency) tag of the new snapshots of its volumes.
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
- name: Daily snapshots of volumes tagged Backup=daily, 7 daily and 4 weekly generations
  cloudops.aws.snapshot_rotate:
    region: eu-west-1
    filters:
      "tag:Backup": daily
    policy: daily
    retention:
      keep_daily: 7
      keep_weekly: 4
    min_interval: 20h
    copy_volume_tags: true

- name: Crash-consistent sets of the database servers' data volumes, every hour for a day
  cloudops.aws.snapshot_rotate:
    instance_ids:
      - i-0123456789abcdef0
      - i-0fedcba9876543210
    exclude_boot_volume: true
    policy: hourly
    retention:
      keep_hourly: 24
      keep_daily: 7

- name: What would a run do?
  cloudops.aws.snapshot_rotate:
    volume_ids: [vol-0123456789abcdef0]
    retention:
      keep_last: 3
  check_mode: true
  diff: true
"""

RETURN = r"""
snapshots_created:
  description: The snapshots created by this run (in check mode, that it would create, with a null id).
  returned: always
  type: list
  elements: dict
  contains:
    snapshot_id:
      description: The new snapshot; null in check mode.
      type: str
      sample: snap-0a1b2c3d4e5f60718
    volume_id:
      description: The source volume.
      type: str
      sample: vol-0123456789abcdef0
    instance_id:
      description: The instance the volume was attached to, or an empty string.
      type: str
      sample: i-0123456789abcdef0
    created_at:
      description: The backup time, also in the C(cloudops:created-at) tag.
      type: str
      sample: "2026-11-23T03:15:00Z"
    state:
      description: C(completed), C(pending) (not waited for, or timed out), C(error), or C(planned) in check mode.
      type: str
      sample: completed
    volume_size:
      description: Size in GiB.
      type: int
      sample: 100
  sample: [{"snapshot_id": "snap-0a1b2c3d4e5f60718", "volume_id": "vol-0123456789abcdef0", "instance_id": "i-0123456789abcdef0",
            "created_at": "2026-11-23T03:15:00Z", "state": "completed", "volume_size": 100}]
snapshots_deleted:
  description: The snapshots deleted (in check mode, that would be), with the same keys and a reason.
  returned: always
  type: list
  elements: dict
  sample: [{"snapshot_id": "snap-0b1c2d3e4f5a60718", "volume_id": "vol-0123456789abcdef0", "instance_id": "i-0123456789abcdef0",
            "created_at": "2026-11-16T03:15:00Z", "state": "completed", "volume_size": 100, "reason": "not selected by retention (keep_daily=7)"}]
snapshots_retained:
  description: Generations kept, each with the rule that keeps it (or what uses it).
  returned: always
  type: list
  elements: dict
  sample: [{"snapshot_id": "snap-0a1b2c3d4e5f60718", "volume_id": "vol-0123456789abcdef0", "instance_id": "i-0123456789abcdef0",
            "created_at": "2026-11-23T03:15:00Z", "state": "completed", "volume_size": 100,
            "reason": "newest available generation; keep_daily 2026-11-23 (1 of 7)"}]
volumes_skipped:
  description: Volumes not snapshotted because of I(min_interval), with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{"volume_id": "vol-0123456789abcdef0", "instance_id": "",
            "reason": "newest generation snap-0a1b2c3d4e5f60718 (completed) is 3h old, younger than min_interval 20h"}]
failures:
  description: Per-volume failures; the task fails when this is not empty.
  returned: always
  type: list
  elements: dict
  sample: [{"volume_id": "vol-0123456789abcdef0", "instance_id": "", "error": "CreateSnapshot: An error occurred (IncorrectState) ..."}]
"""

import datetime

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudops.aws.plugins.module_utils.ebs_volumes import select_instance_volume_sets
from ansible_collections.cloudops.aws.plugins.module_utils.ebs_volumes import select_volumes
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import checked_settings
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import ending_on_errors
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import exit_with_failures
from ansible_collections.cloudops.aws.plugins.module_utils.request_pacing import RequestPacer
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_engine import RotationRun
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_settings import RotationSettings
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_settings import rotation_argument_spec
from ansible_collections.cloudops.aws.plugins.module_utils.snapshot_rotation import SnapshotBackups
from ansible_collections.cloudops.aws.plugins.module_utils.snapshot_rotation import SnapshotSettings
from ansible_collections.cloudops.aws.plugins.module_utils.snapshot_rotation import instance_job
from ansible_collections.cloudops.aws.plugins.module_utils.snapshot_rotation import volume_job


def argument_spec():
    spec = rotation_argument_spec()
    spec.update(
        volume_ids=dict(type="list", elements="str"),
        filters=dict(type="dict"),
        instance_ids=dict(type="list", elements="str"),
        exclude_boot_volume=dict(type="bool", default=False),
        exclude_devices=dict(type="list", elements="str", default=[]),
        copy_volume_tags=dict(type="bool", default=False),
        description=dict(type="str"),
        consistency=dict(type="dict", default={}),
    )
    return spec


def settings_from_params(params):
    """(RotationSettings, SnapshotSettings), checked before any AWS call; ValueError names the option and value."""
    if (params["exclude_boot_volume"] or params["exclude_devices"]) and not params["instance_ids"]:
        raise ValueError("exclude_boot_volume and exclude_devices apply to instance_ids only")
    snapshot_settings = SnapshotSettings(description=params["description"], copy_volume_tags=params["copy_volume_tags"],
                                         exclude_boot_volume=params["exclude_boot_volume"], consistency=params["consistency"])
    return RotationSettings.from_params(params), snapshot_settings


def select_jobs(ec2, params):
    """(jobs, warnings) for the selection the task gives."""
    if params["instance_ids"]:
        sets, gone = select_instance_volume_sets(ec2, params["instance_ids"], params["exclude_boot_volume"], set(params["exclude_devices"]))
        warnings = ["ignoring terminated or shutting-down instances: %s" % ", ".join(gone)] if gone else []
        return [instance_job(volume_set) for volume_set in sets], warnings
    return [volume_job(volume) for volume in select_volumes(ec2, params["volume_ids"], params["filters"])], []


def main():
    module = AnsibleAWSModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("volume_ids", "filters", "instance_ids")],
        required_one_of=[("volume_ids", "filters", "instance_ids")],
        supports_check_mode=True,
    )
    settings, snapshot_settings = checked_settings(module, settings_from_params)

    ec2 = RequestPacer().install(module.client("ec2", retry_decorator=AWSRetry.jittered_backoff(retries=10)))
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    rotation = RotationRun(SnapshotBackups(ec2, settings, snapshot_settings), settings, now)
    with ending_on_errors(module, "snapshot_rotate", rotation):
        jobs, warnings = select_jobs(ec2, module.params)
        for warning in warnings:
            module.warn(warning)
        if not any(job["volumes"] for job in jobs):
            module.warn("no volume matches the selection; nothing to snapshot")
            module.exit_json(changed=False, **rotation.result)
        if module.check_mode:
            rotation.preview(jobs)
        else:
            rotation.run(jobs)
    exit_with_failures(module, "snapshot_rotate", "volume_id", rotation.outcome(module._diff))


if __name__ == "__main__":
    main()
