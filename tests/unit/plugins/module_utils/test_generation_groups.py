import datetime

import pytest

from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import min_interval_reason
from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import plan_groups
from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import settle_overlaps
from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import verified_protection
from ansible_collections.cloudops.aws.plugins.module_utils.retention import RetentionPolicy
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_settings import RotationSettings

NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.timezone.utc)


def item(item_id, hours_ago, state="completed", managed=True):
    return {"snapshot_id": item_id, "created_at": NOW - datetime.timedelta(hours=hours_ago), "state": state, "managed": managed}


def test_min_interval_counts_pending_backups_but_not_failed_ones():
    interval = datetime.timedelta(hours=20)
    assert min_interval_reason([item("a", 30), item("b", 2, state="error")], "snapshot_id", interval, NOW) is None
    reason = min_interval_reason([item("a", 30), item("b", 2, state="pending")], "snapshot_id", interval, NOW)
    assert reason == "newest generation b (pending) is 2h old, younger than min_interval 20h"
    assert min_interval_reason([item("a", 1)], "snapshot_id", None, NOW) is None


def test_references_are_looked_up_only_for_deletion_candidates_and_protect_them():
    groups = {"vol-1": [item("s1", 3), item("s2", 2), item("s3", 1)], "vol-2": [item("t1", 1)]}
    asked = []

    def find_references(ids):
        asked.append(ids)
        return {"s1": "backs ami-1"}

    plans, references = plan_groups(groups, "snapshot_id", RetentionPolicy(keep_last=1), find_references)

    assert asked == [["s1", "s2"]]
    assert references == {"s1": "backs ami-1"}
    assert [g.id for g in plans["vol-1"].delete] == ["s2"]
    assert plans["vol-1"].reasons["s1"] == "backs ami-1"
    assert plans["vol-2"].delete == ()


def test_no_lookup_when_nothing_would_be_deleted():
    def find_references(ids):
        raise AssertionError("looked up %s" % ids)

    plans, references = plan_groups({"vol-1": [item("s1", 1)]}, "snapshot_id", RetentionPolicy(keep_last=2), find_references)
    assert references == {} and plans["vol-1"].delete == ()


PARAMS = {"policy": "daily", "retention": {"keep_last": 2, "keep_daily": None}, "tags": {"Team": 7}, "min_interval": "20h",
          "wait": True, "wait_timeout": 60, "max_concurrency": 5}


def test_rotation_settings_normalise_valid_input():
    checked = RotationSettings.from_params(PARAMS)
    assert checked.retention == RetentionPolicy(keep_last=2)
    assert checked.extra_tags == {"Team": "7"}
    assert checked.min_interval == datetime.timedelta(hours=20)


@pytest.mark.parametrize("change, message", [
    ({"policy": "  "}, "policy: must not be empty"),
    ({"tags": {"cloudops:policy": "x"}}, "tags: keys starting with 'cloudops:' are reserved for the collection's own tags: cloudops:policy"),
    ({"wait_timeout": -1}, "wait_timeout: must be 0 or more seconds, got -1"),
    ({"max_concurrency": 101}, "max_concurrency: must be between 1 and 100, got 101"),
    ({"min_interval": "1y"}, "min_interval: invalid duration '1y'"),
    ({"keep_verified": -1}, "keep_verified: must be 0 or more generations, got -1"),
])
def test_rotation_settings_name_the_bad_option_and_value(change, message):
    with pytest.raises(ValueError) as error:
        RotationSettings.from_params(dict(PARAMS, **change))
    assert str(error.value).startswith(message)


def test_overlapping_snapshot_runs_settle_to_the_older_runs_snapshot_and_each_run_deletes_only_its_own():
    window = datetime.timedelta(hours=1)
    group = [item("yesterday", 24), item("older-run", 0.001), item("younger-run", 0)]

    older = settle_overlaps({"vol-1": group}, {"older-run": "vol-1"}, "snapshot_id", window, "deletes")
    younger = settle_overlaps({"vol-1": group}, {"younger-run": "vol-1"}, "snapshot_id", window, "deletes")

    assert [s["snapshot_id"] for s in older.groups["vol-1"]] == ["yesterday", "older-run"]
    assert older.own_duplicates == [] and [(s["snapshot_id"], reason.endswith("that run deletes it")) for s, reason in older.others] == [("younger-run", True)]
    assert [s["snapshot_id"] for s in younger.groups["vol-1"]] == ["yesterday", "older-run"]
    assert [(s["snapshot_id"], reason.split(":")[0]) for s, reason in younger.own_duplicates] == [("younger-run", "duplicate")]


def test_a_pending_snapshot_of_the_older_run_leaves_the_volume_unsettled():
    group = [item("older-run", 0.001, state="pending"), item("younger-run", 0)]

    settled = settle_overlaps({"vol-1": group}, {"younger-run": "vol-1"}, "snapshot_id", datetime.timedelta(hours=1), "deletes")

    assert settled.own_duplicates == [] and settled.others == []
    assert settled.unsettled == {"vol-1": "vol-1: older-run of an overlapping run is pending; vol-1 is not pruned in this run"}


def verified(item_id, hours_ago, result="passed", when="2026-11-23T11:00:00Z", **kwargs):
    return dict(item(item_id, hours_ago, **kwargs), tags={"cloudops:verify-result": result, "cloudops:verified-at": when})


def test_verified_protection_reads_the_drill_tags_per_group():
    groups = {
        "vol-1": [verified("s1", 5), verified("s2", 4, result="failed"), verified("s3", 3), item("s4", 1)],
        "vol-2": [verified("t1", 2, state="error"), item("t2", 1)],
    }
    assert verified_protection(groups, "snapshot_id", 1) == {"s3": "keep_verified (1 of 1): restore drill passed 2026-11-23T11:00:00Z"}
    assert sorted(verified_protection(groups, "snapshot_id", 5)) == ["s1", "s3"]
    assert verified_protection(groups, "snapshot_id", 0) == {}


def test_verified_backups_are_kept_and_references_looked_up_only_for_the_rest():
    groups = {"vol-1": [verified("s1", 4), item("s2", 3), item("s3", 2), item("s4", 1)]}
    asked = []

    def find_references(ids):
        asked.append(ids)
        return {"s2": "backs ami-1"}

    protected = verified_protection(groups, "snapshot_id", 1)
    plans, _references = plan_groups(groups, "snapshot_id", RetentionPolicy(keep_last=1), find_references, protected=protected)

    assert asked == [["s2", "s3"]]
    assert [g.id for g in plans["vol-1"].delete] == ["s3"]
    assert plans["vol-1"].reasons["s1"] == "keep_verified (1 of 1): restore drill passed 2026-11-23T11:00:00Z"
    assert plans["vol-1"].reasons["s2"] == "backs ami-1"


def test_a_verified_backup_is_no_deletion_candidate_so_its_references_are_not_looked_up():
    groups = {"vol-1": [verified("s1", 2), item("s2", 1)]}
    asked = []
    plans, references = plan_groups(groups, "snapshot_id", RetentionPolicy(keep_last=1), lambda ids: asked.append(ids) or {},
                                    protected={"s1": "keep_verified (1 of 1)"})
    assert asked == [] and references == {}
    assert plans["vol-1"].reasons["s1"] == "keep_verified (1 of 1)"
