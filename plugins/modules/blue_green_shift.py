#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: blue_green_shift
short_description: Move an Application Load Balancer's traffic from a blue to a green target group in steps, behind gates
version_added: 0.1.0
description:
  - Moves the traffic of one listener's forward action, or of one listener rule, from the I(blue_target_group) to the
    I(green_target_group) in I(steps), each a percentage of blue's and green's traffic sent to green. Step C(10) weighs
    blue 90 and green 10. The forward's other target groups keep their weight, and nothing else on the listener or rule
    changes (as with M(cloudops.aws.alb_traffic_shift)).
  - Before the first step it waits until every green target is healthy (I(healthy_timeout)), then reads the alarms and
    runs the health command. After each step it bakes for I(bake_time) seconds, reading green's target health and the
    alarms every few seconds, then runs the health command.
  - The gates are green's target health (every registered target C(healthy)), the CloudWatch alarms I(alarm_names) (each
    in C(OK); C(ALARM) and C(INSUFFICIENT_DATA) fail), and the optional I(health_command), run through SSM on every green
    instance. A gate that cannot be read fails.
  - The first failing gate ends the run. One ModifyListener or ModifyRule gives blue 100 and green 0, and the task fails,
    naming the gate and the reason (an alarm by its name, a target by its id).
  - Steps at or below green's share when the task starts are not taken again, so a stopped run goes on where it stopped.
    A forward already at 100% green whose gates pass is left as it is (C(changed=false)).
  - With I(rollback=true) the task only gives blue 100 and green 0, in one call, reading no gate.
  - The target groups, the forward and the alarms are checked before anything changes; an unknown target group or
    alarm, a target group the forward does not have, and steps that do not rise to 100 fail the task, naming the
    option and the value.
  - Check mode returns the steps the task would take, with their weights, and reads no gate.
author:
  - cloudops.aws maintainers (@cloudops)
options:
  listener_arn:
    description:
      - The ARN of the Application Load Balancer listener.
      - Without I(rule_arn), the weights are those of the forward in the listener's default actions.
    type: str
    required: true
  rule_arn:
    description:
      - The ARN of a rule of the listener I(listener_arn) whose forward to shift. Not the listener's default rule.
    type: str
  blue_target_group:
    description: The target group that has the traffic now, by name or ARN. It must be a target group of the forward.
    type: str
    required: true
  green_target_group:
    description: The target group to move the traffic to, by name or ARN. It must be a target group of the forward.
    type: str
    required: true
  steps:
    description:
      - Green's percentage of blue's and green's traffic after each step, each a whole number from 1 to 100, each above
        the one before, the last C(100).
    type: list
    elements: int
    default: [10, 50, 100]
  bake_time:
    description:
      - Seconds to watch green's target health and the alarms after each step, before the health command and the next
        step. The last step is baked too.
    type: int
    default: 300
  alarm_names:
    description:
      - CloudWatch alarms, metric or composite, that must be C(OK) before the first step and during every bake. Each must
        exist.
      - An alarm with no data is C(INSUFFICIENT_DATA) and fails the gate; set its C(TreatMissingData) to C(notBreaching)
        when little traffic reaches green at first.
    type: list
    elements: str
    default: []
  health_command:
    description:
      - A shell command run through SSM (C(AWS-RunShellScript)) on every green instance before the first step and at the
        end of every bake. A non-zero exit on any instance, or an instance SSM cannot reach, fails the gate.
      - Not set, there is no health command gate. Green's targets must be instances.
    type: str
  healthy_timeout:
    description: Seconds to wait, before the first step, for every green target to be healthy.
    type: int
    default: 600
  command_timeout:
    description: Seconds to wait for the health command on the green instances.
    type: int
    default: 600
  rollback:
    description: Only give blue 100 and green 0, in one call; I(steps), the bake and the gates are not used.
    type: bool
    default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - IAM permissions needed are C(elasticloadbalancing:DescribeListeners) and C(elasticloadbalancing:ModifyListener) (or
    C(DescribeRules) and C(ModifyRule) with I(rule_arn)), C(elasticloadbalancing:DescribeTargetGroups) for target groups
    given by name, C(elasticloadbalancing:DescribeTargetHealth), C(cloudwatch:DescribeAlarms) with I(alarm_names), and
    with I(health_command) C(ssm:DescribeInstanceInformation), C(ssm:SendCommand) and C(ssm:ListCommandInvocations).
  - The task runs for at least the bake time of every step; set the task's timeout, or AWX's job timeout, above it.
seealso:
  - module: cloudops.aws.alb_traffic_shift
"""

EXAMPLES = r"""
- name: Move the shop to green in three steps, five minutes each, behind its 5xx alarm and a health check
  cloudops.aws.blue_green_shift:
    listener_arn: "{{ shop_listener_arn }}"
    blue_target_group: shop-blue
    green_target_group: shop-green
    steps: [10, 50, 100]
    bake_time: 300
    alarm_names: [shop-green-5xx, shop-green-latency]
    health_command: curl -fsS http://localhost:8080/health
  register: shop_shift

