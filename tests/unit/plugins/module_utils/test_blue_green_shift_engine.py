"""blue_green_shift on a fake account (ELBv2, CloudWatch, SSM) with a fake clock: steps, bakes, gates, rollback.

The account changes on the fake clock (`at(seconds, change)`), so an alarm goes off or a target turns
unhealthy in the middle of a bake; every assertion reads the fake's listener and call log back.
"""

import copy

import pytest
from fakes import client_error

from ansible_collections.cloudops.aws.plugins.module_utils.blue_green import BlueGreenSettings
from ansible_collections.cloudops.aws.plugins.module_utils.blue_green import gate_results
from ansible_collections.cloudops.aws.plugins.module_utils.blue_green import remaining_steps
from ansible_collections.cloudops.aws.plugins.module_utils.blue_green_shift import BlueGreenShift
from ansible_collections.cloudops.aws.plugins.module_utils.blue_green_shift import Clients
from ansible_collections.cloudops.aws.plugins.module_utils.selection import SelectionError

HEAD = "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
LISTENER = HEAD + "listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2"
BLUE = HEAD + "targetgroup/shop-blue/73e2d6bc24d8a067"
GREEN = HEAD + "targetgroup/shop-green/5b2c8e1a4f0d3c96"
CANARY = HEAD + "targetgroup/shop-canary/0a1b2c3d4e5f6a7b"
GREEN_IDS = ["i-0000000000000000a", "i-0000000000000000b"]
ALL_GATES = {"target_health": "passed", "alarms": "passed", "health_command": "passed"}


class FakeAccount:
    """One listener forwarding to blue and green (and canary at 0), green's targets, alarms and SSM, on a fake clock."""

    def __init__(self, blue=100, green=0):
        self.now = 0.0
        self.forward = {BLUE: blue, GREEN: green, CANARY: 0}
        self.health = {i: "healthy" for i in GREEN_IDS}
        self.alarms = {"shop-5xx": "OK", "shop-latency": "OK"}
        self.broken = set()        # instances whose health command exits 1
        self.unreadable = set()    # actions that answer InternalFailure
        self.scheduled = []        # (time, change)
        self.calls = []
        self.invocations = {}

    # -- the clock -------------------------------------------------------------------------------

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds

    def at(self, seconds, change):
        self.scheduled.append((seconds, change))

    def _call(self, action):
        for when, change in list(self.scheduled):
            if when <= self.now:
                change(self)
                self.scheduled.remove((when, change))
        self.calls.append((self.now, action))
        if action in self.unreadable:
            raise client_error("InternalFailure", action)

    def actions(self, name=None):
        return [action for _when, action in self.calls if name is None or action == name]

    # -- ELBv2 -----------------------------------------------------------------------------------

    def _actions(self):
        groups = [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in self.forward.items()]
        return [{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}]

    def describe_target_groups(self, aws_retry=False, Names=None):
        self._call("DescribeTargetGroups")
        known = {"shop-blue": BLUE, "shop-green": GREEN, "shop-canary": CANARY}
        if any(name not in known for name in Names):
            raise client_error("TargetGroupNotFound", "DescribeTargetGroups")
        return {"TargetGroups": [{"TargetGroupName": name, "TargetGroupArn": known[name]} for name in Names]}

    def describe_listeners(self, aws_retry=False, ListenerArns=None):
        self._call("DescribeListeners")
        return {"Listeners": [{"ListenerArn": LISTENER, "DefaultActions": self._actions()}]}

    def modify_listener(self, aws_retry=False, ListenerArn=None, DefaultActions=None):
        self._call("ModifyListener")
        self.forward = {group["TargetGroupArn"]: group["Weight"] for group in DefaultActions[0]["ForwardConfig"]["TargetGroups"]}
        return {"Listeners": [{"ListenerArn": LISTENER, "DefaultActions": self._actions()}]}

    def describe_target_health(self, aws_retry=False, TargetGroupArn=None):
        self._call("DescribeTargetHealth")
        assert TargetGroupArn == GREEN
        return {"TargetHealthDescriptions": [
            {"Target": {"Id": i, "Port": 80},
             "TargetHealth": dict({"State": state}, **({"Reason": "Target.ResponseCodeMismatch"} if state == "unhealthy" else {}))}
            for i, state in sorted(self.health.items())]}

    # -- CloudWatch ------------------------------------------------------------------------------

    def describe_alarms(self, aws_retry=False, AlarmNames=None, AlarmTypes=None, MaxRecords=None):
        self._call("DescribeAlarms")
        assert len(AlarmNames) <= 100 and MaxRecords == 100 and "CompositeAlarm" in AlarmTypes
        found = [{"AlarmName": name, "StateValue": self.alarms[name], "StateReason": "Threshold Crossed" if self.alarms[name] == "ALARM" else ""}
                 for name in AlarmNames if name in self.alarms]
        return {"MetricAlarms": [alarm for alarm in found if alarm["AlarmName"] != "shop-composite"],
                "CompositeAlarms": [alarm for alarm in found if alarm["AlarmName"] == "shop-composite"]}

    # -- SSM -------------------------------------------------------------------------------------

    def describe_instance_information(self, aws_retry=False, Filters=None, MaxResults=None):
        self._call("DescribeInstanceInformation")
        return {"InstanceInformationList": [{"InstanceId": i, "PingStatus": "Online"} for i in Filters[0]["Values"]]}

    def send_command(self, **request):
        self._call("SendCommand")
        command_id = "cmd-%d" % len(self.invocations)
        self.invocations[command_id] = [
            {"CommandId": command_id, "InstanceId": i, "Status": "Failed" if i in self.broken else "Success",
             "StatusDetails": "Failed" if i in self.broken else "Success",
             "CommandPlugins": [{"ResponseCode": 1 if i in self.broken else 0,
                                 "Output": "\n----------ERROR-------\nconnection refused" if i in self.broken else "ok"}]}
            for i in request["InstanceIds"]]
        return {"Command": {"CommandId": command_id}}

    def list_command_invocations(self, aws_retry=False, CommandId=None, Details=None, MaxResults=None):
        self._call("ListCommandInvocations")
        return {"CommandInvocations": copy.deepcopy(self.invocations[CommandId])}


