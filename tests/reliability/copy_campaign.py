"""The snapshot_copy_generations fault campaign: its world, its own scenarios and the invariants checked after each.

Every scenario starts from a fresh simulated account: a few volumes in us-east-1 with three
generations of source snapshots each (tagged as snapshot_rotate tags them), managed copies of
the two older generations in us-west-2 (tagged as snapshot_copy_generations tags them), and
hand-made snapshots in us-west-2 that look like copies but are not managed. It then runs
cloudops.aws.snapshot_copy_generations (tests/module_runs.py) under faults, runs it once more
with no fault (the repair run), and checks the AWS state:

- kept:       for each source volume, the keep_last newest sources that ever had a completed
              copy still have one;
- duplicates: at most one managed copy per source snapshot (a retried CopySnapshot, or two
              overlapping runs, must not leave two);
- unmanaged:  every hand-made snapshot in the destination and every source snapshot still exists;
- unshared:   no source is left shared with the destination account (cross-account scenarios);
- converged:  each volume holds exactly keep_last completed copies, nothing pending or in error,
              the newest being the copy of its newest source.

The generic scenarios and the run-repair-check loop are in campaign_core.py.
"""

import datetime

import boto3

import campaign_core
from campaign_core import killed_at_random
from campaign_core import killed_mid
from campaign_core import lost_responses
from campaign_core import server_errors
from campaign_core import tags_of
from campaign_core import throttling_storm

SOURCE, DESTINATION = "us-east-1", "us-west-2"
POLICY = "campaign"  # the sources' policy, as snapshot_rotate made them
COPY_POLICY = "campaign-dr"  # the copies' generation group in the destination
KEEP_LAST = 2
GENERATIONS = 3
DR_ACCOUNT = "222222222222"
DR_ROLE = "arn:aws:iam::%s:role/cloudops-dr-copy" % DR_ACCOUNT
FLEET = {
    "region": SOURCE,
    "instances": [
        {"name": "app", "count": 2, "volumes": [{"device": "/dev/xvda", "size": 8}]},
        {"name": "db", "volumes": [{"device": "/dev/xvda", "size": 8}, {"device": "/dev/sdf", "size": 50}]},
    ],
}
COPY_FILTERS = [{"Name": "tag:cloudops:managed-by", "Values": ["cloudops.aws"]}, {"Name": "tag:cloudops:policy", "Values": [COPY_POLICY]}]


def tag_list(tags):
    return [{"Key": key, "Value": value} for key, value in tags.items()]


