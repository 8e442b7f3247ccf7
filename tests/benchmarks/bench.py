"""This collection against the amazon.aws way and against AWS's own limits, on one simulator, side by side.

Each workload is run both ways on the same seeded world: this collection's module as one task,
and the competent amazon.aws (and community.aws) playbook that does the same work item by item.
The simulator adds a latency to every call and, with throttling on, meters EC2 calls with AWS's
documented token buckets (docs/simulator.md#throttling), full at the start of every run. For
each run it prints the wall time of ansible-playbook, the calls by action from the simulator's
call log (throttled calls are retried and counted apart), the controller's peak memory, the
ratio to the amazon.aws way and to the lower bound AWS allows (lower_bound.py, whose reasoning
is printed), the most any way could be faster than the amazon.aws way (its time over the bound),
and whether both ways left the same state. It writes the figures as JSON.

    make bench                            # workload 1 at 200 instances, buckets on and off (about 13 minutes)
    make bench BENCH_ARGS="--workloads copy ssm --sizes 200"
    make bench BENCH_ARGS="--workloads ami --sizes 50 500 --throttling on off --ways cloudops"

It measures; it does not assert targets. It exits 1 when a run fails or the two ways' end
states differ.
"""

import argparse
import collections
import datetime
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import lower_bound
from controller import run_playbook
from simulator.client import running_simulator

REPO = Path(__file__).resolve().parents[2]
DEFAULT_JSON = REPO / "build" / "bench.json"

WORKLOADS = {
    "ami": "workload_ami",
    "copy": "workload_copy",
    "ssm": "workload_ssm",
}
WAYS = ("cloudops", "amazon.aws")

# What `make bench` runs when no selection is given: the AMI backup of 200 instances both ways,
# with AWS's buckets and without; the amazon.aws loops take most of the 20 minutes or so.
DEFAULT_PLAN = [("ami", 200, True), ("ami", 200, False)]


def bound_of(workload, size, args, throttling):
    if workload == "ami":
        return lower_bound.ami_backup(size, 1, 1, args.latency, args.pending, throttling)
    if workload == "copy":
        return lower_bound.snapshot_copies(size, 1, args.latency, args.pending, throttling)
    return lower_bound.run_command(size, args.latency, importlib.import_module(WORKLOADS["ssm"]).COMMAND_SECONDS)


def measure(sim, workload, size, way, throttling, args):
    module = importlib.import_module(WORKLOADS[workload])
    world = module.seed(sim, size)
    sim.configure(latency={"default": args.latency}, ami_available_after=args.pending, snapshot_completed_after=args.pending,
                  throttling={"enabled": throttling})
    plays, inventory, extra_env = module.plays(way, world)
    sim.clear_log()
    load_before = os.getloadavg()[0]
    run = run_playbook(sim, plays, extra_env=extra_env, inventory=inventory)
    load_after = os.getloadavg()[0]
    calls = sim.calls()
    sim.configure(latency={"default": 0}, throttling={"enabled": False})
    state = module.end_state(sim, world, way, run.report)
    expected = module.expected_state(world)
    answered = [call for call in calls if not call["error_code"]]
    minimum = module.minimum_calls(size)
    bound, steps = bound_of(workload, size, args, throttling)
    row = {
        "workload": workload,
        "size": size,
        "way": way,
        "throttling": throttling,
        "wall_s": round(run.wall, 2),
        "failed": run.failed,
        "calls": len(calls),
        "calls_answered": len(answered),
        "calls_by_action": dict(sorted(collections.Counter(call["action"] for call in calls).items())),
        "throttled": sum(1 for call in calls if call["error_code"] == "RequestLimitExceeded"),
        "other_errors": dict(collections.Counter(call["error_code"] for call in calls
                                                 if call["error_code"] and call["error_code"] != "RequestLimitExceeded")),
        "minimum_calls": sum(minimum.values()),
        "minimum_calls_by_kind": minimum,
        "bound_s": round(bound, 2),
        "bound_steps": steps,
        "peak_rss_mib": round(run.peak_rss_mib, 1),
        "peak_pss_mib": round(run.peak_pss_mib, 1),
        "peak_processes": run.peak_processes,
        "timeline": timeline(calls, run.started_at),
        "end_state_as_expected": state == expected,
        # The machine's 1-minute load average before and after: other work on it slows the
        # CPU-bound loops of the amazon.aws way more than the waiting on AWS of this collection.
        "load_average": [round(load_before, 1), round(load_after, 1)],
    }
    if run.failed or state != expected:
        wrong = {name: value for name, value in state.items() if value != expected.get(name)}
        row["end_state_differences"] = dict(list(wrong.items())[:5])
        print("%s %s %d %s: %s; end state %s" % (workload, way, size, "throttled" if throttling else "unthrottled",
                                                 "FAILED" if run.failed else "ok", "differs: %s" % row["end_state_differences"] if wrong else "as expected"),
              file=sys.stderr)
        if run.failed:
            row["error"] = _failure_text(run)
            print(row["error"], file=sys.stderr)
    return row


