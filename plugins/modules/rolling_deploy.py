#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: rolling_deploy
short_description: Deploy a version to EC2 instances in batches through SSM Run Command, out of their load balancer target groups
version_added: 0.1.0
description:
  - Deploys I(version) to the selected instances in batches. Each batch is deregistered from every ELBv2 target group its
    instances are in and waited for until draining ends; the I(deploy_commands) run through SSM Run Command
    (C(AWS-RunShellScript)); the I(health_command) runs; the instances are registered again and waited for until healthy;
    and each deployed instance is tagged C(cloudops:deployed-version) with the version.
  - Every command the module sends starts with C(export DEPLOY_VERSION=<version>), so the commands read the version as
    C($DEPLOY_VERSION).
  - Batches are shrunk so that no target group has fewer than I(min_healthy) of its healthy targets in service. A minimum
    that can never be kept refuses the run before anything is changed.
  - An instance whose deploy, health check or return to service fails stays out of its target groups, and counts as a
    failure. With I(rollback_commands), they run on the failed instances of the batch, and an instance that then passes
    the health check goes back into service (C(rolled_back), still a failure). When a batch has more failures than
    I(max_failures) allows, no later batch starts, RV(stopped_early) says why, and the task fails with the whole report.
  - An instance already at I(version) (its C(cloudops:deployed-version) tag, or the output of I(version_command)) is
    skipped, so a run again with nothing to do sends no command and changes nothing.
  - Instances that are not running, not managed by SSM, or whose agent is offline are skipped with the reason.
  - Supports check mode, which selects, reads the tags and plans the batches, and sends nothing (not even I(version_command)).
author:
  - cloudops.aws maintainers (@cloudops)
options:
  instance_ids:
    description:
      - The instances to deploy to. An id that does not exist fails the task before anything is sent.
      - Exactly one of I(instance_ids), I(filters), I(target_group_arns) and I(target_group_names).
    type: list
    elements: str
  filters:
    description:
      - EC2 DescribeInstances filters selecting the instances, for example C(tag:Role) set to C(web). Empty filters are
        refused.
    type: dict
  target_group_arns:
    description:
      - Every instance registered in these ELBv2 target groups (draining ones aside), and those an earlier run left out
        of them. A target group that does not exist, or whose targets are not instances, fails the task before anything
        is changed.
    type: list
    elements: str
  target_group_names:
    description: As I(target_group_arns), with the target groups named.
    type: list
    elements: str
  version:
    description:
      - The version to deploy, as the commands see it (C($DEPLOY_VERSION)) and as the C(cloudops:deployed-version) tag
        records it. At most 256 characters.
    type: str
    required: true
  deploy_commands:
    description:
      - The shell lines that deploy the version on an instance, run with C(AWS-RunShellScript). A non-zero exit fails the
        instance. The script's exit status is its last line's; start with C(set -e) to stop at the first failing line.
      - An empty list, or lines that are all blank, are refused.
    type: list
    elements: str
    required: true
  health_command:
    description:
      - A shell command run on each instance after its deploy (and after its rollback); a non-zero exit fails it. Not set,
        the load balancer's health check alone decides.
    type: str
  rollback_commands:
    description:
      - Shell lines run on the instances of a batch that failed, to put the version before back. An instance they succeed
        on and whose health check passes goes back into service, reported C(rolled_back).
    type: list
    elements: str
  version_command:
    description:
      - A shell command whose output (without surrounding blanks) is the instance's version, run on the selected
        instances before the first batch. Set, it decides instead of the C(cloudops:deployed-version) tag. An instance
        where it fails is deployed.
    type: str
  batch_size:
    description:
      - How many instances each batch holds, a count (C(2)), a percentage of the instances to deploy (C(25%), rounded
        down, at least 1), or C(one_at_a_time), C(half_at_a_time), C(all_at_once). A batch is smaller when a target
        group's minimum requires it.
    type: raw
    default: 25%
  min_healthy:
    description:
      - How many of each target group's healthy targets must stay in service, a count or a percentage of its healthy
        targets (rounded up). C(0) sets no minimum.
    type: raw
    default: 50%
  max_failures:
    description:
      - How many instances of a batch may fail (deploy, health or return to service) before the rollout stops, a count or
        a percentage of the batch (rounded down). Rolled-back instances count as failures.
    type: raw
    default: "0"
  drain_timeout:
    description: How long to wait for deregistered targets to finish draining, in seconds. Longer than the target groups' deregistration delay.
    type: int
    default: 600
  healthy_timeout:
    description: How long to wait for an instance put back into its target groups to be healthy, in seconds.
    type: int
    default: 600
  command_timeout:
    description: How long to wait for each deploy, health, rollback and version command, in seconds.
    type: int
    default: 3600
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - To stop a rollout, stop the task. A batch stopped midway leaves its instances out of their target groups, each tagged
    C(cloudops:out-of-service:N) with a target group ARN and port. The next run deploys them again whatever their
    version; those that pass their health check go back in and lose the tags. Failed instances keep the same tags.
  - "IAM permissions: C(ec2:DescribeInstances), C(ec2:CreateTags) and C(ec2:DeleteTags) on instances,
    C(ssm:DescribeInstanceInformation), C(ssm:SendCommand), C(ssm:ListCommandInvocations), C(ssm:ListCommands),
    C(ssm:GetCommandInvocation), C(elasticloadbalancing:DescribeTargetGroups),
    C(elasticloadbalancing:DescribeTargetHealth), C(elasticloadbalancing:DeregisterTargets),
    C(elasticloadbalancing:RegisterTargets)."
