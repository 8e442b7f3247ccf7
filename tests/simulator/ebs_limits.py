"""EBS snapshot creation as AWS limits it, and CreateSnapshots' options moto ignores.

AWS documents two per-volume limits on CreateSnapshot: a number of snapshots of one volume
that may be pending at once (ConcurrentSnapshotLimitExceeded) and a minimum interval between
two snapshots of one volume (SnapshotCreationPerVolumeRateExceeded). Both are errors a client
must wait out. CreateSnapshots' ExcludeDataVolumeIds and CopyTagsFromSource are ignored by moto.
"""

import threading
import time

from moto.ec2.exceptions import EC2ClientError
from moto.core.responses import ActionResult
from moto.ec2.models.elastic_block_store import EBSBackend
from moto.ec2.responses.elastic_block_store import ElasticBlockStore


class SnapshotLimits:
    """Per-volume limits; pending_per_volume 0 or interval 0 switch a limit off."""

    def __init__(self):
        self.lock = threading.Lock()
        self.pending_per_volume = 5
        self.per_volume_interval = 0.0
        self.last_created = {}

    def reset(self, pending_per_volume=5, per_volume_interval=0.0):
        with self.lock:
            self.pending_per_volume = int(pending_per_volume)
            self.per_volume_interval = float(per_volume_interval)
            self.last_created.clear()

    def describe(self):
        return {"pending_per_volume": self.pending_per_volume, "per_volume_interval": self.per_volume_interval}


LIMITS = SnapshotLimits()


def _check_volume_limits(backend, volume_id):
    # A copy of the values: a DeleteSnapshot served by another thread must not change the dict mid-count.
    pending = sum(1 for s in list(backend.snapshots.values()) if s.volume.id == volume_id and s.status == "pending")
    if LIMITS.pending_per_volume and pending >= LIMITS.pending_per_volume:
        raise EC2ClientError(
            "ConcurrentSnapshotLimitExceeded",
            f"Maximum allowed in-progress snapshots for a single volume exceeded: {volume_id}.")
    key = (backend.account_id, backend.region_name, volume_id)
    now = time.monotonic()
    if LIMITS.per_volume_interval and now - LIMITS.last_created.get(key, -1e9) < LIMITS.per_volume_interval:
        raise EC2ClientError(
            "SnapshotCreationPerVolumeRateExceeded",
            f"The maximum per volume CreateSnapshot request rate has been exceeded for {volume_id}. "
            "Use an increasing or variable sleep interval between requests.")
    LIMITS.last_created[key] = now


def create_snapshot(self, volume_id, description, owner_id=None, from_ami=None):
    if from_ami is None:
        with LIMITS.lock:
            _check_volume_limits(self, volume_id)
    return _previous_create_snapshot(self, volume_id, description, owner_id=owner_id, from_ami=from_ami)


def create_snapshots(self, instance_spec, description, tags, copy_tags_from_volume=False):
    instance = self.get_instance(instance_spec["InstanceId"])
    exclude_boot = str(instance_spec.get("ExcludeBootVolume", False)).lower() == "true"
    excluded = set(instance_spec.get("ExcludeDataVolumeIds") or [])
    snapshots = []
    for device, mapping in instance.get_block_device_mapping:
        if (exclude_boot and device == instance.root_device_name) or (mapping.volume_id in excluded and device != instance.root_device_name):
            continue
        snapshot = self.create_snapshot(mapping.volume_id, description=description)
        if copy_tags_from_volume:
            snapshot.add_tags({k: v for k, v in self.tags.get(mapping.volume_id, {}).items() if not k.startswith("aws:")})
        snapshot.add_tags(tags)
        snapshots.append(snapshot)
    return snapshots


def create_snapshots_response(self):
    tags = self._parse_tag_specification().get("snapshot", {})
    self.error_on_dryrun()
    snapshots = self.ec2_backend.create_snapshots(
        self._get_param("InstanceSpecification", {}), self._get_param("Description", ""), tags,
        copy_tags_from_volume=self._get_param("CopyTagsFromSource") == "volume")
    return ActionResult({"Snapshots": snapshots})


_previous_create_snapshot = None


def install():
    """Wrap CreateSnapshot after the life-cycle patch (ec2_images.install) so both apply."""
    global _previous_create_snapshot  # pylint: disable=global-statement
    if getattr(EBSBackend, "_limits_patched", False):
        return
    _previous_create_snapshot = EBSBackend.create_snapshot
    EBSBackend.create_snapshot = create_snapshot
    EBSBackend.create_snapshots = create_snapshots
    ElasticBlockStore.create_snapshots = create_snapshots_response
    EBSBackend._limits_patched = True
