#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: alb_traffic_shift
short_description: Set the weights of the target groups of an Application Load Balancer listener's forward action or rule
version_added: 0.1.0
description:
  - Sets the weights of the target groups of the forward action of one listener's default actions, or of one listener
    rule, and optionally the forward's target group stickiness; for blue/green deployments that move traffic in steps.
  - Everything else is left as it is. The listener's other default actions (an authentication action before the
    forward, for example), their order, the forward's other fields, the listener's port, protocol and certificates, and
    the listener's other rules are not changed; a rule keeps its conditions and priority.
  - Only the target groups the forward already has are weighed. A target group named in I(weights) that the forward
    does not have fails the task rather than being added, so a mistyped or wrong group never receives traffic; add a
    group to the forward with the tool that manages the load balancer.
  - The target groups of the forward that I(weights) does not name keep their weight.
  - Weights are relative. A group's share of the requests is its weight divided by the sum of the weights, so
    C(blue=90, green=10) sends 10% of the requests to C(green).
  - Every option is checked, the listener or rule read and the target groups found before anything is changed. An
    unknown listener, rule or target group, a forward-less listener or rule (a redirect or fixed response), a weight
    outside 0 to 999, and weights that would leave every target group of the forward at 0 fail the task, naming the
    option and the value.
  - Idempotent; nothing is modified when the weights and stickiness are already as asked. Supports check mode and diff
    mode (the weights and stickiness before and after).
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
      - The ARN of a rule of the listener I(listener_arn) whose forward action to weigh.
      - Not the listener's default rule; leave I(rule_arn) out for that.
    type: str
  weights:
    description:
      - The weight of each target group to set, keyed by target group name or ARN; a whole number from 0 to 999.
      - Each target group must be one the forward already has. The forward's other target groups keep their weight.
      - At least one target group of the forward must keep a weight above 0.
    type: dict
    required: true
  stickiness:
    description:
      - The forward's target group stickiness, which sends a client's requests to the same target group for
        I(duration) seconds.
      - When not given, the forward's stickiness is kept as it is.
    type: dict
    suboptions:
      enabled:
        description: Whether target group stickiness is on.
        type: bool
        required: true
      duration:
        description:
          - How long a client stays with its target group, in seconds, from 1 to 604800 (7 days).
          - When not given, a forward that has stickiness on keeps its duration; turning stickiness on needs it.
          - Ignored when I(enabled) is false.
        type: int
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - IAM permissions needed are C(elasticloadbalancing:DescribeListeners) (or C(elasticloadbalancing:DescribeRules)
    with I(rule_arn)), C(elasticloadbalancing:DescribeTargetGroups) when I(weights) names target groups by name, and
    C(elasticloadbalancing:ModifyListener) (or C(elasticloadbalancing:ModifyRule)).
  - A listener default action that authenticates with OIDC is written back with C(UseExistingClientSecret), since AWS
    never shows the client secret.
"""

EXAMPLES = r"""
- name: Send 10% of the requests to green
  cloudops.aws.alb_traffic_shift:
    listener_arn: "{{ listener_arn }}"
    weights:
      web-blue: 90
      web-green: 10

- name: Then half, then all of them, with stickiness kept for 5 minutes so clients do not flap between versions
  cloudops.aws.alb_traffic_shift:
    listener_arn: "{{ listener_arn }}"
    weights:
      web-blue: "{{ 100 - item }}"
      web-green: "{{ item }}"
    stickiness:
      enabled: true
      duration: 300
  loop: [50, 100]

- name: Roll back to blue in one call
  cloudops.aws.alb_traffic_shift:
    listener_arn: "{{ listener_arn }}"
    weights:
      web-blue: 100
      web-green: 0

- name: Weigh the forward of one rule (for example /api/*), by target group ARN
  cloudops.aws.alb_traffic_shift:
    listener_arn: "{{ listener_arn }}"
    rule_arn: "{{ api_rule_arn }}"
    weights: "{{ {api_green_arn: 100, api_blue_arn: 0} }}"
  register: shifted
"""

RETURN = r"""
weights:
  description:
    - The weight of each target group of the forward, by target group ARN, as it is after the task (in check mode, as
      it would be). Target groups not named in I(weights) are listed too.
  returned: success
  type: dict
  sample: {"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-blue/73e2d6bc24d8a067": 90,
           "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-green/5b2c8e1a4f0d3c96": 10}
stickiness:
  description: The forward's target group stickiness after the task; C(duration) in seconds, null when not enabled.
  returned: success
  type: dict
  sample: {"enabled": true, "duration": 300}
diff:
  description: In diff mode, RV(weights) and RV(stickiness) before and after.
  returned: in diff mode
  type: dict
  sample: {"before": {"weights": {"arn:...:targetgroup/web-blue/73e2d6bc24d8a067": 100}, "stickiness": {"enabled": false,
           "duration": null}}, "after": {"weights": {"arn:...:targetgroup/web-blue/73e2d6bc24d8a067": 90},
           "stickiness": {"enabled": false, "duration": null}}}
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudops.aws.plugins.module_utils.elbv2_listeners import TrafficShift
from ansible_collections.cloudops.aws.plugins.module_utils.listener_weights import TrafficShiftSettings
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import checked_settings
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import ending_on_errors


def argument_spec():
    return dict(
        listener_arn=dict(type="str", required=True),
        rule_arn=dict(type="str"),
        weights=dict(type="dict", required=True),
        stickiness=dict(type="dict", options=dict(
            enabled=dict(type="bool", required=True),
            duration=dict(type="int"),
        )),
    )


def main():
    module = AnsibleAWSModule(argument_spec=argument_spec(), supports_check_mode=True)
    settings = checked_settings(module, TrafficShiftSettings.from_params)

    elbv2 = module.client("elbv2", retry_decorator=AWSRetry.jittered_backoff(retries=10))
    shift = TrafficShift(elbv2, settings)
    with ending_on_errors(module, "alb_traffic_shift", shift):
        result = shift.run(check_mode=module.check_mode)
    if module._diff:
        result["diff"] = shift.diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
