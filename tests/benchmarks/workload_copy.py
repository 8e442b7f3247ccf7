"""Workload 2: DR copies of N volumes' newest snapshots from us-east-1 to us-west-2, keeping 2 generations of copies there.

The seeded world: N volumes in us-east-1, each with three snapshots tagged as cloudops.aws
backups (policy `bench`, 2 days, 1 day and 1 hour old), and in us-west-2 copies of the two older
ones, tagged as snapshot_copy_generations tags its copies. A run copies each volume's newest
snapshot and deletes the volume's oldest copy.

- cloudops: one `cloudops.aws.snapshot_copy_generations` task, retention keep_last 2.
- amazon.aws: amazon.aws.ec2_snapshot_info of the sources and of the copies; the sources to copy
  (each volume's newest, not copied yet) worked out in Jinja; community.aws.ec2_snapshot_copy in
  a loop with `wait: false`, each item retried while AWS answers ResourceLimitExceeded (20 copies
  in flight per Region); ec2_snapshot_info on the new ids until every one is completed (a copy
  must be completed before its group's oldest goes); the copies read again and the expired ones
  worked out in Jinja; amazon.aws.ec2_snapshot `state: absent` in a loop over them.
"""

import datetime
from concurrent.futures import ThreadPoolExecutor

import boto3

POLICY = "bench"
KEEP = 2
SOURCE, DESTINATION = "us-east-1", "us-west-2"
SOURCE_AGES_HOURS = (48, 24, 1)
MANAGED = {"cloudops:managed-by": "cloudops.aws", "cloudops:policy": POLICY}
SELECT = {"tag:cloudops:managed-by": "cloudops.aws", "tag:cloudops:policy": POLICY}


def _ec2(sim, region):
    return boto3.client("ec2", endpoint_url=sim.endpoint, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")


def _tags(tags):
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _label(created_at, now):
    hours = round((now - datetime.datetime.fromisoformat(created_at.replace("Z", "+00:00"))).total_seconds() / 3600)
    return "%dh" % hours


def seed(sim, count):
    """N volumes with three snapshots each, the two older ones copied to the destination; [volume ids]."""
    sim.reset()
    sim.configure(ami_available_after=0, snapshot_completed_after=0, snapshot_copies={"in_flight_per_region": 0})
    source, destination = _ec2(sim, SOURCE), _ec2(sim, DESTINATION)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)

    def volume(number):
        volume_id = source.create_volume(AvailabilityZone=SOURCE + "a", Size=8, TagSpecifications=[
            {"ResourceType": "volume", "Tags": _tags({"Name": "bench-%d" % number})}])["VolumeId"]
        for hours in SOURCE_AGES_HOURS:
            created_at = (now - datetime.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
            tags = dict(MANAGED, **{"cloudops:source-volume": volume_id, "cloudops:created-at": created_at})
            snapshot_id = source.create_snapshot(VolumeId=volume_id, Description="bench backup of %s" % volume_id,
                                                 TagSpecifications=[{"ResourceType": "snapshot", "Tags": _tags(tags)}])["SnapshotId"]
            if hours != SOURCE_AGES_HOURS[-1]:
                copy_tags = dict(tags, **{"cloudops:source-snapshot": snapshot_id, "cloudops:source-region": SOURCE})
                destination.copy_snapshot(SourceRegion=SOURCE, SourceSnapshotId=snapshot_id, Description="copy of %s" % snapshot_id,
                                          TagSpecifications=[{"ResourceType": "snapshot", "Tags": _tags(copy_tags)}])
        return volume_id

    with ThreadPoolExecutor(max_workers=8) as pool:
        volume_ids = list(pool.map(volume, range(1, count + 1)))
    sim.configure(snapshot_copies={"in_flight_per_region": 20})
    return volume_ids


def plays(way, volume_ids):
    """(plays, inventory, extra environment) of one way."""
    return (cloudops_plays() if way == "cloudops" else amazon_aws_plays()), "localhost,", None


def cloudops_plays():
    return [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [
        {"name": "snapshot_copy_generations", "cloudops.aws.snapshot_copy_generations": {
            "source_region": SOURCE, "region": DESTINATION, "filters": SELECT, "retention": {"keep_last": KEEP}}},
    ]}]


