"""The snapshot_rotate fault campaign: its world, its own scenarios and the invariants checked after each.

Every scenario starts from a fresh simulated account holding a small fleet whose five volumes
(two single-volume instances and a database instance with three) are selected by a tag, two
earlier generations per volume (made as snapshot_rotate makes them, tags and all) and
hand-made snapshots that must never be touched. Scenarios wrapped in on_instance_sets() select
the same volumes through instance_ids instead, as crash-consistent sets (CreateSnapshots). It
then runs cloudops.aws.snapshot_rotate (tests/module_runs.py) one or more times under faults,
runs it once more with no fault (the repair run an operator's next schedule would be), and
checks the AWS state:

- kept:       every snapshot the policy keeps is there: the keep_last newest completed
              generations ever seen for each volume (so also the newest one);
- duplicates: no volume ever held two snapshots of one run (the same cloudops:created-at):
              no twin left by a retried CreateSnapshot or CreateSnapshots;
- unmanaged:  every hand-made snapshot, and the managed one of another policy, still exists;
- converged:  each volume holds exactly keep_last completed generations, nothing pending
              or in error.

The generic scenarios and the run-repair-check loop are in campaign_core.py. Used by
test_fault_campaign.py (short, fixed seed) and soak.py (many randomised rounds).
"""

import datetime
import time

import campaign_core
from campaign_core import killed_mid
from campaign_core import lost_responses
from campaign_core import server_errors
from campaign_core import tags_of
from campaign_core import throttling_storm

POLICY = "campaign"
KEEP_LAST = 2
SELECTED = {"Backup": "campaign"}
FLEET = {
    "region": "us-east-1",
    "instances": [
        {"name": "app", "count": 2, "volumes": [{"device": "/dev/xvda", "size": 8, "tags": SELECTED}]},
        {"name": "db", "volumes": [{"device": "/dev/xvda", "size": 8, "tags": SELECTED},
                                   {"device": "/dev/sdf", "size": 50, "tags": SELECTED},
                                   {"device": "/dev/sdg", "size": 20, "tags": SELECTED}]},
        # Not selected: its snapshots are no concern of the policy.
        {"name": "build", "volumes": [{"device": "/dev/xvda", "size": 8}]},
    ],
}
SELECTED_INSTANCES = ("app-1", "app-2", "db")
MANAGED_FILTERS = [{"Name": "tag:cloudops:managed-by", "Values": ["cloudops.aws"]}, {"Name": "tag:cloudops:policy", "Values": [POLICY]}]


def source_volume(snapshot):
    # As the module reads it: a CreateSnapshots set killed before its lineage tags has only its VolumeId.
    return tags_of(snapshot).get("cloudops:source-volume") or snapshot["VolumeId"]


def _tag_list(tags):
    return [{"Key": key, "Value": value} for key, value in tags.items()]


