"""The ami_rotate fault campaign: its world, its own scenarios and the invariants checked after each.

Every scenario starts from a fresh simulated account holding a small fleet, two earlier
generations per instance (made as ami_rotate makes them, tags and all) and hand-made
resources that must never be touched. It then runs cloudops.aws.ami_rotate (tests/module_runs.py)
one or more times under faults, runs it once more with no fault (the
repair run an operator's next schedule would be), and checks the AWS state:

- kept:       every image the policy keeps is there: the keep_last newest available
              generations ever seen for each instance (so also the newest one);
- duplicates: AMI names are unique, and an instance has at most one image per run time;
- unmanaged:  every hand-made image and snapshot still exists;
- orphans:    no managed snapshot of the policy is left without a registered image;
- converged:  each instance holds exactly keep_last available generations, nothing pending
              or failed.

The generic scenarios and the run-repair-check loop are in campaign_core.py. Used by
test_fault_campaign.py (short, fixed seed) and soak.py (many randomised rounds).
"""

import datetime
import time

import campaign_core
from campaign_core import killed_at_random
from campaign_core import killed_mid
from campaign_core import lost_responses
from campaign_core import server_errors
from campaign_core import tags_of
from campaign_core import throttling_storm

POLICY = "campaign"
KEEP_LAST = 2
FLEET = {
    "region": "us-east-1",
    "instances": [
        {"name": "app", "count": 3, "tags": {"Backup": "campaign"}, "volumes": [{"device": "/dev/xvda", "size": 8}]},
        {"name": "db", "tags": {"Backup": "campaign"}, "volumes": [{"device": "/dev/xvda", "size": 8}, {"device": "/dev/sdf", "size": 50}]},
        {"name": "batch", "state": "stopped", "tags": {"Backup": "campaign"}, "volumes": [{"device": "/dev/xvda", "size": 8}]},
    ],
}
MANAGED = {"Name": "tag:cloudops:managed-by", "Values": ["cloudops.aws"]}
POLICY_FILTER = {"Name": "tag:cloudops:policy", "Values": [POLICY]}