def params(**overrides):
    return dict(dict(listener_arn=LISTENER, rule_arn=None, blue_target_group="shop-blue", green_target_group="shop-green",
                     steps=[10, 50, 100], bake_time=60, alarm_names=["shop-5xx", "shop-latency"], health_command="curl -fs localhost/health",
                     healthy_timeout=120, command_timeout=60, rollback=False), **overrides)


def run(account, check_mode=False, **overrides):
    shift = BlueGreenShift(Clients(account, account, account, account), BlueGreenSettings.from_params(params(**overrides)),
                           sleep=account.sleep, clock=account.clock)
    return shift.run(check_mode=check_mode), shift.verdict()


def test_three_steps_each_baked_and_gated_end_at_100_percent_green():
    account = FakeAccount()

    result, verdict = run(account)

    assert verdict is None
    assert account.forward == {BLUE: 0, GREEN: 100, CANARY: 0}
    assert account.actions("ModifyListener") == ["ModifyListener"] * 3
    assert [step["percent"] for step in result["steps"]] == [10, 50, 100]
    assert [step["weights"] for step in result["steps"]] == [
        {BLUE: 90, GREEN: 10, CANARY: 0}, {BLUE: 50, GREEN: 50, CANARY: 0}, {BLUE: 0, GREEN: 100, CANARY: 0}]
    assert all(step["gates"] == ALL_GATES and step["seconds"] >= 60 for step in result["steps"])
    assert result["before"]["gates"] == ALL_GATES and result["before"]["green_percent"] == 0
    assert result["changed"] is True and result["rolled_back"] is False and result["failed_gate"] is None
    assert result["weights"] == {BLUE: 0, GREEN: 100, CANARY: 0} and result["green_percent"] == 100
    # Each bake reads health and alarms from its first second to its last; the health command runs once per step and once before.
    shifts = [when for when, action in account.calls if action == "ModifyListener"]
    assert shifts[1] - shifts[0] >= 60 and shifts[2] - shifts[1] >= 60
    assert len(account.actions("SendCommand")) == 4
    assert len(account.actions("DescribeAlarms")) >= 3 * 4


def test_the_first_step_waits_until_every_green_target_is_healthy():
    account = FakeAccount()
    account.health[GREEN_IDS[1]] = "initial"
    account.at(20, lambda a: a.health.update({GREEN_IDS[1]: "healthy"}))

    result, verdict = run(account)

    assert verdict is None
    first_shift = next(when for when, action in account.calls if action == "ModifyListener")
    assert first_shift >= 20
    assert result["before"]["seconds"] >= 20


