"""listener_weights: options refused before any call, and a forward's new weights with every other action and field kept."""

import copy

import pytest

from ansible_collections.cloudops.aws.plugins.module_utils.listener_weights import TrafficShiftSettings
from ansible_collections.cloudops.aws.plugins.module_utils.listener_weights import plan_shift

HEAD = "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
LISTENER = HEAD + "listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"
RULE = HEAD + "listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
BLUE = HEAD + "targetgroup/web-blue/73e2d6bc24d8a067"
GREEN = HEAD + "targetgroup/web-green/5b2c8e1a4f0d3c96"
CANARY = HEAD + "targetgroup/web-canary/0a1b2c3d4e5f6a7b"
NAMES = {"web-blue": BLUE, "web-green": GREEN, "web-canary": CANARY}

AUTHENTICATE = {"Type": "authenticate-cognito", "Order": 1, "AuthenticateCognitoConfig": {
    "UserPoolArn": "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abc", "UserPoolClientId": "client",
    "UserPoolDomain": "login", "OnUnauthenticatedRequest": "authenticate"}}


def forward(*weights, stickiness=None):
    config = {"TargetGroups": [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in weights]}
    config["TargetGroupStickinessConfig"] = stickiness or {"Enabled": False}
    return {"Type": "forward", "Order": 2, "ForwardConfig": config}


def settings(weights, rule_arn=None, stickiness=None, listener_arn=LISTENER):
    return TrafficShiftSettings.from_params(dict(listener_arn=listener_arn, rule_arn=rule_arn, weights=weights, stickiness=stickiness))


def test_the_forward_gets_the_weights_and_every_other_action_and_field_stays():
    actions = [AUTHENTICATE, forward((BLUE, 100), (GREEN, 0))]
    read = copy.deepcopy(actions)

    shift = plan_shift(actions, settings({"web-green": 10, "web-blue": 90}), NAMES)

    assert shift.actions == [AUTHENTICATE, {"Type": "forward", "Order": 2, "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": BLUE, "Weight": 90}, {"TargetGroupArn": GREEN, "Weight": 10}],
        "TargetGroupStickinessConfig": {"Enabled": False}}}]
    assert shift.before == {"weights": {BLUE: 100, GREEN: 0}, "stickiness": {"enabled": False, "duration": None}}
    assert shift.after == {"weights": {BLUE: 90, GREEN: 10}, "stickiness": {"enabled": False, "duration": None}}
    assert actions == read  # what was read is not changed in place


def test_weights_already_set_plan_no_write():
    actions = [forward((BLUE, 90), (GREEN, 10), stickiness={"Enabled": True, "DurationSeconds": 300})]

    shift = plan_shift(actions, settings({BLUE: 90, "web-green": "10"}, stickiness={"enabled": True, "duration": None}), NAMES)

    assert shift.actions is None
    assert shift.before == shift.after == {"weights": {BLUE: 90, GREEN: 10}, "stickiness": {"enabled": True, "duration": 300}}


def test_groups_not_named_keep_their_weight():
    shift = plan_shift([forward((BLUE, 80), (GREEN, 10), (CANARY, 10))], settings({"web-blue": 0, "web-green": 90}), NAMES)

    assert shift.after["weights"] == {BLUE: 0, GREEN: 90, CANARY: 10}


def test_a_bare_target_group_arn_weighs_1_and_stays_beside_the_forward_config():
    bare = {"Type": "forward", "TargetGroupArn": BLUE}

    assert plan_shift([bare], settings({"web-blue": 1}), NAMES).actions is None
    shift = plan_shift([bare], settings({"web-blue": 5}, stickiness={"enabled": True, "duration": 60}), NAMES)

    assert shift.actions == [{"Type": "forward", "TargetGroupArn": BLUE, "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": BLUE, "Weight": 5}], "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 60}}}]


def test_stickiness_is_kept_when_not_given_and_set_when_given():
    sticky = {"Enabled": True, "DurationSeconds": 3600}
    kept = plan_shift([forward((BLUE, 100), (GREEN, 0), stickiness=sticky)], settings({"web-green": 50}), NAMES)
    assert kept.actions[0]["ForwardConfig"]["TargetGroupStickinessConfig"] == sticky

    turned_off = plan_shift([forward((BLUE, 100), (GREEN, 0), stickiness=sticky)],
                            settings({"web-green": 0}, stickiness={"enabled": False, "duration": 3600}), NAMES)
    assert turned_off.actions[0]["ForwardConfig"]["TargetGroupStickinessConfig"] == {"Enabled": False}
    assert turned_off.after["stickiness"] == {"enabled": False, "duration": None}

    longer = plan_shift([forward((BLUE, 100), (GREEN, 0), stickiness=sticky)], settings({"web-green": 0}, stickiness={"enabled": True,
                                                                                                                      "duration": 7200}), NAMES)
    assert longer.actions[0]["ForwardConfig"]["TargetGroupStickinessConfig"] == {"Enabled": True, "DurationSeconds": 7200}


