"""playbooks/deploy.yml with the simulator inventory, as an operator or AWX runs it: one test per deploy_strategy,
and a misspelled strategy.

Small fleets and short simulator delays keep the file quick; each test reads AWS back (instance tags and target
health for rolling, the listener's weights for blue_green, every Auto Scaling instance's AMI for ami_rollout) and
the simulator's call log, rather than trusting the roles' reports.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aws_state import mutating_calls
from aws_state import tags_of
from conftest import REPO
from conftest import ansible_env
from load_balancers import blue_green_shop
from load_balancers import forward_weights
from load_balancers import target_group
from load_balancers import target_states

TARGET = "simulator-us-east-1"
VERSION_TAG = "cloudops:deployed-version"
DEPLOY = ["mkdir -p app", 'echo "$DEPLOY_VERSION" > app/VERSION']
HEALTH = "test -s app/VERSION"


@pytest.fixture
def fast(sim):
    sim.configure(elbv2={"healthy_after": 0.2, "deregistration_delay_cap": 0.2},
                  autoscaling={"step_seconds": 0.1, "instance_warmup_cap": 0.2, "bake_time_cap": 0.2, "wait_cap": 0.3})
    return sim


def run_deploy(sim, extra_vars, timeout=180):
    """ansible-playbook cloudops.aws.deploy with extra vars; (return code, JSON output, stdout + stderr)."""
    env = dict(ansible_env(sim), ANSIBLE_SHOW_CUSTOM_STATS="true")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(REPO / "inventories" / "simulator" / "hosts.yml"),
         "cloudops.aws.deploy", "-e", json.dumps(extra_vars)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    try:
        output = json.loads(stdout)
    except ValueError:
        output = None
    return process.returncode, output, stdout + stderr


def task_results(output):
    """{task name: result} of the target host, the role's task names without the role prefix."""
    return {task["task"]["name"].split(" : ", 1)[-1]: task["hosts"][TARGET]
            for play in output["plays"] for task in play["tasks"] if TARGET in task["hosts"]}


def versions(ec2, instance_ids):
    return {i["InstanceId"]: tags_of(i).get(VERSION_TAG) for r in ec2.describe_instances(InstanceIds=instance_ids)["Reservations"]
            for i in r["Instances"]}


def test_rolling_deploys_every_instance_in_batches_and_puts_it_back_healthy(fast, ec2, elbv2):
    ids = sorted(fast.seed({"region": "us-east-1", "instances": [{"name": "web", "count": 4}]})["instances"].values())
    group_arn = target_group(ec2, elbv2, ids)
    fast.clear_log()

    rc, output, text = run_deploy(fast, {"deploy_strategy": "rolling", "deploy_target_group_names": ["web"], "deploy_version": "1.4.2",
                                         "deploy_commands": DEPLOY, "deploy_health_command": HEALTH, "deploy_batch_size": "50%"})

    assert rc == 0, text
    assert versions(ec2, ids) == dict.fromkeys(ids, "1.4.2")
    assert target_states(elbv2, group_arn) == dict.fromkeys(ids, "healthy")
    # Two batches of two: each drained from the group before its deploy.
    batches = [sorted(call["resource_ids"]) for call in fast.calls(action="DeregisterTargets")]
    assert [len(batch) for batch in batches] == [2, 2] and sorted(batches[0] + batches[1]) == ids
    stats = output["global_custom_stats"]
    assert stats["deploy_totals"][TARGET]["deployed"] == 4 and stats["deploy_failed_targets"] == []
    assert stats["deploy_versions"] == {TARGET: "1.4.2"}


@pytest.fixture
def shop(fast, ec2, elbv2):
    """An ALB listener forwarding to shop-blue (100) and shop-green (0), two instances behind each."""
    shop = blue_green_shop(fast, ec2, elbv2)
    fast.clear_log()
    return shop


