#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: restore_drill
short_description: Restore backups on throwaway instances to prove they restore, record the outcome, clean up
version_added: 0.2.0
description:
  - A restore drill takes two calls of this module around a verification, usually M(cloudops.aws.ssm_run) on the
    restored instances; the C(cloudops.aws.restore_drill) role runs the three.
  - With I(state=started), for each selected source it takes the newest managed backup that is finished (an
    C(available) AMI of an instance with I(source=image), or a C(completed) snapshot or DR copy of a volume with
    I(source=snapshot)) and restores it in the isolated I(subnet_id) and I(security_group_ids), with no public IP,
    on a throwaway instance launched from the image, or on a throwaway instance of I(helper_image_id) to which a volume
    made from the snapshot is attached at I(device_name). It then waits, with one describe call a round for all
    drills, until each instance runs and is an online SSM managed node, and returns RV(drills).
  - With I(state=finished), it judges each of I(drills) from I(verification) (the invocations of the verification
    command), records the outcome on the image or snapshot as the tags C(cloudops:verified-at) and
    C(cloudops:verify-result) (C(passed) or C(failed)), which I(keep_verified) of M(cloudops.aws.ami_rotate) and
    M(cloudops.aws.snapshot_rotate) reads, and removes everything the drill made. Run it whatever happened (in an
    C(always) section); with no I(drills) it still removes the run's resources.
  - Every instance and volume a drill makes is tagged at birth with C(cloudops:managed-by), C(cloudops:drill-run)
    (I(run_id)), C(cloudops:drill-expires-at) and C(cloudops:drill-of) (the backup). Both states first remove
    what earlier drills left and whose expiry has passed, so a run killed half-way is cleaned up by the next one;
    a drill of another run still under way is left alone.
  - A backup that a drill already judged is not drilled again unless I(redrill) is set, so a drill run again with no
    new backup launches nothing.
  - A failure on one source does not stop the others; it is reported in RV(failures) and fails the task at the end.
    A drill whose verification failed is a result, not a module failure; read RV(drills[].result).
  - Supports check mode, which returns the backups that would be drilled, the outcomes that would be recorded and the
    resources that would be removed; nothing is launched, tagged or removed.
author:
  - cloudops.aws maintainers (@cloudops)
options:
  state:
    description: C(started) restores and waits; C(finished) records the outcomes and removes the drill's resources.
    type: str
    choices: [started, finished]
    default: started
  source:
    description: What is restored, C(image) (AMIs of instances) or C(snapshot) (snapshots and DR copies of volumes).
    type: str
    choices: [image, snapshot]
    default: image
  instance_ids:
    description:
      - With I(source=image), the instances whose backups are drilled. Their backups are found by the
        C(cloudops:source-instance) tag, so an instance terminated since can still be named.
      - Exactly one of I(instance_ids) and I(filters) with I(source=image), for I(state=started).
    type: list
    elements: str
  volume_ids:
    description:
      - With I(source=snapshot), the volumes whose snapshots are drilled, found by the C(cloudops:source-volume) tag;
        in a DR Region, the copies there (which keep the tag) are found the same way.
      - Exactly one of I(volume_ids) and I(filters) with I(source=snapshot), for I(state=started).
    type: list
    elements: str
  filters:
    description:
      - DescribeInstances (I(source=image)) or DescribeVolumes (I(source=snapshot)) filters selecting the sources, for
        example C(tag:Backup) set to C(daily). Each value is a string or a list of strings.
    type: dict
  policy:
    description: Only backups of this policy (the C(cloudops:policy) tag); any policy when not set.
    type: str
  subnet_id:
    description:
      - The subnet the throwaway instances run in; required with I(state=started). Use an isolated subnet (no route to
        the production network or the internet beyond the SSM endpoints), so a restored service cannot act on
        production.
    type: str
  security_group_ids:
    description: The security groups of the throwaway instances; required with I(state=started).
    type: list
    elements: str
  instance_type:
    description: The throwaway instances' type.
    type: str
    default: t3.micro
  instance_profile:
    description:
      - The instance profile (name or ARN) of the throwaway instances. SSM manages an instance only with a profile
        that allows it (the managed policy C(AmazonSSMManagedInstanceCore)), unless the account sets up Default Host
        Management.
    type: str
  helper_image_id:
    description: With I(source=snapshot), the AMI of the instance the restored volume is attached to; required then.
    type: str
  device_name:
    description: With I(source=snapshot), the device the restored volume is attached at.
    type: str
    default: /dev/sdf
  run_id:
    description:
      - The drill's id, in the C(cloudops:drill-run) tag of what it makes; 1 to 36 letters, digits, C(.), C(_), C(:)
        or C(-). Generated when not set with I(state=started) (returned as RV(run_id)); required with
        I(state=finished).
      - Give both calls the same id, chosen before the first, so the C(finished) call finds the run's resources even
        when the C(started) call was stopped half-way.
    type: str
  expire_after:
    description:
      - How long after the start the drill's resources may be removed by another run, a duration such as C(3h).
        Must be longer than I(wait_timeout), and longer than a whole drill takes, verification included.
    type: str
    default: 3h
  redrill:
    description: Drill a source's newest backup again even when a drill already judged it.
    type: bool
    default: false
  tags:
    description: Extra tags for the throwaway instances and volumes. Keys starting with C(cloudops:) are reserved.
    type: dict
    default: {}
  wait_timeout:
    description:
      - Seconds to wait for the instances to run and their SSM agents to come online (I(state=started)), and for
        instances to terminate before their volumes are deleted.
    type: int
    default: 900
  max_concurrency:
    description: How many launch and delete calls run in parallel.
    type: int
    default: 10
  drills:
    description: With I(state=finished), the RV(drills) the C(started) call returned.
    type: list
    elements: dict
    default: []
  verification:
    description:
      - With I(state=finished), the invocations of the verification command, as M(cloudops.aws.ssm_run) returns them in
        its C(invocations) (each with C(instance_id), C(status), C(response_code), C(end), C(stderr)).
      - A ready drill without an invocation is an C(error) (the backup is not judged).
    type: list
    elements: dict
    default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - IAM permissions needed are C(ec2:DescribeInstances), C(ec2:DescribeImages), C(ec2:DescribeSnapshots),
    C(ec2:DescribeVolumes), C(ec2:DescribeSubnets), C(ec2:DescribeSecurityGroups), C(ec2:RunInstances),
    C(ec2:CreateVolume), C(ec2:AttachVolume), C(ec2:CreateTags), C(ec2:TerminateInstances), C(ec2:DeleteVolume),
    C(ssm:DescribeInstanceInformation), and C(iam:PassRole) for I(instance_profile).