def test_an_alarm_during_a_bake_puts_all_of_the_traffic_back_on_blue_in_one_call():
    account = FakeAccount()
    # The health command before the first step takes the clock to 1 s; step 50 starts after 60 s of baking at 10.
    account.at(80, lambda a: a.alarms.update({"shop-latency": "ALARM"}))

    result, verdict = run(account)

    assert account.forward == {BLUE: 100, GREEN: 0, CANARY: 0}
    writes = [when for when, action in account.calls if action == "ModifyListener"]
    assert len(writes) == 3 and writes[2] - 80 <= 15  # 10, 50, then blue again within one poll round of the alarm
    assert [step["percent"] for step in result["steps"]] == [10, 50]
    assert result["steps"][1]["gates"] == {"target_health": "passed", "alarms": "failed", "health_command": "not checked"}
    assert result["failed_gate"] == "alarms" and result["rolled_back"] is True
    assert result["reason"] == "gate alarms failed at 50% green: alarm 'shop-latency' is ALARM: Threshold Crossed"
    assert "alarm 'shop-latency' is ALARM" in verdict and "rolled back: blue (shop-blue) weighs 100, green (shop-green) 0" in verdict
    assert result["weights"] == {BLUE: 100, GREEN: 0, CANARY: 0} and result["green_percent"] == 0


def test_an_unhealthy_green_target_fails_the_gate():
    account = FakeAccount()
    account.at(30, lambda a: a.health.update({GREEN_IDS[0]: "unhealthy"}))

    result, verdict = run(account)

    assert account.forward[BLUE] == 100 and account.forward[GREEN] == 0
    assert result["failed_gate"] == "target_health"
    assert result["reason"] == ("gate target_health failed at 10%% green: 1 of 2 green target(s) not healthy: "
                                "%s unhealthy (Target.ResponseCodeMismatch)" % GREEN_IDS[0])
    assert verdict.startswith("blue_green_shift: gate target_health failed at 10% green")


def test_a_failing_health_command_before_the_first_step_moves_no_traffic():
    account = FakeAccount()
    account.broken.add(GREEN_IDS[1])

    result, verdict = run(account)

    assert account.actions("ModifyListener") == []
    assert result["steps"] == [] and result["changed"] is False and result["rolled_back"] is False
    assert result["before"]["gates"] == {"target_health": "passed", "alarms": "passed", "health_command": "failed"}
    assert result["reason"].startswith("gate health_command failed before the first step: the health command failed on 1 of 2 "
                                       "green instance(s): %s: Failed (exit code 1): connection refused" % GREEN_IDS[1])
    assert "nothing to roll back" in verdict


def test_green_never_healthy_fails_after_healthy_timeout_without_shifting():
    account = FakeAccount()
    account.health[GREEN_IDS[0]] = "unhealthy"

    result, verdict = run(account, healthy_timeout=30)

    assert account.actions("ModifyListener") == [] and 30 <= account.now < 40
    assert result["reason"].endswith("after healthy_timeout (30s)")
    assert result["before"]["gates"] == {"target_health": "failed", "alarms": "not checked", "health_command": "not checked"}
    assert verdict is not None


def test_a_gate_that_cannot_be_read_fails_and_rolls_back():
    account = FakeAccount()
    account.at(10, lambda a: a.unreadable.add("DescribeAlarms"))

    result, _verdict = run(account)

    assert account.forward[BLUE] == 100
    assert result["failed_gate"] == "alarms" and "could not be read" in result["reason"]


def test_a_run_at_100_percent_green_with_passing_gates_changes_nothing():
    account = FakeAccount(blue=0, green=100)

    result, verdict = run(account)

    assert verdict is None and result["changed"] is False and result["steps"] == []
    assert account.actions("ModifyListener") == []
    assert result["before"]["gates"] == ALL_GATES and result["weights"][GREEN] == 100


def test_a_stopped_run_goes_on_from_the_step_it_reached():
    account = FakeAccount(blue=50, green=50)

    result, _verdict = run(account)

    assert [step["percent"] for step in result["steps"]] == [100]
    assert account.forward == {BLUE: 0, GREEN: 100, CANARY: 0}


def test_rollback_only_gives_blue_everything_in_one_call_and_reads_no_gate():
    account = FakeAccount(blue=50, green=50)

    result, verdict = run(account, rollback=True)

    assert verdict is None and result["changed"] is True and result["rolled_back"] is True
    assert account.forward == {BLUE: 100, GREEN: 0, CANARY: 0}
    assert account.actions("ModifyListener") == ["ModifyListener"]
    assert not set(account.actions()) & {"DescribeTargetHealth", "SendCommand"}

    again, _verdict = run(account, rollback=True)
    assert again["changed"] is False and again["rolled_back"] is False
    assert account.actions("ModifyListener") == ["ModifyListener"]