"""

EXAMPLES = r"""
- name: Deploy release 2.4.1 to the web tier, a quarter at a time, keeping 75% of each target group in service
  cloudops.aws.rolling_deploy:
    filters:
      "tag:Role": web
    version: 2.4.1
    deploy_commands:
      - set -e
      - aws s3 cp "s3://releases/app-$DEPLOY_VERSION.tar.gz" /tmp/app.tar.gz
      - mkdir -p "/opt/app/$DEPLOY_VERSION" && tar -xzf /tmp/app.tar.gz -C "/opt/app/$DEPLOY_VERSION"
      - if [ -e /opt/app/current ]; then ln -sfn "$(readlink /opt/app/current)" /opt/app/previous; fi
      - ln -sfn "/opt/app/$DEPLOY_VERSION" /opt/app/current && systemctl restart app
    health_command: curl -fsS --max-time 5 http://localhost/healthz
    rollback_commands:
      - ln -sfn "$(readlink /opt/app/previous)" /opt/app/current && systemctl restart app
    batch_size: 25%
    min_healthy: 75%
  register: deploy

- name: Every member of the green target group, one at a time, the version read from the application
  cloudops.aws.rolling_deploy:
    target_group_names: [web-green]
    version: "{{ release }}"
    deploy_commands: ["/opt/deploy/install.sh"]
    version_command: cat /opt/app/current/VERSION
    batch_size: one_at_a_time

- name: Which instances failed, and why
  ansible.builtin.debug:
    msg: "{{ deploy.instances | selectattr('status', 'in', ['failed', 'rolled_back']) | map(attribute='reason') | list }}"
  when: deploy is failed
"""

RETURN = r"""
version:
  description: The version deployed.
  returned: always
  type: str
  sample: 2.4.1
instances:
  description: What happened to each selected instance, in the order of their ids.
  returned: always
  type: list
  elements: dict
  contains:
    status:
      description:
        - C(deployed), C(skipped) (at the version already, or not reachable), C(failed) (left out of its target groups),
          C(rolled_back) (failed, then put back by I(rollback_commands)) or C(not_reached) (the rollout stopped before its
          batch, or check mode).
      type: str
      sample: deployed
    instance_id:
      description: Its id.
      type: str
      sample: i-0123456789abcdef0
    batch:
      description: The batch it was planned in, from 1; null when it was skipped.
      type: int
      sample: 1
    reason:
      description: Why the instance failed, was skipped, rolled back or not reached, or that an earlier run left it out of service.
      type: str
      sample: "health: Failed (exit code 22): curl: (22) The requested URL returned error: 503"
    health:
      description: C(passed), C(failed) or C(not_run), the last health check's outcome.
      type: str
      sample: passed
    version_before:
      description: The version the instance was at, from its tag or I(version_command); null when unknown.
      type: str
      sample: 2.4.0
    name:
      description: The value of its C(Name) tag.
      type: str
      sample: web-1
batches:
  description: The instance ids of each batch, in order.
  returned: always
  type: list
  elements: list
  sample: [["i-0123456789abcdef0", "i-0123456789abcdef1"], ["i-0123456789abcdef2"]]
totals:
  description: How many instances ended in each status, and C(instances), how many were selected.
  returned: always
  type: dict
  sample: {"instances": 12, "deployed": 9, "skipped": 0, "failed": 0, "rolled_back": 3, "not_reached": 0}
stopped_early:
  description: Why the rollout stopped before its last batch; null when it did not.
  returned: always
  type: str
  sample: "batch 1: 3 of 3 instance(s) failed, max_failures 0 allows 0: i-0123456789abcdef0: health: ..."
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudops.aws.plugins.module_utils.module_results import checked_settings
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import ending_on_errors
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import exit_or_fail
from ansible_collections.cloudops.aws.plugins.module_utils.rolling_deploy import Clients
from ansible_collections.cloudops.aws.plugins.module_utils.rolling_deploy import RollingDeploy
from ansible_collections.cloudops.aws.plugins.module_utils.rolling_deploy_settings import RollingDeploySettings
from ansible_collections.cloudops.aws.plugins.module_utils.rolling_deploy_settings import argument_spec
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_commands import ssm_clients


def main():
    module = AnsibleAWSModule(argument_spec=argument_spec(), supports_check_mode=True)
    settings = checked_settings(module, RollingDeploySettings.from_params)

    retry = AWSRetry.jittered_backoff(retries=10)
    ssm, sender = ssm_clients(module)
    clients = Clients(ec2=module.client("ec2", retry_decorator=retry), ssm=ssm, sender=sender, elbv2=module.client("elbv2", retry_decorator=retry))
    deploy = RollingDeploy(clients, settings, check_mode=module.check_mode)
    with ending_on_errors(module, "rolling_deploy", deploy):
        result = deploy.run()
    exit_or_fail(module, result, deploy.verdict())


if __name__ == "__main__":
    main()
