"""The long fault campaigns: every scenario of every module's campaign (or of the chosen ones),
N rounds, randomised.

Each round runs every scenario in a random order with random fault rates, counts and kill
points (from --seed), each followed by a calm repair run and the invariant checks. Faulty
scenarios run the module twice under faults where the scenario allows it. Prints one table
per module, summed over the rounds, and exits 1 on any invariant violation.

    PYTHONPATH=build/collections:tests .venv/bin/python tests/reliability/soak.py --rounds 5 [--module ami_rotate]
"""

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import campaign_core  # noqa: E402  (next to this script)
from all_campaigns import CAMPAIGNS  # noqa: E402
from simulator.client import running_simulator  # noqa: E402


def add_row(totals, row, round_number):
    total = totals.setdefault(row["scenario"], {"scenario": row["scenario"], "faults": 0, "runs": 0, "failed_runs": 0, "kills": 0, "violations": {}})
    for key in ("faults", "runs", "failed_runs", "kills"):
        total[key] += row[key]
    for name, problems in row["violations"].items():
        total["violations"].setdefault(name, []).extend("round %d: %s" % (round_number, p) for p in problems)


def soak(sim, name, rounds, rng):
    """The rows of one module's table, summed over the rounds."""
    campaign = CAMPAIGNS[name]
    totals = {}
    for round_number in range(1, rounds + 1):
        scenarios = list(campaign.SCENARIOS)
        rng.shuffle(scenarios)
        for scenario in scenarios:
            row = campaign_core.run_scenario(campaign.WORLD, sim, scenario, random.Random(rng.random()), faulty_runs=2)
            if row["runs_succeed"] and row["failed_runs"]:
                row["violations"]["runs_succeed"] = ["%d run(s) failed under faults retries should absorb" % row["failed_runs"]]
            if row["repair_failed"]:
                row["violations"]["repaired"] = ["the calm repair run failed: %s" % row["repair_msg"]]
            bad = sum(len(problems) for problems in row["violations"].values())
            print("%s round %d  %-32s faults %4d  runs %d  violations %d" % (name, round_number, row["scenario"], row["faults"], row["runs"], bad),
                  flush=True)
            add_row(totals, row, round_number)
    return [totals[scenario.__name__] for scenario in campaign.SCENARIOS]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--rounds", type=int, default=3, help="how many times every scenario runs (default: 3)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock, printed)")
    parser.add_argument("--module", action="append", choices=sorted(CAMPAIGNS), help="only this module's campaign (repeatable; default: all)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    names = args.module or list(CAMPAIGNS)
    print("soak of %s: %d rounds, seed %d" % (", ".join(names), args.rounds, seed), flush=True)
    tables = {}
    with running_simulator() as sim:
        for name in names:
            started = time.monotonic()
            tables[name] = (soak(sim, name, args.rounds, rng), time.monotonic() - started)
    violations = 0
    for name, (rows, seconds) in tables.items():
        found = sum(len(problems) for row in rows for problems in row["violations"].values())
        violations += found
        print("\n%s soak: %d rounds, seed %d, %.0f s" % (name, args.rounds, seed, seconds))
        print(campaign_core.format_table(rows))
        print("total: %d faults injected, %d runs, %d invariant violations" % (
            sum(row["faults"] for row in rows), sum(row["runs"] for row in rows), found))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
