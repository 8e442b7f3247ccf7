# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""AMI backups with generations per instance: the rotation engine's adapter for images.

What differs from other backups: a generation is an image of one instance (grouped by the
cloudops:source-instance tag), named from a template; an image still used by an instance, a
launch template or an Auto Scaling group is protected; deregistering an image leaves its
snapshots, which are deleted after it, including those an earlier run left behind when it
stopped between deregistering and deleting.
"""

from dataclasses import dataclass
from dataclasses import field
from typing import Mapping
from typing import Optional

from ansible_collections.cloudops.aws.plugins.module_utils import ebs_snapshots
from ansible_collections.cloudops.aws.plugins.module_utils import ec2_images
from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_text
from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import FILTER_VALUES_LIMIT
from ansible_collections.cloudops.aws.plugins.module_utils.image_naming import DESCRIPTION_MAX
from ansible_collections.cloudops.aws.plugins.module_utils.image_naming import render_image_name
from ansible_collections.cloudops.aws.plugins.module_utils.image_naming import validate_description_template
from ansible_collections.cloudops.aws.plugins.module_utils.image_naming import validate_name_template
from ansible_collections.cloudops.aws.plugins.module_utils.image_references import find_image_references
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import SOURCE_INSTANCE_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import consistency_by_instance
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import consistency_tags
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import format_created_at
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import is_managed
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import managed_policy_filters
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import ownership_tags
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_engine import BackupAdapter
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_engine import Request
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_engine import ResultKeys
from ansible_collections.cloudops.aws.plugins.module_utils.workers import run_bounded


@dataclass(frozen=True)
class ImageSettings:
    """ami_rotate's own options; the templates are checked when the settings are made."""

    name_template: str
    description: Optional[str] = None
    no_reboot: bool = True
    protect_in_use: bool = True
    # instance id -> application or crash: the cloudops:consistency tag of its new image
    consistency: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        validate_name_template(self.name_template)
        validate_description_template(self.description)
        object.__setattr__(self, "consistency", consistency_by_instance(self.consistency))


