"""The short fault campaigns: every scenario of every module's campaign once, with a fixed seed.

Each scenario runs the module (tests/module_runs.py) under its faults, then a calm repair
run, then checks its campaign's invariants on the simulated AWS state. The longer, randomised
version is soak.py.
"""

import pytest

import campaign_core
from all_campaigns import CAMPAIGNS
from conftest import FAULT_CAMPAIGN_ROW

SEED = 20261123
CASES = [(name, scenario) for name, campaign in CAMPAIGNS.items() for scenario in campaign.SCENARIOS]


@pytest.mark.parametrize("name, scenario", CASES, ids=["%s-%s" % (name, scenario.__name__) for name, scenario in CASES])
def test_scenario_converges_with_no_invariant_violation(sim, name, scenario, request):
    world_class = CAMPAIGNS[name].WORLD
    row = campaign_core.run_scenario(world_class, sim, scenario, campaign_core.new_rng("%d-%s-%s" % (SEED, name, scenario.__name__)))
    # The tables are the campaigns' report, wanted on every run: tests/conftest.py prints them at the end
    # of the session from these rows, which also reach it from pytest-xdist workers.
    request.node.user_properties.append((FAULT_CAMPAIGN_ROW, {"module": name, "seed": SEED, "order": CASES.index((name, scenario)), "row": row}))

    assert row["faults"] > 0, "the scenario injected no fault"
    assert not row["repair_failed"], row["repair_msg"]
    if row["runs_succeed"]:
        assert row["failed_runs"] == 0, "retries should have absorbed %s" % scenario.__name__
    assert {problem: found for problem, found in row["violations"].items() if found} == {}