def timeline(calls, started_at):
    """Seconds from ansible-playbook's start to the first and the last answered call, overall and per action."""
    answered = [call for call in calls if not call["error_code"]]
    spans = {}
    for call in answered:
        at = round(call["time"] - started_at, 2)
        first, last = spans.get(call["action"], (at, at))
        spans[call["action"]] = (min(first, at), max(last, at))
    times = [span for pair in spans.values() for span in pair]
    return {"first_call_s": min(times) if times else None, "last_call_s": max(times) if times else None,
            "by_action": {action: list(span) for action, span in sorted(spans.items())}}


def _failure_text(run):
    for name, result in run.task_results().items():
        if result.get("failed"):
            return "%s: %s" % (name, str(result.get("msg") or result)[:500])
    return run.stderr[-500:]


def add_ratios(rows):
    walls = {(r["workload"], r["size"], r["throttling"], r["way"]): r["wall_s"] for r in rows}
    for row in rows:
        other = walls.get((row["workload"], row["size"], row["throttling"], "amazon.aws"))
        row["amazon_aws_wall_over_this"] = round(other / row["wall_s"], 1) if other and row["way"] == "cloudops" else None
        # What a run taking exactly the bound would show: no way of sending the calls can be more times faster.
        row["amazon_aws_wall_over_bound"] = round(other / row["bound_s"], 1) if other and row["way"] == "cloudops" and row["bound_s"] else None
        row["wall_over_bound"] = round(row["wall_s"] / row["bound_s"], 2) if row["bound_s"] else None
        row["calls_over_minimum"] = round(row["calls_answered"] / row["minimum_calls"], 2)


def table(rows):
    header = ["workload", "size", "buckets", "way", "wall s", "x faster", "x at most", "bound s", "wall/bound", "calls", "min", "calls/min",
              "throttled", "RSS MiB", "same end", "load"]
    lines = [header]
    for r in rows:
        lines.append([r["workload"], str(r["size"]), buckets(r), r["way"] + (" FAILED" if r["failed"] else ""),
                      "%.1f" % r["wall_s"], _ratio(r["amazon_aws_wall_over_this"]),
                      _ratio(r.get("amazon_aws_wall_over_bound")), "%.1f" % r["bound_s"], "%.2f" % r["wall_over_bound"] if r["wall_over_bound"] else "",
                      str(r["calls_answered"]), str(r["minimum_calls"]), "%.2f" % r["calls_over_minimum"], str(r["throttled"]),
                      "%.0f" % r["peak_rss_mib"], "yes" if r["end_state_as_expected"] else "NO",
                      "%.1f-%.1f" % tuple(r.get("load_average", (0, 0)))])
    widths = [max(len(line[c]) for line in lines) for c in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) if c > 0 else cell.ljust(w) for c, (cell, w) in enumerate(zip(line, widths))) for line in lines)


def _ratio(value):
    return "%.1f" % value if value else ""


