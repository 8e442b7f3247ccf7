# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS I/O for ELBv2 listeners and rules: the actions of a listener (its default actions) or of a rule,
read and written whole; and alb_traffic_shift's run over them.

TrafficShift reads the actions, finds the ARNs of the target groups named by name, plans with
listener_weights, and writes only when the forward changes: everything is read and checked
before the one ModifyListener or ModifyRule.
"""

from ansible_collections.cloudops.aws.plugins.module_utils.listener_weights import forward_position
from ansible_collections.cloudops.aws.plugins.module_utils.listener_weights import forward_state
from ansible_collections.cloudops.aws.plugins.module_utils.listener_weights import plan_shift
from ansible_collections.cloudops.aws.plugins.module_utils.selection import SelectionError
from ansible_collections.cloudops.aws.plugins.module_utils.selection import refusal_named
from ansible_collections.cloudops.aws.plugins.module_utils.target_groups import arns_by_name

# ELBv2's answers to a listener or rule that does not exist, or an ARN it cannot parse.
REFUSED_LISTENER_CODES = ("ListenerNotFound", "ValidationError")
REFUSED_RULE_CODES = ("RuleNotFound", "ValidationError")


def read_actions(elbv2, listener_arn, rule_arn=None):
    """The listener's default actions, or the rule's actions; SelectionError naming the option for one that does not exist."""
    if rule_arn is None:
        with refusal_named("listener_arn", listener_arn, REFUSED_LISTENER_CODES):
            return elbv2.describe_listeners(aws_retry=True, ListenerArns=[listener_arn])["Listeners"][0]["DefaultActions"]
    with refusal_named("rule_arn", rule_arn, REFUSED_RULE_CODES):
        rule = elbv2.describe_rules(aws_retry=True, RuleArns=[rule_arn])["Rules"][0]
    if rule.get("IsDefault"):
        # A default rule's actions are the listener's default actions, which AWS changes through ModifyListener.
        raise SelectionError("rule_arn: %r is the default rule of listener_arn %r; leave rule_arn out to weigh the listener's "
                             "default action" % (rule_arn, listener_arn))
    return rule["Actions"]


def write_actions(elbv2, listener_arn, rule_arn, actions):
    """Replace the listener's default actions, or the rule's actions (its conditions stay); the actions AWS answers with."""
    if rule_arn is None:
        return elbv2.modify_listener(aws_retry=True, ListenerArn=listener_arn, DefaultActions=actions)["Listeners"][0]["DefaultActions"]
    return elbv2.modify_rule(aws_retry=True, RuleArn=rule_arn, Actions=actions)["Rules"][0]["Actions"]


class TrafficShift:
    """One alb_traffic_shift run; `result` and `warnings` as module_results.ending_on_errors reads them."""

    def __init__(self, elbv2, settings):
        self.elbv2 = elbv2
        self.settings = settings
        self.result = {"changed": False}
        self.warnings = []
        self.diff = None

    def run(self, check_mode=False):
        """The result: `weights` and `stickiness` as the forward has them after the run (in check mode, would have)."""
        settings = self.settings
        actions = read_actions(self.elbv2, settings.listener_arn, settings.rule_arn)
        shift = plan_shift(actions, settings, arns_by_name(self.elbv2, settings.names))
        after = shift.after
        if shift.actions is not None and not check_mode:
            answered = write_actions(self.elbv2, settings.listener_arn, settings.rule_arn, shift.actions)
            after = forward_state(answered[forward_position(answered, settings)])
        self.diff = {"before": shift.before, "after": after}
        self.result.update(after, changed=shift.actions is not None)
        return self.result
