"""Selecting the snapshots to copy, against a fake EC2 holding a few snapshots."""

import datetime

import pytest

from ansible_collections.cloudops.aws.plugins.module_utils.selection import SelectionError
from ansible_collections.cloudops.aws.plugins.module_utils.snapshot_selection import select_sources

T0 = datetime.datetime(2026, 11, 20, 3, 0, tzinfo=datetime.timezone.utc)


class FakeEC2:
    def __init__(self, snapshots):
        self.snapshots = snapshots

    def describe_snapshots(self, aws_retry, OwnerIds, Filters):
        if Filters[0]["Name"] == "snapshot-id":
            return {"Snapshots": [s for s in self.snapshots if s["SnapshotId"] in Filters[0]["Values"]]}
        return {"Snapshots": list(self.snapshots)}


def snapshot(snapshot_id, volume, day, state="completed"):
    return {"SnapshotId": snapshot_id, "State": state, "VolumeId": volume, "VolumeSize": 8, "StartTime": T0 + datetime.timedelta(days=day)}


def test_only_latest_takes_the_newest_completed_snapshot_of_each_volume():
    ec2 = FakeEC2([snapshot("snap-1", "vol-a", 0), snapshot("snap-2", "vol-a", 1), snapshot("snap-3", "vol-a", 2, "pending"),
                   snapshot("snap-4", "vol-b", 0)])

    chosen, skipped = select_sources(ec2, None, {"tag:cloudops:policy": "daily"}, only_latest=True)

    assert [s["snapshot_id"] for s in chosen] == ["snap-2", "snap-4"]
    assert {s["snapshot_id"]: reason.split(":")[0] for s, reason in skipped} == {"snap-1": "only_latest", "snap-3": "state pending"}


def test_without_only_latest_every_completed_snapshot_is_a_source():
    ec2 = FakeEC2([snapshot("snap-1", "vol-a", 0), snapshot("snap-2", "vol-a", 1), snapshot("snap-3", "vol-a", 2, "pending")])

    chosen, skipped = select_sources(ec2, None, {"tag:cloudops:policy": "daily"}, only_latest=False)

    assert [s["snapshot_id"] for s in chosen] == ["snap-1", "snap-2"] and [s["snapshot_id"] for s, _reason in skipped] == ["snap-3"]


def test_named_snapshots_that_do_not_exist_fail_the_selection():
    ec2 = FakeEC2([snapshot("snap-1", "vol-a", 0)])

    with pytest.raises(SelectionError, match="snapshot_ids: not found .*snap-9"):
        select_sources(ec2, ["snap-1", "snap-9"], None, only_latest=True)
