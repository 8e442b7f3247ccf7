"""elbv2_listeners on a fake ELBv2 client: a listener's or rule's forward weighed, names found in one call,
nothing written when nothing changes, in check mode, or when the input is refused."""

import copy

import pytest
from fakes import client_error

from ansible_collections.cloudops.aws.plugins.module_utils.elbv2_listeners import TrafficShift
from ansible_collections.cloudops.aws.plugins.module_utils.listener_weights import TrafficShiftSettings
from ansible_collections.cloudops.aws.plugins.module_utils.selection import SelectionError

HEAD = "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
LISTENER = HEAD + "listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"
RULE = HEAD + "listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
DEFAULT_RULE = HEAD + "listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/1111111111111111"
BLUE = HEAD + "targetgroup/web-blue/73e2d6bc24d8a067"
GREEN = HEAD + "targetgroup/web-green/5b2c8e1a4f0d3c96"


def forward(blue, green):
    return {"Type": "forward", "Order": 1, "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": BLUE, "Weight": blue}, {"TargetGroupArn": GREEN, "Weight": green}],
        "TargetGroupStickinessConfig": {"Enabled": False}}}


class FakeElbv2:
    """One listener with a forward default action, a rule forwarding to the same groups, and its default rule."""

    def __init__(self):
        self.listener = [forward(100, 0)]
        self.rules = {RULE: {"RuleArn": RULE, "IsDefault": False, "Priority": "10", "Actions": [forward(100, 0)]},
                      DEFAULT_RULE: {"RuleArn": DEFAULT_RULE, "IsDefault": True, "Priority": "default", "Actions": self.listener}}
        self.groups = {"web-blue": BLUE, "web-green": GREEN}
        self.calls = []

    def describe_listeners(self, aws_retry=False, ListenerArns=None):
        self.calls.append(("DescribeListeners", ListenerArns))
        if ListenerArns != [LISTENER]:
            raise client_error("ListenerNotFound", "DescribeListeners")
        return {"Listeners": [{"ListenerArn": LISTENER, "DefaultActions": copy.deepcopy(self.listener)}]}

    def describe_rules(self, aws_retry=False, RuleArns=None):
        self.calls.append(("DescribeRules", RuleArns))
        if RuleArns[0] not in self.rules:
            raise client_error("RuleNotFound", "DescribeRules")
        return {"Rules": [copy.deepcopy(self.rules[RuleArns[0]])]}

    def describe_target_groups(self, aws_retry=False, Names=None):
        self.calls.append(("DescribeTargetGroups", Names))
        if any(name not in self.groups for name in Names):
            raise client_error("TargetGroupNotFound", "DescribeTargetGroups")
        return {"TargetGroups": [{"TargetGroupName": name, "TargetGroupArn": self.groups[name]} for name in Names]}

    def modify_listener(self, aws_retry=False, ListenerArn=None, DefaultActions=None):
        self.calls.append(("ModifyListener", ListenerArn))
        self.listener = copy.deepcopy(DefaultActions)
        return {"Listeners": [{"ListenerArn": ListenerArn, "DefaultActions": copy.deepcopy(self.listener)}]}

    def modify_rule(self, aws_retry=False, RuleArn=None, Actions=None):
        self.calls.append(("ModifyRule", RuleArn))
        self.rules[RuleArn]["Actions"] = copy.deepcopy(Actions)
        return {"Rules": [copy.deepcopy(self.rules[RuleArn])]}

    def modifications(self):
        return [call for call in self.calls if call[0].startswith("Modify")]


def shift(elbv2, weights, rule_arn=None, stickiness=None, check_mode=False, listener_arn=LISTENER):
    settings = TrafficShiftSettings.from_params(dict(listener_arn=listener_arn, rule_arn=rule_arn, weights=weights, stickiness=stickiness))
    run = TrafficShift(elbv2, settings)
    return run.run(check_mode=check_mode), run.diff