class AmiWorld(campaign_core.World):
    """One scenario's account: the fleet, what must survive, and every managed image seen."""

    MODULE = "cloudops.aws.ami_rotate"
    INVARIANTS = ("kept", "duplicates", "unmanaged", "orphans", "converged")
    THROTTLE_BUCKETS = dict(campaign_core.World.THROTTLE_BUCKETS,
                            DeregisterImage={"size": 2, "refill_per_second": 2},
                            DeleteSnapshot={"size": 2, "refill_per_second": 2})

    def __init__(self, sim, rng, faulty_runs=1):
        super().__init__(sim, rng, faulty_runs)
        self.instances = {}
        self.unmanaged_images = set()
        self.unmanaged_snapshots = set()
        self.seen = {}  # image id -> (instance id, created-at tag, state when last seen available or not)

    # -- set-up ----------------------------------------------------------------------------

    def seed(self):
        sim = self.sim
        sim.reset()
        sim.configure(ami_available_after=0, snapshot_completed_after=0)
        seeded = sim.seed(FLEET)
        self.instances = seeded["instances"]
        self.unmanaged_images.update(seeded["images"].values())
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        # Two earlier generations, tagged as ami_rotate tags them (tag-on-create, lineage, time).
        for days_ago in (2, 1):
            moment = now - datetime.timedelta(days=days_ago)
            for name, instance_id in sorted(self.instances.items()):
                tags = {"cloudops:managed-by": "cloudops.aws", "cloudops:policy": POLICY,
                        "cloudops:source-instance": instance_id, "cloudops:created-at": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}
                tag_list = [{"Key": key, "Value": value} for key, value in tags.items()]
                self.ec2.create_image(InstanceId=instance_id, Name="%s-%s-%s-%s" % (name, instance_id, POLICY, moment.strftime("%Y%m%dT%H%M%SZ")),
                                      NoReboot=True, TagSpecifications=[{"ResourceType": "image", "Tags": tag_list},
                                                                        {"ResourceType": "snapshot", "Tags": tag_list}])
        # Hand-made resources that look like backups of the same instances: never to be deleted.
        first = self.instances["app-1"]
        lookalike = [{"Key": "cloudops:policy", "Value": POLICY}, {"Key": "cloudops:source-instance", "Value": first}]
        self.unmanaged_images.add(self.ec2.create_image(InstanceId=first, Name="hand-made-app-1", NoReboot=True)["ImageId"])
        self.unmanaged_images.add(self.ec2.create_image(InstanceId=first, Name="lookalike-app-1", NoReboot=True, TagSpecifications=[
            {"ResourceType": "image", "Tags": lookalike}, {"ResourceType": "snapshot", "Tags": lookalike}])["ImageId"])
        volume = self.ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [first]}])["Volumes"][0]["VolumeId"]
        self.unmanaged_snapshots.add(self.ec2.create_snapshot(VolumeId=volume, Description="hand-made")["SnapshotId"])
        self.unmanaged_snapshots.add(self.ec2.create_snapshot(VolumeId=volume, Description="lookalike", TagSpecifications=[
            {"ResourceType": "snapshot", "Tags": lookalike}])["SnapshotId"])
        for image in self.ec2.describe_images(Owners=["self"], ImageIds=sorted(self.unmanaged_images))["Images"]:
            self.unmanaged_snapshots.update(m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", []) if "Ebs" in m)
        self.observe()
        sim.clear_log()
        sim.clear_faults()

    # -- what AWS holds --------------------------------------------------------------------

    def managed_images(self):
        return self.ec2.describe_images(Owners=["self"], Filters=[MANAGED, POLICY_FILTER])["Images"]

    def observe(self):
        """Remember every managed image and whether it was ever available (a generation)."""
        for image in self.managed_images():
            tags = tags_of(image)
            known = self.seen.get(image["ImageId"])
            available = image["State"] == "available" or bool(known and known[2])
            self.seen[image["ImageId"]] = (tags.get("cloudops:source-instance"), tags.get("cloudops:created-at"), available)

    def wait_settled(self, timeout=30):
        """Until no managed image is pending: a repair run prunes what it finds settled."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(image["State"] == "pending" for image in self.managed_images()):
                return
            time.sleep(0.5)

    def task_args(self, **extra):
        args = {"filters": {"tag:Backup": "campaign"}, "policy": POLICY, "retention": {"keep_last": KEEP_LAST}}
        args.update(extra)
        return args

    def violations(self):
        found = {name: [] for name in self.INVARIANTS}
        images = self.ec2.describe_images(Owners=["self"])["Images"]
        by_id = {image["ImageId"]: image for image in images}
        managed = [image for image in images if tags_of(image).get("cloudops:managed-by") == "cloudops.aws"
                   and tags_of(image).get("cloudops:policy") == POLICY]

        for instance_id in sorted(self.instances.values()):
            generations = sorted(((created, image_id) for image_id, (owner, created, available) in self.seen.items()
                                  if owner == instance_id and available), key=lambda g: (g[0], _reverse(g[1])), reverse=True)
            for created, image_id in generations[:KEEP_LAST]:
                if by_id.get(image_id, {}).get("State") != "available":
                    found["kept"].append("%s (%s, %s) of %s is gone" % (image_id, created, by_id.get(image_id, {}).get("State", "deregistered"), instance_id))
            own = [image for image in managed if tags_of(image).get("cloudops:source-instance") == instance_id]
            states = sorted(image["State"] for image in own)
            if states != ["available"] * KEEP_LAST:
                found["converged"].append("%s holds %s" % (instance_id, states))

        names = [image["Name"] for image in images]
        found["duplicates"] += ["name %s used %d times" % (name, names.count(name)) for name in sorted(set(names)) if names.count(name) > 1]
        runs = {}
        for image in managed:
            tags = tags_of(image)
            runs.setdefault((tags.get("cloudops:source-instance"), tags.get("cloudops:created-at")), []).append(image["ImageId"])
        found["duplicates"] += ["%s at %s: %s" % (key[0], key[1], ", ".join(ids)) for key, ids in sorted(runs.items()) if len(ids) > 1]

        found["unmanaged"] += ["image %s deleted" % i for i in sorted(self.unmanaged_images - set(by_id))]
        snapshots = self.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
        snapshot_ids = {s["SnapshotId"] for s in snapshots}
        found["unmanaged"] += ["snapshot %s deleted" % s for s in sorted(self.unmanaged_snapshots - snapshot_ids)]

        backing = {m["Ebs"]["SnapshotId"] for image in images for m in image.get("BlockDeviceMappings", []) if "Ebs" in m}
        for snapshot in snapshots:
            tags = tags_of(snapshot)
            if tags.get("cloudops:managed-by") == "cloudops.aws" and tags.get("cloudops:policy") == POLICY and snapshot["SnapshotId"] not in backing:
                found["orphans"].append("%s (%s) has no image" % (snapshot["SnapshotId"], snapshot.get("Description", "")))
        return found


def _reverse(text):
    # Same-second generations are ordered by id ascending, newest first (retention._newest_first).
    return tuple(-ord(c) for c in text)


# -- the scenarios of ami_rotate only (the generic ones are in campaign_core) ----------------


def one_instance_failing(world):
    victim = world.rng.choice(sorted(world.instances.values()))
    world.sim.add_fault(action="CreateImage", code=world.rng.choice(["IncorrectInstanceState", "InternalError"]), match=victim, count=None)
    world.run()


def image_ends_failed(world):
    """One of the new images ends `failed` while the run waits for it."""
    world.sim.configure(ami_available_after=3)
    process = world.start()
    before = set(world.seen)
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:
        pending = [i["ImageId"] for i in world.managed_images() if i["State"] == "pending" and i["ImageId"] not in before]
        if pending:
            victim = world.rng.choice(sorted(pending))
            world.sim.fail_images(image_id=victim)
            world.other_faults += 1
        else:
            time.sleep(0.1)
    world.finish(process)


def pending_past_wait_timeout(world):
    world.sim.configure(ami_available_after=5)
    world.run(wait_timeout=1)
    world.other_faults += len([i for i in world.managed_images() if i["State"] == "pending"])
    world.wait_settled()


def killed_between_create_and_prune(world):
    # The reference lookup comes after the images are created and before anything is deleted.
    world.sim.configure(latency={"actions": {"DescribeLaunchTemplateVersions": 3}})
    process = world.start()
    world.wait_for_calls("CreateImage", count=len(world.instances))
    time.sleep(world.rng.uniform(0.2, 1.5))
    world.kill(process)
    time.sleep(3)  # the stalled call still completes at AWS: let it land before the repair run


SCENARIOS = [
    throttling_storm,
    server_errors,
    lost_responses("CreateImage"),
    lost_responses("DeregisterImage"),
    lost_responses("DeleteSnapshot"),
    one_instance_failing,
    image_ends_failed,
    pending_past_wait_timeout,
    killed_between_create_and_prune,
    killed_mid("DeregisterImage"),
    killed_mid("DeleteSnapshot"),
    killed_at_random,
]

WORLD = AmiWorld
