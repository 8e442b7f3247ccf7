"""cloudops.aws.snapshot_copy_generations (run in the test process, conftest's run_task) against the simulator; every test asserts
AWS state in the destination Region (and account)."""

import json
import time

import boto3
import pytest

from aws_state import mutating_calls
from aws_state import tags_of

SOURCE, DESTINATION = "us-east-1", "us-west-2"
DR_ACCOUNT = "222222222222"
DR_ROLE = "arn:aws:iam::%s:role/cloudops-dr-copy" % DR_ACCOUNT
DAILY = {"tag:cloudops:policy": "daily"}
FLEET = {"region": SOURCE, "instances": [
    {"name": "db-1", "volumes": [{"device": "/dev/xvda", "size": 8}, {"device": "/dev/sdf", "size": 100}]},
    {"name": "web-1", "volumes": [{"device": "/dev/xvda", "size": 8}]},
]}


def client(sim, service, region=SOURCE, credentials=None):
    keys = credentials or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(service, endpoint_url=sim.endpoint, region_name=region, **keys)


@pytest.fixture
def west(sim):
    return client(sim, "ec2", DESTINATION)


@pytest.fixture
def volumes(sim):
    seeded = sim.seed(FLEET)
    return seeded["volumes"]["db-1"] + seeded["volumes"]["web-1"]


def backup(ec2, volume_id, day, policy="daily", **extra_tags):
    """A source snapshot as snapshot_rotate makes it, backed up on 2026-11-<day>."""
    tags = {"cloudops:managed-by": "cloudops.aws", "cloudops:policy": policy, "cloudops:source-volume": volume_id,
            "cloudops:created-at": "2026-11-%02dT03:00:00Z" % day}
    tags.update(extra_tags)
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id, TagSpecifications=[
        {"ResourceType": "snapshot", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])["SnapshotId"]
    return snapshot_id


def settle(ec2, snapshot_ids, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = {s["State"] for s in ec2.describe_snapshots(SnapshotIds=list(snapshot_ids))["Snapshots"]}
        if "pending" not in states:
            return
        time.sleep(0.2)
    raise AssertionError("snapshots still pending: %s" % snapshot_ids)


def copies(ec2, **tags):
    filters = [{"Name": "tag:cloudops:managed-by", "Values": ["cloudops.aws"]}]
    filters += [{"Name": "tag:" + k, "Values": [v]} for k, v in tags.items()]
    return ec2.describe_snapshots(OwnerIds=["self"], Filters=filters)["Snapshots"]


def copies_of(ec2):
    return {tags_of(s)["cloudops:source-snapshot"]: s for s in copies(ec2)}


def copy_task(run_task, check=False, **args):
    args.setdefault("source_region", SOURCE)
    args.setdefault("region", DESTINATION)
    args.setdefault("retention", {"keep_last": 2})
    if "snapshot_ids" not in args:
        args.setdefault("filters", DAILY)
    return run_task("cloudops.aws.snapshot_copy_generations", args, check=check)


def ok(result):
    assert not result.get("failed"), result.get("msg")
    return result


# -- (1) same-account cross-region copies --------------------------------------------------------


@pytest.mark.pending  # the run waits for its copies to complete
def test_copies_carry_source_tags_and_lineage(run_task, ec2, west, volumes):
    sources = {backup(ec2, volume, 20, Team="data"): volume for volume in volumes}
    settle(ec2, sources)
    in_source_region = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}

    result = ok(copy_task(run_task, tags={"CostCenter": "dr"}))

    made = copies_of(west)
    assert set(made) == set(sources)
    for source_id, copy in made.items():
        tags = tags_of(copy)
        assert copy["State"] == "completed"
        assert tags["cloudops:source-region"] == SOURCE and tags["cloudops:source-volume"] == sources[source_id]
        assert tags["cloudops:created-at"] == "2026-11-20T03:00:00Z"  # the source's backup time
        assert tags["cloudops:policy"] == "daily" and tags["Team"] == "data" and tags["CostCenter"] == "dr"
    assert {c["snapshot_id"] for c in result["copies_completed"]} == {c["SnapshotId"] for c in made.values()}
    assert {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]} == in_source_region


