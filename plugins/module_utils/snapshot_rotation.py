# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""EBS snapshot backups with generations per volume, in the same sequence as ami_rotation:
create (bounded pool), wait with one poll for all, read the policy's snapshots again from AWS,
drop this run's twins (retried requests) and, with min_interval, settle the snapshots of an
overlapping run of the policy, plan each volume's group, delete.

A job is what one create call makes: a single volume (CreateSnapshot), or an instance's
attached volumes as one crash-consistent set (CreateSnapshots). A volume whose snapshot
failed in this run is not pruned (DESIGN.md, safety rule 5).
"""

import collections
import re
import uuid

from ansible_collections.cloudops.aws.plugins.module_utils import ebs_snapshots
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_images import images_using_snapshots
from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import group_by_source
from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import min_interval_reason
from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import plan_groups
from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import settle_overlaps
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import RESERVED_PREFIX
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import SOURCE_INSTANCE_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import SOURCE_VOLUME_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import format_created_at
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import managed_policy_filters
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import ownership_tags
from ansible_collections.cloudops.aws.plugins.module_utils.retention import Generation
from ansible_collections.cloudops.aws.plugins.module_utils.workers import run_bounded

SnapshotRotationOptions = collections.namedtuple(
    "SnapshotRotationOptions",
    "policy retention description extra_tags copy_volume_tags exclude_boot_volume min_interval wait wait_timeout max_concurrency",
)

PLANNED_SNAPSHOT_ID = "(new)"
# The end of every description this module writes (_description): the run that made the snapshot.
RUN_MARK = re.compile(r"\[run ([0-9a-f]{12})\]$")


def volume_job(volume):
    return {"instance_id": volume["instance_id"], "volumes": [volume], "multi_volume": False, "excluded_data_volume_ids": []}


def instance_job(volume_set):
    return {"instance_id": volume_set["instance_id"], "volumes": volume_set["volumes"], "multi_volume": True,
            "excluded_data_volume_ids": volume_set["excluded_data_volume_ids"]}


def _copyable_tags(tags):
    """Volume tags worth carrying over: AWS's own keys cannot be set, ours are reserved."""
    return {k: v for k, v in tags.items() if not k.startswith(("aws:", RESERVED_PREFIX))}


