"""The DR copies adapter without AWS: which sources it copies, and how it settles two copies of one source."""

import datetime

from ansible_collections.cloudops.aws.plugins.module_utils.retention import RetentionPolicy
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_engine import RotationRun
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_settings import RotationSettings
from ansible_collections.cloudops.aws.plugins.module_utils.snapshot_copies import CopySettings
from ansible_collections.cloudops.aws.plugins.module_utils.snapshot_copies import SnapshotCopies

T0 = datetime.datetime(2026, 11, 20, 3, 0, tzinfo=datetime.timezone.utc)


def copy_run(policy=None, **changes):
    """A run of the copies adapter with no AWS clients: only what needs none may be called."""
    settings = RotationSettings(**dict(dict(policy=policy, retention=RetentionPolicy(keep_last=2), wait_timeout=600), **changes))
    copies = SnapshotCopies(None, None, None, settings, CopySettings(source_region="us-east-1", destination_region="us-west-2", only_latest=False))
    return RotationRun(copies, settings, T0)


# -- two copies of one source (a retried CopySnapshot, overlapping runs) ------------------------


def copy(snapshot_id, seconds_after, state="completed", source="snap-source"):
    return {"snapshot_id": snapshot_id, "tags": {"cloudops:source-snapshot": source, "cloudops:policy": "dr"}, "source_volume": "vol-1",
            "created_at": T0, "start_time": T0 + datetime.timedelta(hours=1, seconds=seconds_after), "state": state, "managed": True, "volume_size": 8,
            "description": "cloudops.aws copy of %s" % source}


def settle(group, started, before=(), marked=()):
    run = copy_run()
    run.backups_before = list(before)
    for item in group:
        if item["snapshot_id"] in marked:
            item["description"] = run.mark.stamp(item["description"])
    planned, own = run.adapter.settle({("dr", "vol-1"): group}, {copy_id: {} for copy_id in started}, run)
    # An unpruned group is not planned in this run (RotationRun._plan leaves it out).
    plannable = [] if ("dr", "vol-1") in run.unpruned else planned.get(("dr", "vol-1"), [])
    return run, [c["snapshot_id"] for c in plannable], [(c["snapshot_id"], reason) for c, reason in own]


def test_overlapping_runs_keep_the_first_started_copy_and_delete_only_their_own():
    yesterday = dict(copy("snap-yesterday", -86400), tags={"cloudops:source-snapshot": "snap-older", "cloudops:policy": "dr"})
    group = [yesterday, copy("snap-b", 0), copy("snap-a", 1)]

    first, planned, own = settle(group, started=["snap-b"])
    second, planned_too, own_too = settle(group, started=["snap-a"])

    assert planned == planned_too == ["snap-yesterday", "snap-b"]  # the duplicate is no generation in either run
    assert own == [] and [entry["snapshot_id"] for entry in first.result["copies_retained"]] == ["snap-a"]
    assert own_too == [("snap-a", "duplicate copy of snap-source (snap-b is kept)")]


def test_copies_started_in_the_same_second_go_to_the_lowest_id_in_both_runs():
    group = [copy("snap-b", 0), copy("snap-a", 0)]

    assert settle(group, started=["snap-a"])[2] == []
    assert [copy_id for copy_id, _reason in settle(group, started=["snap-b"])[2]] == ["snap-b"]


def test_a_retried_copy_is_deleted_by_its_run_and_the_first_one_kept():
    # The first CopySnapshot's answer was lost: the run knows only the retry's copy.
    _run, planned, own = settle([copy("snap-lost", 0), copy("snap-retry", 2)], started=["snap-retry"])

    assert planned == ["snap-lost"] and [copy_id for copy_id, _reason in own] == ["snap-retry"]


def test_a_copy_whose_answer_was_lost_is_known_by_the_run_mark_when_it_is_the_one_not_kept():
    # Started in the same second, the retry's copy has the lower id: kept, in this run and any other.
    group = [copy("snap-a-retry", 0), copy("snap-b-lost", 0)]
    _run, planned, own = settle(group, started=["snap-a-retry"], marked=["snap-a-retry", "snap-b-lost"])

    assert planned == ["snap-a-retry"] and [copy_id for copy_id, _reason in own] == ["snap-b-lost"]


def test_a_duplicate_left_completed_by_an_earlier_run_is_deleted():
    group = [copy("snap-kept", 0), copy("snap-left", 1)]

    _run, planned, own = settle(group, started=[], before=group)

    assert planned == ["snap-kept"] and [copy_id for copy_id, _reason in own] == ["snap-left"]


def test_while_the_kept_copy_is_pending_nothing_is_deleted_and_the_group_not_pruned():
    group = [copy("snap-kept", 0, state="pending"), copy("snap-ours", 1)]

    run, planned, own = settle(group, started=["snap-ours"])

    assert own == [] and planned == [] and "not pruned" in run.warnings[0] and run.unpruned == {("dr", "vol-1")}