def test_a_rerun_copies_nothing_again(run_task, sim, ec2, west, volumes):
    settle(ec2, [backup(ec2, volume, 20) for volume in volumes])
    ok(copy_task(run_task))
    sim.clear_log()

    again = ok(copy_task(run_task))

    assert not again["changed"] and not again["copies_started"]
    assert all(s["reason"].startswith("already copied to snap-") for s in again["sources_skipped"])
    assert not mutating_calls(sim)
    assert len(copies(west)) == len(volumes)


def test_generations_per_source_volume_count_completed_copies(run_task, ec2, west, volumes):
    volume = volumes[1]
    first = backup(ec2, volume, 18)
    settle(ec2, [first])
    ok(copy_task(run_task, snapshot_ids=[first]))
    second, third = backup(ec2, volume, 19), backup(ec2, volume, 20)
    settle(ec2, [second, third])

    result = ok(copy_task(run_task, snapshot_ids=[second, third], only_latest=False))

    assert set(copies_of(west)) == {second, third}
    assert [d["source_snapshot_id"] for d in result["copies_deleted"]] == [first]
    assert result["copies_deleted"][0]["reason"].startswith("not selected by retention")


def test_only_what_retention_keeps_is_copied_and_reruns_copy_and_delete_nothing(run_task, sim, ec2, west, volumes):
    # Three completed generations of each of two volumes; keep_last 2 keeps the two newest of each.
    generations = {volume: [backup(ec2, volume, day) for day in (18, 19, 20)] for volume in volumes[:2]}
    settle(ec2, [source for sources in generations.values() for source in sources])
    kept = {source for sources in generations.values() for source in sources[1:]}
    oldest = {sources[0] for sources in generations.values()}

    plan = ok(copy_task(run_task, check=True, only_latest=False))
    first = ok(copy_task(run_task, only_latest=False))

    assert set(copies_of(west)) == kept and len(copies(west)) == 4
    assert {c["source_snapshot_id"] for c in first["copies_started"]} == kept and not first["copies_deleted"]
    not_kept = {s["source_snapshot_id"]: s["reason"] for s in first["sources_skipped"]}
    assert not_kept == dict.fromkeys(oldest, "retention would not keep its copy: not selected by retention (keep_last=2)")
    # Check mode showed this very plan.
    assert {c["source_snapshot_id"] for c in plan["copies_started"]} == kept and not plan["copies_deleted"]
    assert plan["sources_skipped"] == first["sources_skipped"]
    made = {c["SnapshotId"] for c in copies(west)}
    for _rerun in range(2):
        sim.clear_log()

        again = ok(copy_task(run_task, only_latest=False))

        assert not again["changed"] and not again["copies_started"] and not again["copies_deleted"]
        assert not sim.calls(action="CopySnapshot") and not sim.calls(action="DeleteSnapshot")
        assert {c["SnapshotId"] for c in copies(west)} == made


def test_only_latest_copies_the_newest_completed_snapshot_per_volume(run_task, ec2, west, volumes):
    older, newer = backup(ec2, volumes[0], 19), backup(ec2, volumes[0], 20)
    settle(ec2, [older, newer])

    result = ok(copy_task(run_task))

    assert set(copies_of(west)) == {newer}
    assert any(s["source_snapshot_id"] == older and s["reason"].startswith("only_latest") for s in result["sources_skipped"])


def test_policy_override_and_min_interval(run_task, ec2, west, volumes):
    first = backup(ec2, volumes[0], 20)
    settle(ec2, [first])
    ok(copy_task(run_task, policy="dr"))
    later = backup(ec2, volumes[0], 20, **{"cloudops:created-at": "2026-11-20T09:00:00Z"})
    settle(ec2, [later])

    result = ok(copy_task(run_task, policy="dr", min_interval="20h"))

    assert [tags_of(c)["cloudops:policy"] for c in copies(west)] == ["dr"]
    reasons = {s["source_snapshot_id"]: s["reason"] for s in result["sources_skipped"]}
    assert reasons[later].startswith("min_interval: newest generation") and reasons[first].startswith("only_latest")


