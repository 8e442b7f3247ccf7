"""cloudops.aws.alb_traffic_shift (run in the test process, conftest's run_task) against the simulator's ELBv2.

Every test reads the listener and its rules back with DescribeListeners and DescribeRules and
compares them with what they were: only the weighed forward may differ. Idempotence, check mode
and refusals are asserted on the simulator's call log (no ModifyListener or ModifyRule).
"""

import copy

import pytest

from conftest import aws_client

MODIFYING = ("ModifyListener", "ModifyRule")
NO_STICKINESS = {"enabled": False, "duration": None}
AUTHENTICATE = {"Type": "authenticate-cognito", "Order": 1, "AuthenticateCognitoConfig": {
    "UserPoolArn": "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_shop", "UserPoolClientId": "shop-web",
    "UserPoolDomain": "shop-login", "OnUnauthenticatedRequest": "authenticate"}}


@pytest.fixture
def elbv2(sim):
    return aws_client(sim, "elbv2")


def forward(order=None, stickiness=None, **weights):
    """A forward action to the groups in `weights` ({group ARN: weight}, given as a dict in **)."""
    config = {"TargetGroups": [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in weights.items()],
              "TargetGroupStickinessConfig": stickiness or {"Enabled": False}}
    return dict({"Type": "forward", "ForwardConfig": config}, **({"Order": order} if order else {}))


@pytest.fixture
def shop(sim, ec2, elbv2):
    """An application load balancer: an HTTPS listener (certificate) whose default actions authenticate, then forward to
    blue (100), green (0) and canary (0), with an /api/* rule forwarding to blue and green, a redirect rule and a
    fixed-response rule; an HTTP listener that redirects to HTTPS; and a target group on no listener."""
    vpc_id = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]]
    arns = {name: elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc_id)["TargetGroups"][0]["TargetGroupArn"]
            for name in ("shop-blue", "shop-green", "shop-canary", "shop-other")}
    balancer = elbv2.create_load_balancer(Name="shop", Subnets=subnets[:2])["LoadBalancers"][0]["LoadBalancerArn"]
    certificate = aws_client(sim, "acm").request_certificate(DomainName="shop.example.com")["CertificateArn"]
    https = elbv2.create_listener(
        LoadBalancerArn=balancer, Protocol="HTTPS", Port=443, Certificates=[{"CertificateArn": certificate}],
        SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
        DefaultActions=[AUTHENTICATE, forward(2, **{arns["shop-blue"]: 100, arns["shop-green"]: 0, arns["shop-canary"]: 0})],
    )["Listeners"][0]["ListenerArn"]

    def rule(priority, path, action):
        return elbv2.create_rule(ListenerArn=https, Priority=priority, Actions=[action], Conditions=[
            {"Field": "path-pattern", "PathPatternConfig": {"Values": [path]}}])["Rules"][0]["RuleArn"]

    rules = {
        "api": rule(10, "/api/*", forward(**{arns["shop-blue"]: 100, arns["shop-green"]: 0})),
        "old": rule(20, "/old/*", {"Type": "redirect", "RedirectConfig": {"Path": "/new/#{path}", "StatusCode": "HTTP_301"}}),
        "maintenance": rule(30, "/maintenance", {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}),
    }
    http = elbv2.create_listener(LoadBalancerArn=balancer, Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}])["Listeners"][0]["ListenerArn"]
    default_rule = next(r["RuleArn"] for r in elbv2.describe_rules(ListenerArn=https)["Rules"] if r["IsDefault"])
    sim.clear_log()
    return dict(arns, https=https, http=http, balancer=balancer, certificate=certificate, default_rule=default_rule, **rules)


def listeners(elbv2, shop):
    """{listener ARN: listener} as DescribeListeners answers."""
    return {listener["ListenerArn"]: listener for listener in elbv2.describe_listeners(LoadBalancerArn=shop["balancer"])["Listeners"]}


def rules(elbv2, shop):
    """{rule ARN: rule} of the HTTPS listener as DescribeRules answers (its default rule included)."""
    return {rule["RuleArn"]: rule for rule in elbv2.describe_rules(ListenerArn=shop["https"])["Rules"]}


def aws_view(elbv2, shop):
    return copy.deepcopy((listeners(elbv2, shop), rules(elbv2, shop)))


def with_default_actions(view, shop, actions):
    """The AWS view expected after the HTTPS listener's default actions became `actions` (its default rule follows)."""
    expected_listeners, expected_rules = copy.deepcopy(view)
    expected_listeners[shop["https"]]["DefaultActions"] = actions
    expected_rules[shop["default_rule"]]["Actions"] = actions
    return expected_listeners, expected_rules


def modifications(sim):
    return [call["action"] for call in sim.calls() if call["action"] in MODIFYING]


def traffic_shift(run_task, check=False, diff=False, **args):
    return run_task("cloudops.aws.alb_traffic_shift", args, check=check, diff=diff)