class CopyWorld(campaign_core.World):
    """One scenario's accounts: the sources, what must survive, and every managed copy seen."""

    MODULE = "cloudops.aws.snapshot_copy_generations"
    INVARIANTS = ("kept", "duplicates", "unmanaged", "unshared", "converged")
    THROTTLE_BUCKETS = dict(campaign_core.World.THROTTLE_BUCKETS,
                            CopySnapshot={"size": 2, "refill_per_second": 2},
                            DeleteSnapshot={"size": 2, "refill_per_second": 2})

    def __init__(self, sim, rng, faulty_runs=1):
        super().__init__(sim, rng, faulty_runs)
        self.destination_role_arn = None  # set by cross_account() before it seeds again
        self.destination = None
        self.sources = {}  # source snapshot id -> (volume id, created-at)
        self.unmanaged = set()  # hand-made snapshots in the destination
        self.seen = {}  # copy id -> (source snapshot id, ever completed)

    # -- set-up ----------------------------------------------------------------------------

    def seed(self):
        sim = self.sim
        sim.reset()
        sim.configure(snapshot_completed_after=0)
        self.destination = self._destination_client()
        self.sources, self.unmanaged, self.seen = {}, set(), {}
        volumes = [volume for ids in sim.seed(FLEET)["volumes"].values() for volume in ids]
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        for days_ago in range(GENERATIONS, 0, -1):
            created = (now - datetime.timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
            for volume in volumes:
                snapshot_id = self.ec2.create_snapshot(VolumeId=volume, TagSpecifications=[
                    {"ResourceType": "snapshot", "Tags": tag_list(self._source_tags(volume, created))}])["SnapshotId"]
                self.sources[snapshot_id] = (volume, created)
        # Copies of every generation but the newest, made and tagged as the module makes them.
        newest = self.newest_sources()
        for source_id, (volume, created) in sorted(self.sources.items()):
            if source_id not in newest.values():
                self._copy(source_id, dict(self._source_tags(volume, created), **{
                    "cloudops:policy": COPY_POLICY, "cloudops:source-snapshot": source_id, "cloudops:source-region": SOURCE}))
        # Hand-made snapshots that look like copies of the newest sources: never to be deleted.
        lookalike, plain = sorted(newest.values())[:2]
        volume, created = self.sources[lookalike]
        self.unmanaged.add(self._copy(lookalike, {"cloudops:policy": COPY_POLICY, "cloudops:source-snapshot": lookalike, "cloudops:source-region": SOURCE,
                                                  "cloudops:source-volume": volume, "cloudops:created-at": created}))
        self.unmanaged.add(self._copy(plain, {"Name": "hand-made copy"}))
        self.observe()
        sim.clear_log()
        sim.clear_faults()

    def _destination_client(self):
        if not self.destination_role_arn:
            return campaign_core.ec2_client(self.sim, DESTINATION)
        sts = boto3.client("sts", endpoint_url=self.sim.endpoint, region_name=SOURCE, aws_access_key_id="testing", aws_secret_access_key="testing")
        credentials = sts.assume_role(RoleArn=self.destination_role_arn, RoleSessionName="campaign")["Credentials"]
        return boto3.client("ec2", endpoint_url=self.sim.endpoint, region_name=DESTINATION, aws_access_key_id=credentials["AccessKeyId"],
                            aws_secret_access_key=credentials["SecretAccessKey"], aws_session_token=credentials["SessionToken"])

    @staticmethod
    def _source_tags(volume, created):
        """As snapshot_rotate tags its snapshots."""
        return {"cloudops:managed-by": "cloudops.aws", "cloudops:policy": POLICY, "cloudops:source-volume": volume, "cloudops:created-at": created}

    def _copy(self, source_id, tags):
        """A completed copy in the destination; shared for the copy and unshared after, as the module does across accounts."""
        share = {"SnapshotId": source_id, "Attribute": "createVolumePermission", "UserIds": [DR_ACCOUNT]}
        if self.destination_role_arn:
            self.ec2.modify_snapshot_attribute(OperationType="add", **share)
        copy_id = self.destination.copy_snapshot(SourceRegion=SOURCE, SourceSnapshotId=source_id, Description="copy of %s" % source_id,
                                                 TagSpecifications=[{"ResourceType": "snapshot", "Tags": tag_list(tags)}])["SnapshotId"]
        if self.destination_role_arn:
            self.ec2.modify_snapshot_attribute(OperationType="remove", **share)
        return copy_id

    def newest_sources(self):
        """{volume: its newest source snapshot id}."""
        newest = {}
        for source_id, (volume, created) in sorted(self.sources.items(), key=lambda item: item[1][1]):
            newest[volume] = source_id
        return newest

    # -- what AWS holds --------------------------------------------------------------------

    def managed_copies(self):
        return self.destination.describe_snapshots(OwnerIds=["self"], Filters=COPY_FILTERS)["Snapshots"]

    def observe(self):
        """Remember every managed copy and whether it was ever completed (a generation)."""
        for copy in self.managed_copies():
            known = self.seen.get(copy["SnapshotId"])
            self.seen[copy["SnapshotId"]] = (tags_of(copy).get("cloudops:source-snapshot"), copy["State"] == "completed" or bool(known and known[1]))

    def wait_settled(self, timeout=30):
        """Until no managed copy is pending: a repair run prunes with what it finds settled."""
        campaign_core.wait_until(lambda: not any(copy["State"] == "pending" for copy in self.managed_copies()), timeout, interval=0.3)

    def task_args(self, **extra):
        args = {"source_region": SOURCE, "region": DESTINATION, "policy": COPY_POLICY, "retention": {"keep_last": KEEP_LAST},
                "filters": {"tag:cloudops:policy": POLICY, "tag:cloudops:managed-by": "cloudops.aws"}}
        if self.destination_role_arn:
            args["destination_role_arn"] = self.destination_role_arn
        args.update(extra)
        return args

    def violations(self):
        found = {name: [] for name in self.INVARIANTS}
        snapshots = self.destination.describe_snapshots(OwnerIds=["self"])["Snapshots"]
        managed = self.managed_copies()
        completed = {tags_of(s)["cloudops:source-snapshot"] for s in managed if s["State"] == "completed"}
        newest = self.newest_sources()

        for volume in sorted(newest):
            ever = sorted({source_id for source_id, was_completed in self.seen.values() if was_completed and self.sources[source_id][0] == volume},
                          key=lambda source_id: self.sources[source_id][1], reverse=True)
            found["kept"] += ["%s (%s) of %s has no completed copy any more" % (source_id, self.sources[source_id][1], volume)
                              for source_id in ever[:KEEP_LAST] if source_id not in completed]
            own = sorted((s for s in managed if tags_of(s).get("cloudops:source-volume") == volume), key=lambda s: tags_of(s)["cloudops:created-at"])
            states = [s["State"] for s in own]
            if states != ["completed"] * KEEP_LAST or tags_of(own[-1])["cloudops:source-snapshot"] != newest[volume]:
                found["converged"].append("%s holds %s of %s (newest source %s)" % (
                    volume, states, [tags_of(s)["cloudops:source-snapshot"] for s in own], newest[volume]))

        by_source = {}
        for copy in managed:
            by_source.setdefault(tags_of(copy)["cloudops:source-snapshot"], []).append("%s (%s)" % (copy["SnapshotId"], copy["State"]))
        found["duplicates"] += ["%s copied %d times: %s" % (source_id, len(ids), ", ".join(ids))
                                for source_id, ids in sorted(by_source.items()) if len(ids) > 1]

        found["unmanaged"] += ["hand-made %s deleted" % s for s in sorted(self.unmanaged - {s["SnapshotId"] for s in snapshots})]
        in_source = {s["SnapshotId"] for s in self.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
        found["unmanaged"] += ["source %s deleted" % s for s in sorted(set(self.sources) - in_source)]

        shared = self.ec2.describe_snapshots(OwnerIds=["self"], RestorableByUserIds=[DR_ACCOUNT])["Snapshots"]
        found["unshared"] += ["source %s is still shared with %s" % (s["SnapshotId"], DR_ACCOUNT) for s in shared]
        return found


# -- the scenarios of snapshot_copy_generations only (the generic ones are in campaign_core) ----


def copy_limit_storm(world):
    """AWS's in-flight limit cut to two: most CopySnapshot calls answer ResourceLimitExceeded; the module queues."""
    world.sim.configure(snapshot_completed_after=0.5, snapshot_copies={"in_flight_per_region": 2})
    for _run in range(world.faulty_runs):
        world.run()
    world.other_faults += len([c for c in world.sim.calls(action="CopySnapshot") if c["error_code"] == "ResourceLimitExceeded"])
    world.sim.configure(snapshot_copies={"in_flight_per_region": 20})


copy_limit_storm.runs_succeed = True


def pending_past_wait_timeout(world):
    """The copies outlast wait_timeout (and a second run meanwhile); the next run prunes once they are completed."""
    world.sim.configure(snapshot_completed_after=4)
    left_pending = set()
    for _run in range(world.faulty_runs):
        world.run(wait_timeout=1)
        # Counted after each run: by the end of a second run the first run's copies may be completed.
        left_pending.update(c["SnapshotId"] for c in world.managed_copies() if c["State"] == "pending")
    world.other_faults += len(left_pending)


pending_past_wait_timeout.runs_succeed = True


def copy_ends_error(world):
    """One of the new copies ends `error` while the run waits for it."""
    world.sim.configure(snapshot_completed_after=2)
    campaign_core.fail_one_while_running(world, lambda: [c["SnapshotId"] for c in world.managed_copies() if c["State"] == "pending"],
                                         lambda copy_id: world.sim.fail_snapshot(copy_id, region=DESTINATION))


def one_source_failing(world):
    victim = world.rng.choice(sorted(world.newest_sources().values()))
    world.sim.add_fault(action="CopySnapshot", code=world.rng.choice(["IncorrectState", "InvalidParameterValue"]), match=victim, count=None)
    world.run()


def cross_account(scenario):
    """The scenario with the copies made in another account (destination_role_arn), its sources shared for the copy."""
    def wrapped(world):
        world.destination_role_arn = DR_ROLE
        world.seed()
        scenario(world)
    wrapped.__name__ = "cross_account_" + scenario.__name__
    wrapped.runs_succeed = getattr(scenario, "runs_succeed", False)
    return wrapped


SCENARIOS = [
    throttling_storm,
    server_errors,
    lost_responses("CopySnapshot"),
    lost_responses("DeleteSnapshot"),
    copy_limit_storm,
    pending_past_wait_timeout,
    copy_ends_error,
    one_source_failing,
    killed_mid("CopySnapshot"),
    killed_mid("DeleteSnapshot"),
    killed_at_random,
    cross_account(killed_mid("CopySnapshot")),
    cross_account(lost_responses("CopySnapshot")),
]

WORLD = CopyWorld
