# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""EBS snapshot backups with generations per volume: the rotation engine's adapter for snapshots.

What differs from other backups: a generation is a snapshot of one volume (grouped by the
cloudops:source-volume tag). A job is what one create call makes: a single volume
(CreateSnapshot), or an instance's attached volumes as one crash-consistent set
(CreateSnapshots), made when any of its volumes is due. CreateSnapshot has no client token, so
each description ends with the run mark and twins of a retried request are settled by it. A
snapshot that a registered AMI uses is protected.
"""

from dataclasses import dataclass
from dataclasses import field
from typing import Mapping
from typing import Optional

from ansible_collections.cloudops.aws.plugins.module_utils import ebs_snapshots
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_images import images_using_snapshots
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import RESERVED_PREFIX
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import SOURCE_INSTANCE_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import SOURCE_VOLUME_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import consistency_by_instance
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import consistency_tags
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import format_created_at
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import managed_policy_filters
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import ownership_tags
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_engine import BackupAdapter
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_engine import Request
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_engine import ResultKeys

# AWS takes 255 characters of description; the subject id and the run mark need the rest.
DESCRIPTION_TEMPLATE_LIMIT = 200


@dataclass(frozen=True)
class SnapshotSettings:
    """snapshot_rotate's own options; the description template is checked when they are made."""

    description: Optional[str] = None
    copy_volume_tags: bool = False
    exclude_boot_volume: bool = False
    # instance id -> application or crash: the cloudops:consistency tag of the snapshots of its volumes
    consistency: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "consistency", consistency_by_instance(self.consistency))
        if self.description is None:
            return
        if len(self.description) > DESCRIPTION_TEMPLATE_LIMIT:
            raise ValueError("description: at most %d characters, got %d: %r"
                             % (DESCRIPTION_TEMPLATE_LIMIT, len(self.description), self.description[:40] + "..."))
        try:
            self.description.format(policy="", subject="")
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError("description: template %r has an unknown placeholder or a stray brace: %s" % (self.description, error)) from error


def volume_job(volume):
    return {"instance_id": volume["instance_id"], "volumes": [volume], "multi_volume": False, "excluded_data_volume_ids": []}


def instance_job(volume_set):
    return {"instance_id": volume_set["instance_id"], "volumes": volume_set["volumes"], "multi_volume": True,
            "excluded_data_volume_ids": volume_set["excluded_data_volume_ids"]}


def _copyable_tags(tags):
    """Volume tags worth carrying over: AWS's own keys cannot be set, ours are reserved."""
    return {k: v for k, v in tags.items() if not k.startswith(("aws:", RESERVED_PREFIX))}