def test_the_listener_forward_is_weighed_with_names_found_in_one_call():
    elbv2 = FakeElbv2()

    result, diff = shift(elbv2, {"web-blue": 90, "web-green": 10})

    assert elbv2.calls == [("DescribeListeners", [LISTENER]), ("DescribeTargetGroups", ["web-blue", "web-green"]), ("ModifyListener", LISTENER)]
    assert elbv2.listener == [forward(90, 10)]
    assert result == {"changed": True, "weights": {BLUE: 90, GREEN: 10}, "stickiness": {"enabled": False, "duration": None}}
    assert diff == {"before": {"weights": {BLUE: 100, GREEN: 0}, "stickiness": {"enabled": False, "duration": None}},
                    "after": {"weights": {BLUE: 90, GREEN: 10}, "stickiness": {"enabled": False, "duration": None}}}


def test_a_second_run_modifies_nothing_and_arns_need_no_lookup():
    elbv2 = FakeElbv2()
    shift(elbv2, {BLUE: 50, GREEN: 50})
    elbv2.calls.clear()

    result, _diff = shift(elbv2, {BLUE: 50, GREEN: 50})

    assert elbv2.calls == [("DescribeListeners", [LISTENER])]
    assert result["changed"] is False and result["weights"] == {BLUE: 50, GREEN: 50}


def test_check_mode_returns_the_weights_it_would_set_and_writes_nothing():
    elbv2 = FakeElbv2()

    result, diff = shift(elbv2, {"web-green": 100, "web-blue": 0}, check_mode=True)

    assert elbv2.modifications() == []
    assert elbv2.listener == [forward(100, 0)]
    assert result["changed"] is True and result["weights"] == {BLUE: 0, GREEN: 100} == diff["after"]["weights"]


def test_a_rule_forward_is_weighed_with_modify_rule_and_the_listener_untouched():
    elbv2 = FakeElbv2()

    result, _diff = shift(elbv2, {"web-green": 25}, rule_arn=RULE)

    assert elbv2.modifications() == [("ModifyRule", RULE)]
    assert elbv2.rules[RULE]["Actions"] == [forward(100, 25)] and elbv2.listener == [forward(100, 0)]
    assert result["weights"] == {BLUE: 100, GREEN: 25}


def test_an_unknown_name_is_found_by_asking_each_name_alone_and_nothing_is_written():
    elbv2 = FakeElbv2()

    with pytest.raises(ValueError) as error:
        shift(elbv2, {"web-blue": 90, "web-gren": 10})

    assert str(error.value) == "weights: no target group named 'web-gren'"
    assert [call for call in elbv2.calls if call[0] == "DescribeTargetGroups"] == [
        ("DescribeTargetGroups", ["web-blue", "web-gren"]), ("DescribeTargetGroups", ["web-blue"]), ("DescribeTargetGroups", ["web-gren"])]
    assert elbv2.modifications() == []


@pytest.mark.parametrize("listener_arn, rule_arn, named", [
    (LISTENER.replace("f2f7dc8efc522ab2", "0000000000000000"), None, "listener_arn: DescribeListeners refused '%s'" % LISTENER.replace(
        "f2f7dc8efc522ab2", "0000000000000000")),
    (LISTENER, RULE.replace("9683b2d02a6cabee", "0000000000000000"), "rule_arn: DescribeRules refused"),
    (LISTENER, DEFAULT_RULE, "rule_arn: '%s' is the default rule of listener_arn '%s'; leave rule_arn out" % (DEFAULT_RULE, LISTENER)),
])
def test_an_unknown_listener_or_rule_or_the_default_rule_is_refused_before_any_write(listener_arn, rule_arn, named):
    elbv2 = FakeElbv2()

    with pytest.raises(SelectionError) as error:
        shift(elbv2, {"web-green": 10}, rule_arn=rule_arn, listener_arn=listener_arn)

    assert named in str(error.value)
    assert elbv2.modifications() == []
