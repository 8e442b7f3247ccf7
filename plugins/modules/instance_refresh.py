#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: instance_refresh
short_description: Roll an AMI out to an Auto Scaling group by instance refresh, with checkpoints, alarms and rollback
version_added: 0.1.0
description:
  - With I(state=present), makes the instances of an Auto Scaling group run an AMI. The AMI is I(image_id), or the
    newest available generation of an M(cloudops.aws.ami_rotate) policy (I(image_policy)), as a golden-image pipeline
    makes them.
  - A new version of the group's launch template is made from the group's version with only the AMI changed
    (C(CreateLaunchTemplateVersion) with C(SourceVersion)); user data, instance type, tags, metadata options, network
    and block device settings stay as they are. A version such a run made before, still the template's latest, is used
    again.
  - An instance refresh then replaces the instances, with that version as its desired configuration. The group is not
    pointed at the new version first; AWS points it there when the refresh succeeds. So a refresh that fails, is
    cancelled or rolled back leaves the group on its version, and AWS can roll the refresh back (it rolls back only a
    refresh started with a desired configuration, of a group on a numbered launch template version).
  - With I(wait), the refresh is followed until it ends, within I(wait_timeout), and RV(progress) returns how it went.
    The task fails when the refresh ends otherwise than I(state) asks (for example rolled back after an alarm), or is
    still going at I(wait_timeout); the refresh goes on in AWS.
  - Nothing is changed when the group's launch template version already has the AMI and every instance was launched
    from that version.
  - A refresh already in progress is reported in RV(refresh_in_progress) and nothing is started; with
    I(wait_for_in_progress) it is followed to its end first.
  - I(state=cancelled) cancels the refresh in progress (C(CancelInstanceRefresh)); the instances already replaced stay.
    I(state=rolled_back) rolls it back (C(RollbackInstanceRefresh)); the instances it launched are replaced from the
    group's own version. Both change nothing when no refresh is in progress.
  - Every option is checked, and the AMI, the alarms, the group and its launch template version are read, before
    anything is changed; a mistake fails the task naming the option and the value.
  - Supports check mode, which reads, plans and reports, and creates or starts nothing.
author:
  - cloudops.aws maintainers (@cloudops)