class SnapshotBackups(BackupAdapter):
    """Snapshots of volumes, one per volume and run."""

    id_key = "snapshot_id"
    noun = "snapshot"
    finished_state = "completed"
    keys = ResultKeys(created="snapshots_created", removed="snapshots_deleted", retained="snapshots_retained",
                      protected=None, skipped="volumes_skipped")
    marks_twins = True
    remove_action = "DeleteSnapshot"
    diff_key = "snapshots"

    def __init__(self, ec2, settings, snapshot_settings):
        self.ec2 = ec2
        self.settings = settings
        self.snapshots = snapshot_settings

    def describe(self):
        # The snapshots behind ami_rotate's images of the same policy name are the images'
        # generations, not the volumes': AWS describes them "Created by CreateImage(...) for ami-...".
        # (A lineage tag filter would also drop a set whose run was killed before tagging it.)
        snapshots = ebs_snapshots.describe_snapshots(self.ec2, managed_policy_filters(self.settings.policy))
        return [snapshot for snapshot in snapshots if not snapshot["image_id"]]

    def group_of(self, backup):
        return backup["source_volume"]

    def labels(self, backup):
        return {"volume_id": backup["source_volume"], "instance_id": backup.get("instance_id") or backup["tags"].get(SOURCE_INSTANCE_KEY, "")}

    def group_keys(self, subjects):
        return sorted({volume["volume_id"] for job in subjects for volume in job["volumes"]})

    def requests(self, subjects, run):
        return [Request(job, {v["volume_id"]: {"volume_id": v["volume_id"], "instance_id": job["instance_id"]} for v in job["volumes"]}, run.now)
                for job in subjects if job["volumes"]]

    # -- create --------------------------------------------------------------------------------

    def _tags(self, request, volume=None):
        instance_id = request.subject["instance_id"]
        tags = dict(self.settings.extra_tags)
        if volume is not None and self.snapshots.copy_volume_tags:
            tags.update(_copyable_tags(volume["tags"]))
        lineage = {"source_volume": volume["volume_id"]} if volume is not None else {}
        if instance_id:
            lineage["source_instance"] = instance_id
        tags.update(ownership_tags(self.settings.policy, request.created_at, **lineage))
        tags.update(consistency_tags(self.snapshots.consistency, instance_id))
        return tags

    def _description(self, subject, run):
        template = self.snapshots.description or "cloudops.aws {policy} snapshot of {subject}"
        return run.mark.stamp(template.format(policy=self.settings.policy, subject=subject))

    def create_action_for(self, request):
        return "CreateSnapshots" if request.subject["multi_volume"] else "CreateSnapshot"

    def _create_set(self, request, run):
        """{snapshot_id: volume_id} made by one job."""
        job = request.subject
        if not job["multi_volume"]:
            volume = job["volumes"][0]
            snapshot_id = ebs_snapshots.create_volume_snapshot(
                self.ec2, volume["volume_id"], self._description(volume["volume_id"], run), self._tags(request, volume))
            return {snapshot_id: volume["volume_id"]}
        made = ebs_snapshots.create_instance_snapshots(
            self.ec2, job["instance_id"], self.snapshots.exclude_boot_volume, job["excluded_data_volume_ids"],
            self._description(job["instance_id"], run), self._tags(request), self.snapshots.copy_volume_tags)
        # CreateSnapshots tags every snapshot of the set alike; the volume lineage is per snapshot.
        for snapshot_id, volume_id in made.items():
            ebs_snapshots.tag_resource(self.ec2, snapshot_id, {SOURCE_VOLUME_KEY: volume_id})
        return made

    def create(self, request, run):
        job = request.subject
        sizes = {v["volume_id"]: v["size"] for v in job["volumes"]}
        return {snapshot_id: {"snapshot_id": snapshot_id, "source_volume": volume_id, "instance_id": job["instance_id"],
                              "created_at": request.created_at, "state": "pending", "volume_size": sizes.get(volume_id, 0), "tags": {}}
                for snapshot_id, volume_id in self._create_set(request, run).items()}

    def wait(self, backup_ids, timeout):
        return ebs_snapshots.wait_for_snapshots(self.ec2, backup_ids, timeout)

    def remove(self, backup):
        ebs_snapshots.delete_snapshot(self.ec2, backup["snapshot_id"])

    def find_references(self, snapshot_ids):
        return {snapshot_id: "backs %s" % ", ".join(sorted(images)) for snapshot_id, images in images_using_snapshots(self.ec2, snapshot_ids).items()}

    # -- results -------------------------------------------------------------------------------

    def entry(self, backup, **extra):
        entry = {
            "snapshot_id": backup["snapshot_id"],
            "volume_id": backup["source_volume"],
            "instance_id": backup.get("instance_id") or backup["tags"].get(SOURCE_INSTANCE_KEY, ""),
            "created_at": format_created_at(backup["created_at"]),
            "state": backup["state"],
            "volume_size": backup["volume_size"],
        }
        entry.update(extra)
        return entry

    def planned_entries(self, request, state):
        job = request.subject
        return [{"snapshot_id": None, "volume_id": v["volume_id"], "instance_id": job["instance_id"],
                 "created_at": format_created_at(request.created_at), "state": state, "volume_size": v["size"]} for v in job["volumes"]]

    def diff_line(self, entry):
        return "%s %s" % (entry["snapshot_id"] or "(new)", entry["volume_id"])