class SnapshotRotation:
    """One run of snapshot_rotate over a list of jobs."""

    def __init__(self, ec2, options, now):
        self.ec2 = ec2
        self.options = options
        self.now = now
        # Marks this run's snapshots: a CreateSnapshot retried after a lost answer leaves a twin
        # carrying the same mark, which is recognised and deleted (a concurrent run has its own).
        self.run_mark = uuid.uuid4().hex[:12]
        self.result = {key: [] for key in ("snapshots_created", "snapshots_deleted", "snapshots_retained", "volumes_skipped", "failures")}
        self.warnings = []
        self.failed_volumes = set()
        # Volumes whose overlap with another run is not settled yet: not pruned in this run.
        self.unpruned = set()
        self.snapshots_before = None

    def _fail(self, volume_ids, instance_id, message):
        self.failed_volumes.update(volume_ids)
        for volume_id in volume_ids:
            self.result["failures"].append({"volume_id": volume_id, "instance_id": instance_id, "error": message})

    @staticmethod
    def _entry(snapshot, **extra):
        entry = {
            "snapshot_id": snapshot["snapshot_id"],
            "volume_id": snapshot["source_volume"],
            "instance_id": snapshot.get("instance_id") or snapshot["tags"].get(SOURCE_INSTANCE_KEY, ""),
            "created_at": format_created_at(snapshot["created_at"]),
            "state": snapshot["state"],
            "volume_size": snapshot["volume_size"],
        }
        entry.update(extra)
        return entry

    def _groups(self):
        snapshots = ebs_snapshots.describe_snapshots(self.ec2, managed_policy_filters(self.options.policy))
        if self.snapshots_before is None:
            self.snapshots_before = snapshots
        return group_by_source(snapshots, "source_volume")

    # -- create --------------------------------------------------------------------------------

    def _jobs_to_run(self, jobs, groups):
        """Jobs to run now; a job is skipped when every one of its volumes has a recent enough backup."""
        selected = []
        for job in jobs:
            reasons = [min_interval_reason(groups.get(v["volume_id"], []), "snapshot_id", self.options.min_interval, self.now) for v in job["volumes"]]
            if job["volumes"] and all(reasons):
                for volume, reason in zip(job["volumes"], reasons):
                    self.result["volumes_skipped"].append({"volume_id": volume["volume_id"], "instance_id": job["instance_id"], "reason": reason})
            elif job["volumes"]:
                selected.append(job)
        return selected

    def _tags(self, instance_id, volume=None):
        tags = dict(self.options.extra_tags)
        if volume is not None and self.options.copy_volume_tags:
            tags.update(_copyable_tags(volume["tags"]))
        lineage = {"source_volume": volume["volume_id"]} if volume is not None else {}
        if instance_id:
            lineage["source_instance"] = instance_id
        tags.update(ownership_tags(self.options.policy, self.now, **lineage))
        return tags

    def _description(self, subject):
        template = self.options.description or "cloudops.aws {policy} snapshot of {subject}"
        return "%s [run %s]" % (template.format(policy=self.options.policy, subject=subject), self.run_mark)

    def _create_job(self, job):
        """{snapshot_id: volume_id} made by one job."""
        if not job["multi_volume"]:
            volume = job["volumes"][0]
            snapshot_id = ebs_snapshots.create_volume_snapshot(
                self.ec2, volume["volume_id"], self._description(volume["volume_id"]), self._tags(job["instance_id"], volume))
            return {snapshot_id: volume["volume_id"]}
        made = ebs_snapshots.create_instance_snapshots(
            self.ec2, job["instance_id"], self.options.exclude_boot_volume, job["excluded_data_volume_ids"],
            self._description(job["instance_id"]), self._tags(job["instance_id"]), self.options.copy_volume_tags)
        # CreateSnapshots tags every snapshot of the set alike; the volume lineage is per snapshot.
        for snapshot_id, volume_id in made.items():
            ebs_snapshots.tag_resource(self.ec2, snapshot_id, {SOURCE_VOLUME_KEY: volume_id})
        return made

    def _create(self, jobs):
        created = {}
        for outcome in run_bounded(self._create_job, jobs, self.options.max_concurrency):
            job = outcome.item
            volumes = {v["volume_id"]: v for v in job["volumes"]}
            if not outcome.ok:
                call = "CreateSnapshots" if job["multi_volume"] else "CreateSnapshot"
                self._fail(sorted(volumes), job["instance_id"], "%s: %s" % (call, outcome.error))
                continue
            for snapshot_id, volume_id in outcome.value.items():
                created[snapshot_id] = {"snapshot_id": snapshot_id, "source_volume": volume_id, "instance_id": job["instance_id"],
                                        "created_at": self.now, "state": "pending", "volume_size": volumes.get(volume_id, {}).get("size", 0), "tags": {}}
        return created

    def _wait(self, created):
        latest = ebs_snapshots.wait_for_snapshots(self.ec2, sorted(created), self.options.wait_timeout)
        for snapshot_id, snapshot in created.items():
            if snapshot_id in latest:
                snapshot["state"] = latest[snapshot_id]["state"]
            if snapshot["state"] == "pending":
                self.warnings.append("%s of %s is still pending after wait_timeout %ss; it becomes a generation once completed"
                                     % (snapshot_id, snapshot["source_volume"], self.options.wait_timeout))
            elif snapshot["state"] != "completed":
                self._fail([snapshot["source_volume"]], snapshot["instance_id"], "snapshot %s ended %s" % (snapshot_id, snapshot["state"]))

    # -- plan and delete -----------------------------------------------------------------------

    def _retried_twins(self, groups, created):
        """Extra snapshots of a volume made by a CreateSnapshot retried after AWS had acted, in this run or an earlier one.

        Run marks are unique per run, so snapshots of one volume with one mark are one backup. This
        run keeps the snapshot AWS answered with. Of a killed run's twins every run keeps the same
        one, the oldest then the lowest id, and deletes the others only once that one is completed.
        """
        ours = {snapshot["source_volume"]: snapshot_id for snapshot_id, snapshot in created.items()}
        twins = []
        for volume_id, group in sorted(groups.items()):
            by_mark = collections.defaultdict(list)
            for snapshot in group:
                mark = RUN_MARK.search(snapshot["description"])
                if mark:
                    by_mark[mark.group(1)].append(snapshot)
            for mark, same_run in sorted(by_mark.items()):
                if mark == self.run_mark and volume_id in ours:
                    kept = ours[volume_id]
                else:
                    first = min(same_run, key=lambda snapshot: (snapshot["created_at"], snapshot["snapshot_id"]))
                    if first["state"] != "completed":
                        continue
                    kept = first["snapshot_id"]
                twins += [(snapshot, "duplicate of %s made by a retried request" % kept) for snapshot in same_run if snapshot["snapshot_id"] != kept]
        return twins

    def _settle_overlaps(self, groups, created):
        """(groups to plan, own snapshots to delete) once snapshots of overlapping runs are settled (settle_overlaps)."""
        sources = {snapshot_id: s["source_volume"] for snapshot_id, s in created.items() if s["source_volume"] not in self.failed_volumes}
        settled = settle_overlaps(groups, sources, "snapshot_id", self.options.min_interval, "deletes")
        self.unpruned.update(settled.unsettled)
        self.warnings.extend(warning for _volume_id, warning in sorted(settled.unsettled.items()))
        self.result["snapshots_retained"] += [self._entry(snapshot, reason=reason) for snapshot, reason in settled.others]
        return settled.groups, settled.own_duplicates

    def _find_references(self, snapshot_ids):
        return {snapshot_id: "backs %s" % ", ".join(sorted(images))
                for snapshot_id, images in images_using_snapshots(self.ec2, snapshot_ids).items()}

    def _plan(self, groups, volume_ids, extra_generations=None):
        selected = {v: groups.get(v, []) for v in volume_ids if v not in self.failed_volumes and v not in self.unpruned}
        plans, _references = plan_groups(selected, "snapshot_id", self.options.retention, self._find_references, extra_generations)
        to_delete = []
        for volume_id, volume_plan in sorted(plans.items()):
            snapshots = {s["snapshot_id"]: s for s in selected[volume_id]}
            for generation in volume_plan.keep:
                if generation.id in snapshots:
                    self.result["snapshots_retained"].append(self._entry(snapshots[generation.id], reason=volume_plan.reasons[generation.id]))
            for generation in volume_plan.delete:
                if generation.id in snapshots:
                    to_delete.append((snapshots[generation.id], volume_plan.reasons[generation.id]))
        return to_delete

    def _delete(self, to_delete):
        for outcome in run_bounded(lambda item: ebs_snapshots.delete_snapshot(self.ec2, item[0]["snapshot_id"]), to_delete, self.options.max_concurrency):
            snapshot, reason = outcome.item
            if outcome.ok:
                self.result["snapshots_deleted"].append(self._entry(snapshot, reason=reason))
            else:
                self._fail([snapshot["source_volume"]], snapshot["tags"].get(SOURCE_INSTANCE_KEY, ""),
                           "DeleteSnapshot %s: %s" % (snapshot["snapshot_id"], outcome.error))

    @staticmethod
    def _volume_ids(jobs):
        return sorted({v["volume_id"] for job in jobs for v in job["volumes"]})

    def run(self, jobs):
        created = self._create(self._jobs_to_run(jobs, self._groups()))
        if created and self.options.wait:
            self._wait(created)
        self.result["snapshots_created"] = [self._entry(s) for _id, s in sorted(created.items())]
        groups = self._groups()
        twins = self._retried_twins(groups, created)
        twin_ids = {s["snapshot_id"] for s, _reason in twins}
        groups = {volume_id: [s for s in group if s["snapshot_id"] not in twin_ids] for volume_id, group in groups.items()}
        groups, own_duplicates = self._settle_overlaps(groups, created)
        self._delete(twins + own_duplicates + self._plan(groups, self._volume_ids(jobs)))
        return self.result

    def preview(self, jobs):
        """Check mode: the exact plan, assuming every snapshot is made; nothing is mutated."""
        groups = self._groups()
        planned = self._jobs_to_run(jobs, groups)
        new_state = "completed" if self.options.wait else "pending"
        extra = {v["volume_id"]: [Generation(PLANNED_SNAPSHOT_ID, self.now, new_state, True)] for job in planned for v in job["volumes"]}
        self.result["snapshots_created"] = [{"snapshot_id": None, "volume_id": v["volume_id"], "instance_id": job["instance_id"],
                                             "created_at": format_created_at(self.now), "state": "planned", "volume_size": v["size"]}
                                            for job in planned for v in job["volumes"]]
        for snapshot, reason in self._plan(groups, self._volume_ids(jobs), extra):
            self.result["snapshots_deleted"].append(self._entry(snapshot, reason=reason))
        return self.result
