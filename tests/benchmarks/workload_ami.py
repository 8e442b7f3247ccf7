"""Workload 1: a daily AMI backup of N instances that already have two generations (keep 2: create one, prune one each).

The same world is seeded for each way: N instances named bench-1..N (one 8 GiB root volume), each
with two earlier images tagged as cloudops.aws tags its backups (policy `bench`, 2 and 1 days
old). Both ways tag the new images alike and remove the oldest generation with its snapshot, so
the end state is the same and is compared.

- cloudops: one `cloudops.aws.ami_rotate` task, retention keep_last 2, max_concurrency 10.
- amazon.aws: what a careful user writes with amazon.aws alone: ec2_instance_info; ec2_ami in a
  loop with `wait: false`; ec2_ami_info on the new ids, retried until every one is available (an
  image must be available before its older generation goes); ec2_ami_info of the policy's
  images and the expired ones worked out in Jinja (all but the newest 2 per instance, by the
  created-at tag); ec2_ami `state: absent` with `delete_snapshot: true` in a loop over them.
"""

import datetime
from concurrent.futures import ThreadPoolExecutor

import boto3

POLICY = "bench"
KEEP = 2
SELECT = {"tag:Backup": "bench"}
SEED_AGES_DAYS = (2, 1)
MANAGED = {"cloudops:managed-by": "cloudops.aws", "cloudops:policy": POLICY}


def _ec2(sim):
    return boto3.client("ec2", endpoint_url=sim.endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _stamp(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def seed(sim, count):
    """The fleet and its two earlier generations; {instance name: id}. Made with throttling off and images available at once."""
    sim.reset()
    sim.configure(ami_available_after=0, snapshot_completed_after=0)
    names = sim.seed({"region": "us-east-1", "instances": [
        {"name": "bench", "count": count, "tags": {"Backup": "bench"}, "volumes": [{"device": "/dev/xvda", "size": 8}]}]})["instances"]
    if count == 1:
        names = {"bench-1": names["bench"]}
    ec2 = _ec2(sim)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)

    def backup(item):
        (name, instance_id), age = item
        created_at = _stamp(now - datetime.timedelta(days=age))
        tags = [{"Key": k, "Value": v} for k, v in dict(MANAGED, **{"cloudops:source-instance": instance_id, "cloudops:created-at": created_at}).items()]
        ec2.create_image(InstanceId=instance_id, Name="%s-seed-%dd" % (name, age), NoReboot=True,
                         TagSpecifications=[{"ResourceType": "image", "Tags": tags}, {"ResourceType": "snapshot", "Tags": tags}])

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(backup, [(item, age) for item in sorted(names.items()) for age in SEED_AGES_DAYS]))
    return names


def plays(way, names):
    """(plays, inventory, extra environment) of one way."""
    return (cloudops_plays() if way == "cloudops" else amazon_aws_plays()), "localhost,", None


def cloudops_plays():
    return [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [
        {"name": "ami_rotate", "cloudops.aws.ami_rotate": {
            "filters": SELECT, "policy": POLICY, "retention": {"keep_last": KEEP}, "max_concurrency": 10}},
    ]}]


EXPIRED = ("{% set out = [] %}"
           "{% for instance, images in backups.images | groupby('tags.cloudops:source-instance') %}"
           "{% for image in (images | sort(attribute='tags.cloudops:created-at', reverse=true))[" + str(KEEP) + ":] %}"
           "{% set appended = out.append(image.image_id) %}{% endfor %}{% endfor %}{{ out }}")


