# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Snapshots left behind by deregistered AMIs, and their safe deletion.

DeregisterImage leaves the image's snapshots in place, and they are billed until someone
deletes them. A snapshot made for an AMI carries AWS's description "Created by
CreateImage(i-...) for ami-..."; when that AMI no longer exists and no other image uses the
snapshot, nothing can restore from it through an AMI any more.
"""

import datetime

from ansible_collections.cloudops.aws.plugins.module_utils import ebs_snapshots
from ansible_collections.cloudops.aws.plugins.module_utils import ec2_images
from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_code
from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_text
from ansible_collections.cloudops.aws.plugins.module_utils.durations import format_duration
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import MANAGED_BY_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import MANAGED_BY_VALUE
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import is_managed
from ansible_collections.cloudops.aws.plugins.module_utils.workers import run_bounded

# AWS Backup owns the life cycle of its recovery points; deleting one behind its back breaks its vault.
AWS_BACKUP_TAG = "aws:backup:source-resource"
# AWS refuses to delete a snapshot a registered image uses: one restored from after the plan was made.
IN_USE = "InvalidSnapshot.InUse"
CREATE_IMAGE_DESCRIPTION_FILTER = "Created by CreateImage(*) for ami-*"


def candidate_filters(include_unmanaged):
    """Managed snapshots only, or every snapshot CreateImage made when unmanaged ones are included."""
    if include_unmanaged:
        return [{"Name": "description", "Values": [CREATE_IMAGE_DESCRIPTION_FILTER]}]
    return [{"Name": "tag:" + MANAGED_BY_KEY, "Values": [MANAGED_BY_VALUE]}]


def _entry(snapshot, **extra):
    entry = {
        "snapshot_id": snapshot["snapshot_id"],
        "image_id": snapshot["image_id"],
        "volume_size": snapshot["volume_size"],
        "start_time": snapshot["start_time"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "managed": is_managed(snapshot["tags"]),
    }
    entry.update(extra)
    return entry


def _skip_reason(snapshot, live_images, users, min_age, now):
    if snapshot["image_id"] in live_images:
        return "its image %s exists" % snapshot["image_id"]
    if snapshot["snapshot_id"] in users:
        return "used by %s" % ", ".join(sorted(users[snapshot["snapshot_id"]]))
    if AWS_BACKUP_TAG in snapshot["tags"]:
        return "managed by AWS Backup (%s)" % AWS_BACKUP_TAG
    age = now - snapshot["start_time"]
    if age < min_age:
        # A clock running behind AWS's can make a fresh snapshot look younger than zero.
        return "%s old, younger than min_age %s" % (format_duration(max(age, datetime.timedelta(0))), format_duration(min_age))
    return None


def plan_cleanup(ec2, include_unmanaged, min_age, now):
    """(to delete, skipped): orphaned snapshots and, for the others considered, why they stay."""
    snapshots = [s for s in ebs_snapshots.describe_snapshots(ec2, candidate_filters(include_unmanaged)) if s["image_id"]]
    live_images = {image["image_id"] for image in ec2_images.describe_images_by_id(ec2, sorted({s["image_id"] for s in snapshots}))}
    orphan_ids = [s["snapshot_id"] for s in snapshots if s["image_id"] not in live_images]
    users = ec2_images.images_using_snapshots(ec2, orphan_ids)
    to_delete, skipped = [], []
    for snapshot in sorted(snapshots, key=lambda s: s["snapshot_id"]):
        reason = _skip_reason(snapshot, live_images, users, min_age, now)
        if reason:
            skipped.append(_entry(snapshot, reason=reason))
        else:
            to_delete.append(_entry(snapshot, reason="its image %s no longer exists" % snapshot["image_id"]))
    return to_delete, skipped


def delete_orphans(ec2, to_delete, max_concurrency):
    """(deleted, kept, failures), one failure not stopping the others.

    An image registered from an orphan between the plan and its delete (a restore racing this
    run) makes AWS refuse the delete: that snapshot is no orphan any more, so it is kept and
    reported with the reason, not as a failure. AWS's refusal is the guard; a describe before
    every delete would only narrow the race, at one more call per snapshot.
    """
    deleted, kept, failures = [], [], []
    for outcome in run_bounded(lambda entry: ebs_snapshots.delete_snapshot(ec2, entry["snapshot_id"]), to_delete, max_concurrency):
        if outcome.ok:
            deleted.append(outcome.item)
        elif error_code(outcome.error) == IN_USE:
            kept.append(dict(outcome.item, reason="an image was registered from it during this run (%s)" % IN_USE))
        else:
            failures.append({"snapshot_id": outcome.item["snapshot_id"], "error": error_text(outcome.error)})
    return deleted, kept, failures


class OrphanCleanup:
    """One run of orphan_snapshot_cleanup; `result` holds everything returned, also when the run fails.

    `warnings` is there for module_results.ending_on_errors, as in the other modules' runs; this
    run has none of its own: every snapshot it passes over is in `result` with the reason.
    """

    def __init__(self, ec2, include_unmanaged, min_age, max_concurrency):
        self.ec2 = ec2
        self.include_unmanaged = include_unmanaged
        self.min_age = min_age
        self.max_concurrency = max_concurrency
        self.warnings = []
        self.result = {"changed": False, "snapshots_deleted": [], "snapshots_skipped": [], "gib_freed": 0, "failures": []}

    def preview(self, now):
        to_delete, skipped = plan_cleanup(self.ec2, self.include_unmanaged, self.min_age, now)
        return self._record(to_delete, skipped, [])

    def run(self, now):
        to_delete, skipped = plan_cleanup(self.ec2, self.include_unmanaged, self.min_age, now)
        deleted, now_in_use, failures = delete_orphans(self.ec2, to_delete, self.max_concurrency)
        return self._record(deleted, sorted(skipped + now_in_use, key=lambda entry: entry["snapshot_id"]), failures)

    def _record(self, deleted, skipped, failures):
        self.result.update(changed=bool(deleted), snapshots_deleted=deleted, snapshots_skipped=skipped,
                           gib_freed=sum(entry["volume_size"] for entry in deleted), failures=failures)
        return self.result
