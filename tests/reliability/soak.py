"""The long ami_rotate fault campaign: every scenario of campaign.py, N rounds, randomised.

Each round runs every scenario in a random order with random fault rates, counts and kill
points (from --seed), each followed by a calm repair run and the invariant checks. Faulty
scenarios run the module twice under faults where campaign.py allows it. Prints one line per
scenario summed over the rounds and exits 1 on any invariant violation.

    PYTHONPATH=build/collections:tests .venv/bin/python tests/reliability/soak.py --rounds 5
"""

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import campaign  # noqa: E402  (next to this script)
from simulator.client import running_simulator  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--rounds", type=int, default=3, help="how many times every scenario runs (default: 3)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock, printed)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    print("ami_rotate soak: %d rounds, seed %d" % (args.rounds, seed), flush=True)
    totals = {}
    started = time.monotonic()
    with running_simulator() as sim:
        for round_number in range(1, args.rounds + 1):
            scenarios = list(campaign.SCENARIOS)
            rng.shuffle(scenarios)
            for scenario in scenarios:
                row = campaign.run_scenario(sim, scenario, random.Random(rng.random()), faulty_runs=2)
                bad = sum(len(problems) for problems in row["violations"].values())
                if row["runs_succeed"] and row["failed_runs"]:
                    row["violations"]["runs_succeed"] = ["%d run(s) failed under faults retries should absorb" % row["failed_runs"]]
                    bad += 1
                print("round %d  %-32s faults %4d  runs %d  violations %d" % (round_number, row["scenario"], row["faults"], row["runs"], bad), flush=True)
                total = totals.setdefault(row["scenario"], {"scenario": row["scenario"], "faults": 0, "runs": 0, "failed_runs": 0, "kills": 0,
                                                            "violations": {}})
                for key in ("faults", "runs", "failed_runs", "kills"):
                    total[key] += row[key]
                for name, problems in row["violations"].items():
                    total["violations"].setdefault(name, []).extend("round %d: %s" % (round_number, p) for p in problems)
    rows = [totals[scenario.__name__] for scenario in campaign.SCENARIOS]
    print()
    print("ami_rotate soak: %d rounds, seed %d, %.0f s" % (args.rounds, seed, time.monotonic() - started))
    print(campaign.format_table(rows))
    violations = sum(len(problems) for row in rows for problems in row["violations"].values())
    print("total: %d faults injected, %d runs, %d invariant violations" % (
        sum(row["faults"] for row in rows), sum(row["runs"] for row in rows), violations))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