- name: Shift the /api/* rule, by target group ARN
  cloudops.aws.blue_green_shift:
    listener_arn: "{{ shop_listener_arn }}"
    rule_arn: "{{ shop_api_rule_arn }}"
    blue_target_group: "{{ api_blue_arn }}"
    green_target_group: "{{ api_green_arn }}"
    steps: [25, 100]
    bake_time: 600

- name: All of the traffic back on blue, now
  cloudops.aws.blue_green_shift:
    listener_arn: "{{ shop_listener_arn }}"
    blue_target_group: shop-blue
    green_target_group: shop-green
    rollback: true
"""

RETURN = r"""
blue_target_group_arn:
  description: The ARN of I(blue_target_group).
  returned: when the target groups were found
  type: str
  sample: arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-blue/73e2d6bc24d8a067
green_target_group_arn:
  description: The ARN of I(green_target_group).
  returned: when the target groups were found
  type: str
  sample: arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-green/5b2c8e1a4f0d3c96
before:
  description:
    - The forward's weights by target group ARN and green's percentage when the task started; and, unless in check mode
      or with I(rollback), the gates read before the first step (C(passed), C(failed), C(not checked) after a failing
      gate, or C(not set)) and the seconds they took, the wait for healthy targets included.
  returned: when the forward was read
  type: dict
  sample: {"weights": {"arn:...:targetgroup/shop-blue/73e2d6bc24d8a067": 100, "arn:...:targetgroup/shop-green/5b2c8e1a4f0d3c96": 0},
           "green_percent": 0, "gates": {"target_health": "passed", "alarms": "passed", "health_command": "not set"},
           "seconds": 4.1}
steps:
  description:
    - The steps taken, in order, each with green's C(percent), the forward's C(weights) by target group ARN as AWS
      answered, C(started_at) (UTC), the C(seconds) it took (the shift, the bake and the health command), and its
      C(gates) as in RV(before).
    - In check mode, the steps the task would take, with C(percent) and C(weights) only.
  returned: always
  type: list
  elements: dict
  sample: [{"percent": 10, "started_at": "2026-11-30T04:00:12Z", "seconds": 301.8,
            "weights": {"arn:...:targetgroup/shop-blue/73e2d6bc24d8a067": 90, "arn:...:targetgroup/shop-green/5b2c8e1a4f0d3c96": 10},
            "gates": {"target_health": "passed", "alarms": "passed", "health_command": "passed"}}]
weights:
  description: The forward's weight of each of its target groups, by ARN, after the task (in check mode, as it would be).
  returned: when the forward was read
  type: dict
  sample: {"arn:...:targetgroup/shop-blue/73e2d6bc24d8a067": 0, "arn:...:targetgroup/shop-green/5b2c8e1a4f0d3c96": 100}
green_percent:
  description: Green's percentage of blue's and green's traffic after the task (in check mode, as it would be).
  returned: when the forward was read
  type: float
  sample: 100
rolled_back:
  description: Whether the task gave blue 100 and green 0, after a failing gate or with I(rollback).
  returned: always
  type: bool
  sample: false
failed_gate:
  description: The gate that failed, C(target_health), C(alarms) or C(health_command); null when none did.
  returned: always
  type: str
  sample: alarms
reason:
  description: Why the gate failed, and at which step; null when none did.
  returned: always
  type: str
  sample: "gate alarms failed at 50% green: alarm 'shop-green-5xx' is ALARM: Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (5.0)."
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudops.aws.plugins.module_utils.blue_green import BlueGreenSettings
from ansible_collections.cloudops.aws.plugins.module_utils.blue_green_shift import BlueGreenShift
from ansible_collections.cloudops.aws.plugins.module_utils.blue_green_shift import Clients
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import checked_settings
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import ending_on_errors
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import exit_or_fail
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_commands import ssm_clients


def argument_spec():
    return dict(
        listener_arn=dict(type="str", required=True),
        rule_arn=dict(type="str"),
        blue_target_group=dict(type="str", required=True),
        green_target_group=dict(type="str", required=True),
        steps=dict(type="list", elements="int", default=[10, 50, 100]),
        bake_time=dict(type="int", default=300),
        alarm_names=dict(type="list", elements="str", default=[]),
        health_command=dict(type="str"),
        healthy_timeout=dict(type="int", default=600),
        command_timeout=dict(type="int", default=600),
        rollback=dict(type="bool", default=False),
    )


def main():
    module = AnsibleAWSModule(argument_spec=argument_spec(), supports_check_mode=True)
    settings = checked_settings(module, BlueGreenSettings.from_params)

    retry = AWSRetry.jittered_backoff(retries=10)
    ssm, sender = ssm_clients(module)
    clients = Clients(elbv2=module.client("elbv2", retry_decorator=retry), cloudwatch=module.client("cloudwatch", retry_decorator=retry),
                      ssm=ssm, sender=sender)
    shift = BlueGreenShift(clients, settings)
    with ending_on_errors(module, "blue_green_shift", shift):
        result = shift.run(check_mode=module.check_mode)
    exit_or_fail(module, result, shift.verdict())


if __name__ == "__main__":
    main()
