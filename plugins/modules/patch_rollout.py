#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: patch_rollout
short_description: Scan EC2 instances with Patch Manager, or patch them in waves with pre-patch AMIs, draining and health checks
version_added: 0.1.0
description:
  - Runs C(AWS-RunPatchBaseline) on the selected instances through SSM Run Command. With I(mode=scan) (the default) it
    scans and reports each instance's patch state; a scan installs nothing and the task reports no change.
  - With I(mode=install), the instances with missing or failed patches (or, under C(RebootIfNeeded), patches pending a
    reboot) are patched in waves. Before the first wave, a pre-patch AMI of each is made and waited for (I(pre_image)).
    A canary of I(canary) instances goes first, then waves of I(wave_size).
  - "Each wave: its instances are deregistered from the ELBv2 target groups they are in and waited for until draining
    ends; the patches are installed (one SendCommand per 50 instances, the same baseline C(SnapshotId) for the whole run,
    so every wave installs the same patch set); the SSM agents are waited for until Online after the reboot; the
    I(health_command) runs; a scan records the patch state after. An instance whose install, reboot or health check
    failed is a failure: with I(rollback) its root volume is replaced from its pre-patch AMI. What passed goes back into
    its target groups and is waited for until healthy; failed instances stay out."
  - Waves are shrunk so that no target group has fewer than I(min_healthy) of its healthy targets in service. A
    minimum that can never be kept refuses the run before anything is changed.
  - When more instances of a wave fail than I(max_failures) allows, no further wave starts, RV(stopped_early) says why,
    and the task fails at the end with the whole report. Failures within I(max_failures) are reported as warnings.
  - Instances that are stopped, not managed by SSM, or whose agent is offline are skipped and listed in
    RV(instances_skipped) with the reason. With I(start_stopped), stopped instances are started, patched and stopped
    again whatever happened.
  - Supports check mode, which selects, reads the last patch states, plans the waves and the pre-patch AMIs, and
    changes nothing (no scan is sent).
author:
  - cloudops.aws maintainers (@cloudops)
