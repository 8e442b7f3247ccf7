from botocore.exceptions import ClientError

from ansible_collections.cloudops.aws.plugins.module_utils.orphan_snapshots import delete_orphans


class RefusingEc2:
    """delete_snapshot answers with AWS's error for the snapshots it is given, deletes the others."""

    def __init__(self, refusals):
        self.refusals = refusals
        self.deleted = []

    def delete_snapshot(self, aws_retry, SnapshotId):
        if SnapshotId in self.refusals:
            raise ClientError({"Error": {"Code": self.refusals[SnapshotId], "Message": "refused"}}, "DeleteSnapshot")
        self.deleted.append(SnapshotId)


def entry(snapshot_id):
    return {"snapshot_id": snapshot_id, "image_id": "ami-0gone", "volume_size": 8, "managed": True, "reason": "its image ami-0gone no longer exists"}


def test_a_snapshot_restored_from_during_the_run_is_kept_not_failed():
    ec2 = RefusingEc2({"snap-restored": "InvalidSnapshot.InUse", "snap-denied": "UnauthorizedOperation"})

    deleted, kept, failures = delete_orphans(ec2, [entry("snap-a"), entry("snap-restored"), entry("snap-denied")], 2)

    assert [e["snapshot_id"] for e in deleted] == ["snap-a"] and ec2.deleted == ["snap-a"]
    assert [(e["snapshot_id"], e["reason"]) for e in kept] == [
        ("snap-restored", "an image was registered from it during this run (InvalidSnapshot.InUse)")]
    assert [f["snapshot_id"] for f in failures] == ["snap-denied"] and "UnauthorizedOperation" in failures[0]["error"]