"""

EXAMPLES = r"""
- name: Start a drill of the newest daily AMI of every instance tagged Backup=daily
  cloudops.aws.restore_drill:
    state: started
    filters:
      "tag:Backup": daily
    policy: daily
    subnet_id: subnet-0123456789abcdef0
    security_group_ids: [sg-0123456789abcdef0]
    instance_profile: restore-drill
    run_id: "{{ drill_run_id }}"
  register: drill

- name: Check the service answers and the data is there
  cloudops.aws.ssm_run:
    instance_ids: "{{ drill.drills | selectattr('status', 'eq', 'ready') | map(attribute='drill_instance_id') | list }}"
    commands:
      - systemctl is-active postgresql
      - test -s /var/lib/pgsql/data/PG_VERSION
    skip_unmanaged: true
    allowed_failures: "100%"
  register: verification
  when: drill.drills | selectattr('status', 'eq', 'ready') | list | length > 0

- name: Record the outcomes and remove the drill's instances
  cloudops.aws.restore_drill:
    state: finished
    run_id: "{{ drill_run_id }}"
    drills: "{{ drill.drills | default([]) }}"
    verification: "{{ verification.invocations | default([]) }}"

- name: Drill the DR copies of two volumes in the DR Region, on a helper instance
  cloudops.aws.restore_drill:
    region: eu-central-1
    source: snapshot
    volume_ids: [vol-0123456789abcdef0, vol-0fedcba9876543210]
    helper_image_id: ami-0123456789abcdef0
    device_name: /dev/sdf
    subnet_id: subnet-0fedcba9876543210
    security_group_ids: [sg-0fedcba9876543210]
    run_id: "{{ drill_run_id }}"
"""

RETURN = r"""
run_id:
  description: The drill's id, in the C(cloudops:drill-run) tag of every resource it made.
  returned: always
  type: str
  sample: drill-20261123T041500-3f2a9c1e
