# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Selecting the EBS snapshots to copy: by id or by DescribeSnapshots filters, completed ones only,
optionally the newest of each source volume (as ebs_volumes selects the volumes to snapshot)."""

from ansible_collections.cloudops.aws.plugins.module_utils import ebs_snapshots
from ansible_collections.cloudops.aws.plugins.module_utils.selection import REFUSED_FILTER_CODES
from ansible_collections.cloudops.aws.plugins.module_utils.selection import SelectionError
from ansible_collections.cloudops.aws.plugins.module_utils.selection import filter_list
from ansible_collections.cloudops.aws.plugins.module_utils.selection import refusal_named


def select_sources(ec2, snapshot_ids, filters, only_latest):
    """(sources to consider, [(summary, reason) skipped]) in the source Region.

    Named ids that do not exist raise SelectionError before anything is done.
    """
    if snapshot_ids:
        found = ebs_snapshots.describe_snapshots_by_id(ec2, snapshot_ids)
        missing = [snapshot_id for snapshot_id in snapshot_ids if snapshot_id not in found]
        if missing:
            raise SelectionError("snapshot_ids: not found among this account's snapshots: %s" % ", ".join(missing))
        snapshots = [found[snapshot_id] for snapshot_id in dict.fromkeys(snapshot_ids)]
    else:
        with refusal_named("filters", filters, REFUSED_FILTER_CODES):
            snapshots = ebs_snapshots.describe_snapshots(ec2, filter_list(filters))
    skipped = [(s, "state %s: only completed snapshots are copied" % s["state"]) for s in snapshots if s["state"] != "completed"]
    completed = [s for s in snapshots if s["state"] == "completed"]
    if not only_latest:
        return completed, skipped
    newest = {}
    for snapshot in sorted(completed, key=lambda s: (s["created_at"], s["snapshot_id"])):
        newest[snapshot["source_volume"]] = snapshot
    for snapshot in completed:
        latest = newest[snapshot["source_volume"]]
        if latest is not snapshot:
            skipped.append((snapshot, "only_latest: %s is the newest completed snapshot of %s" % (latest["snapshot_id"], snapshot["source_volume"])))
    return sorted(newest.values(), key=lambda s: s["snapshot_id"]), skipped