def test_without_wait_a_pending_copy_is_not_a_generation_until_a_later_run(run_task, sim, ec2, west, volumes):
    old = backup(ec2, volumes[0], 19)
    settle(ec2, [old])
    ok(copy_task(run_task, snapshot_ids=[old]))
    new = backup(ec2, volumes[0], 20)
    settle(ec2, [new])
    # Long enough for the copy to be still pending when the later run starts (a second or two later: the
    # runs are in the test process), also on two busy cores; the later run waits out the rest.
    sim.configure(snapshot_completed_after=8)

    started = ok(copy_task(run_task, snapshot_ids=[new], wait=False, retention={"keep_last": 1}))

    assert [c["state"] for c in started["copies_started"]] == ["pending"]
    assert not started["copies_deleted"]  # the only completed copy is kept while the new one is pending
    assert copies_of(west)[new]["State"] == "pending"

    later = ok(copy_task(run_task, snapshot_ids=[new], retention={"keep_last": 1}))  # waits for the earlier run's copy

    assert [c["snapshot_id"] for c in later["copies_completed"]] == [started["copies_started"][0]["snapshot_id"]]
    assert set(copies_of(west)) == {new}


def test_check_mode_returns_the_plan_and_changes_nothing(run_task, sim, ec2, west, volumes):
    old = backup(ec2, volumes[0], 19)
    settle(ec2, [old])
    ok(copy_task(run_task, snapshot_ids=[old]))
    new = backup(ec2, volumes[0], 20)
    settle(ec2, [new])
    before = copies_of(west)
    sim.clear_log()

    plan = ok(copy_task(run_task, check=True, snapshot_ids=[new], retention={"keep_last": 1}))

    assert not mutating_calls(sim)
    assert copies_of(west).keys() == before.keys()
    assert plan["changed"] and [c["state"] for c in plan["copies_started"]] == ["planned"]
    assert [d["source_snapshot_id"] for d in plan["copies_deleted"]] == [old]


def test_an_unknown_snapshot_id_fails_before_any_copy(run_task, sim, ec2, west, volumes):
    real = backup(ec2, volumes[0], 20)
    settle(ec2, [real])
    sim.clear_log()

    result = copy_task(run_task, snapshot_ids=[real, "snap-0123456789abcdef0"])

    assert result["failed"] and "snap-0123456789abcdef0" in result["msg"]
    assert not copies(west) and not mutating_calls(sim)


# -- (2) the in-flight queue ------------------------------------------------------------------


def test_copies_beyond_the_region_limit_wait_for_a_slot(run_task, sim, ec2, west, volumes):
    sources = [backup(ec2, volume, 20) for volume in volumes]
    settle(ec2, sources)
    sim.configure(snapshot_completed_after=1.5, snapshot_copies={"in_flight_per_region": 1})

    result = ok(copy_task(run_task))

    assert set(copies_of(west)) == set(sources)
    assert {c["State"] for c in copies(west)} == {"completed"}
    assert not result["failures"] and len(result["copies_started"]) == len(sources)
    assert any(call["error_code"] == "ResourceLimitExceeded" for call in sim.calls(action="CopySnapshot"))


def test_max_copies_in_flight_queues_without_asking_aws(run_task, sim, ec2, west, volumes):
    sources = [backup(ec2, volume, 20) for volume in volumes]
    settle(ec2, sources)
    sim.configure(snapshot_completed_after=1)

    result = ok(copy_task(run_task, max_copies_in_flight=1))

    assert set(copies_of(west)) == set(sources) and not result["failures"]
    assert all(call["status"] == 200 for call in sim.calls(action="CopySnapshot"))


