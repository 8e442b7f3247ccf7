"""The AMI and EBS snapshot adapters of the rotation engine, on a fake EC2 that keeps its resources.

Each test runs the engine with the real adapter, then reads the fake's images and snapshots.
"""

import datetime
import itertools

import pytest

from ansible_collections.cloudops.aws.plugins.module_utils.ami_rotation import AmiBackups
from ansible_collections.cloudops.aws.plugins.module_utils.ami_rotation import ImageSettings
from ansible_collections.cloudops.aws.plugins.module_utils.retention import RetentionPolicy
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_engine import RotationRun
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_settings import RotationSettings
from ansible_collections.cloudops.aws.plugins.module_utils.snapshot_rotation import SnapshotBackups
from ansible_collections.cloudops.aws.plugins.module_utils.snapshot_rotation import SnapshotSettings
from ansible_collections.cloudops.aws.plugins.module_utils.snapshot_rotation import instance_job
from ansible_collections.cloudops.aws.plugins.module_utils.snapshot_rotation import volume_job

NOW = datetime.datetime(2026, 11, 23, 3, 0, 0, tzinfo=datetime.timezone.utc)


def aws_time(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def tag_list(tags):
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def managed_tags(policy, created_at, **lineage):
    tags = {"cloudops:managed-by": "cloudops.aws", "cloudops:policy": policy, "cloudops:created-at": created_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    tags.update(lineage)
    return tags


class FakeEC2:
    """Images and snapshots in dicts, with the few filters the adapters send; everything finishes at once."""

    def __init__(self):
        self.images = {}
        self.snapshots = {}
        self.ids = itertools.count(1)
        self.calls = []

    # -- helpers for the tests -------------------------------------------------------------

    def add_image(self, image_id, instance_id, created_at, policy="daily", managed=True):
        snapshot_id = "snap-of-" + image_id
        tags = managed_tags(policy, created_at, **{"cloudops:source-instance": instance_id}) if managed else {}
        self.images[image_id] = {"ImageId": image_id, "Name": image_id, "State": "available", "CreationDate": aws_time(created_at),
                                 "Tags": tag_list(tags), "BlockDeviceMappings": [{"Ebs": {"SnapshotId": snapshot_id}}]}
        self.add_snapshot(snapshot_id, "vol-root", created_at, tags, "Created by CreateImage(%s) for %s" % (instance_id, image_id))
        return image_id

    def add_snapshot(self, snapshot_id, volume_id, created_at, tags, description="", state="completed"):
        self.snapshots[snapshot_id] = {"SnapshotId": snapshot_id, "VolumeId": volume_id, "State": state, "StartTime": aws_time(created_at),
                                       "VolumeSize": 8, "Description": description, "Tags": tag_list(tags)}
        return snapshot_id

    # -- the EC2 API as the adapters call it ---------------------------------------------------

    @staticmethod
    def _matches(resource, filters):
        tags = {t["Key"]: t["Value"] for t in resource.get("Tags", [])}
        for item in filters or []:
            name, values = item["Name"], item["Values"]
            if name.startswith("tag:"):
                if tags.get(name[4:]) not in values:
                    return False
            elif name == "tag-key":
                if not set(tags) & set(values):
                    return False
            elif name in ("image-id", "snapshot-id"):
                if resource.get("ImageId", resource.get("SnapshotId")) not in values:
                    return False
            elif name == "block-device-mapping.snapshot-id":
                if not {m["Ebs"]["SnapshotId"] for m in resource.get("BlockDeviceMappings", [])} & set(values):
                    return False
            elif name == "name":
                if resource.get("Name") not in values:
                    return False
            else:
                raise AssertionError("filter %s not faked" % name)
        return True

    def describe_images(self, aws_retry=False, Owners=None, Filters=None):
        return {"Images": [dict(i) for i in self.images.values() if self._matches(i, Filters)]}

    def describe_snapshots(self, aws_retry=False, OwnerIds=None, Filters=None):
        return {"Snapshots": [dict(s) for s in self.snapshots.values() if self._matches(s, Filters)]}

    def create_image(self, aws_retry=False, InstanceId=None, Name=None, Description=None, NoReboot=None, TagSpecifications=None):
        self.calls.append(("CreateImage", InstanceId, Name, Description))
        image_id = "ami-new%d" % next(self.ids)
        tags = {t["Key"]: t["Value"] for t in TagSpecifications[0]["Tags"]}
        self.add_image(image_id, InstanceId, NOW)
        self.images[image_id]["Name"] = Name
        self.images[image_id]["Tags"] = tag_list(tags)
        return {"ImageId": image_id}

    def deregister_image(self, aws_retry=False, ImageId=None):
        self.calls.append(("DeregisterImage", ImageId))
        del self.images[ImageId]

    def create_snapshot(self, aws_retry=False, VolumeId=None, Description=None, TagSpecifications=None):
        self.calls.append(("CreateSnapshot", VolumeId, Description))
        tags = {t["Key"]: t["Value"] for t in TagSpecifications[0]["Tags"]}
        return {"SnapshotId": self.add_snapshot("snap-new%d" % next(self.ids), VolumeId, NOW, tags, Description)}

    def create_snapshots(self, aws_retry=False, InstanceSpecification=None, Description=None, TagSpecifications=None, **extra):
        self.calls.append(("CreateSnapshots", InstanceSpecification["InstanceId"], Description))
        tags = {t["Key"]: t["Value"] for t in TagSpecifications[0]["Tags"]}
        made = [{"SnapshotId": self.add_snapshot("snap-new%d" % next(self.ids), volume, NOW, tags, Description), "VolumeId": volume}
                for volume in ("vol-1", "vol-2")]
        return {"Snapshots": made}

    def create_tags(self, aws_retry=False, Resources=None, Tags=None):
        for resource_id in Resources:
            self.snapshots[resource_id]["Tags"] += Tags

    def delete_snapshot(self, aws_retry=False, SnapshotId=None):
        self.calls.append(("DeleteSnapshot", SnapshotId))
        del self.snapshots[SnapshotId]


class NoAutoScaling:
    def describe_auto_scaling_groups(self, **_params):
        return {"AutoScalingGroups": []}


def settings(**changes):
    values = dict(policy="daily", retention=RetentionPolicy(keep_last=2), max_concurrency=2, extra_tags={"Team": "ops"})
    values.update(changes)
    return RotationSettings(**values)


INSTANCE = {"instance_id": "i-1", "name": "web-1"}


def ami_run(ec2, **image_changes):
    image_values = dict(name_template="{instance_name}-{policy}-{timestamp}", protect_in_use=False)
    image_values.update(image_changes)
    shared = settings()
    return RotationRun(AmiBackups(ec2, NoAutoScaling(), shared, ImageSettings(**image_values)), shared, NOW)


def test_ami_adapter_names_and_tags_the_image_and_deletes_the_pruned_images_snapshots():
    ec2 = FakeEC2()
    oldest = ec2.add_image("ami-old1", "i-1", NOW - datetime.timedelta(days=2))
    ec2.add_image("ami-old2", "i-1", NOW - datetime.timedelta(days=1))

    result = ami_run(ec2).run([INSTANCE])

    created = result["images_created"][0]
    assert created["name"] == "web-1-daily-20261123T030000Z"
    tags = {t["Key"]: t["Value"] for t in ec2.images[created["image_id"]]["Tags"]}
    assert tags["cloudops:source-instance"] == "i-1" and tags["cloudops:policy"] == "daily" and tags["Team"] == "ops"
    assert oldest not in ec2.images and "snap-of-" + oldest not in ec2.snapshots
    assert [e["snapshot_id"] for e in result["snapshots_deleted"]] == ["snap-of-ami-old1"]


def test_ami_adapter_deletes_snapshots_a_killed_run_left_but_spares_unmanaged_and_used_ones():
    ec2 = FakeEC2()
    ec2.add_image("ami-keep", "i-1", NOW - datetime.timedelta(days=1))
    left = ec2.add_snapshot("snap-left", "vol-root", NOW - datetime.timedelta(days=3),
                            managed_tags("daily", NOW - datetime.timedelta(days=3), **{"cloudops:source-instance": "i-1"}),
                            "Created by CreateImage(i-1) for ami-0dead")
    other_instance = ec2.add_snapshot("snap-other", "vol-root", NOW - datetime.timedelta(days=3),
                                      managed_tags("daily", NOW - datetime.timedelta(days=3), **{"cloudops:source-instance": "i-9"}),
                                      "Created by CreateImage(i-9) for ami-0bad9")

    result = ami_run(ec2, protect_in_use=True).run([INSTANCE])

    assert left not in ec2.snapshots and other_instance in ec2.snapshots
    assert result["snapshots_deleted"] == [{"snapshot_id": left, "image_id": "ami-0dead", "reason": "its image ami-0dead no longer exists"}]


def test_ami_adapter_check_mode_names_the_planned_image_and_calls_no_create():
    ec2 = FakeEC2()
    for days in (3, 2, 1):
        ec2.add_image("ami-old%d" % days, "i-1", NOW - datetime.timedelta(days=days))

    run = ami_run(ec2)
    result = run.preview([INSTANCE])

    assert ec2.calls == [] and len(ec2.images) == 3
    assert result["images_created"][0]["name"] == "web-1-daily-20261123T030000Z" and result["images_created"][0]["image_id"] is None
    assert sorted(e["image_id"] for e in result["images_deregistered"]) == ["ami-old2", "ami-old3"]
    assert run.diff()["after"]["images"] == ["(new) web-1-daily-20261123T030000Z", "ami-old1 ami-old1"]


def test_image_settings_refuse_a_template_without_a_time():
    with pytest.raises(ValueError, match="name: template '{instance_id}' gives the same AMI name every run"):
        ImageSettings(name_template="{instance_id}")


def snapshot_run(ec2, **snapshot_changes):
    shared = settings()
    return RotationRun(SnapshotBackups(ec2, shared, SnapshotSettings(**snapshot_changes)), shared, NOW)


VOLUME = {"volume_id": "vol-1", "instance_id": "i-1", "size": 8, "tags": {"Name": "data", "aws:x": "y", "cloudops:policy": "other"}}


def test_snapshot_adapter_stamps_the_run_mark_and_copies_only_allowed_volume_tags():
    ec2 = FakeEC2()

    run = snapshot_run(ec2, copy_volume_tags=True, description="{policy} of {subject}")
    result = run.run([volume_job(VOLUME)])

    snapshot = ec2.snapshots[result["snapshots_created"][0]["snapshot_id"]]
    assert snapshot["Description"] == "daily of vol-1 " + run.mark.text
    tags = {t["Key"]: t["Value"] for t in snapshot["Tags"]}
    assert tags["Name"] == "data" and "aws:x" not in tags and tags["cloudops:policy"] == "daily"
    assert tags["cloudops:source-volume"] == "vol-1" and tags["cloudops:source-instance"] == "i-1"


def test_snapshot_adapter_tags_each_snapshot_of_a_set_with_its_own_volume():
    ec2 = FakeEC2()
    job = instance_job({"instance_id": "i-1", "excluded_data_volume_ids": [],
                        "volumes": [dict(VOLUME, volume_id="vol-1"), dict(VOLUME, volume_id="vol-2")]})

    result = snapshot_run(ec2).run([job])

    assert ec2.calls[0][0] == "CreateSnapshots"
    lineage = sorted({t["Key"]: t["Value"] for t in ec2.snapshots[e["snapshot_id"]]["Tags"]}["cloudops:source-volume"]
                     for e in result["snapshots_created"])
    assert lineage == ["vol-1", "vol-2"]


def test_snapshot_adapter_prunes_per_volume_and_protects_a_snapshot_an_image_uses():
    ec2 = FakeEC2()
    for days in (3, 2):
        created = NOW - datetime.timedelta(days=days)
        ec2.add_snapshot("snap-d%d" % days, "vol-1", created, managed_tags("daily", created, **{"cloudops:source-volume": "vol-1"}))
    ec2.images["ami-user"] = {"ImageId": "ami-user", "Name": "user", "State": "available", "CreationDate": aws_time(NOW), "Tags": [],
                              "BlockDeviceMappings": [{"Ebs": {"SnapshotId": "snap-d3"}}]}

    result = snapshot_run(ec2).run([volume_job(VOLUME)])

    assert "snap-d3" in ec2.snapshots and "snap-d2" in ec2.snapshots
    assert result["snapshots_deleted"] == []
    assert [e["reason"] for e in result["snapshots_retained"] if e["snapshot_id"] == "snap-d3"] == ["backs ami-user"]


def test_snapshot_settings_refuse_a_bad_description_template():
    with pytest.raises(ValueError, match="description: template '{volume}' has an unknown placeholder"):
        SnapshotSettings(description="{volume}")


def test_snapshot_adapter_does_not_count_the_snapshots_of_images_of_the_same_policy():
    ec2 = FakeEC2()
    image_snapshot_time = NOW - datetime.timedelta(hours=1)
    ec2.add_snapshot("snap-of-ami", "vol-1", image_snapshot_time, managed_tags("daily", image_snapshot_time, **{"cloudops:source-instance": "i-1"}),
                     "Created by CreateImage(i-1) for ami-0123")
    shared = settings(min_interval=datetime.timedelta(hours=20))

    result = RotationRun(SnapshotBackups(ec2, shared, SnapshotSettings()), shared, NOW).run([volume_job(VOLUME)])

    assert result["volumes_skipped"] == [] and len(result["snapshots_created"]) == 1
    assert "snap-of-ami" in ec2.snapshots and result["snapshots_retained"][0]["snapshot_id"] != "snap-of-ami"


def test_the_consistency_of_each_instance_is_tagged_on_its_image_only():
    ec2 = FakeEC2()

    result = ami_run(ec2, consistency={"i-1": "application"}).run([INSTANCE, {"instance_id": "i-2", "name": "web-2"}])

    tags = {e["instance_id"]: {t["Key"]: t["Value"] for t in ec2.images[e["image_id"]]["Tags"]} for e in result["images_created"]}
    assert tags["i-1"]["cloudops:consistency"] == "application"
    assert "cloudops:consistency" not in tags["i-2"]


def test_the_consistency_of_an_instance_is_tagged_on_every_snapshot_of_its_set_and_of_its_volumes():
    ec2 = FakeEC2()
    job = instance_job({"instance_id": "i-1", "excluded_data_volume_ids": [],
                        "volumes": [dict(VOLUME, volume_id="vol-1"), dict(VOLUME, volume_id="vol-2")]})
    loose = dict(VOLUME, volume_id="vol-9", instance_id="")

    result = snapshot_run(ec2, consistency={"i-1": "crash"}).run([job, volume_job(loose)])

    consistency = {e["volume_id"]: {t["Key"]: t["Value"] for t in ec2.snapshots[e["snapshot_id"]]["Tags"]}.get("cloudops:consistency")
                   for e in result["snapshots_created"]}
    assert consistency == {"vol-1": "crash", "vol-2": "crash", "vol-9": None}


@pytest.mark.parametrize("consistency, message", [
    ({"i-1": "app"}, "consistency: i-1 must be application or crash, got 'app'"),
    ({"web-1": "crash"}, "consistency: 'web-1' is not an instance id"),
    ({"i-1": None}, "consistency: i-1 must be application or crash, got None"),
])
def test_a_bad_consistency_is_refused_naming_the_instance_and_value(consistency, message):
    with pytest.raises(ValueError) as image_error:
        ImageSettings(name_template="{instance_id}-{timestamp}", consistency=consistency)
    with pytest.raises(ValueError) as snapshot_error:
        SnapshotSettings(consistency=consistency)
    assert str(image_error.value) == str(snapshot_error.value) == message


def test_ami_adapter_lists_the_policys_snapshots_once_a_run_and_finds_each_batchs_orphans_there():
    ec2 = FakeEC2()
    listings = []
    describe = ec2.describe_snapshots

    def counted(**params):
        if any(item["Name"] == "tag:cloudops:policy" for item in params.get("Filters") or []):
            listings.append(params["Filters"])
        return describe(**params)

    ec2.describe_snapshots = counted
    for instance_id in ("i-1", "i-2"):
        ec2.add_snapshot("snap-left-" + instance_id, "vol-root", NOW - datetime.timedelta(days=3),
                         managed_tags("daily", NOW - datetime.timedelta(days=3), **{"cloudops:source-instance": instance_id}),
                         "Created by CreateImage(%s) for ami-0dead%s" % (instance_id, instance_id[-1]))
    run = ami_run(ec2)
    adapter = run.adapter

    adapter.after_removal([], [], run, {"i-1"})
    assert "snap-left-i-1" not in ec2.snapshots and "snap-left-i-2" in ec2.snapshots
    adapter.after_removal([], [], run, {"i-2"})

    assert "snap-left-i-2" not in ec2.snapshots and len(listings) == 1
    assert [entry["snapshot_id"] for entry in run.result["snapshots_deleted"]] == ["snap-left-i-1", "snap-left-i-2"]


def test_ami_adapter_reads_a_batchs_own_instances_images_and_the_whole_policy_past_one_filters_200_ids():
    ec2 = FakeEC2()
    for number in (1, 2, 3):
        ec2.add_image("ami-%d" % number, "i-%d" % number, NOW - datetime.timedelta(days=1))
    ec2.add_image("ami-other", "i-1", NOW - datetime.timedelta(days=1), policy="weekly")
    adapter = ami_run(ec2).adapter

    assert sorted(image["image_id"] for image in adapter.describe_groups(["i-1", "i-3"])) == ["ami-1", "ami-3"]
    assert sorted(image["image_id"] for image in adapter.describe_groups(["i-%d" % n for n in range(1, 202)])) == ["ami-1", "ami-2", "ami-3"]