def test_blue_green_deploys_green_then_moves_the_traffic_in_steps(fast, ec2, elbv2, shop):
    rc, output, text = run_deploy(fast, {
        "deploy_strategy": "blue_green", "bg_listener_arn": shop["listener"], "bg_blue_target_group": "shop-blue",
        "bg_green_target_group": "shop-green", "bg_steps": [50, 100], "bg_bake_time": 1, "bg_healthy_timeout": 30,
        "bg_version": "2.0", "bg_deploy_commands": DEPLOY, "bg_deploy_batch_size": "100%", "bg_deploy_min_healthy": "0"})

    assert rc == 0, text
    assert forward_weights(elbv2, shop) == (0, 100)
    # Green deployed first, then one ModifyListener per step.
    assert versions(ec2, shop["green_ids"]) == dict.fromkeys(shop["green_ids"], "2.0")
    assert [call["action"] for call in fast.calls() if call["action"] == "ModifyListener"] == ["ModifyListener"] * 2
    assert target_states(elbv2, shop["green"]) == dict.fromkeys(shop["green_ids"], "healthy")
    stats = output["global_custom_stats"]
    assert stats["bg_green_percent"] == {TARGET: 100} and stats["bg_failed_targets"] == []


def test_ami_rollout_replaces_every_auto_scaling_instance_with_the_new_ami(fast, ec2, autoscaling):
    seeded = fast.seed({"region": "us-east-1", "instances": [{"name": "builder"}]})
    base = seeded["images"]["base-image"]
    image_id = ec2.create_image(InstanceId=seeded["instances"]["builder"], Name="web-2026-11-30")["ImageId"]
    deadline = time.monotonic() + 10
    while ec2.describe_images(ImageIds=[image_id])["Images"][0]["State"] != "available":
        assert time.monotonic() < deadline, "image not available"
        time.sleep(0.1)
    template_id = ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={"ImageId": base, "InstanceType": "t3.micro"})[
        "LaunchTemplate"]["LaunchTemplateId"]
    autoscaling.create_auto_scaling_group(AutoScalingGroupName="web", LaunchTemplate={"LaunchTemplateId": template_id, "Version": "1"},
                                          MinSize=1, MaxSize=4, DesiredCapacity=2, AvailabilityZones=["us-east-1a"])
    fast.clear_log()

    rc, output, text = run_deploy(fast, {"deploy_strategy": "ami_rollout", "ami_rollout_group_name": "web", "ami_rollout_image_id": image_id,
                                         "ami_rollout_min_healthy_percentage": 50, "ami_rollout_poll_interval": 1,
                                         "ami_rollout_wait_timeout": 120})

    assert rc == 0, text
    instances = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]["Instances"]
    assert len(instances) == 2
    described = ec2.describe_instances(InstanceIds=[i["InstanceId"] for i in instances])["Reservations"]
    assert [i["ImageId"] for r in described for i in r["Instances"]] == [image_id] * 2
    refreshes = autoscaling.describe_instance_refreshes(AutoScalingGroupName="web")["InstanceRefreshes"]
    assert [r["Status"] for r in refreshes] == ["Successful"]
    outcome = output["global_custom_stats"]["ami_rollout"][TARGET + "/web"]
    assert outcome["image_id"] == image_id and outcome["status"] == "Successful"


@pytest.mark.parametrize("strategy, shown", [("blue-green", '"blue-green"'), ("Rolling", '"Rolling"'), (["rolling"], '"[\'rolling\']"')],
                         ids=["dash", "case", "list"])
def test_a_misspelled_strategy_is_refused_naming_it_before_any_call(fast, strategy, shown):
    fast.seed({"region": "us-east-1", "instances": [{"name": "web", "count": 2}]})
    fast.clear_log()

    rc, output, text = run_deploy(fast, {"deploy_strategy": strategy, "deploy_target_group_names": ["web"], "deploy_version": "1.0",
                                         "deploy_commands": DEPLOY})

    assert rc != 0, text
    message = task_results(output)["Check deploy_strategy"]["msg"]
    assert message == "deploy_strategy: %s is not one of rolling, blue_green, ami_rollout" % shown
    assert fast.calls() == [] and mutating_calls(fast) == []


def test_no_strategy_is_refused_before_any_call(fast):
    rc, output, text = run_deploy(fast, {"deploy_target_group_names": ["web"], "deploy_version": "1.0", "deploy_commands": DEPLOY})

    assert rc != 0, text
    assert task_results(output)["Check deploy_strategy"]["msg"] == "deploy_strategy is not set: set it to one of rolling, blue_green, ami_rollout"
    assert fast.calls() == []