def test_a_10_50_100_shift_changes_only_the_default_forward_weights(run_task, sim, elbv2, shop):
    blue, green, canary = shop["shop-blue"], shop["shop-green"], shop["shop-canary"]
    before = aws_view(elbv2, shop)
    assert before[0][shop["https"]]["Certificates"] == [{"CertificateArn": shop["certificate"]}]

    for step in (10, 50, 100):
        sim.clear_log()
        result = traffic_shift(run_task, listener_arn=shop["https"], weights={"shop-blue": 100 - step, "shop-green": step})

        assert not result.get("failed"), result.get("msg")
        assert result["changed"] is True
        expected = {blue: 100 - step, green: step, canary: 0}
        assert result["weights"] == expected and result["stickiness"] == NO_STICKINESS
        # The authentication action, the order, the certificate, the other listener and every rule stay as they were.
        assert aws_view(elbv2, shop) == with_default_actions(before, shop, [AUTHENTICATE, forward(2, **expected)])
        assert modifications(sim) == ["ModifyListener"]

    sim.clear_log()
    again = traffic_shift(run_task, listener_arn=shop["https"], weights={"shop-blue": 0, "shop-green": 100})

    assert again["changed"] is False and again["weights"] == {blue: 0, green: 100, canary: 0}
    assert modifications(sim) == []


def test_a_rollback_to_blue_by_arn_keeps_the_weight_of_groups_not_named(run_task, sim, elbv2, shop):
    blue, green, canary = shop["shop-blue"], shop["shop-green"], shop["shop-canary"]
    elbv2.modify_listener(ListenerArn=shop["https"], DefaultActions=[AUTHENTICATE, forward(2, **{blue: 40, green: 50, canary: 10})])
    before = aws_view(elbv2, shop)
    sim.clear_log()

    result = traffic_shift(run_task, listener_arn=shop["https"], weights={blue: 100, green: 0})

    # ARNs need no lookup: one read, one write.
    assert [call["action"] for call in sim.calls()] == ["DescribeListeners", "ModifyListener"]
    assert result["changed"] is True and result["weights"] == {blue: 100, green: 0, canary: 10}
    assert aws_view(elbv2, shop) == with_default_actions(before, shop, [AUTHENTICATE, forward(2, **{blue: 100, green: 0, canary: 10})])


def test_a_rule_forward_is_weighed_and_the_listener_and_other_rules_stay(run_task, sim, elbv2, shop):
    blue, green = shop["shop-blue"], shop["shop-green"]
    listeners_before, rules_before = aws_view(elbv2, shop)

    result = traffic_shift(run_task, listener_arn=shop["https"], rule_arn=shop["api"], weights={"shop-green": 30, "shop-blue": 70})

    assert result["changed"] is True and result["weights"] == {blue: 70, green: 30}
    listeners_after, rules_after = aws_view(elbv2, shop)
    assert listeners_after == listeners_before
    expected_rules = copy.deepcopy(rules_before)
    expected_rules[shop["api"]]["Actions"] = [forward(**{blue: 70, green: 30})]
    assert rules_after == expected_rules  # conditions and priority too
    assert modifications(sim) == ["ModifyRule"]

    sim.clear_log()
    assert traffic_shift(run_task, listener_arn=shop["https"], rule_arn=shop["api"], weights={blue: 70})["changed"] is False
    assert modifications(sim) == []


def test_stickiness_is_set_kept_when_not_given_and_turned_off(run_task, sim, elbv2, shop):
    blue, green, canary = shop["shop-blue"], shop["shop-green"], shop["shop-canary"]

    def stickiness_in_aws():
        return listeners(elbv2, shop)[shop["https"]]["DefaultActions"][1]["ForwardConfig"]["TargetGroupStickinessConfig"]

    on = traffic_shift(run_task, listener_arn=shop["https"], weights={"shop-green": 10, "shop-blue": 90},
                       stickiness={"enabled": True, "duration": 300})
    assert on["stickiness"] == {"enabled": True, "duration": 300}
    assert stickiness_in_aws() == {"Enabled": True, "DurationSeconds": 300}

    kept = traffic_shift(run_task, listener_arn=shop["https"], weights={"shop-green": 50, "shop-blue": 50})
    assert kept["changed"] is True and kept["stickiness"] == {"enabled": True, "duration": 300}
    assert stickiness_in_aws() == {"Enabled": True, "DurationSeconds": 300}

    sim.clear_log()
    same = traffic_shift(run_task, listener_arn=shop["https"], weights={"shop-green": 50}, stickiness={"enabled": True})
    assert same["changed"] is False and modifications(sim) == []

    off = traffic_shift(run_task, listener_arn=shop["https"], weights={"shop-green": 50}, stickiness={"enabled": False})
    assert off["changed"] is True and off["stickiness"] == NO_STICKINESS
    assert stickiness_in_aws() == {"Enabled": False}
    assert listeners(elbv2, shop)[shop["https"]]["DefaultActions"] == [AUTHENTICATE, forward(2, **{blue: 50, green: 50, canary: 0})]


