"""What is on an EBS volume, so that a snapshot restored to a new volume holds the files of its source.

moto's volumes and snapshots hold no data. Here the SSM sandbox of an instance (the working directory
of AWS-RunShellScript, sandbox_images.py) stands for its root file system, and a data volume attached
at a device is mounted in it at `volumes/<device name>`: `/dev/sdf` at `volumes/sdf`, `/dev/xvdf` at
`volumes/xvdf`. So a command writes to a data volume with
`mkdir -p volumes/xvdf && echo ok > volumes/xvdf/state`.

- CreateSnapshot and CreateSnapshots copy what is on the volume at that moment: its mount directory
  (a data volume), the sandbox without `volumes/` (a root volume), or, for a volume that is not
  attached, what it held when it was detached.
- CopySnapshot copies the source snapshot's files (a DR copy holds the same data).
- CreateVolume from a snapshot starts with the snapshot's files.
- AttachVolume (and RunInstances' block devices) mounts the volume's files at the device's directory;
  DetachVolume (and terminating the instance) unmounts them, and the volume keeps them. A volume that
  holds no files yet has no directory until a command makes it (`mkdir -p volumes/xvdf`), so the
  sandboxes of instances nobody writes volumes on look as they did before.

DescribeVolumes gives every volume a `SnapshotId`, empty for one not made from a snapshot, as AWS does (moto left
the key out, and amazon.aws.ec2_vol_info failed on it).

Files are kept under the SSM engine's root, which a reset removes, in `volumes/<volume or snapshot id>`;
nothing is kept in memory. Snapshots that CreateImage makes hold no files: an image restores the whole
sandbox through machines.MACHINES instead.
"""

import os
import shutil

from moto.ec2.models.elastic_block_store import EBSBackend
from moto.ec2.models.elastic_block_store import Volume

from simulator.ssm_commands import ENGINE as SSM_ENGINE

MOUNTS = "volumes"


def _store(resource_id):
    return os.path.join(SSM_ENGINE.root, MOUNTS, resource_id)


def mount_point(instance_id, device):
    """Where a data volume attached at `device` is mounted in the instance's sandbox."""
    return os.path.join(SSM_ENGINE.sandbox(instance_id), MOUNTS, os.path.basename(device))


def _replace(destination, source, ignore=None):
    """Make `destination` a copy of the directory `source` (or remove it when `source` is None)."""
    shutil.rmtree(destination, ignore_errors=True)
    if source is not None and os.path.isdir(source):
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        shutil.copytree(source, destination, symlinks=True, ignore=ignore)


def _volume_files(volume):
    """The directory holding what is on the volume now, and what of it to leave out; (None, None) when it holds nothing."""
    attachment = volume.attachment
    if attachment is None:
        return _store(volume.id), None
    instance = attachment.instance
    if attachment.device == instance.root_device_name:
        return SSM_ENGINE.sandbox(instance.id), shutil.ignore_patterns(MOUNTS)
    return mount_point(instance.id, attachment.device), None


def create_snapshot(self, volume_id, description, owner_id=None, from_ami=None):
    snapshot = _previous["create_snapshot"](self, volume_id, description, owner_id=owner_id, from_ami=from_ami)
    if from_ami is None:
        source, ignore = _volume_files(self.get_volume(volume_id))
        _replace(_store(snapshot.id), source, ignore)
    return snapshot


def copy_snapshot(self, source_snapshot_id, *args, **kwargs):
    snapshot = _previous["copy_snapshot"](self, source_snapshot_id, *args, **kwargs)
    _replace(_store(snapshot.id), _store(source_snapshot_id))
    return snapshot


def create_volume(self, *args, **kwargs):
    volume = _previous["create_volume"](self, *args, **kwargs)
    if volume.snapshot_id:
        _replace(_store(volume.id), _store(volume.snapshot_id))
    return volume


def attach_volume(self, volume_id, instance_id, device_path, delete_on_termination=False):
    attachment = _previous["attach_volume"](self, volume_id, instance_id, device_path, delete_on_termination)
    instance = self.get_instance(instance_id)
    if device_path == instance.root_device_name:
        return attachment
    if os.path.isdir(_store(volume_id)):
        target = mount_point(instance_id, device_path)
        _replace(target, None)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.move(_store(volume_id), target)
    return attachment


def detach_volume(self, volume_id, instance_id, device_path):
    volume = self.get_volume(volume_id)
    attachment = volume.attachment
    if attachment is not None and attachment.device != attachment.instance.root_device_name:
        mounted = mount_point(attachment.instance.id, attachment.device)
        if os.path.isdir(mounted):
            _replace(_store(volume_id), None)
            os.makedirs(os.path.dirname(_store(volume_id)), exist_ok=True)
            shutil.move(mounted, _store(volume_id))
    return _previous["detach_volume"](self, volume_id, instance_id, device_path)


def delete_volume(self, volume_id):
    volume = _previous["delete_volume"](self, volume_id)
    _replace(_store(volume_id), None)
    return volume


def delete_snapshot(self, snapshot_id):
    snapshot = _previous["delete_snapshot"](self, snapshot_id)
    _replace(_store(snapshot_id), None)
    return snapshot


def _get_source_snapshot(volume):
    return volume.__dict__.get("_snapshot_id") or ""


def _set_source_snapshot(volume, value):
    volume.__dict__["_snapshot_id"] = value


_PATCHES = (create_snapshot, copy_snapshot, create_volume, attach_volume, detach_volume, delete_volume, delete_snapshot)
_previous = {}


def install():
    """Wrap the EBS backend after the life-cycle, limit and copy patches, so every one of them still applies."""
    if getattr(EBSBackend, "_volume_data_patched", False):
        return
    for patch in _PATCHES:
        _previous[patch.__name__] = getattr(EBSBackend, patch.__name__)
        setattr(EBSBackend, patch.__name__, patch)
    Volume.snapshot_id = property(_get_source_snapshot, _set_source_snapshot)
    EBSBackend._volume_data_patched = True
