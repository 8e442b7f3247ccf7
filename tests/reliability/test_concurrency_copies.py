"""Two overlapping runs of the same snapshot_copy_generations policy, as two AWX jobs started together.

CopySnapshot is slowed so that each run reads the destination before the other's copies exist:
both copy every newest source. The runs must leave one copy per source, keep the generations
the policy keeps, and a run must never delete the copy the other run keeps.
"""

import collections
import time

import pytest

import campaign_core
import copy_campaign


def overlapping_runs(sim, stagger):
    world = copy_campaign.CopyWorld(sim, campaign_core.new_rng(1))
    world.seed()
    # Slow enough that the later run reads the state before the earlier run's copies lands, even when
    # a busy machine (parallel test workers) starts one module process seconds after the other.
    sim.configure(latency={"actions": {"CopySnapshot": 6}}, snapshot_completed_after=0.5)
    first = world.start()
    time.sleep(stagger)
    second = world.start()
    results = [world.finish(first), world.finish(second)]
    world.calm()
    return world, results


def ids(result, key):
    return {copy["snapshot_id"] for copy in result.get(key, [])}


@pytest.mark.parametrize("stagger", [0.0, 1.0])
def test_overlapping_runs_leave_one_copy_per_source_and_keep_the_policy(sim, stagger):
    world, (first, second) = overlapping_runs(sim, stagger)

    assert not first.get("failed"), first.get("msg")
    assert not second.get("failed"), second.get("msg")
    # Both runs copied every newest source: the overlap this test is about did happen.
    newest = set(world.newest_sources().values())
    assert {c["source_snapshot_id"] for c in first["copies_started"]} == newest
    assert {c["source_snapshot_id"] for c in second["copies_started"]} == newest
    # Each run deletes only its own duplicates, never the copy the other run made and keeps.
    assert not ids(first, "copies_deleted") & ids(second, "copies_started")
    assert not ids(second, "copies_deleted") & ids(first, "copies_started")
    copies = collections.defaultdict(list)
    for copy in world.managed_copies():
        copies[campaign_core.tags_of(copy)["cloudops:source-snapshot"]].append(copy["SnapshotId"])
    made = ids(first, "copies_started") | ids(second, "copies_started")
    assert all(len(copies[source]) == 1 and copies[source][0] in made for source in newest), dict(copies)
    assert {problem: found for problem, found in world.violations().items() if found} == {}