def test_check_mode_with_diff_shows_the_shift_and_changes_nothing(run_task, sim, elbv2, shop):
    blue, green, canary = shop["shop-blue"], shop["shop-green"], shop["shop-canary"]
    before = aws_view(elbv2, shop)

    result = traffic_shift(run_task, check=True, diff=True, listener_arn=shop["https"], weights={"shop-blue": 90, "shop-green": 10},
                           stickiness={"enabled": True, "duration": 60})

    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    assert result["weights"] == {blue: 90, green: 10, canary: 0}
    assert result["diff"] == {"before": {"weights": {blue: 100, green: 0, canary: 0}, "stickiness": NO_STICKINESS},
                              "after": {"weights": {blue: 90, green: 10, canary: 0}, "stickiness": {"enabled": True, "duration": 60}}}
    assert aws_view(elbv2, shop) == before
    assert modifications(sim) == []


def test_a_throttled_write_is_retried(run_task, sim, elbv2, shop):
    blue, green, canary = shop["shop-blue"], shop["shop-green"], shop["shop-canary"]
    # More throttled answers in a row than botocore retries on its own.
    sim.add_fault(action="ModifyListener", code="Throttling", count=6)

    result = traffic_shift(run_task, listener_arn=shop["https"], weights={"shop-blue": 50, "shop-green": 50})

    assert not result.get("failed"), result.get("msg")
    assert listeners(elbv2, shop)[shop["https"]]["DefaultActions"] == [AUTHENTICATE, forward(2, **{blue: 50, green: 50, canary: 0})]
    writes = [call["error_code"] for call in sim.calls() if call["action"] == "ModifyListener"]
    assert writes == ["Throttling"] * 6 + [None]


BAD_INPUT = [
    # (the task's arguments from the shop's ARNs, what its message says (%s: the listener or rule), whether AWS is asked)
    (lambda s: {"listener_arn": s["https"], "weights": {"shop-blue": 1000}},
     "weights: the weight of 'shop-blue' must be a whole number from 0 to 999, got 1000", False),
    (lambda s: {"listener_arn": s["http"], "rule_arn": s["api"], "weights": {"shop-blue": 1}},
     "rule_arn: '%s' is not a rule of listener_arn", False),
    (lambda s: {"listener_arn": s["https"][:-4] + "0000", "weights": {"shop-blue": 1}},
     "listener_arn: DescribeListeners refused '%s'", True),
    (lambda s: {"listener_arn": s["https"], "rule_arn": s["api"][:-4] + "0000", "weights": {"shop-blue": 1}},
     "rule_arn: DescribeRules refused '%s'", True),
    (lambda s: {"listener_arn": s["https"], "rule_arn": s["default_rule"], "weights": {"shop-blue": 1}},
     "rule_arn: '%s' is the default rule of listener_arn", True),
    (lambda s: {"listener_arn": s["https"], "weights": {"shop-blue": 90, "shop-gren": 10}},
     "weights: no target group named 'shop-gren'", True),
    (lambda s: {"listener_arn": s["https"], "weights": {"shop-blue": 90, "shop-other": 10}},
     "weights: 'shop-other' not a target group of the forward of listener %s", True),
    (lambda s: {"listener_arn": s["https"], "rule_arn": s["api"], "weights": {"shop-canary": 10}},
     "weights: 'shop-canary' not a target group of the forward of rule %s", True),
    (lambda s: {"listener_arn": s["https"], "weights": {"shop-blue": 0}},
     "weights: {'shop-blue': 0} would leave every target group of the forward of listener %s at weight 0", True),
    (lambda s: {"listener_arn": s["http"], "weights": {"shop-blue": 1}},
     "listener_arn: listener %s has no forward action (its actions: redirect)", True),
    (lambda s: {"listener_arn": s["https"], "rule_arn": s["maintenance"], "weights": {"shop-blue": 1}},
     "rule_arn: rule %s has no forward action (its actions: fixed-response)", True),
    (lambda s: {"listener_arn": s["https"], "weights": {"shop-green": 10}, "stickiness": {"enabled": True}},
     "stickiness: enabling it on the forward of listener %s needs a duration", True),
]


@pytest.mark.parametrize("args_of, named, asks_aws", BAD_INPUT)
def test_bad_input_is_refused_naming_it_and_nothing_changes(run_task, sim, elbv2, shop, args_of, named, asks_aws):
    args = args_of(shop)
    before = aws_view(elbv2, shop)
    sim.clear_log()

    result = traffic_shift(run_task, **args)

    assert result["failed"] is True
    assert named.replace("%s", args.get("rule_arn") or args["listener_arn"]) in result["msg"]
    assert modifications(sim) == []
    assert bool(sim.calls()) is asks_aws
    assert aws_view(elbv2, shop) == before