def test_check_mode_returns_the_planned_steps_and_reads_no_gate():
    account = FakeAccount(blue=90, green=10)

    result, verdict = run(account, check_mode=True)

    assert verdict is None and result["changed"] is True
    assert result["steps"] == [{"percent": 50, "weights": {BLUE: 50, GREEN: 50, CANARY: 0}},
                               {"percent": 100, "weights": {BLUE: 0, GREEN: 100, CANARY: 0}}]
    assert result["weights"] == {BLUE: 0, GREEN: 100, CANARY: 0}
    assert set(account.actions()) == {"DescribeTargetGroups", "DescribeListeners", "DescribeAlarms"}


@pytest.mark.parametrize("overrides, message", [
    (dict(green_target_group="shop-gren"), "green_target_group: no target group named 'shop-gren'"),
    (dict(blue_target_group=HEAD + "targetgroup/shop-other/1111111111111111"),
     "blue_target_group: '%stargetgroup/shop-other/1111111111111111' is not a target group of the forward of listener" % HEAD),
    (dict(alarm_names=["shop-5xx", "shop-5xxx"]), "alarm_names: no CloudWatch alarm named 'shop-5xxx'"),
])
def test_what_does_not_exist_is_refused_before_anything_changes(overrides, message):
    account = FakeAccount()

    with pytest.raises(SelectionError, match=message.replace("(", r"\(")):
        run(account, **overrides)

    assert account.actions("ModifyListener") == [] and account.actions("SendCommand") == []


@pytest.mark.parametrize("overrides, message", [
    (dict(steps=[]), "steps: give the percentages"),
    (dict(steps=[10, 0, 100]), "steps: each step is a whole percentage from 1 to 100, got 0"),
    (dict(steps=[50, 10, 100]), "steps: each step must be above the one before, got [50, 10, 100]"),
    (dict(steps=[10, 50]), "steps: the last step must be 100"),
    (dict(steps=[10, 101]), "got 101"),
    (dict(green_target_group="shop-blue"), "green_target_group: 'shop-blue' is blue_target_group too"),
    (dict(green_target_group="shop green"), "green_target_group: 'shop green' is neither a target group name nor"),
    (dict(bake_time=-1), "bake_time: must be 0 or more seconds, got -1"),
    (dict(command_timeout=0), "command_timeout: must be 1 or more seconds"),
    (dict(health_command=" "), "health_command: ' ' runs nothing"),
    (dict(alarm_names=["a", "a"]), "alarm_names: 'a' named twice"),
    (dict(listener_arn="arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop/50dc6c495c0c9188"),
     "listener_arn: not the ARN of an Application Load Balancer listener"),
])
def test_bad_options_are_refused_naming_the_option_and_the_value(overrides, message):
    with pytest.raises(ValueError) as error:
        BlueGreenSettings.from_params(params(**overrides))
    assert message in str(error.value)


def test_remaining_steps_compare_green_share_exactly():
    assert remaining_steps((10, 50, 100), {BLUE: 100, GREEN: 0}, BLUE, GREEN) == [10, 50, 100]
    assert remaining_steps((10, 50, 100), {BLUE: 1, GREEN: 1}, BLUE, GREEN) == [100]
    assert remaining_steps((33, 34, 100), {BLUE: 2, GREEN: 1}, BLUE, GREEN) == [34, 100]
    assert remaining_steps((10, 100), {BLUE: 0, GREEN: 7}, BLUE, GREEN) == []
    # Only a third group has weight: green has none of blue's and green's share yet.
    assert remaining_steps((10, 100), {BLUE: 0, GREEN: 0}, BLUE, GREEN) == [10, 100]


def test_gate_results_say_which_gates_were_reached():
    every = {"target_health": True, "alarms": True, "health_command": True}
    assert gate_results(every, None) == ALL_GATES
    assert gate_results(dict(every, alarms=False), ("health_command", "x")) == {
        "target_health": "passed", "alarms": "not set", "health_command": "failed"}
    assert gate_results(every, ("target_health", "x")) == {
        "target_health": "failed", "alarms": "not checked", "health_command": "not checked"}


def test_composite_alarms_are_read_with_metric_alarms():
    account = FakeAccount()
    account.alarms["shop-composite"] = "ALARM"

    result, _verdict = run(account, alarm_names=["shop-5xx", "shop-composite"])

    assert result["failed_gate"] == "alarms" and "alarm 'shop-composite' is ALARM" in result["reason"]
    assert account.actions("ModifyListener") == []
