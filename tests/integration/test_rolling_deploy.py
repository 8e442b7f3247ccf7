"""The cloudops.aws.rolling_deploy role through ansible-playbook against the simulator: ELBv2 target health with
draining, health checks driven by each instance's SSM sandbox, and the deploy commands run in that sandbox.

Every test reads AWS back (target health, sampled from a thread while the play runs; the instances' tags; the commands
SSM was sent; the simulator's call log) and the files the deploys left in the sandboxes, rather than trusting the report.
"""

import json
from pathlib import Path

import pytest

from aws_state import mutating_calls
from aws_state import tags_of
from conftest import run_play
from load_balancers import Sampler
from load_balancers import target_group
from load_balancers import target_states

FAST = {"elbv2": {"healthy_after": 0.2, "deregistration_delay_cap": 0.2}}
TAG = "cloudops:deployed-version"
# A release is a VERSION file; the one before is kept for the rollback. A version ending in -unhealthy makes its instance
# fail the load balancer's health check (the sandbox's health file), one ending in -exit fails its deploy.
DEPLOY = ["set -e", "mkdir -p app", "if [ -f app/VERSION ]; then cp app/VERSION app/VERSION.before; fi", 'echo "$DEPLOY_VERSION" > app/VERSION',
          'case "$DEPLOY_VERSION" in *-unhealthy) echo unhealthy > health ;; *-exit) exit 3 ;; esac']
HEALTH = "! grep -qx unhealthy health 2>/dev/null"
ROLLBACK = ["mv app/VERSION.before app/VERSION", "rm -f health"]


@pytest.fixture
def fast(sim):
    sim.configure(**FAST)
    return sim


def deploy(sim, **role_vars):
    """(the play's JSON report, the rolling_deploy task's result) of the role run on localhost with these variables."""
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "roles": [{"role": "cloudops.aws.rolling_deploy", "vars": role_vars}]}]
    stdout, stderr = run_play(sim, play, env={"ANSIBLE_SHOW_CUSTOM_STATS": "true"})
    try:
        report = json.loads(stdout)
    except ValueError as error:
        raise AssertionError("ansible-playbook gave no report:\n%s\n%s" % (stdout, stderr)) from error
    results = [task["hosts"]["localhost"] for task in report["plays"][0]["tasks"]]
    return report, next((result for result in results if "batches" in result), None)


def failure(report):
    return " | ".join(str(task["hosts"]["localhost"].get("msg")) for task in report["plays"][0]["tasks"] if task["hosts"]["localhost"].get("failed"))


def fleet(sim, count, **tags):
    return sorted(sim.seed({"region": "us-east-1", "instances": [{"name": "web", "count": count, "tags": tags}]})["instances"].values())


def sandbox(sim, instance_id):
    return Path(sim.ssm_commands()["sandbox_root"]) / "instances" / instance_id


def release(sim, instance_id):
    path = sandbox(sim, instance_id) / "app" / "VERSION"
    return path.read_text().strip() if path.exists() else None


def versions(ec2, instance_ids):
    return {i["InstanceId"]: tags_of(i).get(TAG) for r in ec2.describe_instances(InstanceIds=instance_ids)["Reservations"] for i in r["Instances"]}


def out_of_service_marks(ec2, instance_ids):
    return [key for r in ec2.describe_instances(InstanceIds=instance_ids)["Reservations"] for i in r["Instances"]
            for key in tags_of(i) if key.startswith("cloudops:out-of-service:")]


def sent(ssm, step):
    """{instance id: when} of the rolling_deploy commands of one step (deploy, health, rollback, version)."""
    commands = [c for c in ssm.list_commands()["Commands"] if c.get("Comment", "").startswith("cloudops.aws rolling_deploy %s" % step)]
    return {i: c["RequestedDateTime"].timestamp() for c in commands for i in c["InstanceIds"]}


def test_twelve_instances_in_batches_of_a_quarter_never_drop_below_the_minimum_and_a_run_again_changes_nothing(fast, ec2, ssm, elbv2):
    ids = fleet(fast, 12)
    group_arn = target_group(ec2, elbv2, ids)
    sampler = Sampler(elbv2, group_arn)
    sampler.start()
    try:
        report, result = deploy(fast, deploy_target_group_names=["web"], deploy_version="1.0", deploy_commands=DEPLOY,
                                deploy_health_command=HEALTH, deploy_batch_size="25%", deploy_min_healthy="75%")
    finally:
        sampler.done.set()
        sampler.join()

    assert report["stats"]["localhost"]["failures"] == 0, failure(report)
    assert [len(batch) for batch in result["batches"]] == [3, 3, 3, 3]
    # 75% of 12 keeps 9 healthy: reached with each batch out, never broken.
    assert min(sum(state == "healthy" for state in states.values()) for _t, states in sampler.samples) == 9
    deployed_at = sent(ssm, "deploy")
    assert sorted(deployed_at) == ids and sorted(sent(ssm, "health")) == ids
    for instance_id in ids:
        before = [states.get(instance_id) for t, states in sampler.samples if t < deployed_at[instance_id]]
        after = [states.get(instance_id) for t, states in sampler.samples if t > deployed_at[instance_id]]
        # Drained and out of the group when its deploy was sent, back and healthy after.
        assert "draining" in before and before[-1] is None and after[-1] == "healthy"
    assert target_states(elbv2, group_arn) == dict.fromkeys(ids, "healthy")
    assert versions(ec2, ids) == dict.fromkeys(ids, "1.0") and not out_of_service_marks(ec2, ids)
    assert [release(fast, i) for i in ids] == ["1.0"] * 12
    stats = report["global_custom_stats"]
    assert stats["deploy_totals"] == {"localhost": {"instances": 12, "deployed": 12, "skipped": 0, "failed": 0, "rolled_back": 0, "not_reached": 0}}
    assert stats["deploy_failed_targets"] == [] and stats["deploy_stopped_early"] == []

    fast.clear_log()
    again, result = deploy(fast, deploy_target_group_names=["web"], deploy_version="1.0", deploy_commands=DEPLOY,
                           deploy_health_command=HEALTH, deploy_batch_size="25%", deploy_min_healthy="75%")

    assert again["stats"]["localhost"]["failures"] == 0 and again["stats"]["localhost"]["changed"] == 0, failure(again)
    assert mutating_calls(fast) == [] and not fast.calls(action="SendCommand")
    assert versions(ec2, ids) == dict.fromkeys(ids, "1.0") and target_states(elbv2, group_arn) == dict.fromkeys(ids, "healthy")
    assert result["totals"]["skipped"] == 12 and result["batches"] == []


