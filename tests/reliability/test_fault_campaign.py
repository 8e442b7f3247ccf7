"""The short fault campaign for cloudops.aws.ami_rotate: every scenario once, with a fixed seed.

Each scenario runs the module through ansible-playbook under its faults, then a calm repair
run, then checks the invariants of campaign.py on the simulated AWS state. The longer,
randomised version is soak.py.
"""

import pytest

import campaign

SEED = 20261123


@pytest.fixture(scope="module")
def table(request):
    rows = []
    yield rows
    # Printed past pytest's capture: the table is the campaign's report, wanted on every run.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\nami_rotate fault campaign (seed %d)\n%s" % (SEED, campaign.format_table(rows)))


@pytest.mark.parametrize("scenario", campaign.SCENARIOS, ids=lambda scenario: scenario.__name__)
def test_scenario_converges_with_no_invariant_violation(sim, scenario, table):
    row = campaign.run_scenario(sim, scenario, campaign.new_rng("%d-%s" % (SEED, scenario.__name__)))
    table.append(row)

    assert row["faults"] > 0, "the scenario injected no fault"
    assert not row["repair_failed"], row["repair_msg"]
    if row["runs_succeed"]:
        assert row["failed_runs"] == 0, "retries should have absorbed %s" % scenario.__name__
    assert {name: problems for name, problems in row["violations"].items() if problems} == {}
