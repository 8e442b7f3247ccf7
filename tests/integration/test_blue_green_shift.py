"""cloudops.aws.blue_green_shift (run in the test process, conftest's run_task) and the cloudops.aws.blue_green_deploy
role through ansible-playbook against the simulator.

The shop: an ALB whose HTTP listener forwards to shop-blue (100) and shop-green (0), two instances in each, and a
CloudWatch alarm on green. Every test reads the listener back after the run, samples its weights while the run goes
(every 50 ms), reads target health and counts ModifyListener calls in the simulator's log. The role deploys green with
cloudops.aws.rolling_deploy in the first tests, and takes it as deployed (bg_deploy_commands empty) in the others.
"""

import contextlib
import json
import threading
import time

import pytest

from aws_state import mutating_calls
from conftest import aws_client
from conftest import run_play
from load_balancers import blue_green_shop
from load_balancers import forward
from load_balancers import forward_weights
from load_balancers import target_states

ALARM = "shop-green-5xx"
HEALTH = "test -d /"
DEPLOY_COMMAND = "echo $DEPLOY_VERSION > version"
# Green takes no traffic while it is deployed: all of it at once.
DEPLOY = {"bg_version": "2.0", "bg_deploy_batch_size": "100%", "bg_deploy_min_healthy": "0"}


@pytest.fixture
def fast(sim):
    sim.configure(elbv2={"healthy_after": 0.2, "deregistration_delay_cap": 0.2})
    return sim


@pytest.fixture
def cloudwatch(sim):
    return aws_client(sim, "cloudwatch")


@pytest.fixture
def shop(fast, ec2, elbv2, cloudwatch):
    shop = blue_green_shop(fast, ec2, elbv2)
    cloudwatch.put_metric_alarm(AlarmName=ALARM, Namespace="AWS/ApplicationELB", MetricName="HTTPCode_Target_5XX_Count", Statistic="Sum",
                                Period=60, EvaluationPeriods=1, Threshold=5, ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="no 5xx")
    fast.clear_log()
    return shop


def tag_of(ec2, instance_id, key):
    tags = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0].get("Tags", [])
    return next((tag["Value"] for tag in tags if tag["Key"] == key), None)


def deploy_commands(ssm):
    """The SendCommand requests that ran DEPLOY_COMMAND."""
    return [c for c in ssm.list_commands()["Commands"] if DEPLOY_COMMAND in " ".join(c["Parameters"]["commands"])]


def modifications(sim):
    return [call for call in sim.calls() if call["action"] in ("ModifyListener", "ModifyRule")]