def buckets(row):
    # SSM is not metered by the simulator: the switch changes nothing there.
    return "-" if row["workload"] == "ssm" else "on" if row["throttling"] else "off"


def markdown(rows):
    head = ("| workload | size | buckets | way | wall s | x faster | x at most | bound s | wall / bound | calls | minimum | calls / minimum | throttled"
            " | peak RSS MiB | load |")
    lines = [head, "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append("| %s | %d | %s | %s | %.1f | %s | %s | %.1f | %s | %d | %d | %.2f | %d | %.0f | %s |" % (
            r["workload"], r["size"], buckets(r), r["way"], r["wall_s"], _ratio(r["amazon_aws_wall_over_this"]),
            _ratio(r.get("amazon_aws_wall_over_bound")), r["bound_s"], "%.2f" % r["wall_over_bound"] if r["wall_over_bound"] else "",
            r["calls_answered"], r["minimum_calls"],
            r["calls_over_minimum"], r["throttled"], r["peak_rss_mib"], "%.1f-%.1f" % tuple(r["load_average"]) if "load_average" in r else ""))
    return "\n".join(lines)


def plan_from(args):
    if not (args.workloads or args.sizes or args.throttling):
        return DEFAULT_PLAN
    workloads = args.workloads or list(WORKLOADS)
    sizes = args.sizes or [200]
    throttling = [value == "on" for value in (args.throttling or ["on"])]
    return [(w, s, t) for w in workloads for s in sizes for t in throttling]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS), help="default: the default plan (see DEFAULT_PLAN)")
    parser.add_argument("--sizes", nargs="+", type=int, help="instances or snapshots (default 200)")
    parser.add_argument("--ways", nargs="+", choices=WAYS, default=list(WAYS))
    parser.add_argument("--throttling", nargs="+", choices=("on", "off"), help="default: on")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to every API call (default 0.02)")
    parser.add_argument("--pending", type=float, default=1.0, help="seconds a new AMI, snapshot or copy stays pending (default 1)")
    parser.add_argument("--json", default=str(DEFAULT_JSON), help="where to write the figures (default %(default)s)")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    parser.add_argument("--report", nargs="+", metavar="JSON", help="run nothing: print the Markdown table of earlier runs' JSON files")
    args = parser.parse_args()
    if args.report:
        rows = [row for path in args.report for row in json.loads(Path(path).read_text(encoding="utf-8"))["runs"]]
        print(markdown(rows))
        return 0
    plan = plan_from(args)
    rows = []
    started = time.monotonic()
    with running_simulator() as sim:
        for workload, size, throttling in plan:
            for way in args.ways:
                print("... %s %s at %d, buckets %s" % (workload, way, size, "on" if throttling else "off"), file=sys.stderr, flush=True)
                rows.append(measure(sim, workload, size, way, throttling, args))
    add_ratios(rows)
    command = "make bench" + (' BENCH_ARGS="%s"' % " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    print("\n%s: latency %.0f ms per call, new AMIs/snapshots/copies pending %.1f s; %d runs in %.0f s\n"
          % (command, args.latency * 1000, args.pending, len(rows), time.monotonic() - started))
    print(table(rows))
    print("\nHow each bound is computed (lower_bound.py):")
    for r in rows:
        if r["way"] == "cloudops":
            print("  %s %d, buckets %s: %.1f s" % (r["workload"], r["size"], "on" if r["throttling"] else "off", r["bound_s"]))
            for step in r["bound_steps"]:
                print("    - " + step)
    print("\nCalls by action (throttled calls included):")
    for r in rows:
        print("  %s %d %s buckets %s: %s" % (r["workload"], r["size"], r["way"], "on" if r["throttling"] else "off",
                                             ", ".join("%s %d" % item for item in r["calls_by_action"].items())))
    if args.markdown:
        print("\n" + markdown(rows))
    document = {
        "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average_at_end": list(os.getloadavg())},
        "latency_s": args.latency,
        "pending_s": args.pending,
        "runs": rows,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print("\nwritten: %s" % args.json)
    return 1 if any(r["failed"] or not r["end_state_as_expected"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