def test_sources_still_queued_at_the_timeout_are_skipped_not_failed(run_task, sim, ec2, west, volumes):
    sources = [backup(ec2, volume, 20) for volume in volumes]
    settle(ec2, sources)
    sim.configure(snapshot_completed_after=30)

    result = ok(copy_task(run_task, max_copies_in_flight=1, wait=False, wait_timeout=1))

    assert len(copies(west)) == 1 and len(result["copies_started"]) == 1
    queued = [s for s in result["sources_skipped"] if s["reason"].startswith("queued")]
    assert len(queued) == len(sources) - 1


def test_max_copies_in_flight_is_checked_before_any_call(run_task, sim, volumes):
    result = copy_task(run_task, max_copies_in_flight=25)

    assert result["failed"] and "max_copies_in_flight" in result["msg"] and not sim.calls(action="DescribeSnapshots")


# -- (3) encryption -------------------------------------------------------------------------


def encrypted_backup(sim, ec2, volume_day=20, policy=None):
    key = client(sim, "kms").create_key(**({"Policy": json.dumps(policy)} if policy else {}))["KeyMetadata"]["Arn"]
    volume = ec2.create_volume(Size=10, AvailabilityZone="us-east-1a", Encrypted=True, KmsKeyId=key)["VolumeId"]
    snapshot_id = backup(ec2, volume, volume_day)
    settle(ec2, [snapshot_id])
    return snapshot_id


def test_copies_are_encrypted_with_the_given_destination_key(run_task, sim, ec2, west, volumes):
    plain = backup(ec2, volumes[0], 20)
    settle(ec2, [plain])
    cmk_source = encrypted_backup(sim, ec2)
    key = client(sim, "kms", DESTINATION).create_key()["KeyMetadata"]["Arn"]

    ok(copy_task(run_task, snapshot_ids=[plain, cmk_source], encrypted=True, kms_key_id=key))

    made = copies_of(west)
    assert {s: (c["Encrypted"], c["KmsKeyId"]) for s, c in made.items()} == {plain: (True, key), cmk_source: (True, key)}


def test_encrypted_without_a_key_uses_the_destination_default_key(run_task, sim, ec2, west, volumes):
    plain = backup(ec2, volumes[0], 20)
    settle(ec2, [plain])

    ok(copy_task(run_task, snapshot_ids=[plain], encrypted=True))

    default_key = client(sim, "kms", DESTINATION).describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"]
    assert copies_of(west)[plain]["KmsKeyId"] == default_key


def test_a_source_with_a_customer_managed_key_needs_kms_key_id(run_task, sim, ec2, west, volumes):
    plain = backup(ec2, volumes[0], 20)
    settle(ec2, [plain])
    cmk_source = encrypted_backup(sim, ec2)

    result = copy_task(run_task, snapshot_ids=[plain, cmk_source])

    assert result["failed"] and "kms_key_id" in result["msg"]
    assert [f["source_snapshot_id"] for f in result["failures"]] == [cmk_source]
    assert set(copies_of(west)) == {plain}  # the other source is still copied


def test_kms_key_id_without_encrypted_fails_before_any_call(run_task, sim, volumes):
    result = copy_task(run_task, kms_key_id="alias/dr")

    assert result["failed"] and result["msg"].startswith("kms_key_id:") and not sim.calls()


def test_a_copy_that_ends_in_error_is_a_failure_with_aws_reason(run_task, sim, ec2, west, volumes):
    plain = backup(ec2, volumes[0], 20)
    settle(ec2, [plain])
    wrong_region_key = client(sim, "kms").create_key()["KeyMetadata"]["Arn"]

    result = copy_task(run_task, snapshot_ids=[plain], encrypted=True, kms_key_id=wrong_region_key)

    assert result["failed"] and "not accessible" in result["failures"][0]["error"]
    assert copies_of(west)[plain]["State"] == "error"


# -- (4) cross-account -------------------------------------------------------------------------


def dr_credentials(sim):
    credentials = client(sim, "sts").assume_role(RoleArn=DR_ROLE, RoleSessionName="assertions")["Credentials"]
    return {"aws_access_key_id": credentials["AccessKeyId"], "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"]}


