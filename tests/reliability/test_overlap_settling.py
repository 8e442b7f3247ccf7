"""The rule that settles backups of overlapping runs (BackupAdapter.settle for AMIs), case by case.

Pure: the groups are given, no AWS call is made. test_concurrency.py shows the same rule
end to end with two module processes.
"""

import datetime

from ansible_collections.cloudops.aws.plugins.module_utils.ami_rotation import AmiBackups
from ansible_collections.cloudops.aws.plugins.module_utils.ami_rotation import ImageSettings
from ansible_collections.cloudops.aws.plugins.module_utils.retention import RetentionPolicy
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_engine import RotationRun
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_settings import RotationSettings

NOW = datetime.datetime(2026, 11, 23, 3, 15, 0, tzinfo=datetime.timezone.utc)
INSTANCE = "i-0123456789abcdef0"


def rotation(min_interval=datetime.timedelta(hours=1)):
    settings = RotationSettings(policy="daily", retention=RetentionPolicy(keep_last=2), min_interval=min_interval, wait_timeout=60, max_concurrency=2)
    return RotationRun(AmiBackups(None, None, settings, ImageSettings(name_template="{instance_id}-{timestamp}")), settings, NOW)


def image(image_id, seconds_from_now, state="available", managed=True):
    return {"image_id": image_id, "instance_id": INSTANCE, "name": image_id, "state": state, "managed": managed,
            "created_at": NOW + datetime.timedelta(seconds=seconds_from_now), "snapshot_ids": ["snap-" + image_id[4:]]}


def settle(run, group, ours="ami-ours"):
    created = {ours: {"image_id": ours, "instance_id": INSTANCE}}
    return run.adapter.settle({INSTANCE: group}, created, run)


def ids(group):
    return sorted(item["image_id"] for item in group)


def test_the_older_run_keeps_its_backup_and_neither_counts_nor_deletes_the_others():
    run = rotation()
    yesterday = image("ami-yesterday", -86400)
    planned, own = settle(run, [yesterday, image("ami-ours", 0), image("ami-theirs", 1)])

    assert ids(planned[INSTANCE]) == ["ami-ours", "ami-yesterday"]
    assert own == []
    assert [entry["image_id"] for entry in run.result["images_retained"]] == ["ami-theirs"]
    assert "that run deregisters it" in run.result["images_retained"][0]["reason"]


def test_the_younger_run_deregisters_only_its_own_duplicate_once_the_kept_one_is_available():
    run = rotation()
    planned, own = settle(run, [image("ami-yesterday", -86400), image("ami-theirs", -1), image("ami-ours", 0)])

    assert ids(planned[INSTANCE]) == ["ami-theirs", "ami-yesterday"]
    assert [(item["image_id"], reason.split(":")[0]) for item, reason in own] == [("ami-ours", "duplicate")]
    assert "ami-theirs" in own[0][1]


def test_a_pending_kept_backup_leaves_the_instance_unpruned_and_deletes_nothing():
    run = rotation()
    planned, own = settle(run, [image("ami-yesterday", -86400), image("ami-theirs", -1, state="pending"), image("ami-ours", 0)])

    assert own == []
    assert run.unpruned == {INSTANCE}
    assert "not pruned" in run.warnings[0]
    assert ids(planned[INSTANCE]) == ["ami-ours", "ami-theirs", "ami-yesterday"]


def test_same_second_ties_go_to_the_lowest_id_in_both_runs():
    first, second = rotation(), rotation()
    group = [image("ami-aaa", 0), image("ami-bbb", 0)]
    _planned, own_a = settle(first, group, ours="ami-aaa")
    _planned, own_b = settle(second, group, ours="ami-bbb")

    assert own_a == [] and [item["image_id"] for item, _reason in own_b] == ["ami-bbb"]


def test_outside_min_interval_failed_or_unmanaged_images_are_not_duplicates():
    run = rotation()
    group = [image("ami-earlier", -7200), image("ami-failed", -1, state="failed"), image("ami-hand", -1, managed=False), image("ami-ours", 0)]
    planned, own = settle(run, group)

    assert own == [] and ids(planned[INSTANCE]) == ids(group) and run.result["images_retained"] == []


def test_without_min_interval_every_run_is_a_generation():
    run = rotation(min_interval=None)
    group = [image("ami-theirs", -1), image("ami-ours", 0)]
    planned, own = settle(run, group)

    assert own == [] and ids(planned[INSTANCE]) == ids(group)