drills:
  description:
    - One entry per source drilled. I(state=started) returns them with their RV(drills[].status); I(state=finished)
      adds the verdict, the time to verified and the cleanup.
  returned: always
  type: list
  elements: dict
  contains:
    source_type:
      description: C(instance) or C(volume).
      type: str
      sample: instance
    source_id:
      description: The instance or volume whose backup was restored.
      type: str
      sample: i-0123456789abcdef0
    backup_type:
      description: C(image) or C(snapshot).
      type: str
      sample: image
    backup_id:
      description: The AMI or snapshot restored.
      type: str
      sample: ami-0f1e2d3c4b5a69788
    backup_created_at:
      description: The backup's C(cloudops:created-at).
      type: str
      sample: "2026-11-23T03:15:00Z"
    drill_instance_id:
      description: The throwaway instance; null when its launch failed, or in check mode.
      type: str
      sample: i-0aaaabbbbccccdddd
    drill_volume_id:
      description: With I(source=snapshot), the volume made from the snapshot.
      type: str
      sample: null
    launched_at:
      description: When the launch was requested (UTC, milliseconds).
      type: str
      sample: "2026-11-23T04:15:00.120Z"
    ready_at:
      description: When the instance was first seen running and online in SSM.
      type: str
      sample: "2026-11-23T04:16:10.480Z"
    seconds_to_ready:
      description: Seconds from launch to ready.
      type: float
      sample: 70.36
    status:
      description: C(ready), C(not_ready) (not ready within I(wait_timeout)), C(failed) (the instance stopped or the
        volume failed), C(error) (a launch, volume or attach call failed), or C(planned) in check mode.
      type: str
      sample: ready
    reason:
      description: Why a drill is not ready.
      type: str
      sample: ""
    result:
      description:
        - I(state=finished). C(passed) (the verification succeeded on the restored instance), C(failed) (the restore did
          not come up, or the verification failed), C(error) (the drill could not be carried out, the backup is not
          judged), or C(planned) in check mode.
      type: str
      sample: passed
    verified_at:
      description: I(state=finished). When the verification ended (the C(cloudops:verified-at) value, to the second).
      type: str
      sample: "2026-11-23T04:16:12.900Z"
    seconds_to_verified:
      description: I(state=finished). Seconds from launch to a passed verification, the recovery time a runbook can quote.
      type: float
      sample: 72.78
    recorded:
      description: I(state=finished). Whether this call wrote the outcome's tags on the backup (false when they already said so).
      type: bool
      sample: true
    cleanup:
      description: I(state=finished). C(done) when nothing of the drill remains, C(incomplete) otherwise (see RV(cleanup)).
      type: str
      sample: done
  sample: [{"source_type": "instance", "source_id": "i-0123456789abcdef0", "backup_type": "image", "backup_id": "ami-0f1e2d3c4b5a69788",
            "backup_created_at": "2026-11-23T03:15:00Z", "drill_instance_id": "i-0aaaabbbbccccdddd", "drill_volume_id": null,
            "launched_at": "2026-11-23T04:15:00.120Z", "ready_at": "2026-11-23T04:16:10.480Z", "seconds_to_ready": 70.36,
            "status": "ready", "reason": "", "result": "passed", "verified_at": "2026-11-23T04:16:12.900Z",
            "seconds_to_verified": 72.78, "recorded": true, "cleanup": "done"}]
sources_skipped:
  description: I(state=started). Selected sources not drilled, with the reason (no finished backup, already drilled).
  returned: always
  type: list
  elements: dict
  sample: [{"source_id": "i-0fedcba9876543210", "reason": "no image managed by cloudops.aws is available"}]
leftovers_removed:
  description: Resources of earlier drills removed because their expiry had passed, with their run and the reason.
  returned: always
  type: list
  elements: dict
  sample: [{"resource_id": "i-0eeeeffff00001111", "resource_type": "instance", "run_id": "drill-20261122T041500-aa11bb22",
            "drill_of": "ami-0a9b8c7d6e5f40312", "reason": "left by drill run drill-20261122T041500-aa11bb22, expired at 2026-11-22T07:15:00Z"}]
cleanup:
  description: I(state=finished). What of this run was removed, and what remains (a later run removes it once expired).
  returned: always
  type: dict
  sample: {"instances_terminated": ["i-0aaaabbbbccccdddd"], "volumes_deleted": [], "remaining": [], "complete": true}
totals:
  description: Counts of sources, skipped, launched and ready drills; with I(state=finished) also passed, failed and error.
  returned: always
  type: dict
  sample: {"sources": 3, "skipped": 1, "launched": 2, "ready": 2, "passed": 1, "failed": 1, "error": 0}
failures:
  description: Calls that failed, per source or resource; the task fails when this is not empty.
  returned: always
  type: list
  elements: dict
  sample: [{"id": "i-0123456789abcdef0", "error": "RunInstances: An error occurred (InsufficientInstanceCapacity)"}]
"""

import datetime

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudops.aws.plugins.module_utils.module_results import checked_settings
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import ending_on_errors
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import exit_or_fail
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import failure_list
from ansible_collections.cloudops.aws.plugins.module_utils.restore_drill import DrillRun
from ansible_collections.cloudops.aws.plugins.module_utils.restore_drill_settings import DrillSettings
from ansible_collections.cloudops.aws.plugins.module_utils.restore_drill_settings import argument_spec
from ansible_collections.cloudops.aws.plugins.module_utils.selection import SelectionError


def main():
    module = AnsibleAWSModule(argument_spec=argument_spec(), supports_check_mode=True)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    settings = checked_settings(module, DrillSettings.from_params, now)

    retry = AWSRetry.jittered_backoff(retries=10)
    run = DrillRun(module.client("ec2", retry_decorator=retry), module.client("ssm", retry_decorator=retry), settings, now)
    zone = None
    if settings.state == "started":
        # Refused like the options: the failure carries no result, as nothing was done.
        try:
            zone = run.check_network()
        except SelectionError as error:
            module.fail_json(msg=str(error))
        except (BotoCoreError, ClientError) as error:
            module.fail_json_aws(error, msg="restore_drill could not check subnet_id, security_group_ids and helper_image_id")
    with ending_on_errors(module, "restore_drill", run):
        if settings.state == "finished":
            run.finish(preview=module.check_mode)
        elif module.check_mode:
            run.preview_start()
        else:
            run.start(zone)
    result = run.outcome()
    failures = result["failures"]
    exit_or_fail(module, result, "restore_drill failed for %d resource(s): %s" % (len(failures), failure_list(failures, "id")) if failures else None)


if __name__ == "__main__":
    main()