def test_cross_account_copies_are_made_in_the_destination_account_and_sources_unshared(run_task, sim, ec2, west, volumes):
    sources = [backup(ec2, volume, 20) for volume in volumes]
    settle(ec2, sources)

    result = ok(copy_task(run_task, destination_role_arn=DR_ROLE))

    dr_west = client(sim, "ec2", DESTINATION, dr_credentials(sim))
    made = copies_of(dr_west)
    assert set(made) == set(sources) and {c["OwnerId"] for c in made.values()} == {DR_ACCOUNT}
    assert not copies(west)  # nothing in the source account's destination Region
    assert {u["source_snapshot_id"] for u in result["sources_unshared"]} == set(sources)
    for source in sources:
        assert not ec2.describe_snapshot_attribute(SnapshotId=source, Attribute="createVolumePermission")["CreateVolumePermissions"]
    assert any(call["action"] == "AssumeRole" for call in sim.calls())


def test_cross_account_without_wait_keeps_sharing_until_the_copy_is_done(run_task, sim, ec2, volumes):
    source = backup(ec2, volumes[0], 20)
    settle(ec2, [source])
    sim.configure(snapshot_completed_after=2)

    started = ok(copy_task(run_task, snapshot_ids=[source], destination_role_arn=DR_ROLE, wait=False))

    assert not started["sources_unshared"]
    assert ec2.describe_snapshot_attribute(SnapshotId=source, Attribute="createVolumePermission")["CreateVolumePermissions"] == [{"UserId": DR_ACCOUNT}]
    dr_west = client(sim, "ec2", DESTINATION, dr_credentials(sim))
    settle(dr_west, [started["copies_started"][0]["snapshot_id"]])

    later = ok(copy_task(run_task, snapshot_ids=[source], destination_role_arn=DR_ROLE))

    assert [u["source_snapshot_id"] for u in later["sources_unshared"]] == [source] and not later["copies_started"]
    assert not ec2.describe_snapshot_attribute(SnapshotId=source, Attribute="createVolumePermission")["CreateVolumePermissions"]


def test_cross_account_refuses_sources_encrypted_with_the_aws_managed_key(run_task, sim, ec2, volumes):
    volume = ec2.create_volume(Size=10, AvailabilityZone="us-east-1a", Encrypted=True)["VolumeId"]
    source = backup(ec2, volume, 20)
    settle(ec2, [source])

    result = copy_task(run_task, snapshot_ids=[source], destination_role_arn=DR_ROLE, encrypted=True)

    assert result["failed"] and "AWS managed key" in result["failures"][0]["error"]
    assert not ec2.describe_snapshot_attribute(SnapshotId=source, Attribute="createVolumePermission")["CreateVolumePermissions"]
    assert not copies(client(sim, "ec2", DESTINATION, dr_credentials(sim)))


def test_cross_account_copies_a_source_whose_key_is_shared(run_task, sim, ec2, volumes):
    shared_key_policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::123456789012:root", "arn:aws:iam::%s:root" % DR_ACCOUNT]},
         "Action": "kms:*", "Resource": "*"}]}
    source = encrypted_backup(sim, ec2, policy=shared_key_policy)
    dr_key = client(sim, "kms", DESTINATION, dr_credentials(sim)).create_key()["KeyMetadata"]["Arn"]

    ok(copy_task(run_task, snapshot_ids=[source], destination_role_arn=DR_ROLE, encrypted=True, kms_key_id=dr_key))

    copy = copies_of(client(sim, "ec2", DESTINATION, dr_credentials(sim)))[source]
    assert copy["State"] == "completed" and copy["KmsKeyId"] == dr_key


# -- restore (docs/dr.md) ---------------------------------------------------------------------


