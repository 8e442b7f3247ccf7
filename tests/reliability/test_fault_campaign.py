"""The short fault campaigns: every scenario of every module's campaign once, with a fixed seed.

Each scenario runs the module through ansible-playbook under its faults, then a calm repair
run, then checks its campaign's invariants on the simulated AWS state. The longer, randomised
version is soak.py.
"""

import pytest

import campaign_core
from all_campaigns import CAMPAIGNS

SEED = 20261123
CASES = [(name, scenario) for name, campaign in CAMPAIGNS.items() for scenario in campaign.SCENARIOS]


@pytest.fixture(scope="module")
def tables(request):
    rows = {name: [] for name in CAMPAIGNS}
    yield rows
    # Printed past pytest's capture: the tables are the campaigns' report, wanted on every run.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        for name, table in rows.items():
            if table:
                print("\n%s fault campaign (seed %d)\n%s" % (name, SEED, campaign_core.format_table(table)))


@pytest.mark.parametrize("name, scenario", CASES, ids=["%s-%s" % (name, scenario.__name__) for name, scenario in CASES])
def test_scenario_converges_with_no_invariant_violation(sim, name, scenario, tables):
    world_class = CAMPAIGNS[name].WORLD
    row = campaign_core.run_scenario(world_class, sim, scenario, campaign_core.new_rng("%d-%s-%s" % (SEED, name, scenario.__name__)))
    tables[name].append(row)

    assert row["faults"] > 0, "the scenario injected no fault"
    assert not row["repair_failed"], row["repair_msg"]
    if row["runs_succeed"]:
        assert row["failed_runs"] == 0, "retries should have absorbed %s" % scenario.__name__
    assert {problem: found for problem, found in row["violations"].items() if found} == {}