TO_COPY = ("{% set copied = copies.snapshots | map(attribute='tags') | map(attribute='cloudops:source-snapshot') | list %}"
           "{% set out = [] %}"
           "{% for volume, snapshots in sources.snapshots | selectattr('state', 'eq', 'completed')"
           " | groupby('tags.cloudops:source-volume') %}"
           "{% set newest = (snapshots | sort(attribute='tags.cloudops:created-at') | last) %}"
           "{% if newest.snapshot_id not in copied %}{% set appended = out.append(newest) %}{% endif %}"
           "{% endfor %}{{ out }}")
EXPIRED = ("{% set out = [] %}"
           "{% for volume, snapshots in copies.snapshots | groupby('tags.cloudops:source-volume') %}"
           "{% for snapshot in (snapshots | sort(attribute='tags.cloudops:created-at', reverse=true))[" + str(KEEP) + ":] %}"
           "{% set appended = out.append(snapshot.snapshot_id) %}{% endfor %}{% endfor %}{{ out }}")
COPIES = {"region": DESTINATION,
          "filters": {"tag:cloudops:managed-by": "cloudops.aws", "tag:cloudops:source-region": SOURCE}}


def amazon_aws_plays():
    copy_tags = dict(MANAGED, **{"cloudops:source-volume": "{{ item.tags['cloudops:source-volume'] }}",
                                 "cloudops:created-at": "{{ item.tags['cloudops:created-at'] }}",
                                 "cloudops:source-snapshot": "{{ item.snapshot_id }}", "cloudops:source-region": SOURCE})
    return [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [
        {"name": "sources", "amazon.aws.ec2_snapshot_info": {"region": SOURCE, "filters": SELECT},
         "register": "sources"},
        {"name": "copies", "amazon.aws.ec2_snapshot_info": COPIES, "register": "copies"},
        {"name": "to copy", "ansible.builtin.set_fact": {"to_copy": TO_COPY}},
        {"name": "copy", "community.aws.ec2_snapshot_copy": {
            "source_region": SOURCE, "region": DESTINATION, "source_snapshot_id": "{{ item.snapshot_id }}",
            "description": "copy of {{ item.snapshot_id }}", "wait": False, "tags": copy_tags},
         "loop": "{{ to_copy }}", "loop_control": {"label": "{{ item.snapshot_id }}"}, "register": "copied",
         "retries": 60, "delay": 5, "until": "copied is succeeded"},
        {"name": "wait until completed", "amazon.aws.ec2_snapshot_info": {
            "region": DESTINATION, "snapshot_ids": "{{ copied.results | map(attribute='snapshot_id') | list }}"},
         "register": "new_copies", "retries": 360, "delay": 5,
         "until": "new_copies.snapshots | rejectattr('state', 'eq', 'completed') | list | length == 0"},
        {"name": "copies again", "amazon.aws.ec2_snapshot_info": COPIES, "register": "copies"},
        {"name": "expired", "ansible.builtin.set_fact": {"expired": EXPIRED}},
        {"name": "prune", "amazon.aws.ec2_snapshot": {"region": DESTINATION, "snapshot_id": "{{ item }}", "state": "absent"},
         "loop": "{{ expired }}"},
    ]}]


def end_state(sim, volume_ids, way=None, report=None):
    """{volume id: (the copies' generations and states)}; a generation is its source's age."""
    now = datetime.datetime.now(datetime.timezone.utc)
    state = {volume_id: [] for volume_id in volume_ids}
    paginator = _ec2(sim, DESTINATION).get_paginator("describe_snapshots")
    for page in paginator.paginate(OwnerIds=["self"], Filters=[{"Name": "tag:cloudops:policy", "Values": [POLICY]}]):
        for snapshot in page["Snapshots"]:
            tags = {t["Key"]: t["Value"] for t in snapshot.get("Tags", [])}
            state[tags["cloudops:source-volume"]].append("%s %s" % (_label(tags["cloudops:created-at"], now), snapshot["State"]))
    return {volume_id: tuple(sorted(copies)) for volume_id, copies in sorted(state.items())}


def expected_state(volume_ids):
    return {volume_id: ("1h completed", "24h completed") for volume_id in sorted(volume_ids)}


def minimum_calls(count):
    """A copy per source and a delete per expired copy; the sources, the copies and one poll of the new ones, 1000 a page."""
    return {"CopySnapshot": count, "DeleteSnapshot": count,
            "describes": _pages(3 * count) + _pages(2 * count) + _pages(count)}


def _pages(items):
    return -(-items // 1000)