def test_a_copy_restored_as_an_ami_is_kept_and_volumes_restore_from_copies(run_task, ec2, west, volumes):
    old = backup(ec2, volumes[0], 19)
    settle(ec2, [old])
    ok(copy_task(run_task, snapshot_ids=[old]))
    old_copy = copies_of(west)[old]["SnapshotId"]
    image_id = west.register_image(Name="db-1-restore", RootDeviceName="/dev/xvda", Architecture="x86_64", VirtualizationType="hvm",
                                   BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": old_copy}}])["ImageId"]
    restored = west.create_volume(SnapshotId=old_copy, AvailabilityZone="us-west-2a")
    assert restored["SnapshotId"] == old_copy
    new = backup(ec2, volumes[0], 20)
    settle(ec2, [new])

    result = ok(copy_task(run_task, snapshot_ids=[new], retention={"keep_last": 1}))

    assert not result["copies_deleted"]
    kept = {c["snapshot_id"]: c["reason"] for c in result["copies_retained"]}
    assert image_id in kept[old_copy]
    assert set(copies_of(west)) == {old, new}


def test_a_copy_retried_after_a_lost_answer_leaves_one_copy(run_task, sim, ec2, west, volumes):
    source = backup(ec2, volumes[0], 20)
    settle(ec2, [source])
    sim.add_fault(action="CopySnapshot", code="InternalError", count=1, after=True)

    result = ok(copy_task(run_task, snapshot_ids=[source]))

    # Both copies are the run's own (its mark is in their description): it keeps the one any run would keep.
    (kept,) = [c["SnapshotId"] for c in copies(west)]
    assert [d["reason"] for d in result["copies_deleted"]] == ["duplicate copy of %s (%s is kept)" % (source, kept)]


def test_cross_account_source_is_unshared_when_its_copy_cannot_start(run_task, sim, ec2, volumes):
    source = backup(ec2, volumes[0], 20)
    settle(ec2, [source])
    sim.add_fault(action="CopySnapshot", code="InvalidParameterValue", count=None)

    result = copy_task(run_task, snapshot_ids=[source], destination_role_arn=DR_ROLE)

    assert result["failed"] and "InvalidParameterValue" in result["failures"][0]["error"]
    assert not ec2.describe_snapshot_attribute(SnapshotId=source, Attribute="createVolumePermission")["CreateVolumePermissions"]


def test_a_copy_into_the_source_region_and_account_is_refused_before_any_call(run_task, sim, volumes):
    result = copy_task(run_task, region=SOURCE)

    assert result["failed"] and result["msg"].startswith("region:") and not sim.calls()


@pytest.mark.parametrize("extra", [{}, {"destination_role_arn": DR_ROLE}], ids=["same account", "cross account"])
def test_a_destination_region_that_does_not_answer_is_named_and_nothing_is_done(run_task, sim, ec2, volumes, extra):
    source = backup(ec2, volumes[0], 20)
    settle(ec2, [source])
    sim.clear_log()

    result = copy_task(run_task, region="eu-west-9", **extra)

    assert result["failed"] and result["msg"].startswith("region: no answer from AWS in 'eu-west-9'")
    assert not mutating_calls(sim)


def test_cross_account_rerun_changes_nothing(run_task, sim, ec2, volumes):
    sources = [backup(ec2, volume, 20) for volume in volumes]
    settle(ec2, sources)
    ok(copy_task(run_task, destination_role_arn=DR_ROLE))
    sim.clear_log()

    again = ok(copy_task(run_task, destination_role_arn=DR_ROLE))

    assert not again["changed"] and not mutating_calls(sim)
    assert len(copies(client(sim, "ec2", DESTINATION, dr_credentials(sim)))) == len(sources)


def test_diff_mode_lists_copies_before_and_after(run_task, ec2, volumes):
    old = backup(ec2, volumes[0], 19)
    settle(ec2, [old])
    first = ok(copy_task(run_task, snapshot_ids=[old]))
    new = backup(ec2, volumes[0], 20)
    settle(ec2, [new])

    result = ok(run_task("cloudops.aws.snapshot_copy_generations", {"source_region": SOURCE, "region": DESTINATION, "snapshot_ids": [new],
                                                                    "retention": {"keep_last": 1}}, diff=True))

    old_copy = first["copies_started"][0]["snapshot_id"]
    new_copy = result["copies_started"][0]["snapshot_id"]
    assert result["diff"] == {"before": {"copies": ["%s %s" % (old_copy, old)]}, "after": {"copies": ["%s %s" % (new_copy, new)]}}