options:
  instance_ids:
    description:
      - The instances to scan or patch. An id that does not exist fails the task before anything is sent.
      - Exactly one of I(instance_ids), I(filters) and I(patch_group).
    type: list
    elements: str
  filters:
    description:
      - EC2 DescribeInstances filters selecting the instances, for example C(tag:Role) set to C(web).
      - A filter EC2 refuses fails the task, naming it. A selection that matches nothing is not an error; the task warns.
    type: dict
  patch_group:
    description:
      - The instances tagged C(Patch Group) or C(PatchGroup) with this value (SSM takes either key).
      - A patch group that no instance carries fails the task.
    type: str
  mode:
    description: C(scan) reports compliance and changes nothing; C(install) patches.
    type: str
    choices: [scan, install]
    default: scan
  start_stopped:
    description:
      - In install mode, start stopped instances, wait for them to run and their agent to be Online, patch them with the
        others, and stop them again at the end of the run, whatever happened. Ignored in scan mode, with a warning.
    type: bool
    default: false
  canary:
    description: How many instances the first wave (wave 0) holds. C(0) starts with a full wave.
    type: int
    default: 1
  wave_size:
    description:
      - How many instances each wave after the canary holds, a count (C(5)) or a percentage of the instances to patch
        (C(25%), rounded down, at least 1). A wave is smaller when a target group's minimum requires it.
    type: raw
    default: 25%
  min_healthy:
    description:
      - How many of each target group's healthy targets must stay in service, a count or a percentage of its healthy
        targets (rounded up). C(0) sets no minimum. Instances in no target group are not limited.
    type: raw
    default: 50%
  max_failures:
    description:
      - How many instances of a wave may fail (install, reboot, health or return to service) before the rollout stops,
        a count or a percentage of the wave (rounded down). Rolled-back instances count as failures.
    type: raw
    default: "0"
  reboot_option:
    description:
      - C(RebootIfNeeded) reboots an instance when patches were installed (or a reboot was pending), and an instance left
        with patches pending a reboot fails. C(NoReboot) never reboots; the patches stay pending a reboot.
    type: str
    choices: [RebootIfNeeded, NoReboot]
    default: RebootIfNeeded
  health_command:
    description:
      - A shell command run with C(AWS-RunShellScript) on each patched instance (and again after a rollback); a non-zero
        exit fails the instance. Not set, no health check runs. An empty command is refused.
    type: str
  rollback:
    description:
      - Replace the root volume of a failed instance from its pre-patch AMI (CreateReplaceRootVolumeTask), wait for its
        agent, run the health command again, and report it C(rolled_back). The replaced volume is kept.
      - Needs I(pre_image).
    type: bool
    default: false
  pre_image:
    description:
      - Make an AMI of each instance to patch before the first wave, without rebooting it (crash-consistent), and wait
        until it is available. An instance whose AMI fails is not patched. The AMIs are tagged and rotated like those of
        M(cloudops.aws.ami_rotate), under I(pre_image_policy).
    type: bool
    default: true
  pre_image_policy:
    description: The C(cloudops:policy) of the pre-patch AMIs; they rotate apart from other backups.
    type: str
    default: pre-patch
  pre_image_retention:
    description: How many pre-patch AMIs to keep per instance, with the retention rules of M(cloudops.aws.ami_rotate).
    type: dict
    default: {keep_last: 3}
    suboptions:
      keep_last:
        description: Keep the newest N.
        type: int
      keep_hourly:
        description: Keep the newest of each of the last N hours.
        type: int
      keep_daily:
        description: Keep the newest of each of the last N days.
        type: int
      keep_weekly:
        description: Keep the newest of each of the last N weeks.
        type: int
      keep_monthly:
        description: Keep the newest of each of the last N months.
        type: int
      keep_yearly:
        description: Keep the newest of each of the last N years.
        type: int
      keep_within:
        description: Keep every AMI younger than this duration, such as C(14d).
        type: str
  pre_image_min_interval:
    description:
      - An instance whose newest pre-patch AMI is younger than this gets no new one; that AMI is its pre-patch AMI. So a
        run started again after it was stopped does not image the instances twice.
    type: str
    default: 6h
  command_timeout:
    description: How long to wait for each scan, install and health command, in seconds.
    type: int
    default: 3600
  drain_timeout:
    description: How long to wait for deregistered targets to finish draining, in seconds. Longer than the target groups' deregistration delay.
    type: int
    default: 600
  reboot_timeout:
    description:
      - How long an instance may take to come back, in seconds, its SSM agent Online after the install, after a rollback,
        or after a start.
    type: int
    default: 900
  healthy_timeout:
    description: How long to wait for an instance put back into its target groups to be healthy, in seconds.
    type: int
    default: 600
  pre_image_timeout:
    description: How long to wait for the pre-patch AMIs to be available, in seconds.
    type: int
    default: 3600
  rollback_timeout:
    description: How long to wait for a root volume replacement, in seconds.
    type: int
    default: 1800
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - To stop a rollout, stop the task (Ctrl-C, or cancel the AWX job). A wave stopped midway leaves its instances out of
    their target groups, each tagged C(cloudops:out-of-service:N) with a target group ARN and port. The next run
    (install mode) runs them through a wave; those that pass their health check go back in and lose the tags. The
    pre-patch AMIs stay, and a new run within I(pre_image_min_interval) takes no second one.
  - Failed instances stay out of service with the same tags; once fixed, a new run puts them back.
  - "IAM permissions: C(ec2:DescribeInstances), C(ssm:DescribeInstanceInformation), C(ssm:SendCommand),
    C(ssm:ListCommandInvocations), C(ssm:ListCommands), C(ssm:GetCommandInvocation), C(ssm:DescribeInstancePatchStates),
    C(elasticloadbalancing:DescribeTargetGroups), C(elasticloadbalancing:DescribeTargetHealth); in install mode also
    C(elasticloadbalancing:DeregisterTargets), C(elasticloadbalancing:RegisterTargets), C(ec2:CreateTags) and
    C(ec2:DeleteTags) on instances, the permissions of
    M(cloudops.aws.ami_rotate) for the pre-patch AMIs, C(ec2:CreateReplaceRootVolumeTask) and
    C(ec2:DescribeReplaceRootVolumeTasks) (I(rollback)), C(ec2:StartInstances) and C(ec2:StopInstances) (I(start_stopped))."
"""

EXAMPLES = r"""
- name: Scan the web servers and report compliance (changes nothing)
  cloudops.aws.patch_rollout:
    filters:
      "tag:Role": web
  register: scan

- name: Patch the prod patch group, one canary then 25% at a time, keeping 2/3 of each target group in service
  cloudops.aws.patch_rollout:
    patch_group: prod-web
    mode: install
    canary: 1
    wave_size: 25%
    min_healthy: 67%
    health_command: curl -fsS --max-time 5 http://localhost/healthz
    rollback: true
  register: patching

- name: Which instances failed, and why
  ansible.builtin.debug:
    msg: "{{ patching.instances | selectattr('status', 'in', ['failed', 'rolled_back']) | map(attribute='reason') | list }}"
  when: patching is failed

- name: Patch stopped build agents too, without reboot, and leave them stopped
  cloudops.aws.patch_rollout:
    filters:
      "tag:Role": build-agent
    mode: install
    start_stopped: true
    reboot_option: NoReboot
    wave_size: "10"
    max_failures: 10%

- name: The plan, without changing anything
  cloudops.aws.patch_rollout:
    patch_group: prod-web
    mode: install
  check_mode: true
  register: plan
