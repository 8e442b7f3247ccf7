"""The exhaustive least-privilege campaign of docs/iam/: every procedure run by a user holding just its
policy, and once more without each action its run calls, on the simulator with IAM checks on.

`make test` runs a representative part of it (tests/integration/test_iam_policies.py); this script runs
all of it, in as few simultaneous parts as the simulator's Regions allow (a few minutes on 2 cores).
Prints one table per procedure and exits 1 when an outcome is not what the documents promise.

With --record, each procedure runs once as a user allowed everything instead, and the script prints the
actions its run called (from the simulator's call log) against its documents: how the documents were made,
and how to update them when a module starts calling something new.

    PYTHONPATH=build/collections:tests .venv/bin/python tests/reliability/iam_campaign.py [--procedure backup ...] [--record]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))

import iam_procedures  # noqa: E402  (tests/integration, as the test imports it)
from simulator.client import running_simulator  # noqa: E402


def verdict(procedure, outcome, problems):
    scenario = outcome.scenario
    if problems:
        return "WRONG: " + "; ".join(problems)
    if scenario.removed is None:
        return "succeeded, did its work"
    if (procedure.name, scenario.removed) in iam_procedures.WARNS_WITHOUT:
        return "succeeded, warned naming it"
    return "failed in %r naming it" % outcome.failed_task


ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def record(names):
    """Each procedure once, allowed everything: the actions its run calls against its documents; 1 if one is missing."""
    plan = []
    for name in names:
        procedure = iam_procedures.PROCEDURES[name]
        plan.append((procedure, [iam_procedures.Scenario("%s-recorded" % name, ALLOW_ALL,
                                                         role_policy=ALLOW_ALL if procedure.role_policy_name else None)]))
    missing = 0
    with running_simulator() as sim, tempfile.TemporaryDirectory() as workdir:
        outcomes = iam_procedures.run(sim, plan, Path(workdir))
    for procedure, (scenario,) in plan:
        outcome = outcomes[scenario.host]
        called = outcome.actions() - iam_procedures.NEEDS_NO_PERMISSION
        documented = set(iam_procedures.document_actions(procedure))
        missing += len(called - documented)
        print("\n%s: %s" % (procedure.name, "the run failed in %r" % outcome.failed_task if outcome.rc_failed else "ran"))
        for action in sorted(called | documented):
            note = ("called" if action in called else "not called: " + iam_procedures.NOT_CALLED.get(procedure.name, {}).get(action, "(no reason given)"))
            print("  %-50s %s%s" % (action, note, "" if action in documented else ", MISSING from the documents"))
    return 1 if missing else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--procedure", action="append", choices=sorted(iam_procedures.PROCEDURES),
                        help="only this procedure (repeatable; default: all)")
    parser.add_argument("--record", action="store_true", help="run each procedure allowed everything and list the actions it calls")
    args = parser.parse_args()
    names = args.procedure or list(iam_procedures.PROCEDURES)
    if args.record:
        return record(names)
    plan = iam_procedures.plan_for(names, iam_procedures.removable_actions)
    parts = iam_procedures.split_plan(plan)
    scenarios = sum(len(group) for _procedure, group in plan)
    print("least-privilege campaign: %d procedures, %d scenarios in %d part(s)" % (len(names), scenarios, len(parts)), flush=True)
    rows, wrong = {}, 0
    started = time.monotonic()
    with running_simulator() as sim, tempfile.TemporaryDirectory() as workdir:
        for number, part in enumerate(parts, 1):
            part_started = time.monotonic()
            outcomes = iam_procedures.run(sim, part, Path(workdir) / ("part-%d" % number))
            for procedure, group in part:
                for scenario in group:
                    outcome = outcomes[scenario.host]
                    problems = iam_procedures.problems_of(sim, procedure, outcome)
                    wrong += bool(problems)
                    label = "without " + scenario.removed if scenario.removed else scenario.host.split("-", 1)[-1]
                    rows.setdefault(procedure.name, []).append((label, verdict(procedure, outcome, problems)))
            print("part %d/%d: %d scenarios, %.0f s" % (number, len(parts), sum(len(g) for _p, g in part), time.monotonic() - part_started),
                  flush=True)
    for name in names:
        print("\n%s (%s)" % (name, ", ".join(doc + ".json" for doc in filter(None, (
            iam_procedures.PROCEDURES[name].policy_name, iam_procedures.PROCEDURES[name].role_policy_name)))))
        width = max(len(label) for label, _verdict in rows[name])
        for label, text in rows[name]:
            print("  %-*s  %s" % (width, label, text))
        for action, reason in iam_procedures.NOT_CALLED.get(name, {}).items():
            print("  %-*s  not called by the run: %s" % (width, action, reason))
    print("\n%d scenarios, %d not as documented, %.0f s" % (scenarios, wrong, time.monotonic() - started))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
