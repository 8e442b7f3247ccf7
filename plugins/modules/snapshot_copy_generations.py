#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: snapshot_copy_generations
short_description: Copy EBS snapshots to another Region or account and keep a number of generations of the copies
version_added: 0.1.0
description:
  - Copies completed EBS snapshots from I(source_region) to I(region) (the destination), optionally into another
    account through I(destination_role_arn), and keeps generations of the copies there per policy and source volume,
    with the retention vocabulary of C(restic forget).
  - A source that already has a copy in the destination (a snapshot tagged C(cloudops:source-snapshot) with its id) is
    not copied again, so runs are idempotent and a re-run costs two describe calls.
  - A source is copied only when retention would keep its copy. Before copying, each generation group is planned over
    its copies and the sources not copied yet, aged by the sources' backup times; a source whose copy the plan would
    delete is reported in RV(sources_skipped) instead of being copied and deleted in the same run.
  - Copies carry the source's tags plus C(cloudops:managed-by), C(cloudops:policy), C(cloudops:source-snapshot),
    C(cloudops:source-region), C(cloudops:source-volume) and C(cloudops:created-at) (the source's backup time).
    Generations are grouped by the source volume lineage (C(cloudops:source-volume)), never by the copy's C(VolumeId).
  - At most I(max_copies_in_flight) copies are pending in the destination Region at once (AWS allows 20). The module
    queues the others, and waits when AWS answers C(ResourceLimitExceeded); the queue never fails the task.
  - Only managed copies are ever deleted; the newest completed copy of a group never is, nor is a copy that a
    registered AMI uses (after a restore). Pending copies do not count as generations.
  - A failure on one source does not stop the others. Its group is not pruned in that run, and the task fails at the
    end, listing every failure.
  - The destination must be another Region, or another account (I(destination_role_arn)). Copies in the sources' own
    Region and account would mix with the generations C(cloudops.aws.snapshot_rotate) keeps there.
  - Supports check mode (returns the exact plan, changes nothing) and diff mode.
author:
  - cloudops.aws maintainers (@cloudops)
options:
  source_region:
    description:
      - The Region of the source snapshots. I(region) is the destination, as in C(community.aws.ec2_snapshot_copy).
      - I(source_region) and I(region) must be shaped like Region names (C(eu-west-1), C(us-gov-west-1)); this is checked
        before any call. A well-formed name in which AWS does not answer fails the task naming the option.
    type: str
    required: true
  snapshot_ids:
    description:
      - The snapshots to copy. An id that does not exist in I(source_region) fails the task before anything is copied.
      - Mutually exclusive with I(filters); one of them is required.
    type: list
    elements: str
  filters:
    description:
      - EC2 DescribeSnapshots filters selecting the source snapshots of this account, for example C(tag:cloudops:policy)
        set to C(daily).
      - A selection that matches nothing is not an error; the task reports no change and warns.
      - Each value is a string or a list of strings (numbers and booleans are sent as strings). A filter name or value
        that EC2 refuses fails the task, naming the filter, before anything is changed.
    type: dict
  only_latest:
    description:
      - Copy only the newest completed snapshot of each source volume (its C(cloudops:source-volume) tag, else its
        C(VolumeId)). With C(false), every selected completed snapshot is copied.
    type: bool
    default: true
  policy:
    description:
      - The C(cloudops:policy) of the copies, which is also their generation group in the destination.
      - When not given, the source's own C(cloudops:policy) tag, or C(default) for a source without one.
    type: str
    default: null
  min_interval:
    description:
      - Skip a source when its volume already has a copy (completed, or pending) whose backup time is less than this
        before the source's, such as C(20h). Copies hourly snapshots only once a day, for example.
    type: str
  max_copies_in_flight:
    description:
      - How many copies may be pending in the destination Region at once. AWS allows 20 per destination Region and
        account; a lower value leaves room for other jobs.
    type: int
    default: 20
  encrypted:
    description:
      - Encrypt the copies of unencrypted sources. Copies of encrypted sources are always encrypted.
      - Without I(kms_key_id), AWS uses the destination account's default EBS key.
    type: bool
    default: false
  kms_key_id:
    description:
      - The KMS key (id, ARN or alias) in the destination Region and account that encrypts the copies. Requires
        I(encrypted=true).
      - Required for sources encrypted with a customer managed key; KMS keys are regional, and without it AWS would
        encrypt the copy with the destination's AWS managed key C(aws/ebs). Such a source fails with an error saying so.
    type: str
  destination_role_arn:
    description:
      - An IAM role in the destination account to assume for the copies. The source snapshot is shared with that
        account (C(createVolumePermission)) for the copy and unshared once its copy is done.
      - Sources encrypted with the AWS managed key C(aws/ebs) are refused, because its key policy cannot let another
        account use it. A customer managed key must allow the destination account; see the DR documentation.
    type: str
  wait:
    description:
      - Wait for the copies to complete before pruning, with one describe call a round for all of them. Copies can take
        hours.
      - With C(false) the module returns the copy ids at once; the copies do not count as generations yet, and a later
        run prunes with them and unshares their sources.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait, for queue slots and for the copies. Copies still pending then are reported in a
        warning; sources still queued then are reported in RV(sources_skipped) and copied by a later run.
    type: int
    default: 1800
extends_documentation_fragment:
  - cloudops.aws.rotation
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Copy the newest daily snapshot of every volume to eu-central-1, keep 7 daily and 4 weekly copies there
  cloudops.aws.snapshot_copy_generations:
    source_region: eu-west-1
    region: eu-central-1
    filters:
      "tag:cloudops:policy": daily
      "tag:cloudops:managed-by": cloudops.aws
    retention:
      keep_daily: 7
      keep_weekly: 4

- name: DR copies into another account, encrypted with the DR account's key
  cloudops.aws.snapshot_copy_generations:
    source_region: eu-west-1
    region: eu-central-1
    destination_role_arn: arn:aws:iam::210987654321:role/cloudops-dr-copy
    filters:
      "tag:cloudops:policy": daily
    policy: dr
    encrypted: true
    kms_key_id: arn:aws:kms:eu-central-1:210987654321:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0
    retention:
      keep_daily: 14

- name: Start the copies and return; the next run prunes once they are completed
  cloudops.aws.snapshot_copy_generations:
    source_region: us-east-1
    region: us-west-2
    snapshot_ids:
      - snap-0a1b2c3d4e5f60718
    retention:
      keep_last: 3
    wait: false
"""

RETURN = r"""
copies_started:
  description: The copies started by this run (in check mode, that it would start, with a null id).
  returned: always
  type: list
  elements: dict
  contains:
    snapshot_id:
      description: The copy in the destination; null in check mode.
      type: str
      sample: snap-0f1e2d3c4b5a69788
    source_snapshot_id:
      description: The source snapshot, also in the C(cloudops:source-snapshot) tag.
      type: str
      sample: snap-0a1b2c3d4e5f60718
    source_volume_id:
      description: The source volume lineage, also in the C(cloudops:source-volume) tag.
      type: str
      sample: vol-0123456789abcdef0
    policy:
      description: The copy's C(cloudops:policy).
      type: str
      sample: daily
    created_at:
      description: The source's backup time, also in the C(cloudops:created-at) tag.
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
  sample: [{"snapshot_id": "snap-0f1e2d3c4b5a69788", "source_snapshot_id": "snap-0a1b2c3d4e5f60718", "source_volume_id": "vol-0123456789abcdef0",
            "policy": "daily", "created_at": "2026-11-23T03:15:00Z", "state": "completed", "volume_size": 100}]
copies_completed:
  description: Copies that completed during this run, whether started by it or by an earlier run that did not wait.
  returned: always
  type: list
  elements: dict
  sample: [{"snapshot_id": "snap-0f1e2d3c4b5a69788", "source_snapshot_id": "snap-0a1b2c3d4e5f60718", "source_volume_id": "vol-0123456789abcdef0",
            "policy": "daily", "created_at": "2026-11-23T03:15:00Z", "state": "completed", "volume_size": 100}]
copies_deleted:
  description: The copies deleted (in check mode, that would be), with the keys of RV(copies_started) and a reason.
  returned: always
  type: list
  elements: dict
  sample: [{"snapshot_id": "snap-0b1c2d3e4f5a60718", "source_snapshot_id": "snap-0c1d2e3f4a5b60718", "source_volume_id": "vol-0123456789abcdef0",
            "policy": "daily", "created_at": "2026-11-16T03:15:00Z", "state": "completed", "volume_size": 100,
            "reason": "not selected by retention (keep_daily=7)"}]
copies_retained:
  description: Copies kept, each with the rule that keeps it (or what uses it).
  returned: always
  type: list
  elements: dict
  sample: [{"snapshot_id": "snap-0f1e2d3c4b5a69788", "source_snapshot_id": "snap-0a1b2c3d4e5f60718", "source_volume_id": "vol-0123456789abcdef0",
            "policy": "daily", "created_at": "2026-11-23T03:15:00Z", "state": "completed", "volume_size": 100,
            "reason": "newest available generation; keep_daily 2026-11-23 (1 of 7)"}]
sources_unshared:
  description: Source snapshots whose C(createVolumePermission) for the destination account was removed, their copy being done.
  returned: always
  type: list
  elements: dict
  sample: [{"source_snapshot_id": "snap-0a1b2c3d4e5f60718", "account_id": "210987654321"}]
sources_skipped:
  description: Sources not copied, with the reason (not completed, already copied, not the latest, I(min_interval), retention would not
    keep its copy, still queued).
  returned: always
  type: list
  elements: dict
  sample: [{"source_snapshot_id": "snap-0a1b2c3d4e5f60718", "source_volume_id": "vol-0123456789abcdef0",
            "reason": "already copied to snap-0f1e2d3c4b5a69788 (completed)"}]
failures:
  description: Per-source failures; the task fails when this is not empty.
  returned: always
  type: list
  elements: dict
  sample: [{"source_snapshot_id": "snap-0a1b2c3d4e5f60718", "source_volume_id": "vol-0123456789abcdef0",
            "error": "copy snap-0f1e2d3c4b5a69788 of snap-0a1b2c3d4e5f60718 ended error: Given key ID is not accessible"}]
"""

import dataclasses
import datetime

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudops.aws.plugins.module_utils.aws_accounts import assumed_role_credentials
from ansible_collections.cloudops.aws.plugins.module_utils.aws_accounts import caller_account
from ansible_collections.cloudops.aws.plugins.module_utils.aws_accounts import destination_account_of
from ansible_collections.cloudops.aws.plugins.module_utils.copy_queue import AWS_COPIES_IN_FLIGHT
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import checked_settings
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import ending_on_errors
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import exit_with_failures
from ansible_collections.cloudops.aws.plugins.module_utils.regions import region_reached
from ansible_collections.cloudops.aws.plugins.module_utils.request_pacing import RequestPacer
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_engine import RotationRun
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_settings import RotationSettings
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_settings import rotation_argument_spec
from ansible_collections.cloudops.aws.plugins.module_utils.snapshot_copies import CopySettings
from ansible_collections.cloudops.aws.plugins.module_utils.snapshot_copies import SnapshotCopies
from ansible_collections.cloudops.aws.plugins.module_utils.snapshot_selection import select_sources


def argument_spec():
    spec = rotation_argument_spec()
    spec.update(
        source_region=dict(type="str", required=True),
        snapshot_ids=dict(type="list", elements="str"),
        filters=dict(type="dict"),
        only_latest=dict(type="bool", default=True),
        policy=dict(type="str"),
        max_copies_in_flight=dict(type="int", default=AWS_COPIES_IN_FLIGHT),
        encrypted=dict(type="bool", default=False),
        kms_key_id=dict(type="str"),
        destination_role_arn=dict(type="str"),
    )
    return spec


def settings_from_params(params, destination_region):
    """(RotationSettings, CopySettings), checked before any AWS call; ValueError names the option and the value."""
    role_arn = params["destination_role_arn"]
    copy_settings = CopySettings(
        source_region=params["source_region"],
        destination_region=destination_region,
        only_latest=params["only_latest"],
        max_in_flight=params["max_copies_in_flight"],
        encrypted=params["encrypted"],
        kms_key_id=params["kms_key_id"],
        destination_account=destination_account_of(role_arn) if role_arn else None,
    )
    if destination_region == params["source_region"] and not role_arn:
        raise ValueError("region: the destination %s is source_region too; copies in the sources' own Region and account would be counted "
                         "as generations by snapshot_rotate there, so give another region, or destination_role_arn" % destination_region)
    # The policy is optional: without it each copy takes its source's policy tag.
    return RotationSettings.from_params(params, policy_required=False), copy_settings


def main():
    module = AnsibleAWSModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("snapshot_ids", "filters")],
        required_one_of=[("snapshot_ids", "filters")],
        supports_check_mode=True,
    )
    settings, copy_settings = checked_settings(module, settings_from_params, module.region)

    retry = AWSRetry.jittered_backoff(retries=10)
    source_ec2 = RequestPacer().install(module.client("ec2", retry_decorator=retry, region=copy_settings.source_region))
    source_kms = module.client("kms", retry_decorator=retry, region=copy_settings.source_region)
    role_arn = module.params["destination_role_arn"]
    try:
        destination_credentials = {}
        if role_arn:
            sts = module.client("sts", retry_decorator=retry)
            # STS is called in the destination Region, before anything else is.
            with region_reached("region", copy_settings.destination_region):
                if caller_account(sts) == copy_settings.destination_account:
                    copy_settings = dataclasses.replace(copy_settings, destination_account=None)
                destination_credentials = assumed_role_credentials(sts, role_arn)
    except ValueError as error:
        module.fail_json(msg=str(error))
    except (BotoCoreError, ClientError) as error:
        module.fail_json_aws(error, msg="could not assume destination_role_arn %s" % role_arn)
    destination_ec2 = RequestPacer().install(module.client("ec2", retry_decorator=retry, **destination_credentials))
    copies = SnapshotCopies(source_ec2, destination_ec2, source_kms, settings, copy_settings)
    run = RotationRun(copies, settings, datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0))

    with ending_on_errors(module, "snapshot_copy_generations", run):
        with region_reached("source_region", copy_settings.source_region):
            sources, not_copied = select_sources(source_ec2, module.params["snapshot_ids"], module.params["filters"], copy_settings.only_latest)
        for source, reason in not_copied:
            run.skip(copies.source_labels(source), reason)
        if not sources:
            module.warn("no completed snapshot matches the selection in %s; nothing to copy" % copy_settings.source_region)
            module.exit_json(changed=False, **run.result)
        if module.check_mode:
            run.preview(sources)
        else:
            run.run(sources)
    exit_with_failures(module, "snapshot_copy_generations", "source_snapshot_id", run.outcome(module._diff))


if __name__ == "__main__":
    main()