@pytest.mark.parametrize("bad", ["2.0-unhealthy", "2.0-exit"])
def test_a_bad_version_stops_after_the_first_batch_which_the_rollback_puts_back_and_the_rest_is_untouched(fast, ec2, ssm, elbv2, bad):
    ids = fleet(fast, 8, **{TAG: "1.0"})
    for instance_id in ids:
        (sandbox(fast, instance_id) / "app").mkdir(parents=True, exist_ok=True)
        (sandbox(fast, instance_id) / "app" / "VERSION").write_text("1.0\n")
    group_arn = target_group(ec2, elbv2, ids)

    report, result = deploy(fast, deploy_instance_ids=ids, deploy_version=bad, deploy_commands=DEPLOY, deploy_health_command=HEALTH,
                            deploy_rollback_commands=ROLLBACK, deploy_batch_size="25%", deploy_min_healthy="50%")

    first = ids[:2]
    assert report["stats"]["localhost"]["failures"] == 1 and "stopped early, batch 1: 2 of 2 instance(s) failed" in failure(report)
    assert result["batches"][0] == first
    # Commands reached the first batch only: deploy, then rollback, on those two.
    assert sorted(sent(ssm, "deploy")) == first and sorted(sent(ssm, "rollback")) == first
    assert all(set(c["InstanceIds"]) <= set(first) for c in ssm.list_commands()["Commands"])
    # Rolled back and in service again; every instance at 1.0, in its sandbox and its tag.
    assert target_states(elbv2, group_arn) == dict.fromkeys(ids, "healthy")
    assert [release(fast, i) for i in ids] == ["1.0"] * 8 and versions(ec2, ids) == dict.fromkeys(ids, "1.0")
    assert not any((sandbox(fast, i) / "health").exists() for i in first) and not out_of_service_marks(ec2, ids)
    assert not any((sandbox(fast, i) / "app" / "VERSION.before").exists() for i in ids[2:])
    stats = report["global_custom_stats"]
    assert stats["deploy_rolled_back_instances"] == first and stats["deploy_failed_targets"] == ["localhost"]
    assert stats["deploy_totals"]["localhost"] == {"instances": 8, "deployed": 0, "skipped": 0, "failed": 0, "rolled_back": 2, "not_reached": 6}


def refusals(sim, cases):
    """The failure message of the role with each of `cases` (role variables), all in one play, each rescued."""
    tasks = [{"name": "case %d" % number, "block": [{"ansible.builtin.include_role": {"name": "cloudops.aws.rolling_deploy"}, "vars": role_vars}],
              "rescue": [{"ansible.builtin.set_fact": {"refusal": "{{ ansible_failed_result.msg }}"}}]} for number, role_vars in enumerate(cases)]
    stdout, stderr = run_play(sim, [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}])
    report = json.loads(stdout)
    return [task["hosts"]["localhost"]["ansible_facts"]["refusal"] for task in report["plays"][0]["tasks"]
            if "refusal" in task["hosts"]["localhost"].get("ansible_facts", {})]


def test_bad_input_is_refused_before_any_change_naming_the_variable_and_the_value(fast, ec2, elbv2):
    ids = fleet(fast, 2)
    target_group(ec2, elbv2, ids)
    fine = {"deploy_instance_ids": ids, "deploy_version": "1.0", "deploy_commands": DEPLOY}
    fast.clear_log()

    # Refused by the role or by the module's option checks: no AWS call at all.
    assert refusals(fast, [dict(fine, **changes) for changes in (
        {"deploy_batch_size": "0"}, {"deploy_min_healthy": "101%"}, {"deploy_commands": ["  "]},
        {"deploy_filters": {"tag:Name": "web"}})]) == [
        "deploy_batch_size: '0' takes nothing; give at least 1 or 1%; or one of one_at_a_time, half_at_a_time, all_at_once",
        "deploy_min_healthy: '101%' is above 100%",
        "deploy_commands: ['  '] runs nothing",
        "deploy_instance_ids, deploy_filters, deploy_target_group_arns, deploy_target_group_names: set exactly one of them to say which "
        "instances to deploy to; got deploy_instance_ids and deploy_filters"]
    assert fast.calls() == []

    # Refused once AWS is read: an unknown target group, a minimum no batch can keep. Nothing changed.
    unknown, minimum = refusals(fast, [dict(fine, deploy_instance_ids=[], deploy_target_group_names=["web", "nope"]),
                                       dict(fine, deploy_min_healthy="100%")])
    assert unknown == "deploy_target_group_names: no target group named 'nope'"
    assert minimum.startswith("deploy_min_healthy 100% of target group arn:aws:elasticloadbalancing:") and "targetgroup/web/" in minimum
    assert fast.calls() and mutating_calls(fast) == []
    assert versions(ec2, ids) == dict.fromkeys(ids, None)
