"""The orphan_snapshot_cleanup fault campaign: its world, its own scenarios and the invariants.

Every scenario starts from a fresh simulated account holding orphans, managed snapshots of
AMIs that were deregistered two days ago, and snapshots that look like them but must stay:
those of existing AMIs, of a deregistered hand-made AMI (include_unmanaged is false), of one
that AWS Backup made, of an AMI deregistered just now (younger than min_age), one that a
restored AMI uses, and snapshots made by CreateSnapshot. It runs
cloudops.aws.orphan_snapshot_cleanup under faults, then once more with no fault (the repair
run), and checks:

- safe:      every snapshot that must stay still exists;
- converged: every orphan that may be deleted is gone;
- isolated:  a snapshot failing to delete stopped none of the others (checked after the faulty run).

Snapshots are made to look old with the simulator's /_sim/snapshot-ages, so the module's
default min_age (1d) applies as in production.
"""

from integration.aws_state import existing_snapshot_ids
from integration.aws_state import snapshot_ids_of

import campaign_core
from campaign_core import killed_at_random
from campaign_core import killed_mid
from campaign_core import lost_responses
from campaign_core import server_errors
from campaign_core import throttling_storm

FLEET = {
    "region": "us-east-1",
    "instances": [{"name": "app", "count": 3, "volumes": [{"device": "/dev/xvda", "size": 8}, {"device": "/dev/sdf", "size": 20}]}],
}
MANAGED_TAGS = {"cloudops:managed-by": "cloudops.aws", "cloudops:policy": "campaign"}
AWS_BACKUP_TAGS = dict(MANAGED_TAGS, **{"aws:backup:source-resource": "arn:aws:ec2:us-east-1:123456789012:instance/i-0"})
TWO_DAYS = 2 * 86400


def _tag_list(tags):
    return [{"Key": key, "Value": value} for key, value in tags.items()]


class OrphanWorld(campaign_core.World):
    """One scenario's account: the orphans to delete and every snapshot that must stay, with why."""

    MODULE = "cloudops.aws.orphan_snapshot_cleanup"
    INVARIANTS = ("safe", "converged", "isolated")
    THROTTLE_BUCKETS = dict(campaign_core.World.THROTTLE_BUCKETS, DeleteSnapshot={"size": 2, "refill_per_second": 2})

    def __init__(self, sim, rng, faulty_runs=1):
        super().__init__(sim, rng, faulty_runs)
        self.orphans = set()
        self.must_stay = {}  # snapshot id -> why it must never be deleted
        self.not_isolated = []
        self.serial = 0

    # -- set-up ----------------------------------------------------------------------------

    def image(self, instance_id, tags=None):
        """(image id, its snapshot ids) of a new AMI of the instance, its snapshots tagged like it."""
        self.serial += 1
        specs = [{"ResourceType": kind, "Tags": _tag_list(tags)} for kind in ("image", "snapshot")] if tags else []
        image_id = self.ec2.create_image(InstanceId=instance_id, Name="campaign-%d" % self.serial, NoReboot=True,
                                         TagSpecifications=specs)["ImageId"]
        return image_id, snapshot_ids_of(self.ec2.describe_images(ImageIds=[image_id])["Images"][0])

    def orphaned(self, instance_id, tags=None):
        """The snapshots of an AMI made and deregistered at once."""
        image_id, snapshot_ids = self.image(instance_id, tags)
        self.ec2.deregister_image(ImageId=image_id)
        return snapshot_ids

    def keep(self, snapshot_ids, why):
        self.must_stay.update((snapshot_id, why) for snapshot_id in snapshot_ids)

    def seed(self):
        sim = self.sim
        sim.reset()
        sim.configure(ami_available_after=0, snapshot_completed_after=0)
        instances = sorted(sim.seed(FLEET)["instances"].values())
        for instance_id in instances:
            for _generation in range(2):
                self.orphans.update(self.orphaned(instance_id, MANAGED_TAGS))
            self.keep(self.image(instance_id, MANAGED_TAGS)[1], "its managed image exists")
        first = instances[0]
        self.keep(self.orphaned(first), "unmanaged, include_unmanaged is false")
        self.keep(self.orphaned(first, AWS_BACKUP_TAGS), "made by AWS Backup")
        restored = self.orphaned(first, MANAGED_TAGS)
        self.register_from(restored[0])
        self.keep(restored[:1], "a restored image uses it")
        self.orphans.update(restored[1:])
        volume_id = self.ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [first]}])["Volumes"][0]["VolumeId"]
        self.keep([self.ec2.create_snapshot(VolumeId=volume_id, Description="hand-made")["SnapshotId"]], "hand-made")
        self.keep([self.ec2.create_snapshot(VolumeId=volume_id, Description="a snapshot_rotate generation", TagSpecifications=[
            {"ResourceType": "snapshot", "Tags": _tag_list(MANAGED_TAGS)}])["SnapshotId"]], "managed, but not made for an AMI")
        sim.age_snapshots(sorted(self.orphans | set(self.must_stay)), TWO_DAYS)
        # Deregistered a moment ago: younger than min_age, so an image being deregistered right now is never raced.
        self.keep(self.orphaned(first, MANAGED_TAGS), "younger than min_age")
        sim.clear_log()
        sim.clear_faults()

    # -- the module and the checks ---------------------------------------------------------

    def task_args(self, **extra):
        return dict(extra)

    def violations(self):
        existing = existing_snapshot_ids(self.ec2)
        return {
            "safe": ["%s (%s) deleted" % (snapshot_id, why) for snapshot_id, why in sorted(self.must_stay.items())
                     if snapshot_id not in existing],
            "converged": ["orphan %s still there" % snapshot_id for snapshot_id in sorted(self.orphans & existing)],
            "isolated": list(self.not_isolated),
        }

    def register_from(self, snapshot_id):
        """An AMI registered from the snapshot, as a restore does: from then on AWS counts it in use."""
        self.ec2.register_image(Name="restored-%s" % snapshot_id, RootDeviceName="/dev/xvda",
                                BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot_id}}])