options:
  group_name:
    description: The Auto Scaling group. It must launch from a launch template (not a launch configuration or a mixed instances policy).
    type: str
    required: true
  state:
    description:
      - C(present) rolls the AMI out; C(cancelled) cancels the refresh in progress; C(rolled_back) rolls it back.
    type: str
    choices: [present, cancelled, rolled_back]
    default: present
  image_id:
    description:
      - The AMI to roll out; it must be available. It may belong to another account that shares it.
      - With I(state=present), exactly one of I(image_id) and I(image_policy).
    type: str
  image_policy:
    description:
      - Roll out the newest available AMI made by M(cloudops.aws.ami_rotate) under this policy (tag C(cloudops:policy)),
        of I(image_source_instance) or carrying I(image_tags), or both. Pending and failed generations are passed over.
    type: str
  image_source_instance:
    description: With I(image_policy), the instance the AMI was made from (tag C(cloudops:source-instance)), for example a build instance.
    type: str
  image_tags:
    description: With I(image_policy), tags the AMI must carry, for example C(Pipeline=web-golden).
    type: dict
  min_healthy_percentage:
    description:
      - The percentage of the group's desired capacity that stays in service during the refresh, 0 to 100.
    type: int
    default: 90
  max_healthy_percentage:
    description:
      - The percentage of the desired capacity that may run during the refresh, 100 to 200, at most 100 above
        I(min_healthy_percentage). Above 100, replacements are launched before the instances they replace are terminated.
      - Not set, AWS's default applies (100).
    type: int
  instance_warmup:
    description: Seconds a new instance takes to be ready, before it counts as updated. Not set, the group's health check grace period.
    type: int
  checkpoint_percentages:
    description:
      - Percentages of the instances replaced (ascending, 1 to 100) at which the refresh pauses for I(checkpoint_delay).
      - When the last is below 100, the refresh replaces only that share and ends C(Successful) (a canary); a later run
        replaces the rest.
    type: list
    elements: int
  checkpoint_delay:
    description: Seconds to pause at each checkpoint, up to 172800. Not set, AWS's default applies (3600). Needs I(checkpoint_percentages).
    type: int
  skip_matching:
    description:
      - Keep the instances already launched from the target launch template version; replace only the others. So a run
        after a cancelled or partial refresh replaces only what is left.
    type: bool
    default: true
  auto_rollback:
    description:
      - Roll the refresh back when it fails, or when one of I(alarms) goes into C(ALARM).
      - Refused for a group on C($Latest) or C($Default), which AWS cannot roll back.
    type: bool
    default: false
  alarms:
    description:
      - CloudWatch alarms (at most 10) that fail the refresh when one goes into C(ALARM), or roll it back with I(auto_rollback).
        Each must exist.
    type: list
    elements: str
  bake_time:
    description: Seconds to keep watching the alarms once every instance is replaced, before the refresh succeeds, up to 172800.
    type: int
  wait:
    description: Follow the refresh until it ends. C(false) returns once it is started (or the cancel or rollback requested).
    type: bool
    default: true
  wait_timeout:
    description: How long the task waits, in seconds, for a refresh in progress (I(wait_for_in_progress)) and its own together.
    type: int
    default: 3600
  poll_interval:
    description:
      - The longest pause between two reads of the refresh, in seconds. Reads come after 2, 4, 8, then every 15 seconds,
        each pause no longer than this.
    type: int
    default: 15
  wait_for_in_progress:
    description:
      - When a refresh of the group is already in progress, follow it until it ends (within I(wait_timeout)), then roll
        out. C(false) reports it and changes nothing.
    type: bool
    default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - A group on launch template version C($Latest) launches from a new version as soon as it exists (scale-outs too),
    before the refresh; on C($Default) it does not until the refresh succeeds. Either way, a successful refresh leaves
    the group on the new version's number. Point the group at a numbered version to have rollbacks.
  - "CreateLaunchTemplateVersion with C(SourceVersion) drops the snapshot ids of inherited block device mappings. When the
    source version restores a data volume from a snapshot, the new version restates the block device mappings with
    their snapshots (but the root device's, which the new AMI provides)."
  - To roll back a refresh that has ended, roll out the previous AMI.
  - "IAM permissions: C(ec2:DescribeImages), C(ec2:DescribeInstances), C(ec2:DescribeLaunchTemplateVersions),
    C(ec2:CreateLaunchTemplateVersion), C(autoscaling:DescribeAutoScalingGroups),
    C(autoscaling:DescribeInstanceRefreshes), C(autoscaling:StartInstanceRefresh), C(autoscaling:CancelInstanceRefresh),
    C(autoscaling:RollbackInstanceRefresh), C(cloudwatch:DescribeAlarms) (I(alarms)); and C(iam:PassRole) when the
    launch template has an instance profile."
"""

EXAMPLES = r"""
- name: Roll an AMI out to web-asg, 90% in service, pausing at 20% and 50%, rolled back on an alarm
  cloudops.aws.instance_refresh:
    group_name: web-asg
    image_id: ami-0123456789abcdef0
    min_healthy_percentage: 90
    max_healthy_percentage: 120
    instance_warmup: 120
    checkpoint_percentages: [20, 50, 100]
    checkpoint_delay: 600
    alarms: [web-5xx, web-latency-p99]
    auto_rollback: true
    bake_time: 900
  register: rollout

- name: The newest golden image the build instance made (ami_rotate policy golden)
  cloudops.aws.instance_refresh:
    group_name: web-asg
    image_policy: golden
    image_source_instance: i-0fedcba9876543210
    auto_rollback: true

- name: Or the newest golden image of a pipeline, by tag
  cloudops.aws.instance_refresh:
    group_name: web-asg
    image_policy: golden
    image_tags:
      Pipeline: web
    wait_for_in_progress: true

- name: Start and return at once
  cloudops.aws.instance_refresh:
    group_name: web-asg
    image_id: ami-0123456789abcdef0
    wait: false

- name: Cancel the refresh in progress
  cloudops.aws.instance_refresh:
    group_name: web-asg
    state: cancelled

- name: Roll it back
  cloudops.aws.instance_refresh:
    group_name: web-asg
    state: rolled_back
"""

RETURN = r"""
image:
  description: The AMI rolled out (I(state=present)); null otherwise, or when the run was refused before.
  returned: always
  type: dict
  sample: {"image_id": "ami-0123456789abcdef0", "name": "web-golden-20261130T040000Z", "state": "available"}
launch_template:
  description:
    - The group's launch template (I(state=present)) and the version the refresh goes to; C(created) when this run made
      it. C(version) is null in check mode when a version would be made. Null when the run stopped before.
  returned: always
  type: dict
  sample: {"launch_template_id": "lt-0123456789abcdef0", "launch_template_name": "web", "source_version": 4, "version": 5, "created": true}
instance_refresh:
  description:
    - The refresh this run started, cancelled or rolled back, as it was at the end of the run; with I(state=cancelled) or
      I(rolled_back) and no refresh in progress, the group's latest. Null when there is none.
  returned: always
  type: dict
  contains:
    instance_refresh_id:
      description: Its id.
      type: str
      sample: 08b91cf7-8fa6-48af-b6a6-d227f40f1b9b
    status:
      description: C(Pending), C(InProgress), C(Baking), C(Successful), C(Failed), C(Cancelling), C(Cancelled),
        C(RollbackInProgress), C(RollbackSuccessful) or C(RollbackFailed).
      type: str
      sample: Successful
    status_reason:
      description: AWS's reason, such as a checkpoint or an alarm.
      type: str
      sample: "Checkpoint 50% reached: waiting 600 seconds before continuing."
    percentage_complete:
      description: The percentage of the instances replaced and warmed up.
      type: int
      sample: 100
    instances_to_update:
      description: How many instances are still to replace.
      type: int
      sample: 0
    start_time:
      description: When it started (ISO 8601).
      type: str
      sample: "2026-11-30T04:00:00+00:00"
    end_time:
      description: When it ended (ISO 8601); null while it runs.
      type: str
      sample: "2026-11-30T04:21:13+00:00"
    desired_launch_template:
      description: Its desired configuration's launch template; null for a refresh started without one.
      type: dict
      sample: {"LaunchTemplateId": "lt-0123456789abcdef0", "Version": "5"}
    rollback_reason:
      description: Why it was rolled back; null when it was not.
      type: str
      sample: CloudWatch alarm web-5xx is in the ALARM state.
refresh_in_progress:
  description: A refresh of the group that was in progress when the run began (I(state=present)), as it was then; null when there was none.
  returned: always
  type: dict
  sample: {"instance_refresh_id": "0d2b6a4e-0d0c-4b8e-9b0c-3f8f8d8b3a11", "status": "InProgress", "percentage_complete": 40}
progress:
  description:
    - The refreshes as the run saw them while it waited, one entry each time a status, reason or count changed;
      C(elapsed) is seconds since the run began.
  returned: always
  type: list
  elements: dict
  sample:
    - {"instance_refresh_id": "08b91cf7-8fa6-48af-b6a6-d227f40f1b9b", "elapsed": 2.1, "status": "InProgress",
       "percentage_complete": 50, "instances_to_update": 2,
       "status_reason": "Checkpoint 50% reached: waiting 600 seconds before continuing."}
instances:
  description: The group's instances at the end of the run, with the AMI each runs and the launch template version it was launched from.
  returned: always
  type: list
  elements: dict
  sample:
    - {"instance_id": "i-0123456789abcdef0", "image_id": "ami-0123456789abcdef0", "lifecycle_state": "InService",
       "health_status": "Healthy", "launch_template_id": "lt-0123456789abcdef0", "launch_template_version": "5"}
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudops.aws.plugins.module_utils.instance_refresh import Clients
from ansible_collections.cloudops.aws.plugins.module_utils.instance_refresh import InstanceRefreshRun
from ansible_collections.cloudops.aws.plugins.module_utils.instance_refresh_settings import InstanceRefreshSettings
from ansible_collections.cloudops.aws.plugins.module_utils.instance_refresh_settings import argument_spec
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import checked_settings
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import ending_on_errors
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import exit_or_fail


def main():
    module = AnsibleAWSModule(argument_spec=argument_spec(), supports_check_mode=True)
    settings = checked_settings(module, InstanceRefreshSettings.from_params)

    retry = AWSRetry.jittered_backoff(retries=10)
    clients = Clients(
        ec2=module.client("ec2", retry_decorator=retry),
        autoscaling=module.client("autoscaling", retry_decorator=retry),
        cloudwatch=module.client("cloudwatch", retry_decorator=retry),
    )
    run = InstanceRefreshRun(clients, settings, check_mode=module.check_mode)
    with ending_on_errors(module, "instance_refresh", run):
        result = run.run()
    exit_or_fail(module, result, run.verdict())


if __name__ == "__main__":
    main()