@contextlib.contextmanager
def sampled_weights(elbv2, shop):
    """The listener's (blue, green) weights as they change while the block runs, read every 50 ms and once at its end
    (a run in the test process can end within 50 ms of its last change)."""
    seen, done = [forward_weights(elbv2, shop)], threading.Event()

    def sample():
        now = forward_weights(elbv2, shop)
        if now != seen[-1]:
            seen.append(now)

    def sample_until_done():
        while not done.wait(0.05):
            sample()

    thread = threading.Thread(target=sample_until_done, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        done.set()
        thread.join()
        sample()


@contextlib.contextmanager
def after_first_shift(sim, change, delay=0.3):
    """Runs `change()` in a thread `delay` seconds after the run's first ModifyListener: during the first bake."""
    def wait_and_change():
        deadline = time.monotonic() + 120
        while not sim.calls(action="ModifyListener") and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(delay)
        change()
        changed_at.append(time.time())

    changed_at = []
    thread = threading.Thread(target=wait_and_change, daemon=True)
    thread.start()
    try:
        yield changed_at
    finally:
        thread.join(timeout=130)


def shift(run_task, shop, check=False, **args):
    args = dict(dict(listener_arn=shop["listener"], blue_target_group="shop-blue", green_target_group="shop-green", steps=[10, 50, 100],
                     bake_time=2, alarm_names=[ALARM], healthy_timeout=30, command_timeout=60), **args)
    return run_task("cloudops.aws.blue_green_shift", args, check=check)


def run_role(sim, shop, **role_vars):
    """ansible-playbook of a play running cloudops.aws.blue_green_deploy with these variables; (whether the play failed,
    its JSON output, its text)."""
    role_vars = dict(dict(bg_listener_arn=shop["listener"], bg_blue_target_group="shop-blue", bg_green_target_group="shop-green",
                          bg_bake_time=1, bg_alarm_names=[ALARM], bg_health_command=HEALTH, bg_healthy_timeout=30,
                          bg_command_timeout=60), **role_vars)
    play = [{"name": "Blue/green", "hosts": "localhost", "connection": "local", "gather_facts": False, "vars": role_vars,
             "roles": ["cloudops.aws.blue_green_deploy"]}]
    stdout, stderr = run_play(sim, play, env={"ANSIBLE_SHOW_CUSTOM_STATS": "true"}, timeout=180)
    try:
        output = json.loads(stdout)
    except ValueError as error:
        raise AssertionError("ansible-playbook gave no JSON output:\n%s\n%s" % (stdout, stderr)) from error
    return output["stats"]["localhost"]["failures"] > 0, output, stdout + stderr


def role_task(output, name_start):
    """The result of the role's task whose name starts so."""
    return next(task["hosts"]["localhost"] for play in output["plays"] for task in play["tasks"]
                if task["task"]["name"].split(" : ", 1)[-1].startswith(name_start))


def role_shift_result(output):
    return role_task(output, "Shift the traffic")


def test_the_role_deploys_green_then_shifts_in_steps_with_a_bake_and_a_rerun_changes_nothing(fast, shop, ec2, elbv2, ssm):
    with sampled_weights(elbv2, shop) as seen:
        started = time.monotonic()
        # bg_rollback as an AWX survey answers it: the string "false" (green must still be deployed).
        failed, output, text = run_role(fast, shop, bg_steps=[10, 50, 100], bg_deploy_commands=[DEPLOY_COMMAND], bg_rollback="false", **DEPLOY)
        took = time.monotonic() - started

    assert not failed, text
    # Green deployed (and only green) before any traffic moved.
    assert [tag_of(ec2, i, "cloudops:deployed-version") for i in shop["green_ids"]] == ["2.0", "2.0"]
    assert [tag_of(ec2, i, "cloudops:deployed-version") for i in shop["blue_ids"]] == [None, None]
    deployed = deploy_commands(ssm)
    assert len(deployed) == 1 and sorted(deployed[0]["InstanceIds"]) == sorted(shop["green_ids"])
    writes = modifications(fast)
    assert writes[0]["time"] > max(c["time"] for c in fast.calls(action="RegisterTargets"))
    # Then the steps, each baked at least bg_bake_time (1 s) before the next one.
    assert seen == [(100, 0), (90, 10), (50, 50), (0, 100)]
    assert forward_weights(elbv2, shop) == (0, 100)
    assert len(writes) == 3
    assert writes[1]["time"] - writes[0]["time"] >= 1 and writes[2]["time"] - writes[1]["time"] >= 1 and took >= 3
    assert set(target_states(elbv2, shop["green"]).values()) == {"healthy"}
    result = role_shift_result(output)
    assert [step["percent"] for step in result["steps"]] == [10, 50, 100]
    assert all(step["gates"] == {"target_health": "passed", "alarms": "passed", "health_command": "passed"} for step in result["steps"])
    stats = output["global_custom_stats"]
    assert stats["bg_green_percent"] == {"localhost": 100.0}
    assert stats["bg_rolled_back_targets"] == [] and stats["bg_failed_targets"] == [] and stats["bg_failures"] == {}

    fast.clear_log()
    failed, output, text = run_role(fast, shop, bg_steps=[10, 50, 100], bg_deploy_commands=[DEPLOY_COMMAND], **DEPLOY)

    assert not failed, text
    # Green is at the version and at 100%: no deploy command, no listener change; only the health command ran.
    assert modifications(fast) == [] and len(deploy_commands(ssm)) == 1
    assert {c["action"] for c in mutating_calls(fast)} == {"SendCommand"}
    assert forward_weights(elbv2, shop) == (0, 100)
    again = role_shift_result(output)
    assert again["changed"] is False and again["steps"] == []
    assert output["stats"]["localhost"]["changed"] == 0


def test_a_failed_green_deploy_moves_no_traffic(fast, shop, elbv2):
    failed, output, text = run_role(fast, shop, bg_deploy_commands=["exit 4"], **DEPLOY)

    assert failed
    assert modifications(fast) == [] and forward_weights(elbv2, shop) == (100, 0)
    assert role_task(output, "Shift the traffic")["skipped"] is True
    stats = output["global_custom_stats"]
    assert stats["bg_failed_targets"] == ["localhost"] and stats["bg_failures"]["localhost"].startswith("rolling_deploy: ")
    assert stats["bg_green_percent"] == {"localhost": None}


def test_an_alarm_during_the_bake_puts_blue_back_in_one_call_and_fails_naming_it(fast, run_task, shop, elbv2, cloudwatch):
    def alarm():
        cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="Threshold Crossed: 12 5xx in a minute")

    with sampled_weights(elbv2, shop) as seen, after_first_shift(fast, alarm) as alarm_at:
        result = shift(run_task, shop, bake_time=4)

    assert result["failed"] is True
    assert "gate alarms failed at 10% green: alarm 'shop-green-5xx' is ALARM: Threshold Crossed: 12 5xx in a minute" in result["msg"]
    assert result["failed_gate"] == "alarms" and result["rolled_back"] is True
    assert seen == [(100, 0), (90, 10), (100, 0)]
    assert forward_weights(elbv2, shop) == (100, 0)
    writes = modifications(fast)
    assert len(writes) == 2 and [w for w in writes if w["time"] > alarm_at[0]] == writes[1:]
    # Rolled back within a poll round of the alarm, not at the end of the 4 s bake.
    assert writes[1]["time"] - alarm_at[0] < 2.5