class SnapshotWorld(campaign_core.World):
    """One scenario's account: the selected volumes, what must survive, and every managed snapshot seen."""

    MODULE = "cloudops.aws.snapshot_rotate"
    INVARIANTS = ("kept", "duplicates", "unmanaged", "converged")
    # The snapshot actions have buckets of their own (uncategorized in AWS's table): shrink them too.
    THROTTLE_BUCKETS = dict(campaign_core.World.THROTTLE_BUCKETS,
                            CreateSnapshot={"size": 2, "refill_per_second": 2},
                            CreateSnapshots={"size": 2, "refill_per_second": 2},
                            CreateTags={"size": 2, "refill_per_second": 2},
                            DeleteSnapshot={"size": 2, "refill_per_second": 2})

    def __init__(self, sim, rng, faulty_runs=1):
        super().__init__(sim, rng, faulty_runs)
        self.instances = {}
        self.volumes = {}  # volume id -> instance id, the selected volumes
        self.instance_sets = False  # select by instance_ids (CreateSnapshots) rather than by tag
        self.unmanaged = {}  # snapshot id -> what it is
        self.seen = {}  # snapshot id -> (volume id, created-at tag, ever seen completed)

    # -- set-up ----------------------------------------------------------------------------

    def seed(self):
        self.sim.reset()
        self.calm()  # the session's simulator delays new snapshots; the earlier generations are completed
        seeded = self.sim.seed(FLEET)
        self.instances = seeded["instances"]
        self.volumes = {volume_id: self.instances[name] for name in SELECTED_INSTANCES for volume_id in seeded["volumes"][name]}
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        # Two earlier generations, tagged and described as snapshot_rotate makes them.
        for days_ago in (2, 1):
            created_at = (now - datetime.timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
            for volume_id, instance_id in sorted(self.volumes.items()):
                tags = {"cloudops:managed-by": "cloudops.aws", "cloudops:policy": POLICY, "cloudops:source-volume": volume_id,
                        "cloudops:source-instance": instance_id, "cloudops:created-at": created_at}
                self.ec2.create_snapshot(VolumeId=volume_id, Description="cloudops.aws %s snapshot of %s [run seed%d]" % (POLICY, volume_id, days_ago),
                                         TagSpecifications=[{"ResourceType": "snapshot", "Tags": _tag_list(tags)}])
        # Snapshots of the same volumes that look like backups of the policy: never to be deleted.
        volume_id = sorted(self.volumes)[0]
        lookalikes = {
            "hand-made": {},
            "look-alike without managed-by": {"cloudops:policy": POLICY, "cloudops:source-volume": volume_id,
                                              "cloudops:created-at": "2020-01-01T00:00:00Z"},
            "made by AWS Backup": {"aws:backup:source-resource": "arn:aws:ec2:us-east-1:123456789012:volume/%s" % volume_id},
            "managed, of another policy": {"cloudops:managed-by": "cloudops.aws", "cloudops:policy": "weekly",
                                           "cloudops:source-volume": volume_id, "cloudops:created-at": "2020-01-01T00:00:00Z"},
        }
        for what, tags in lookalikes.items():
            spec = [{"ResourceType": "snapshot", "Tags": _tag_list(tags)}] if tags else []
            self.unmanaged[self.ec2.create_snapshot(VolumeId=volume_id, Description=what, TagSpecifications=spec)["SnapshotId"]] = what
        self.observe()

    # -- what the module made --------------------------------------------------------------

    def managed_snapshots(self):
        return self.ec2.describe_snapshots(OwnerIds=["self"], Filters=MANAGED_FILTERS)["Snapshots"]

    def observe(self):
        for snapshot in self.managed_snapshots():
            _volume, _created, completed = self.seen.get(snapshot["SnapshotId"], (None, None, False))
            self.seen[snapshot["SnapshotId"]] = (source_volume(snapshot), tags_of(snapshot).get("cloudops:created-at"),
                                                 completed or snapshot["State"] == "completed")

    def pending_snapshots(self):
        return [s["SnapshotId"] for s in self.managed_snapshots() if s["State"] == "pending"]

    def wait_settled(self, timeout=30):
        campaign_core.wait_until(lambda: not self.pending_snapshots(), timeout)

    def task_args(self, **extra):
        if self.instance_sets:
            args = {"instance_ids": [self.instances[name] for name in SELECTED_INSTANCES]}
        else:
            args = {"filters": {"tag:Backup": SELECTED["Backup"]}}
        args.update(policy=POLICY, retention={"keep_last": KEEP_LAST})
        args.update(extra)
        return args

    # -- the checks ------------------------------------------------------------------------

    def violations(self):
        found = {name: [] for name in self.INVARIANTS}
        snapshots = {s["SnapshotId"]: s for s in self.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
        managed = self.managed_snapshots()

        for volume_id in sorted(self.volumes):
            completed = [(created, snapshot_id) for snapshot_id, (owner, created, ever_completed) in self.seen.items()
                         if owner == volume_id and ever_completed]
            # Newest first, same-second generations by id ascending, as retention orders them.
            generations = sorted(sorted(completed, key=lambda g: g[1]), key=lambda g: g[0], reverse=True)
            for created, snapshot_id in generations[:KEEP_LAST]:
                state = snapshots.get(snapshot_id, {}).get("State", "deleted")
                if state != "completed":
                    found["kept"].append("%s (%s, %s) of %s is gone" % (snapshot_id, created, state, volume_id))
            states = sorted(s["State"] for s in managed if source_volume(s) == volume_id)
            if states != ["completed"] * KEEP_LAST:
                found["converged"].append("%s holds %s" % (volume_id, states))

        runs = {}
        for snapshot_id, (volume_id, created, _completed) in sorted(self.seen.items()):
            runs.setdefault((volume_id, created), []).append(snapshot_id)
        found["duplicates"] += ["%s at %s: %s" % (key[0], key[1], ", ".join(ids)) for key, ids in sorted(runs.items()) if len(ids) > 1]

        found["unmanaged"] += ["%s (%s) deleted" % (snapshot_id, what) for snapshot_id, what in sorted(self.unmanaged.items())
                               if snapshot_id not in snapshots]
        return found


# -- the scenarios of snapshot_rotate only (the generic ones are in campaign_core) ------------


def on_instance_sets(scenario):
    """The scenario with the volumes selected by instance_ids: one CreateSnapshots per instance."""
    def variant(world):
        world.instance_sets = True
        scenario(world)
    variant.__name__ = scenario.__name__
    variant.runs_succeed = getattr(scenario, "runs_succeed", False)
    return variant


def one_volume_failing(world):
    # Errors that retries do not absorb: the volume fails for the whole run.
    victim = world.rng.choice(sorted(world.volumes))
    world.sim.add_fault(action="CreateSnapshot", code=world.rng.choice(["IncorrectState", "UnauthorizedOperation"]), match=victim, count=None)
    world.run()


def per_volume_limits(world):
    """AWS refuses new snapshots of two volumes for a while (too many pending, too soon): waited out."""
    for volume_id in world.rng.sample(sorted(world.volumes), 2):
        world.sim.add_fault(action="CreateSnapshot", code=world.rng.choice(["ConcurrentSnapshotLimitExceeded", "SnapshotCreationPerVolumeRateExceeded"]),
                            match=volume_id, count=world.rng.randint(1, 2))
    world.run()


per_volume_limits.runs_succeed = True


def snapshot_ends_error(world):
    """One of the new snapshots ends `error` while the run waits for it."""
    world.sim.configure(snapshot_completed_after=2)
    campaign_core.fail_one_while_running(world, world.pending_snapshots, world.sim.fail_snapshot)


def pending_past_wait_timeout(world):
    # The fault is each snapshot the run gave up waiting for: counted from the run's own report, as
    # on a busy machine the snapshots may complete between the run's end and a later describe.
    world.sim.configure(snapshot_completed_after=5)
    result = world.run(wait_timeout=1)
    world.other_faults += len([snapshot for snapshot in result.get("snapshots_created", []) if snapshot["state"] == "pending"])
    world.wait_settled()


def killed_between_create_and_prune(world):
    """Killed once every snapshot is requested, while the run waits for them to complete: in AWS the
    longest part of a run (hours for large volumes), so the likeliest place for a job to be cut."""
    world.sim.configure(snapshot_completed_after=3)
    process = world.start()
    world.wait_for_calls("CreateSnapshot", count=len(world.volumes))
    time.sleep(world.rng.uniform(0.2, 2.5))
    world.kill(process)


def killed_at_random(world):
    # campaign_core's, with this module's few sequential calls slowed: its run is otherwise over before
    # the 2 s after its first call within which a kill moment is drawn.
    world.sim.configure(latency={"actions": {action: 0.5 for action in ("DescribeVolumes", "DescribeSnapshots", "DescribeImages")}})
    campaign_core.killed_at_random(world)


SCENARIOS = [
    throttling_storm,
    server_errors,
    lost_responses("CreateSnapshot"),
    on_instance_sets(lost_responses("CreateSnapshots")),
    lost_responses("DeleteSnapshot"),
    one_volume_failing,
    per_volume_limits,
    snapshot_ends_error,
    pending_past_wait_timeout,
    killed_between_create_and_prune,
    # CreateSnapshots tags every snapshot of a set alike; the per-volume lineage tag follows, one CreateTags each.
    on_instance_sets(killed_mid("CreateTags")),
    killed_mid("DeleteSnapshot"),
    killed_at_random,
]

WORLD = SnapshotWorld