class AmiBackups(BackupAdapter):
    """Images of instances, one per instance and run."""

    id_key = "image_id"
    noun = "image"
    finished_state = "available"
    removes = "deregisters"
    keys = ResultKeys(created="images_created", removed="images_deregistered", retained="images_retained",
                      protected="images_protected", skipped="instances_skipped")
    extra_result_keys = ("snapshots_deleted", "snapshots_retained")
    also_changes = ("snapshots_deleted",)
    create_action = "CreateImage"
    remove_action = "DeregisterImage"
    diff_key = "images"

    def __init__(self, ec2, autoscaling, settings, image_settings):
        self.ec2 = ec2
        self.autoscaling = autoscaling
        self.settings = settings
        self.images = image_settings
        if image_settings.protect_in_use:
            self.find_references = lambda image_ids: find_image_references(self.ec2, self.autoscaling, image_ids)
        # The policy's snapshots as the run's first search for orphans found them (_orphaned_snapshots).
        self.policy_snapshots = None

    def describe(self):
        return ec2_images.describe_policy_images(self.ec2, self.settings.policy)

    def describe_groups(self, keys):
        # One filter takes at most 200 instance ids; a larger read is the policy's whole.
        if not keys or len(keys) > FILTER_VALUES_LIMIT:
            return self.describe()
        return ec2_images.describe_policy_images(self.ec2, self.settings.policy, instance_ids=keys)

    def group_of(self, backup):
        return backup["instance_id"]

    def labels(self, backup):
        return {"instance_id": backup["instance_id"]}

    def group_keys(self, subjects):
        return sorted(instance["instance_id"] for instance in subjects)

    def requests(self, subjects, run):
        return [Request(instance, {instance["instance_id"]: {"instance_id": instance["instance_id"]}}, run.now) for instance in subjects]

    def _description(self, instance):
        template = self.images.description or "cloudops.aws {policy} backup of {instance_id} ({instance_name})"
        # A long Name tag must not fail the backup: the description is only for people.
        return template.format(policy=self.settings.policy, instance_id=instance["instance_id"], instance_name=instance["name"] or "-")[:DESCRIPTION_MAX]

    def _name(self, request):
        return render_image_name(self.images.name_template, request.subject, self.settings.policy, request.created_at)

    def create(self, request, run):
        instance = request.subject
        tags = dict(self.settings.extra_tags)
        tags.update(ownership_tags(self.settings.policy, request.created_at, source_instance=instance["instance_id"]))
        tags.update(consistency_tags(self.images.consistency, instance["instance_id"]))
        name = self._name(request)
        image_id = ec2_images.create_image(self.ec2, instance["instance_id"], name, self._description(instance), self.images.no_reboot, tags)
        return {image_id: {"image_id": image_id, "instance_id": instance["instance_id"], "name": name, "created_at": request.created_at,
                           "state": "pending", "snapshot_ids": []}}

    def wait(self, backup_ids, timeout):
        return ec2_images.wait_for_images(self.ec2, backup_ids, timeout)

    def remove(self, backup):
        ec2_images.deregister_image(self.ec2, backup["image_id"])

    def entry(self, backup, **extra):
        entry = {
            "image_id": backup["image_id"],
            "instance_id": backup["instance_id"],
            "name": backup["name"],
            "created_at": format_created_at(backup["created_at"]) if backup.get("created_at") else None,
            "snapshot_ids": backup.get("snapshot_ids", []),
            "state": backup["state"],
        }
        entry.update(extra)
        return entry

    def planned_entries(self, request, state):
        instance = request.subject
        return [{"image_id": None, "instance_id": instance["instance_id"], "name": self._name(request),
                 "created_at": format_created_at(request.created_at), "snapshot_ids": [], "state": state}]

    def diff_line(self, entry):
        return "%s %s" % (entry["image_id"] or "(new)", entry["name"])

    # -- the snapshots of deregistered images ----------------------------------------------------

    def after_removal(self, removed, backups, run, groups):
        # From every image found, not only the planned ones: an overlapping run's snapshots are not orphans.
        live_image_ids = {image["image_id"] for image in backups} - {image["image_id"] for image in removed}
        owners = self._orphaned_snapshots(live_image_ids, set(groups) - run.failed_groups)
        for image in removed:
            for snapshot_id in image["snapshot_ids"]:
                owners[snapshot_id] = {"image_id": image["image_id"], "instance_id": image["instance_id"],
                                       "reason": "its image %s was deregistered" % image["image_id"]}
        if owners:
            self._delete_snapshots(owners, run)

    def _orphaned_snapshots(self, live_image_ids, instance_ids):
        """{snapshot_id: owner} for this policy's snapshots whose image is gone.

        A run stopped between DeregisterImage and DeleteSnapshot leaves them behind; the
        snapshot's CreateImage description names its image, and the tags name the instance.
        The policy's snapshots are listed once a run, at its first batch: orphans of earlier runs
        are all there then, each batch looks for those of its own instances, and every one is
        read again before it is deleted (_delete_snapshots).
        """
        if self.policy_snapshots is None:
            self.policy_snapshots = ebs_snapshots.describe_snapshots(self.ec2, managed_policy_filters(self.settings.policy))
        owners = {}
        for snapshot in self.policy_snapshots:
            image_id = snapshot["image_id"]
            instance_id = snapshot["tags"].get(SOURCE_INSTANCE_KEY)
            if image_id and image_id not in live_image_ids and instance_id in instance_ids:
                owners[snapshot["snapshot_id"]] = {"image_id": image_id, "instance_id": instance_id,
                                                   "reason": "its image %s no longer exists" % image_id}
        return owners

    def _delete_snapshots(self, owners, run):
        existing = ebs_snapshots.describe_snapshots_by_id(self.ec2, sorted(owners))
        users = ec2_images.images_using_snapshots(self.ec2, sorted(existing))
        deletable = []
        for snapshot_id in sorted(existing):
            owner = owners[snapshot_id]
            if snapshot_id in users:
                reason = "still used by %s" % ", ".join(sorted(users[snapshot_id]))
            elif not is_managed(existing[snapshot_id]["tags"]):
                reason = "not managed by cloudops.aws"
            else:
                deletable.append((snapshot_id, owner))
                continue
            run.result["snapshots_retained"].append({"snapshot_id": snapshot_id, "image_id": owner["image_id"], "reason": reason})
        for outcome in run_bounded(lambda item: ebs_snapshots.delete_snapshot(self.ec2, item[0]), deletable, self.settings.max_concurrency):
            snapshot_id, owner = outcome.item
            if outcome.ok:
                run.result["snapshots_deleted"].append({"snapshot_id": snapshot_id, "image_id": owner["image_id"], "reason": owner["reason"]})
            else:
                run.fail(owner["instance_id"], {"instance_id": owner["instance_id"]}, "DeleteSnapshot %s: %s" % (snapshot_id, error_text(outcome.error)))