def test_an_unhealthy_green_target_fails_the_gate_and_the_role_publishes_it(fast, shop, elbv2):
    sick = shop["green_ids"][0]
    with sampled_weights(elbv2, shop) as seen, after_first_shift(fast, lambda: fast.set_instance_health([sick], False)):
        failed, output, text = run_role(fast, shop, bg_bake_time=3, bg_steps=[10, 100])

    assert failed
    assert target_states(elbv2, shop["green"])[sick] == "unhealthy"
    assert seen == [(100, 0), (90, 10), (100, 0)] and forward_weights(elbv2, shop) == (100, 0)
    assert len(modifications(fast)) == 2
    stats = output["global_custom_stats"]
    message = stats["bg_failures"]["localhost"]
    assert message.startswith("blue_green_shift: gate target_health failed at 10%% green: 1 of 2 green target(s) not healthy: %s unhealthy" % sick)
    assert stats["bg_failed_targets"] == ["localhost"] and stats["bg_rolled_back_targets"] == ["localhost"]
    assert stats["bg_green_percent"] == {"localhost": 0}
    assert message in text  # the failing last task says it too


def test_rollback_alone_shifts_back_in_one_call_and_reads_no_gate(fast, shop, elbv2):
    elbv2.modify_listener(ListenerArn=shop["listener"], DefaultActions=[forward(shop, 50, 50)])
    fast.clear_log()

    failed, output, text = run_role(fast, shop, bg_rollback=True)

    assert not failed, text
    assert forward_weights(elbv2, shop) == (100, 0)
    assert [c["action"] for c in mutating_calls(fast)] == ["ModifyListener"]
    assert not [c for c in fast.calls() if c["action"] in ("DescribeTargetHealth", "DescribeAlarms", "SendCommand")]
    assert output["global_custom_stats"]["bg_rolled_back_targets"] == ["localhost"]


def test_a_failing_health_command_before_the_first_step_moves_no_traffic(fast, run_task, shop, elbv2):
    result = shift(run_task, shop, health_command="exit 3")

    assert result["failed"] is True and result["failed_gate"] == "health_command"
    assert "gate health_command failed before the first step: the health command failed on 2 of 2 green instance(s)" in result["msg"]
    assert all(instance_id in result["msg"] for instance_id in shop["green_ids"])
    assert modifications(fast) == [] and forward_weights(elbv2, shop) == (100, 0)


def test_check_mode_returns_the_plan_from_where_the_listener_is(fast, run_task, shop, elbv2):
    elbv2.modify_listener(ListenerArn=shop["listener"], DefaultActions=[forward(shop, 90, 10)])
    fast.clear_log()

    result = shift(run_task, shop, check=True)

    assert result["changed"] is True
    assert [(step["percent"], step["weights"]) for step in result["steps"]] == [
        (50, {shop["blue"]: 50, shop["green"]: 50}), (100, {shop["blue"]: 0, shop["green"]: 100})]
    assert mutating_calls(fast) == [] and forward_weights(elbv2, shop) == (90, 10)


@pytest.mark.parametrize("role_vars, message, asks_aws", [
    ({"bg_steps": [10, 50]}, "bg_steps: the last step must be 100 (all of the traffic on green), got [10, 50]", False),
    ({"bg_alarm_names": [ALARM, "shop-green-5xxx"]}, "bg_alarm_names: no CloudWatch alarm named 'shop-green-5xxx'", True),
])
def test_bad_input_is_refused_naming_the_role_variable_and_nothing_changes(fast, shop, elbv2, role_vars, message, asks_aws):
    failed, output, text = run_role(fast, shop, **role_vars)

    assert failed and message in text
    assert output["global_custom_stats"]["bg_failures"]["localhost"].startswith(message)
    assert bool(fast.calls()) is asks_aws  # read before the test reads the listener
    assert mutating_calls(fast) == [] and forward_weights(elbv2, shop) == (100, 0)
