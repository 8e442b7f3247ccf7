# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""AMI backups with generations: create one image per instance, then prune each group.

The sequence, and why it is in this order:
1. describe the policy's managed images once, to honour min_interval;
2. create the new images (bounded pool) and wait for them with one poll for all;
3. describe again: the pruning plan is made from what AWS holds now, not from what this run
   believes, so a concurrent or crashed run's images are counted too; with min_interval,
   backups that an overlapping run made of the same instance are settled to one;
4. plan each group with the pure retention planner, protect images still in use;
5. deregister, then delete the snapshots no other image uses, including those left behind by
   an earlier run that stopped between deregistering and deleting.
An instance whose backup failed in this run is not pruned (DESIGN.md, safety rule 5).
"""

import collections

from ansible_collections.cloudops.aws.plugins.module_utils import ebs_snapshots
from ansible_collections.cloudops.aws.plugins.module_utils import ec2_images
from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import group_by_source
from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import min_interval_reason
from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import plan_groups
from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import settle_overlaps
from ansible_collections.cloudops.aws.plugins.module_utils.image_naming import DESCRIPTION_MAX
from ansible_collections.cloudops.aws.plugins.module_utils.image_naming import render_image_name
from ansible_collections.cloudops.aws.plugins.module_utils.image_references import find_image_references
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import format_created_at
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import is_managed
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import managed_policy_filters
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import SOURCE_INSTANCE_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import ownership_tags
from ansible_collections.cloudops.aws.plugins.module_utils.retention import Generation
from ansible_collections.cloudops.aws.plugins.module_utils.workers import run_bounded

RotationOptions = collections.namedtuple(
    "RotationOptions",
    "policy retention name_template description no_reboot extra_tags min_interval wait wait_timeout protect_in_use max_concurrency",
)

# Stands in for the id of an image that check mode would create.
PLANNED_IMAGE_ID = "(new)"


def _error_text(error):
    return str(error) or error.__class__.__name__


class Rotation:
    """One run of ami_rotate over a list of selected instances."""

    def __init__(self, ec2, autoscaling, options, now):
        self.ec2 = ec2
        self.autoscaling = autoscaling
        self.options = options
        self.now = now
        self.result = {
            "images_created": [],
            "images_deregistered": [],
            "images_retained": [],
            "images_protected": [],
            "snapshots_deleted": [],
            "snapshots_retained": [],
            "instances_skipped": [],
            "failures": [],
        }
        self.warnings = []
        self.failed_instances = set()
        # Instances whose overlap with another run is not settled yet: not pruned in this run.
        self.unpruned = set()
        # The policy's images as the run found them, for diff mode.
        self.images_before = None

    # -- bookkeeping -------------------------------------------------------------------------

    def _fail(self, instance_id, message):
        self.failed_instances.add(instance_id)
        self.result["failures"].append({"instance_id": instance_id, "error": message})

    @staticmethod
    def _image_entry(image, **extra):
        entry = {
            "image_id": image["image_id"],
            "instance_id": image["instance_id"],
            "name": image["name"],
            "created_at": format_created_at(image["created_at"]) if image.get("created_at") else None,
            "snapshot_ids": image.get("snapshot_ids", []),
        }
        entry.update(extra)
        return entry

    # -- step 1: what to create ----------------------------------------------------------------

    def _requests(self, instances, groups):
        """(instance, name, tags) for every instance to back up; names are rendered before anything is created."""
        requests = []
        for instance in instances:
            reason = min_interval_reason(groups.get(instance["instance_id"], []), "image_id", self.options.min_interval, self.now)
            if reason:
                self.result["instances_skipped"].append({"instance_id": instance["instance_id"], "reason": reason})
                continue
            name = render_image_name(self.options.name_template, instance, self.options.policy, self.now)
            tags = dict(self.options.extra_tags)
            tags.update(ownership_tags(self.options.policy, self.now, source_instance=instance["instance_id"]))
            requests.append((instance, name, tags))
        return requests

    # -- step 2: create and wait ---------------------------------------------------------------

    def _description(self, instance):
        template = self.options.description or "cloudops.aws {policy} backup of {instance_id} ({instance_name})"
        # A long Name tag must not fail the backup: the description is only for people.
        return template.format(policy=self.options.policy, instance_id=instance["instance_id"], instance_name=instance["name"] or "-")[:DESCRIPTION_MAX]

    def _create(self, requests):
        def create(request):
            instance, name, tags = request
            return ec2_images.create_image(self.ec2, instance["instance_id"], name, self._description(instance), self.options.no_reboot, tags)

        created = {}
        for outcome in run_bounded(create, requests, self.options.max_concurrency):
            instance, name, _tags = outcome.item
            if outcome.ok:
                created[outcome.value] = {"image_id": outcome.value, "instance_id": instance["instance_id"], "name": name,
                                          "created_at": self.now, "state": "pending", "snapshot_ids": []}
            else:
                self._fail(instance["instance_id"], "CreateImage: %s" % _error_text(outcome.error))
        return created

    def _wait(self, created):
        latest = ec2_images.wait_for_images(self.ec2, sorted(created), self.options.wait_timeout)
        for image_id, image in created.items():
            seen = latest.get(image_id)
            if seen:
                image.update(state=seen["state"], snapshot_ids=seen["snapshot_ids"])
            if image["state"] == "pending":
                self.warnings.append("%s of %s is still pending after wait_timeout %ss; it becomes a generation once available"
                                     % (image_id, image["instance_id"], self.options.wait_timeout))
            elif image["state"] != "available":
                self._fail(image["instance_id"], "image %s ended %s" % (image_id, image["state"]))

    # -- steps 3-4: plan -----------------------------------------------------------------------

    def _plans(self, groups, instance_ids, extra_generations=None):
        """{instance_id: Plan} for the selected instances that did not fail, with protection applied."""
        selected = {i: groups.get(i, []) for i in instance_ids if i not in self.failed_instances and i not in self.unpruned}
        return plan_groups(selected, "image_id", self.options.retention, self._find_references if self.options.protect_in_use else None, extra_generations)

    def _find_references(self, image_ids):
        return find_image_references(self.ec2, self.autoscaling, image_ids)

    def _record_plans(self, groups, plans, references):
        """Fill images_retained / images_protected; return the images to deregister."""
        to_delete = []
        for instance_id, instance_plan in sorted(plans.items()):
            images = {image["image_id"]: image for image in groups.get(instance_id, [])}
            for generation in instance_plan.keep:
                if generation.id not in images:
                    continue
                reason = instance_plan.reasons[generation.id]
                key = "images_protected" if generation.id in references else "images_retained"
                self.result[key].append(self._image_entry(images[generation.id], state=generation.state, reason=reason))
            for generation in instance_plan.delete:
                if generation.id in images:
                    to_delete.append((images[generation.id], instance_plan.reasons[generation.id]))
        return to_delete

    # -- step 3b: overlapping runs ------------------------------------------------------------

    def _settle_overlaps(self, groups, created):
        """(groups to plan, own images to deregister) once backups of overlapping runs are settled (settle_overlaps)."""
        sources = {image_id: image["instance_id"] for image_id, image in created.items() if image["instance_id"] not in self.failed_instances}
        settled = settle_overlaps(groups, sources, "image_id", self.options.min_interval, "deregisters")
        self.unpruned.update(settled.unsettled)
        self.warnings.extend(warning for _instance_id, warning in sorted(settled.unsettled.items()))
        self.result["images_retained"] += [self._image_entry(image, state=image["state"], reason=reason) for image, reason in settled.others]
        return settled.groups, settled.own_duplicates

    # -- step 5: delete ------------------------------------------------------------------------

    def _deregister(self, to_delete):
        def deregister(item):
            ec2_images.deregister_image(self.ec2, item[0]["image_id"])

        deregistered = []
        for outcome in run_bounded(deregister, to_delete, self.options.max_concurrency):
            image, reason = outcome.item
            if outcome.ok:
                deregistered.append(image)
                self.result["images_deregistered"].append(self._image_entry(image, reason=reason))
            else:
                self._fail(image["instance_id"], "DeregisterImage %s: %s" % (image["image_id"], _error_text(outcome.error)))
        return deregistered

    def _orphaned_snapshots(self, live_image_ids, instance_ids):
        """{snapshot_id: owner} for this policy's snapshots whose image is gone.

        A run stopped between DeregisterImage and DeleteSnapshot leaves them behind; the
        snapshot's CreateImage description names its image, and the tags name the instance.
        """
        owners = {}
        for snapshot in ebs_snapshots.describe_snapshots(self.ec2, managed_policy_filters(self.options.policy)):
            image_id = snapshot["image_id"]
            instance_id = snapshot["tags"].get(SOURCE_INSTANCE_KEY)
            if image_id and image_id not in live_image_ids and instance_id in instance_ids and instance_id not in self.failed_instances:
                owners[snapshot["snapshot_id"]] = {"image_id": image_id, "instance_id": instance_id,
                                                   "reason": "its image %s no longer exists" % image_id}
        return owners

    def _delete_snapshots(self, deregistered, live_image_ids, instance_ids):
        owners = self._orphaned_snapshots(live_image_ids, instance_ids)
        for image in deregistered:
            for snapshot_id in image["snapshot_ids"]:
                owners[snapshot_id] = {"image_id": image["image_id"], "instance_id": image["instance_id"],
                                       "reason": "its image %s was deregistered" % image["image_id"]}
        if not owners:
            return
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
            self.result["snapshots_retained"].append({"snapshot_id": snapshot_id, "image_id": owner["image_id"], "reason": reason})

        def delete(item):
            ebs_snapshots.delete_snapshot(self.ec2, item[0])

        for outcome in run_bounded(delete, deletable, self.options.max_concurrency):
            snapshot_id, owner = outcome.item
            if outcome.ok:
                self.result["snapshots_deleted"].append({"snapshot_id": snapshot_id, "image_id": owner["image_id"], "reason": owner["reason"]})
            else:
                self._fail(owner["instance_id"], "DeleteSnapshot %s: %s" % (snapshot_id, _error_text(outcome.error)))

    # -- the two entry points ------------------------------------------------------------------

    def _groups(self):
        images = ec2_images.describe_policy_images(self.ec2, self.options.policy)
        if self.images_before is None:
            self.images_before = images
        return group_by_source(images, "instance_id")

    def run(self, instances):
        instance_ids = [i["instance_id"] for i in instances]
        requests = self._requests(instances, self._groups())
        created = self._create(requests)
        if created and self.options.wait:
            self._wait(created)
        self.result["images_created"] = [self._image_entry(image, state=image["state"]) for _id, image in sorted(created.items())]
        groups = self._groups()
        planned, own_duplicates = self._settle_overlaps(groups, created)
        plans, references = self._plans(planned, instance_ids)
        to_delete = self._record_plans(planned, plans, references) + own_duplicates
        deregistered = self._deregister(to_delete)
        # From every image found, not only the planned ones: an overlapping run's snapshots are not orphans.
        live_image_ids = {image["image_id"] for group in groups.values() for image in group} - {image["image_id"] for image in deregistered}
        self._delete_snapshots(deregistered, live_image_ids, set(instance_ids))
        return self.result

    def preview(self, instances):
        """Check mode: the exact plan, assuming every creation succeeds; nothing is mutated."""
        instance_ids = [i["instance_id"] for i in instances]
        groups = self._groups()
        requests = self._requests(instances, groups)
        # With wait, the new image is available before pruning and counts as the newest generation.
        new_state = "available" if self.options.wait else "pending"
        extra = {instance["instance_id"]: [Generation(PLANNED_IMAGE_ID, self.now, new_state, True)] for instance, _name, _tags in requests}
        self.result["images_created"] = [{"image_id": None, "instance_id": instance["instance_id"], "name": name, "created_at": format_created_at(self.now),
                                          "snapshot_ids": [], "state": "planned"} for instance, name, _tags in requests]
        plans, references = self._plans(groups, instance_ids, extra)
        for image, reason in self._record_plans(groups, plans, references):
            self.result["images_deregistered"].append(self._image_entry(image, reason=reason))
        return self.result