def amazon_aws_plays():
    tags = dict(MANAGED, **{"cloudops:source-instance": "{{ item.instance_id }}", "cloudops:created-at": "{{ created_at }}"})
    return [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [
        {"name": "time of this backup", "ansible.builtin.set_fact": {
            "created_at": "{{ now(utc=true).strftime('%Y-%m-%dT%H:%M:%SZ') }}"}},
        {"name": "instances", "amazon.aws.ec2_instance_info": {"filters": dict(SELECT, **{"instance-state-name": ["running", "stopped"]})},
         "register": "fleet"},
        {"name": "create", "amazon.aws.ec2_ami": {
            "instance_id": "{{ item.instance_id }}",
            "name": "{{ item.tags.Name }}-{{ item.instance_id }}-" + POLICY + "-{{ created_at | replace(':', '') | replace('-', '') }}",
            "no_reboot": True, "wait": False, "tags": tags},
         "loop": "{{ fleet.instances }}", "loop_control": {"label": "{{ item.instance_id }}"}, "register": "created"},
        {"name": "wait until available", "amazon.aws.ec2_ami_info": {
            "owners": "self", "image_ids": "{{ created.results | map(attribute='image_id') | list }}"},
         "register": "new_images", "retries": 360, "delay": 5,
         "until": "new_images.images | length == created.results | length and "
                  "new_images.images | rejectattr('state', 'eq', 'available') | list | length == 0"},
        {"name": "backups", "amazon.aws.ec2_ami_info": {
            "owners": "self", "filters": {"tag:cloudops:managed-by": "cloudops.aws", "tag:cloudops:policy": POLICY}},
         "register": "backups"},
        {"name": "expired", "ansible.builtin.set_fact": {"expired": EXPIRED}},
        {"name": "prune", "amazon.aws.ec2_ami": {"image_id": "{{ item }}", "state": "absent", "delete_snapshot": True},
         "loop": "{{ expired }}"},
    ]}]


def end_state(sim, names, way=None, report=None):
    """{instance name: (generations kept, states, snapshots left)}; a generation is `seed-Nd` or `new`."""
    ec2 = _ec2(sim)
    by_id = {instance_id: name for name, instance_id in names.items()}
    now = datetime.datetime.now(datetime.timezone.utc)
    state = {name: {"images": [], "snapshots": 0} for name in names}
    paginator = ec2.get_paginator("describe_images")
    for page in paginator.paginate(Owners=["self"], Filters=[{"Name": "tag:cloudops:policy", "Values": [POLICY]}]):
        for image in page["Images"]:
            tags = {t["Key"]: t["Value"] for t in image.get("Tags", [])}
            created = datetime.datetime.fromisoformat(tags["cloudops:created-at"].replace("Z", "+00:00"))
            age = round((now - created).total_seconds() / 86400)
            label = "seed-%dd" % age if age in SEED_AGES_DAYS else "new"
            state[by_id[tags["cloudops:source-instance"]]]["images"].append("%s %s %d snapshot(s)" % (
                label, image["State"], sum(1 for m in image.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("SnapshotId"))))
    for page in ec2.get_paginator("describe_snapshots").paginate(OwnerIds=["self"], Filters=[{"Name": "tag:cloudops:policy", "Values": [POLICY]}]):
        for snapshot in page["Snapshots"]:
            tags = {t["Key"]: t["Value"] for t in snapshot.get("Tags", [])}
            state[by_id[tags["cloudops:source-instance"]]]["snapshots"] += 1
    return {name: (tuple(sorted(value["images"])), value["snapshots"]) for name, value in sorted(state.items())}


def expected_state(names):
    kept = tuple(sorted(["new available 1 snapshot(s)", "seed-1d available 1 snapshot(s)"]))
    return {name: (kept, KEEP) for name in sorted(names)}


def minimum_calls(count):
    """The fewest calls the work needs: a create per instance, a deregister per expired image, a delete per snapshot of it, a describe per page."""
    # The instances, the policy's images (three per instance then), one poll of the new ones: 1000 a page.
    return {"CreateImage": count, "DeregisterImage": count, "DeleteSnapshot": count,
            "describes": _pages(count) + _pages(3 * count) + _pages(count)}


def _pages(items):
    return -(-items // 1000)
