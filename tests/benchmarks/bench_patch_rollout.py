"""How many API calls a patching run makes per instance: patch_rollout over 200 instances in 4 waves.

Seeds N instances (default 200) in the simulator, each missing three patches, all registered in
one target group behind an application load balancer, with short simulated delays (reboots,
health checks, draining, AMIs). Then runs through ansible-playbook, as the cloudops.aws.patch role
does: cloudops.aws.patch_rollout in scan mode; patch_rollout in install mode with no canary and
waves of 25% (4 waves), a health command, pre-patch AMIs and RebootIfNeeded; and
cloudops.aws.patch_compliance_info on the same instances (the role's report after the run).
Prints the calls of each run by action from the simulator's request log, in total and per
instance. It measures; it asserts nothing, but exits 1 when a run fails.

Every wait is one describe a round for all the instances it waits for (50 ids a call where the
API takes a list), so a wait that lasts longer on AWS adds rounds, not calls per instance: with
these short delays every wait ends in its first round, which is the floor.

    PYTHONPATH=build/collections:tests .venv/bin/python tests/benchmarks/bench_patch_rollout.py [--instances 200]
"""

import argparse
import collections
import sys
import time

import boto3

from conftest import TaskRunner
from simulator.client import running_simulator

MISSING = [
    {"id": "openssl-libs.x86_64", "classification": "Security", "severity": "Critical", "cve_ids": ["CVE-2024-5535"]},
    {"id": "curl.x86_64", "classification": "Security", "severity": "Important"},
    {"id": "tzdata.noarch", "classification": "Bugfix", "severity": "Low"},
]
SHORT_DELAYS = {"patching": {"reboot_seconds": 0.5}, "elbv2": {"healthy_after": 0.2, "deregistration_delay_cap": 0.5}}
SELECTION = {"filters": {"tag:Role": "bench"}}


def seed(sim, count):
    """The fleet, and one target group behind an ALB listener with every instance registered and healthy."""
    instance_ids = sorted(sim.seed({"region": "us-east-1", "instances": [
        {"name": "bench", "count": count, "tags": {"Role": "bench"}, "patches": MISSING}]})["instances"].values())
    session = {"endpoint_url": sim.endpoint, "region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    ec2, elbv2 = boto3.client("ec2", **session), boto3.client("elbv2", **session)
    vpc_id = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]]
    group_arn = elbv2.create_target_group(Name="bench", Protocol="HTTP", Port=80, VpcId=vpc_id)["TargetGroups"][0]["TargetGroupArn"]
    balancer_arn = elbv2.create_load_balancer(Name="bench", Subnets=subnets[:2])["LoadBalancers"][0]["LoadBalancerArn"]
    elbv2.create_listener(LoadBalancerArn=balancer_arn, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": group_arn}])
    elbv2.register_targets(TargetGroupArn=group_arn, Targets=[{"Id": instance_id} for instance_id in instance_ids])
    time.sleep(SHORT_DELAYS["elbv2"]["healthy_after"] + 0.3)
    return instance_ids


def measure(sim, run_task, name, module, args):
    sim.clear_log()
    started = time.monotonic()
    result = run_task(module, args, timeout=3600)
    wall = time.monotonic() - started
    calls = sim.calls()
    if result.get("failed"):
        print("%s failed: %s" % (name, result.get("msg")), file=sys.stderr)
    return {"name": name, "wall": wall, "failed": bool(result.get("failed")), "result": result,
            "by_action": collections.Counter("%s:%s" % (call["service"], call["action"]) for call in calls),
            "errors": sum(1 for call in calls if call["error_code"])}


def print_table(runs, count):
    actions = sorted({action for run in runs for action in run["by_action"]})
    header = ["action"]
    for run in runs:
        header += [run["name"], "per instance"]
    lines = [header]
    for action in actions + ["total"]:
        line = [action]
        for run in runs:
            calls = sum(run["by_action"].values()) if action == "total" else run["by_action"].get(action, 0)
            line += [str(calls), "%.3f" % (calls / count) if calls else "-"]
        lines.append(line)
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(widths[0]) if column == 0 else cell.rjust(widths[column]) for column, cell in enumerate(line)))
    for run in runs:
        totals = run["result"].get("totals") or run["result"].get("summary")
        print("%s: %.1f s, %d error answers (retried), %s%s" % (
            run["name"], run["wall"], run["errors"], totals, " FAILED" if run["failed"] else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--instances", type=int, default=200, help="fleet size (default: 200)")
    args = parser.parse_args()
    with running_simulator(ami_available_after=1.0, snapshot_completed_after=1.0) as sim:
        sim.configure(**SHORT_DELAYS)
        instance_ids = seed(sim, args.instances)
        run_task = TaskRunner(sim)
        runs = [
            measure(sim, run_task, "scan", "cloudops.aws.patch_rollout", dict(SELECTION, mode="scan")),
            measure(sim, run_task, "install", "cloudops.aws.patch_rollout", dict(
                SELECTION, mode="install", canary=0, wave_size="25%", min_healthy="50%", health_command="test -d /")),
            measure(sim, run_task, "compliance", "cloudops.aws.patch_compliance_info", {"instance_ids": instance_ids}),
        ]
    waves = [len(wave) for wave in runs[1]["result"].get("waves", [])]
    print("patch_rollout over %d instances behind one ALB target group; install: waves %s, pre-patch AMIs, health command, "
          "RebootIfNeeded; short simulated delays, no throttling" % (args.instances, waves))
    print_table(runs, args.instances)
    return 1 if any(run["failed"] for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