def test_copies_another_run_is_still_settling_leave_the_group_unpruned():
    run, planned, own = settle([copy("snap-a", 0), copy("snap-b", 1, state="pending")], started=[])

    assert own == [] and planned == [] and "settled by the runs that made them" in run.warnings[0] and run.unpruned == {("dr", "vol-1")}


# -- never copy what retention will not keep ----------------------------------------------------


def source(snapshot_id, hours, volume="vol-1", **extra):
    summary = {"snapshot_id": snapshot_id, "source_volume": volume, "created_at": T0 + datetime.timedelta(hours=hours), "tags": {},
               "volume_size": 8, "encrypted": False, "kms_key_id": None}
    summary.update(extra)
    return summary


def copy_of(snapshot_id, of, state="completed"):
    return dict(copy(snapshot_id, 0, state=state, source=of["snapshot_id"]), source_volume=of["source_volume"], created_at=of["created_at"])


def requests(selected, existing=(), **changes):
    run = copy_run(policy="dr", **changes)
    run.selected_groups = run.adapter.group_keys(selected)
    run.backups_before = list(existing)
    chosen = run._choose(selected, run._groups(run.backups_before))
    return [r.subject["snapshot_id"] for r in chosen], {s["source_snapshot_id"]: s["reason"] for s in run.result["sources_skipped"]}


NOT_KEPT = "retention would not keep its copy: not selected by retention (keep_last=2)"


def test_only_the_sources_whose_copies_retention_keeps_are_copied():
    selected = [source("snap-%s%d" % (volume, day), 24 * day, volume="vol-" + volume) for volume in "ab" for day in (1, 2, 3)]

    chosen, skipped = requests(selected)

    assert chosen == ["snap-a2", "snap-b2", "snap-a3", "snap-b3"]
    assert skipped == {"snap-a1": NOT_KEPT, "snap-b1": NOT_KEPT}


def test_a_rerun_copies_nothing_and_a_new_source_pushes_out_the_oldest_copy_not_itself():
    old, middle, new = source("snap-1", 0), source("snap-2", 24), source("snap-3", 48)
    existing = [copy_of("snap-c2", middle), copy_of("snap-c3", new)]

    assert requests([old, middle, new], existing)[0] == []
    chosen, skipped = requests([old, middle, new, source("snap-4", 72)], existing)

    assert chosen == ["snap-4"] and skipped["snap-1"] == NOT_KEPT and skipped["snap-2"].startswith("already copied")


def test_twin_copies_count_once_and_a_pending_copy_as_the_generation_it_becomes():
    old, middle, new = source("snap-1", 0), source("snap-2", 24), source("snap-3", 48)

    assert requests([old, middle, new], [copy_of("snap-c3", new), copy_of("snap-c3-twin", new)])[0] == ["snap-2"]
    chosen, skipped = requests([old, middle], [copy_of("snap-c3", new, state="pending")], retention=RetentionPolicy(keep_last=1))
    assert chosen == [] and skipped == dict.fromkeys(["snap-1", "snap-2"], "retention would not keep its copy: not selected by retention (keep_last=1)")


def test_keep_daily_copies_the_newest_source_of_each_kept_day():
    selected = [source("snap-%02d" % hours, hours) for hours in range(0, 72, 6)]

    chosen, skipped = requests(selected, retention=RetentionPolicy(keep_daily=2))

    assert chosen == ["snap-42", "snap-66"] and len(skipped) == len(selected) - 2
    assert skipped["snap-48"] == "retention would not keep its copy: not selected by retention (keep_daily=2)"


def test_keep_within_copies_the_sources_within_the_duration_of_the_newest():
    selected = [source("snap-%d" % day, 24 * day) for day in range(5)]

    assert requests(selected, retention=RetentionPolicy(keep_within=datetime.timedelta(days=2)))[0] == ["snap-2", "snap-3", "snap-4"]


def test_min_interval_spaces_the_sources_before_retention_chooses_among_them_and_a_rerun_copies_nothing():
    hourly = [source("snap-%02d" % hours, hours) for hours in range(48)]

    chosen, skipped = requests(hourly, min_interval=datetime.timedelta(hours=20))

    assert chosen == ["snap-20", "snap-40"] and skipped["snap-00"] == NOT_KEPT
    assert all(reason.startswith("min_interval") for snapshot_id, reason in skipped.items() if snapshot_id != "snap-00")
    made = [copy_of("snap-c20", hourly[20]), copy_of("snap-c40", hourly[40])]
    assert requests(hourly, made, min_interval=datetime.timedelta(hours=20))[0] == []


def test_a_source_retention_would_not_keep_is_skipped_before_its_encryption_is_checked():
    # No KMS client: reading the old source's key would fail the test.
    encrypted = source("snap-1", 0, encrypted=True, kms_key_id="arn:aws:kms:us-east-1:123456789012:key/old")

    chosen, skipped = requests([encrypted, source("snap-2", 24), source("snap-3", 48)])

    assert chosen == ["snap-2", "snap-3"] and skipped == {"snap-1": NOT_KEPT}
