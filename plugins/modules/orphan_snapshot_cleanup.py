#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: orphan_snapshot_cleanup
short_description: Delete EBS snapshots left behind by deregistered AMIs
version_added: 0.1.0
description:
  - Deregistering an AMI leaves its snapshots in place, billed until someone deletes them. This module finds
    snapshots made for an AMI (AWS's description C(Created by CreateImage(i-...\) for ami-...)) whose AMI no longer
    exists, and deletes them.
  - By default only snapshots tagged C(cloudops:managed-by=cloudops.aws) are considered. I(include_unmanaged)
    widens this to every snapshot of the account that CreateImage made.
  - Never deletes a snapshot whose AMI still exists, one used by another registered AMI, one managed by AWS Backup
    (tag C(aws:backup:source-resource)), or one younger than I(min_age).
  - An AMI registered from an orphan while the task runs makes AWS refuse its deletion (C(InvalidSnapshot.InUse)); that
    snapshot is reported in RV(snapshots_skipped), not as a failure.
  - A failure on one snapshot does not stop the others; the task fails at the end, listing every failure.
  - Check mode lists what would be deleted and how many GiB that frees; nothing is deleted.
author:
  - cloudops.aws maintainers (@cloudops)
options:
  include_unmanaged:
    description:
      - Also delete orphaned snapshots that this collection did not create, such as those of AMIs made by hand
        or by other tools and deregistered without their snapshots.
      - Run it in check mode first; a restore that relies on re-registering an AMI from such a snapshot is no longer possible afterwards.
    type: bool
    default: false
  min_age:
    description:
      - Leave snapshots younger than this, such as C(1d) or C(12h), so that an image being created or deregistered
        right now is never raced. Units are C(s), C(m) (minutes), C(h), C(d) and C(w).
    type: str
    default: 1d
  max_concurrency:
    description: How many DeleteSnapshot calls run in parallel.
    type: int
    default: 10
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: List the orphaned snapshots of the whole account and the space they hold
  cloudops.aws.orphan_snapshot_cleanup:
    region: eu-west-1
    include_unmanaged: true
  check_mode: true
  register: orphans

- name: Show what would be freed
  ansible.builtin.debug:
    msg: "{{ orphans.snapshots_deleted | length }} snapshots, {{ orphans.gib_freed }} GiB"

- name: Delete orphaned snapshots of cloudops.aws backups older than a week
  cloudops.aws.orphan_snapshot_cleanup:
    region: eu-west-1
    min_age: 7d
"""

RETURN = r"""
snapshots_deleted:
  description: The snapshots deleted (in check mode, that would be), with their former AMI and size.
  returned: always
  type: list
  elements: dict
  contains:
    snapshot_id:
      description: The snapshot.
      type: str
      sample: snap-0a1b2c3d4e5f60718
    image_id:
      description: The AMI the snapshot was made for.
      type: str
      sample: ami-0f1e2d3c4b5a69788
    volume_size:
      description: Size in GiB.
      type: int
      sample: 100
    start_time:
      description: When the snapshot was started (UTC).
      type: str
      sample: "2026-10-01T03:15:00Z"
    managed:
      description: Whether it carries C(cloudops:managed-by=cloudops.aws).
      type: bool
      sample: true
    reason:
      description: Why it is deleted.
      type: str
      sample: its image ami-0f1e2d3c4b5a69788 no longer exists
snapshots_skipped:
  description: Snapshots considered and kept, with the same keys as RV(snapshots_deleted) and the reason they stay.
  returned: always
  type: list
  elements: dict
  sample: [{"snapshot_id": "snap-0c1d2e3f4a5b60718", "image_id": "ami-0d1e2f3a4b5c60718", "volume_size": 8,
            "start_time": "2026-11-23T03:15:00Z", "managed": true, "reason": "its image ami-0d1e2f3a4b5c60718 exists"}]
gib_freed:
  description: The total size of RV(snapshots_deleted) in GiB (provisioned size; the billed, incremental size is smaller).
  returned: always
  type: int
  sample: 240
failures:
  description: Snapshots whose deletion failed, with the error.
  returned: always
  type: list
  elements: dict
  sample: [{"snapshot_id": "snap-0a1b2c3d4e5f60718", "error": "An error occurred (InvalidSnapshot.InUse) when calling the DeleteSnapshot operation"}]
"""

import datetime

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudops.aws.plugins.module_utils.durations import parse_duration
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import ending_on_errors
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import exit_with_failures
from ansible_collections.cloudops.aws.plugins.module_utils.orphan_snapshots import OrphanCleanup
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_settings import validate_max_concurrency


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            include_unmanaged=dict(type="bool", default=False),
            min_age=dict(type="str", default="1d"),
            max_concurrency=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    try:
        min_age = parse_duration(module.params["min_age"])
    except ValueError as error:
        module.fail_json(msg="min_age: %s" % error)
    try:
        validate_max_concurrency(module.params["max_concurrency"])
    except ValueError as error:
        module.fail_json(msg=str(error))

    ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff(retries=10))
    cleanup = OrphanCleanup(ec2, module.params["include_unmanaged"], min_age, module.params["max_concurrency"])
    now = datetime.datetime.now(datetime.timezone.utc)
    with ending_on_errors(module, "orphan_snapshot_cleanup", cleanup):
        result = cleanup.preview(now) if module.check_mode else cleanup.run(now)
    exit_with_failures(module, "orphan_snapshot_cleanup", "snapshot_id", result)


if __name__ == "__main__":
    main()
