"""How many API calls and how much time ami_rotate takes over many instances.

Seeds N instances in the simulator, with EC2 throttling on at AWS's documented bucket figures
and a fixed latency per call standing in for the network, then runs cloudops.aws.ami_rotate
through ansible-playbook for three generations with keep_last 2 (the third run creates and
prunes). Prints one line per run from the simulator's request log. It measures; it asserts
nothing about time.

    PYTHONPATH=build/collections:tests .venv/bin/python tests/benchmarks/bench_ami_rotate.py --instances 50 200
"""

import argparse
import collections
import sys
import time

from conftest import TaskRunner
from simulator.client import running_simulator

GENERATIONS = 3
RETENTION = {"keep_last": 2}


def fleet(count):
    return {"region": "us-east-1", "instances": [
        {"name": "bench", "count": count, "tags": {"Backup": "bench"}, "volumes": [{"device": "/dev/xvda", "size": 8}]}]}


def run_generations(sim, count, latency):
    """One row per run: wall seconds and the request log's counts."""
    sim.reset()
    sim.seed(fleet(count))
    sim.configure(latency={"default": latency}, throttling={"enabled": True})
    run_task = TaskRunner(sim)
    rows = []
    for generation in range(1, GENERATIONS + 1):
        sim.clear_log()
        started = time.monotonic()
        result = run_task("cloudops.aws.ami_rotate", {
            "filters": {"tag:Backup": "bench"}, "policy": "bench", "retention": RETENTION, "max_concurrency": 10,
        }, timeout=3600)
        wall = time.monotonic() - started
        calls = sim.calls()
        rows.append({
            "instances": count,
            "run": generation,
            "wall": wall,
            "calls": len(calls),
            "by_action": collections.Counter(call["action"] for call in calls),
            "throttled": sum(1 for call in calls if call["error_code"] == "RequestLimitExceeded"),
            "failed": bool(result.get("failed")),
            "created": len(result.get("images_created", [])),
            "deregistered": len(result.get("images_deregistered", [])),
            "snapshots_deleted": len(result.get("snapshots_deleted", [])),
        })
        if result.get("failed"):
            print("run %d failed: %s" % (generation, result.get("msg")), file=sys.stderr)
    return rows


def print_table(rows):
    actions = sorted({action for row in rows for action in row["by_action"]})
    header = ["instances", "run", "wall s", "calls", "calls/inst", "throttled", "created", "dereg", "snap del"] + actions
    lines = [header]
    for row in rows:
        lines.append([str(row["instances"]), str(row["run"]) + (" FAILED" if row["failed"] else ""), "%.1f" % row["wall"],
                      str(row["calls"]), "%.2f" % (row["calls"] / row["instances"]), str(row["throttled"]),
                      str(row["created"]), str(row["deregistered"]), str(row["snapshots_deleted"])]
                     + [str(row["by_action"].get(action, 0)) for action in actions])
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    for line in lines:
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--instances", type=int, nargs="+", default=[50, 200], help="fleet sizes to measure (default: 50 200)")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to every API call (default: 0.02)")
    parser.add_argument("--ami-available-after", type=float, default=1.0, help="seconds a new AMI stays pending (default: 1)")
    args = parser.parse_args()
    rows = []
    with running_simulator(ami_available_after=args.ami_available_after, snapshot_completed_after=args.ami_available_after) as sim:
        for count in args.instances:
            rows += run_generations(sim, count, args.latency)
    print("ami_rotate, %d generations, retention %s, EC2 throttling at AWS figures, %d ms per call, max_concurrency 10"
          % (GENERATIONS, RETENTION, args.latency * 1000))
    print_table(rows)
    return 1 if any(row["failed"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