"""

RETURN = r"""
instances:
  description:
    - One entry per selected instance, in the order of their ids.
    - To restore an instance by hand, replace its root volume from RV(instances[].pre_patch_image) (EC2 console,
      Replace root volume, or C(aws ec2 create-replace-root-volume-task --instance-id ID --image-id AMI)), then register
      it again in its target groups.
  returned: always
  type: list
  elements: dict
  contains:
    instance_id:
      description: The instance.
      type: str
      sample: i-0123456789abcdef0
    name:
      description: Its Name tag.
      type: str
      sample: web-1
    wave:
      description: The wave it was planned in, C(0) for the canary; null when it had nothing to install.
      type: int
      sample: 1
    status:
      description:
        - C(compliant) (nothing to install), C(non_compliant) (something to install, in scan mode, or nothing an install
          can fix), C(patched), C(failed), C(rolled_back) (failed, and restored from its pre-patch AMI), C(skipped) (not
          reachable, see RV(instances_skipped)) or C(not_reached) (the rollout stopped before its wave, or check mode).
      type: str
      sample: patched
    reason:
      description: Why the instance failed, was skipped or not reached, or that an earlier run left it out of service.
      type: str
      sample: "health: Failed (exit code 7): curl: (7) Failed to connect to localhost port 80"
    missing_before:
      description: Missing patches at the first scan; null when unknown.
      type: int
      sample: 12
    missing_after:
      description: Missing patches at the last scan (after the install, or after the rollback).
      type: int
      sample: 0
    installed:
      description: How many patches the run installed.
      type: int
      sample: 12
    failed_patches:
      description: Patches whose install failed, at the last scan.
      type: int
      sample: 0
    rebooted:
      description: Whether the install rebooted the instance (C(RebootIfNeeded), with patches installed or a reboot pending).
      type: bool
      sample: true
    health:
      description: C(passed), C(failed) or C(not_run), the last health check's outcome.
      type: str
      sample: passed
    pre_patch_image:
      description: The pre-patch AMI, made by this run or, within I(pre_image_min_interval), by an earlier one.
      type: str
      sample: ami-0f1e2d3c4b5a69788
    rolled_back:
      description: Whether its root volume was replaced from the pre-patch AMI.
      type: bool
      sample: false
    started_and_stopped:
      description: Whether it was stopped, started for patching, and stopped again.
      type: bool
      sample: false
waves:
  description: The instance ids of each wave, in order, the canary first.
  returned: always
  type: list
  elements: list
  sample: [["i-0123456789abcdef0"], ["i-0123456789abcdef1", "i-0123456789abcdef2"]]
totals:
  description: How many instances ended in each status, and C(instances), how many were selected.
  returned: always
  type: dict
  sample: {"instances": 12, "compliant": 2, "non_compliant": 0, "patched": 9, "failed": 1, "rolled_back": 0, "skipped": 0, "not_reached": 0}
instances_skipped:
  description: Instances that are stopped, not managed by SSM, or whose agent is offline, with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{"instance_id": "i-0fedcba9876543210", "reason": "SSM agent offline (PingStatus ConnectionLost)"}]
stopped_early:
  description: Why the rollout stopped before its last wave; null when it did not.
  returned: always
  type: str
  sample: "wave 1: 2 of 3 instance(s) failed, more than max_failures 0 allows (0): i-0123456789abcdef1: health: ..."
snapshot_id:
  description: The baseline snapshot id every scan and install of the run used, so every wave installs the same patches.
  returned: always
  type: str
  sample: 3f1c1b2e-8a54-4c1d-9d8e-2b6f0f6e9a01
compliance:
  description: How many instances SSM could reach are compliant, non-compliant and never scanned, at the end of the run.
  returned: always
  type: dict
  sample: {"compliant": 11, "non_compliant": 1, "never_scanned": 0}
pre_patch_images:
  description:
    - The rotation of the pre-patch AMIs, as M(cloudops.aws.ami_rotate) returns it (C(images_created),
      C(images_deregistered), C(images_retained), C(instances_skipped) within I(pre_image_min_interval), C(failures)...).
      Empty in scan mode or when nothing needed patching.
  returned: always
  type: dict
  sample: {"images_created": [{"image_id": "ami-0f1e2d3c4b5a69788", "instance_id": "i-0123456789abcdef0", "state": "available"}]}
"""

import datetime

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudops.aws.plugins.module_utils.module_results import checked_settings
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import ending_on_errors
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import exit_or_fail
from ansible_collections.cloudops.aws.plugins.module_utils.patch_rollout import Clients
from ansible_collections.cloudops.aws.plugins.module_utils.patch_rollout import PatchRollout
from ansible_collections.cloudops.aws.plugins.module_utils.patch_rollout_settings import PatchRolloutSettings
from ansible_collections.cloudops.aws.plugins.module_utils.patch_rollout_settings import argument_spec
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_commands import ssm_clients


def main():
    module = AnsibleAWSModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("instance_ids", "filters", "patch_group")],
        required_one_of=[("instance_ids", "filters", "patch_group")],
        supports_check_mode=True,
    )
    settings = checked_settings(module, PatchRolloutSettings.from_params)

    retry = AWSRetry.jittered_backoff(retries=10)
    ssm, sender = ssm_clients(module)
    clients = Clients(ec2=module.client("ec2", retry_decorator=retry), ssm=ssm, sender=sender, elbv2=module.client("elbv2", retry_decorator=retry),
                      autoscaling=module.client("autoscaling", retry_decorator=retry))
    rollout = PatchRollout(clients, settings, datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0), check_mode=module.check_mode)
    with ending_on_errors(module, "patch_rollout", rollout):
        result = rollout.run()
    exit_or_fail(module, result, rollout.verdict())


if __name__ == "__main__":
    main()
