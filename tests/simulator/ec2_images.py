"""AMI and EBS snapshot behaviour moto lacks, patched into its EC2 models.

- CreateImage snapshots every EBS volume of the instance (moto makes one fake
  15 GiB snapshot) and honours `snapshot` TagSpecifications.
- AMI names are unique per account and Region (InvalidAMIName.Duplicate).
- New AMIs are `pending` and become `available` (or `failed`) after a delay,
  their snapshots `pending` -> `completed` (or `error`) with them; plain
  snapshots and snapshot copies complete after their own delay.
- CreateImage has machines.MACHINES capture the instance's parts (SSM sandbox, patch
  inventory), which a root volume replaced from the image puts back (root_volumes).

States settle lazily, when read: no timers to cancel on reset, and every
reader (describe, filters, waiters) sees the same clock.
"""

import threading
import time

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError, InvalidTaggableResourceType
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.models.elastic_block_store import EBSBackend, Snapshot
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.utils import random_snapshot_id

from simulator.machines import MACHINES

FAILED_REASON = {"Code": "Server.InternalError", "Message": "Server.InternalError: Internal error on launch"}


class DuplicateAmiName(EC2ClientError):
    def __init__(self, name, ami_id):
        super().__init__("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {ami_id}")


class Lifecycle:
    """Delays and failure marks, shared by the patched models and the control endpoint."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self, ami_available_after=0.0, snapshot_completed_after=0.0):
        with self.lock:
            self.ami_available_after = float(ami_available_after)
            self.snapshot_completed_after = float(snapshot_completed_after)
            self.failing_instances = set()

    def fail_images_of(self, instance_id):
        with self.lock:
            self.failing_instances.add(instance_id)

    def outcome_for(self, instance_id):
        with self.lock:
            failing = instance_id in self.failing_instances
        return ("failed", dict(FAILED_REASON)) if failing else ("available", None)


LIFECYCLE = Lifecycle()


class Settle:
    """A state that a resource reaches at a monotonic time."""

    def __init__(self, delay, final, reason=None):
        self.started = time.monotonic()
        self.at = self.started + delay
        self.final = final
        self.reason = reason

    def due(self):
        return time.monotonic() >= self.at

    def fraction(self):
        span = self.at - self.started
        return 1.0 if span <= 0 else min(1.0, (time.monotonic() - self.started) / span)


def fail_pending(ami):
    """Make a pending image end `failed`; False when it is no longer pending."""
    with LIFECYCLE.lock:
        settle = ami.__dict__.get("_settle")
        if settle is None or settle.due():
            return False
        settle.final, settle.reason = "failed", dict(FAILED_REASON)
        return True


def fail_pending_snapshot(snapshot):
    """Make a pending CreateSnapshot(s) or CopySnapshot snapshot end `error`; False when it is not pending.

    An AMI's snapshots follow their image: fail the image instead (fail_pending).
    """
    with LIFECYCLE.lock:
        settle = snapshot.__dict__.get("_settle")
        if snapshot.__dict__.get("_image") is not None or settle is None or settle.due():
            return False
        settle.final = "error"
        return True


def _ami_get_state(ami):
    settle = ami.__dict__.get("_settle")
    if settle is not None and settle.due():
        with LIFECYCLE.lock:
            if ami.__dict__.get("_settle") is settle:
                ami.__dict__["_state"] = settle.final
                ami.__dict__["_state_reason"] = settle.reason
                ami.__dict__["_settle"] = None
    return ami.__dict__["_state"]


def _ami_state_reason(ami):
    # The serializer may read StateReason before State: settle first.
    _ami_get_state(ami)
    return ami.__dict__.get("_state_reason")


def _ami_set_state(ami, value):
    # An explicit state (moto's DisableImage/EnableImage) ends any transition.
    ami.__dict__["_settle"] = None
    ami.__dict__["_state"] = value


def _ami_block_device_mappings(ami):
    devices = ami.__dict__.get("_devices")
    if devices is None:
        return _moto_ami_block_device_mappings(ami)
    return [
        {
            "DeviceName": device,
            "Ebs": {
                "SnapshotId": snapshot.id,
                "VolumeSize": size,
                "DeleteOnTermination": delete_on_termination,
                "VolumeType": volume_type,
                "Encrypted": snapshot.encrypted,
            },
        }
        for device, snapshot, size, delete_on_termination, volume_type in devices
    ]


def _snapshot_get_status(snapshot):
    image = snapshot.__dict__.get("_image")
    if image is not None:
        return {"pending": "pending", "failed": "error"}.get(image.state, "completed")
    settle = snapshot.__dict__.get("_settle")
    if settle is not None and settle.due():
        snapshot.__dict__["_status"] = settle.final
        snapshot.__dict__["_settle"] = None
    return snapshot.__dict__["_status"]


def _snapshot_set_status(snapshot, value):
    snapshot.__dict__["_settle"] = None
    snapshot.__dict__["_status"] = value


def _snapshot_progress(snapshot):
    status = snapshot.status
    if status != "pending":
        return "100%" if status == "completed" else "0%"
    image = snapshot.__dict__.get("_image")
    settle = image.__dict__.get("_settle") if image is not None else snapshot.__dict__.get("_settle")
    return f"{int(99 * settle.fraction()) if settle else 0}%"


def _check_unique_name(backend, name, owner_id):
    for ami in list(backend.amis.values()):
        if ami.name == name and ami.owner_id == owner_id:
            raise DuplicateAmiName(name, ami.id)


def _snapshot_devices(backend, ami, sources, description):
    """Give `ami` one new snapshot per (device, volume, delete_on_termination, volume_type)."""
    devices = []
    for device, volume, delete_on_termination, volume_type in sources:
        snapshot = Snapshot(backend, random_snapshot_id(), volume, description,
                            encrypted=volume.encrypted, owner_id=ami.owner_id, from_ami=ami.id)
        snapshot.__dict__["_image"] = ami
        backend.snapshots[snapshot.id] = snapshot
        devices.append((device, snapshot, volume.size, delete_on_termination, volume_type))
    # Drop the stand-in snapshot moto's Ami made; AWS has only the real ones.
    backend.snapshots.pop(ami.ebs_snapshot.id, None)
    ami.ebs_snapshot = devices[0][1] if devices else ami.ebs_snapshot
    ami.__dict__["_devices"] = devices


def _start_pending(ami, outcome):
    final, reason = outcome
    ami.state = "pending"
    ami.__dict__["_settle"] = Settle(LIFECYCLE.ami_available_after, final, reason)


def create_image(self, instance_id, name, description, tag_specifications):
    instance = self.get_instance(instance_id)
    _check_unique_name(self, name, self.account_id)
    image_tags, snapshot_tags = {}, {}
    for spec in tag_specifications:
        resource_type = spec["ResourceType"]
        if resource_type not in ("image", "snapshot"):
            raise InvalidTaggableResourceType(resource_type)
        target = image_tags if resource_type == "image" else snapshot_tags
        target.update({tag["Key"]: tag["Value"] for tag in spec.get("Tags", [])})
    ami = _moto_create_image(self, instance_id, name, description, [])
    ami.root_device_name = instance.root_device_name
    ami.root_device_type = "ebs"
    sources = []
    for device, mapping in instance.get_block_device_mapping:
        volume = self.get_volume(mapping.volume_id)
        sources.append((device, volume, bool(mapping.delete_on_termination), volume.volume_type))
    _snapshot_devices(self, ami, sources, f"Created by CreateImage({instance_id}) for {ami.id}")
    if image_tags:
        ami.add_tags(image_tags)
    if snapshot_tags:
        for device in ami.__dict__["_devices"]:
            device[1].add_tags(snapshot_tags)
    _start_pending(ami, LIFECYCLE.outcome_for(instance_id))
    # What a root volume replaced from this image puts back on the instance.
    MACHINES.record_image(ami.id, instance_id)
    return ami


def copy_image(self, source_image_id, source_region, name=None, description=None):
    from moto.ec2.models import ec2_backends

    source = ec2_backends[self.account_id][source_region].describe_images(ami_ids=[source_image_id])[0]
    _check_unique_name(self, name or source.name, self.account_id)
    ami = _moto_copy_image(self, source_image_id, source_region, name, description)
    ami.root_device_name = source.root_device_name
    ami.root_device_type = source.root_device_type
    source_devices = source.__dict__.get("_devices")
    if source_devices:
        sources = [(device, snap.volume, dot, vtype) for device, snap, size, dot, vtype in source_devices]
        _snapshot_devices(
            self, ami, sources,
            f"Copied for DestinationAmi {ami.id} from SourceAmi {source.id} for SourceSnapshot "
            f"{source_devices[0][1].id}",
        )
    _start_pending(ami, ("available", None))
    return ami


def register_image(self):
    """RegisterImage with the parameters a DR restore needs (moto reads only name and description)."""
    name = self._get_param("Name")
    self.error_on_dryrun()
    backend = self.ec2_backend
    _check_unique_name(backend, name, backend.account_id)
    ami = backend.register_image(name, self._get_param("Description", ""))
    ami.root_device_name = self._get_param("RootDeviceName") or ami.root_device_name
    ami.architecture = self._get_param("Architecture") or ami.architecture or "x86_64"
    ami.virtualization_type = self._get_param("VirtualizationType") or ami.virtualization_type or "hvm"
    devices = []
    for mapping in self._get_param("BlockDeviceMappings", []):
        ebs = mapping.get("Ebs") or {}
        if ebs.get("SnapshotId"):
            snapshot = backend.get_snapshot(ebs["SnapshotId"])
            snapshot.from_ami = ami.id
            devices.append((mapping["DeviceName"], snapshot, int(ebs.get("VolumeSize") or snapshot.volume_size),
                            str(ebs.get("DeleteOnTermination", True)).lower() == "true",
                            ebs.get("VolumeType", "gp2")))
    if devices:
        backend.snapshots.pop(ami.ebs_snapshot.id, None)
        ami.ebs_snapshot = devices[0][1]
        ami.__dict__["_devices"] = devices
        ami.root_device_type = "ebs"
    return ActionResult({"ImageId": ami.id})


def create_snapshot(self, volume_id, description, owner_id=None, from_ami=None):
    snapshot = _moto_create_snapshot(self, volume_id, description, owner_id=owner_id, from_ami=from_ami)
    if from_ami is None:
        snapshot.status = "pending"
        snapshot.__dict__["_settle"] = Settle(LIFECYCLE.snapshot_completed_after, "completed")
    return snapshot


def copy_snapshot(self, *args, **kwargs):
    snapshot = _moto_copy_snapshot(self, *args, **kwargs)
    snapshot.status = "pending"
    snapshot.__dict__["_settle"] = Settle(LIFECYCLE.snapshot_completed_after, "completed")
    return snapshot


def _ami_get_filter_value(ami, filter_name, method_name=None):
    # DescribeImages documents block-device-mapping.* filters; moto answers them with a 500.
    if filter_name == "block-device-mapping.snapshot-id":
        return [m["Ebs"]["SnapshotId"] for m in ami.block_device_mappings if "Ebs" in m]
    if filter_name == "block-device-mapping.device-name":
        return [m["DeviceName"] for m in ami.block_device_mappings]
    return _moto_ami_get_filter_value(ami, filter_name, method_name)


_moto_ami_get_filter_value = Ami.get_filter_value
_moto_ami_block_device_mappings = Ami.block_device_mappings.fget
_moto_create_image = AmiBackend.create_image
_moto_copy_image = AmiBackend.copy_image
_moto_create_snapshot = EBSBackend.create_snapshot
_moto_copy_snapshot = EBSBackend.copy_snapshot


def install():
    """Patch moto's classes; idempotent so tests and the CLI may both call it."""
    if getattr(Ami, "_simulator_patched", False):
        return
    Ami.state = property(_ami_get_state, _ami_set_state)
    Ami.state_reason = property(_ami_state_reason)
    Ami.block_device_mappings = property(_ami_block_device_mappings)
    Ami.get_filter_value = _ami_get_filter_value
    Snapshot.status = property(_snapshot_get_status, _snapshot_set_status)
    Snapshot.progress = property(_snapshot_progress)
    AmiBackend.create_image = create_image
    AmiBackend.copy_image = copy_image
    AmisResponse.register_image = register_image
    EBSBackend.create_snapshot = create_snapshot
    EBSBackend.copy_snapshot = copy_snapshot
    Ami._simulator_patched = True