def test_an_oidc_action_is_written_back_keeping_its_secret():
    oidc = {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": {"Issuer": "https://idp", "ClientId": "web"}}

    shift = plan_shift([oidc, forward((BLUE, 100), (GREEN, 0))], settings({"web-green": 10}), NAMES)

    assert shift.actions[0] == {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": {
        "Issuer": "https://idp", "ClientId": "web", "UseExistingClientSecret": True}}


@pytest.mark.parametrize("given, named", [
    (dict(listener_arn=HEAD + "listener/net/nlb/50dc6c495c0c9188/f2f7dc8efc522ab2"), "listener_arn: not the ARN of an Application"),
    (dict(listener_arn=BLUE), "listener_arn: not the ARN of an Application Load Balancer listener (arn:aws:elasticloadbalancing:<region>"),
    (dict(rule_arn=LISTENER), "rule_arn: not the ARN of an Application Load Balancer listener rule"),
    (dict(rule_arn=HEAD + "listener-rule/app/web/50dc6c495c0c9188/0000000000000000/9683b2d02a6cabee"),
     "rule_arn: '%slistener-rule/app/web/50dc6c495c0c9188/0000000000000000/9683b2d02a6cabee' is not a rule of listener_arn" % HEAD),
    (dict(weights={}), "weights: name at least one target group and its weight, got {}"),
    (dict(weights={"web-blue": 1000}), "weights: the weight of 'web-blue' must be a whole number from 0 to 999, got 1000"),
    (dict(weights={"web-blue": -1}), "weights: the weight of 'web-blue' must be a whole number from 0 to 999, got -1"),
    (dict(weights={"web-blue": "ten"}), "got 'ten'"),
    (dict(weights={"web-blue": True}), "got True"),
    (dict(weights={"web-blue": 1.5}), "got 1.5"),
    (dict(weights={"web_blue": 1}), "weights: 'web_blue' is neither a target group name nor a target group ARN"),
    (dict(weights={HEAD + "loadbalancer/app/web/50dc6c495c0c9188": 1}), "is neither a target group name nor a target group ARN"),
    (dict(weights={"g%d" % n: 1 for n in range(6)}), "weights: a forward action has at most 5 target groups, got 6"),
    (dict(stickiness={"enabled": True, "duration": 0}), "stickiness: duration must be from 1 to 604800 seconds, got 0"),
    (dict(stickiness={"enabled": True, "duration": 604801}), "got 604801"),
])
def test_bad_options_are_refused_naming_the_option_and_value(given, named):
    params = dict(dict(weights={"web-blue": 1}, rule_arn=None, stickiness=None, listener_arn=LISTENER), **given)

    with pytest.raises(ValueError) as error:
        TrafficShiftSettings.from_params(params)

    assert named in str(error.value)


def test_a_rule_of_the_listener_is_accepted():
    assert settings({"web-blue": 1}, rule_arn=RULE).subject == ("rule_arn", "rule " + RULE)


@pytest.mark.parametrize("actions, weights, named", [
    ([forward((BLUE, 100), (GREEN, 0))], {"web-canary": 10}, "weights: 'web-canary' not a target group of the forward of listener %s, "
                                                             "which has %s, %s" % (LISTENER, BLUE, GREEN)),
    ([forward((BLUE, 100), (GREEN, 0))], {"web-gren": 10, "nope": 1}, "weights: no target group named 'web-gren', 'nope'"),
    ([forward((BLUE, 100), (GREEN, 0))], {"web-blue": 0}, "weights: {'web-blue': 0} would leave every target group of the forward of "
                                                          "listener %s at weight 0" % LISTENER),
    ([forward((BLUE, 100), (GREEN, 0))], {"web-blue": 10, BLUE: 20}, "weights: 'web-blue' and '%s' are the same target group, "
                                                                     "with weights 10 and 20" % BLUE),
    ([{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "StatusCode": "HTTP_301"}}], {"web-blue": 1},
     "listener_arn: listener %s has no forward action (its actions: redirect)" % LISTENER),
    ([{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}], {"web-blue": 1}, "(its actions: fixed-response)"),
])
def test_a_refused_shift_names_the_option_and_value(actions, weights, named):
    with pytest.raises(ValueError) as error:
        plan_shift(actions, settings(weights), NAMES)
    assert named in str(error.value)


def test_turning_stickiness_on_without_a_duration_is_refused_when_the_forward_has_none():
    with pytest.raises(ValueError) as error:
        plan_shift([forward((BLUE, 100), (GREEN, 0))], settings({"web-green": 10}, stickiness={"enabled": True}), NAMES)

    assert "stickiness: enabling it on the forward of listener %s needs a duration" % LISTENER in str(error.value)


def test_a_rule_is_named_in_refusals():
    with pytest.raises(ValueError) as error:
        plan_shift([{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}], settings({"web-blue": 1}, rule_arn=RULE), NAMES)

    assert "rule_arn: rule %s has no forward action" % RULE in str(error.value)