# -- the scenarios of orphan_snapshot_cleanup only (the generic ones are in campaign_core) ---


def one_snapshot_failing(world):
    """AWS refuses to delete one orphan every time: the others are deleted all the same."""
    victim = world.rng.choice(sorted(world.orphans))
    world.sim.add_fault(action="DeleteSnapshot", code=world.rng.choice(["UnauthorizedOperation", "IncorrectState"]), match=victim, count=None)
    world.run()
    # Safety rule 5; checked now, since the repair run would delete what this run left.
    world.not_isolated += ["orphan %s left by the run that failed on %s" % (snapshot_id, victim)
                           for snapshot_id in sorted(existing_snapshot_ids(world.ec2) & world.orphans - {victim})]


def restored_during_run(world):
    """An AMI is registered from an orphan after the run planned its deletion, before the delete."""
    world.sim.configure(latency={"actions": {"DeleteSnapshot": 0.5}})
    process = world.start(max_concurrency=1)
    # Deletes go one at a time in snapshot id order: the last orphan is still there after the first delete.
    victim = sorted(world.orphans)[-1]
    world.wait_for_calls("DeleteSnapshot")
    world.register_from(victim)
    world.orphans.discard(victim)
    world.keep([victim], "an image was registered from it during the run")
    world.finish(process)
    # The race counts as the fault only if the run did try to delete the restored snapshot.
    world.other_faults += len([c for c in world.sim.calls(action="DeleteSnapshot")
                               if c["error_code"] == "InvalidSnapshot.InUse" and victim in c["resource_ids"]])


restored_during_run.runs_succeed = True

SCENARIOS = [
    throttling_storm,
    server_errors,
    lost_responses("DeleteSnapshot"),
    killed_mid("DeleteSnapshot"),
    killed_at_random,
    one_snapshot_failing,
    restored_during_run,
]

WORLD = OrphanWorld
