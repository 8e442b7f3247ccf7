# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Copies of EBS snapshots in another Region (and account): the rotation engine's adapter for DR copies.

What differs from other backups: the sources exist already (selected in the source Region by
snapshot_selection), so a copy carries its source's backup time and a group is (policy, source
volume) in the destination; a source with a live copy is not copied again; encrypted sources
whose copy cannot be made as asked are refused before anything starts; copies start through a
queue that keeps AWS's limit of copies in flight (copy_queue); cross-account sources are shared
for their copy and unshared once it is done; two copies of one source (a retried CopySnapshot,
or overlapping runs) are settled to the one started first.
"""

import collections
import datetime
import time
from dataclasses import dataclass
from typing import Optional

from ansible_collections.cloudops.aws.plugins.module_utils import ebs_snapshots
from ansible_collections.cloudops.aws.plugins.module_utils.aws_accounts import key_manager
from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_text
from ansible_collections.cloudops.aws.plugins.module_utils.copy_queue import AWS_COPIES_IN_FLIGHT
from ansible_collections.cloudops.aws.plugins.module_utils.copy_queue import CopyQueue
from ansible_collections.cloudops.aws.plugins.module_utils.copy_queue import CopyRequest
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_images import images_using_snapshots
from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import settle_overlaps
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import POLICY_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import SOURCE_SNAPSHOT_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import format_created_at
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import ownership_tags
from ansible_collections.cloudops.aws.plugins.module_utils.regions import region_reached
from ansible_collections.cloudops.aws.plugins.module_utils.regions import validate_region
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_engine import BackupAdapter
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_engine import Request
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_engine import ResultKeys
from ansible_collections.cloudops.aws.plugins.module_utils.workers import run_bounded

DEFAULT_POLICY = "default"
# Copies that exist or are being made: a source with one is not copied again.
LIVE_STATES = ("pending", "completed")
# Two copies of one source are one too many however far apart they were started.
EVERY_COPY = datetime.timedelta.max


@dataclass(frozen=True)
class CopySettings:
    """snapshot_copy_generations' own options, checked when made; ValueError names the option and the value."""

    source_region: str
    destination_region: str
    only_latest: bool = True
    max_in_flight: int = AWS_COPIES_IN_FLIGHT
    encrypted: bool = False
    kms_key_id: Optional[str] = None
    # The destination account when it is not the caller's: sources are shared with it for their copy.
    destination_account: Optional[str] = None

    def __post_init__(self):
        if not self.destination_region:
            raise ValueError("region: the destination Region is required")
        validate_region("source_region", self.source_region)
        validate_region("region", self.destination_region)
        if self.kms_key_id and not self.encrypted:
            raise ValueError("kms_key_id: %r is given but encrypted is false; set encrypted: true (AWS requires it with a key)" % self.kms_key_id)
        if not 1 <= self.max_in_flight <= AWS_COPIES_IN_FLIGHT:
            raise ValueError("max_copies_in_flight: must be between 1 and %d (AWS's limit per destination Region), got %d"
                             % (AWS_COPIES_IN_FLIGHT, self.max_in_flight))


class SnapshotCopies(BackupAdapter):
    """DR copies of source snapshots, one per source, with generations per (policy, source volume)."""

    id_key = "snapshot_id"
    noun = "copy"
    finished_state = "completed"
    keys = ResultKeys(created="copies_started", removed="copies_deleted", retained="copies_retained", protected=None, skipped="sources_skipped")
    extra_result_keys = ("copies_completed", "sources_unshared")
    also_changes = ("sources_unshared",)
    remove_action = "DeleteSnapshot"
    diff_key = "copies"

    def __init__(self, source_ec2, destination_ec2, source_kms, settings, copy_settings, sleep=time.sleep, clock=time.monotonic):
        self.source_ec2 = source_ec2
        self.ec2 = destination_ec2
        self.kms = source_kms
        self.settings = settings
        self.copies = copy_settings
        # The run's clock too (RotationRun(clock=...)): queue and waits share one deadline.
        self.sleep = sleep
        self.clock = clock

    # -- groups and names ----------------------------------------------------------------------

    def _policy_of(self, source):
        return self.settings.policy or source["tags"].get(POLICY_KEY) or DEFAULT_POLICY

    def group_of_source(self, source):
        return (self._policy_of(source), source["source_volume"])

    def source_labels(self, source):
        return {"source_snapshot_id": source["snapshot_id"], "source_volume_id": source["source_volume"]}

    def group_of(self, backup):
        return (backup["tags"].get(POLICY_KEY, ""), backup["source_volume"])

    def labels(self, backup):
        return {"source_snapshot_id": backup["tags"].get(SOURCE_SNAPSHOT_KEY), "source_volume_id": backup["source_volume"]}

    def generation_key(self, backup):
        return backup["tags"].get(SOURCE_SNAPSHOT_KEY) or backup["snapshot_id"]

    def group_keys(self, subjects):
        return sorted({self.group_of_source(source) for source in subjects})

    def describe(self):
        # run() and preview() begin here, in the destination Region (the option `region`).
        with region_reached("region", self.copies.destination_region):
            return ebs_snapshots.describe_copies(self.ec2, self.copies.source_region)

    # -- what to copy --------------------------------------------------------------------------

    def requests(self, subjects, run):
        """One request per source without a live copy, oldest first."""
        copied = collections.defaultdict(list)
        for copy in run.backups_before:
            if copy["state"] in LIVE_STATES:
                copied[copy["tags"].get(SOURCE_SNAPSHOT_KEY)].append(copy)
        requests = []
        for source in sorted(subjects, key=lambda s: (s["created_at"], s["snapshot_id"])):
            existing = sorted(copied.get(source["snapshot_id"], []), key=lambda c: c["snapshot_id"])
            if existing:
                run.skip(self.source_labels(source), "already copied to %s (%s)" % (existing[0]["snapshot_id"], existing[0]["state"]))
            else:
                requests.append(Request(source, {self.group_of_source(source): self.source_labels(source)}, source["created_at"]))
        return requests

    def admit(self, requests, run):
        """The requests whose copy can be made as asked; only the sources retention keeps have their keys read."""
        managers = self._key_managers([request.subject for request in requests])
        admitted = []
        for request in requests:
            source = request.subject
            problem = self._encryption_problem(source, managers)
            if problem:
                run.fail(self.group_of_source(source), self.source_labels(source), "%s: %s" % (source["snapshot_id"], problem))
            else:
                admitted.append(request)
        return admitted

    def _encryption_problem(self, source, managers):
        """Why this source's copy cannot be made as asked, or None."""
        if not source["encrypted"] or not source["kms_key_id"]:
            return None
        manager = managers.get(source["kms_key_id"])
        account = self.copies.destination_account
        if isinstance(manager, Exception):
            return "could not read its KMS key %s: %s" % (source["kms_key_id"], error_text(manager))
        if manager == "AWS" and account:
            return ("refused: encrypted with the AWS managed key aws/ebs, whose key policy cannot be changed to let account %s use it, "
                    "so AWS does not let it be shared; re-encrypt it with a customer managed key (copy it in the source account with "
                    "a KmsKeyId) and share that key with account %s" % (account, account))
        if manager != "AWS" and not self.copies.kms_key_id:
            return ("encrypted with the customer managed key %s; KMS keys belong to one Region and account, so give kms_key_id "
                    "(a key in %s that the destination account can use), or AWS would encrypt the copy with the destination's "
                    "AWS managed key aws/ebs" % (source["kms_key_id"], self.copies.destination_region))
        return None

    def _key_managers(self, sources):
        managers = {}
        for key_id in sorted({s["kms_key_id"] for s in sources if s["encrypted"] and s["kms_key_id"]}):
            try:
                managers[key_id] = key_manager(self.kms, key_id)
            except Exception as error:  # pylint: disable=broad-except
                managers[key_id] = error
        return managers

    # -- copy and wait ---------------------------------------------------------------------------

    def _tags(self, source):
        tags = {k: v for k, v in source["tags"].items() if not k.startswith("aws:")}
        tags.update(self.settings.extra_tags)
        tags.update(ownership_tags(self._policy_of(source), source["created_at"], source_snapshot=source["snapshot_id"],
                                   source_region=self.copies.source_region, source_volume=source["source_volume"]))
        return tags

    def _copy_request(self, source, run):
        description = "cloudops.aws copy of %s (%s) from %s" % (source["snapshot_id"], source["source_volume"], self.copies.source_region)
        return CopyRequest(source["snapshot_id"], run.mark.stamp(description), self._tags(source))

    def _deadline(self, run):
        # wait_timeout bounds the whole run here: queue slots and copies, which can take hours.
        return run.started_at + self.settings.wait_timeout

    def create_all(self, requests, run, on_created=None):
        """{copy_id: copy} started through the queue; sources still queued at the deadline are skipped, never failed.

        `on_created({copy_id: copy})` is called as each copy starts.
        """
        copies = self.copies
        queue = CopyQueue(self.source_ec2, self.ec2, copies.source_region, copies.max_in_flight, self.settings.max_concurrency,
                          copies.encrypted, copies.kms_key_id, copies.destination_account, sleep=self.sleep, clock=self.clock)
        pending = {c["snapshot_id"] for c in run.backups_before if c["state"] == "pending"}
        sources = {request.subject["snapshot_id"]: request.subject for request in requests}
        started = {}

        def copy_started(copy_id, request):
            source = sources[request.source_snapshot_id]
            started[copy_id] = {"snapshot_id": copy_id, "tags": request.tags, "source_volume": source["source_volume"], "created_at": source["created_at"],
                                "state": "pending", "volume_size": source["volume_size"], "state_message": "", "managed": True}
            if on_created is not None:
                on_created({copy_id: started[copy_id]})

        outcome = queue.start([self._copy_request(request.subject, run) for request in requests], pending, self._deadline(run), copy_started)
        run.warnings.extend(outcome.warnings)
        for request, error in outcome.failed:
            source = sources[request.source_snapshot_id]
            run.fail(self.group_of_source(source), self.source_labels(source), "copying %s: %s" % (request.source_snapshot_id, error_text(error)))
        for request in outcome.queued:
            run.skip(self.source_labels(sources[request.source_snapshot_id]),
                     "queued: %d copies in flight to %s (max_copies_in_flight %d) until wait_timeout %ss; a later run copies it"
                     % (outcome.in_flight, copies.destination_region, copies.max_in_flight, self.settings.wait_timeout))
        return started

    def wait(self, backup_ids, timeout):
        return ebs_snapshots.wait_for_snapshots(self.ec2, backup_ids, timeout, sleep=self.sleep, clock=self.clock)

    def wait_timeout_left(self, run):
        return self._deadline(run) - run.clock()

    def earlier_pending(self, run):
        # Copies an earlier run left pending in these groups become generations once completed.
        return {c["snapshot_id"]: c for c in run.backups_before if c["state"] == "pending" and self.group_of(c) in run.selected_groups}

    def after_wait(self, created, backups, run, groups):
        pending_before = {c["snapshot_id"] for c in run.backups_before if c["state"] == "pending" and self.group_of(c) in groups}
        completed = (pending_before | set(created)) & {c["snapshot_id"] for c in backups if c["state"] == "completed"}
        run.result["copies_completed"] += [self.entry(c) for c in backups if c["snapshot_id"] in completed]
        if self.copies.destination_account:
            self._unshare(backups, run)

    def _unshare(self, copies, run):
        """Stop sharing the sources whose copies are done; a source with a copy still pending stays shared."""
        account = self.copies.destination_account
        pending = {c["tags"].get(SOURCE_SNAPSHOT_KEY) for c in copies if c["state"] == "pending"}
        done = {c["tags"].get(SOURCE_SNAPSHOT_KEY) for c in copies if c["state"] != "pending"}
        shared = ebs_snapshots.shared_snapshot_ids(self.source_ec2, account)
        targets = sorted(snapshot_id for snapshot_id in shared if snapshot_id in done and snapshot_id not in pending)

        def unshare(snapshot_id):
            ebs_snapshots.set_shared(self.source_ec2, snapshot_id, account, False)

        for outcome in run_bounded(unshare, targets, self.settings.max_concurrency):
            if outcome.ok:
                run.result["sources_unshared"].append({"source_snapshot_id": outcome.item, "account_id": account})
            else:
                run.warnings.append("could not stop sharing %s with account %s: %s" % (outcome.item, account, error_text(outcome.error)))

    # -- settle, plan, remove ------------------------------------------------------------------

    def settle(self, groups, created, run):
        """(groups to plan, own duplicates to delete) once each source has one live copy.

        A CopySnapshot retried after a lost answer, or two overlapping runs (two AWX jobs that both
        read the destination before either copied), make two copies of one source. They are
        settled as overlapping backups are (settle_overlaps): every run keeps the same copy, the
        one started first (then the lowest id), and a run deletes only its own duplicates (started
        by it, or bearing its mark), once they and the kept copy are completed; a run that deleted
        another's copy would leave that run waiting for it until wait_timeout. A duplicate already
        completed when this run began is adopted as this run's own: the run that made it has
        stopped, or would have deleted it. A source not settled yet leaves its group unpruned;
        duplicates are never generations.
        """
        settled_before = {c["snapshot_id"] for c in run.backups_before if c["state"] != "pending"}
        by_source = collections.defaultdict(list)
        for key, group in groups.items():
            for copy in group:
                if key not in run.failed_groups and copy["state"] in LIVE_STATES:
                    # Ordered by when each copy was started: the copies share their source's created_at.
                    by_source[copy["tags"].get(SOURCE_SNAPSHOT_KEY)].append(dict(copy, created_at=copy["start_time"]))
        twins = {source_id: same for source_id, same in by_source.items() if len(same) > 1}
        ours = {c["snapshot_id"]: source_id for source_id, same in twins.items() for c in same
                if c["snapshot_id"] in created or run.mark.is_on(c["description"]) or c["snapshot_id"] in settled_before}
        settlement = settle_overlaps(twins, ours, "snapshot_id", EVERY_COPY, "deletes")
        copies = {c["snapshot_id"]: c for group in groups.values() for c in group}
        own = {item["snapshot_id"] for item, _reason in settlement.own_duplicates}
        duplicates, left_out = [], set()
        for source_id, same in sorted(twins.items()):
            remaining = settlement.groups[source_id]
            if len(remaining) > 1:
                # None of this run's copies settled them: another run is still making or settling them.
                run.warnings.append(settlement.unsettled.get(source_id) or "%s: its copies %s are settled by the runs that made them; not pruned in this run"
                                    % (source_id, ", ".join(sorted(c["snapshot_id"] for c in same))))
                run.unpruned.add(self.group_of(same[0]))
                continue
            kept = remaining[0]["snapshot_id"]
            reason = "duplicate copy of %s (%s is kept)" % (source_id, kept)
            for copy_id in sorted({c["snapshot_id"] for c in same} - {kept}):
                left_out.add(copy_id)
                if copy_id in own:
                    duplicates.append((copies[copy_id], reason))
                else:
                    run.result["copies_retained"].append(self.entry(copies[copy_id], reason=reason + "; the run that made it deletes it"))
        planned = {key: [c for c in group if c["snapshot_id"] not in left_out] for key, group in groups.items()}
        return planned, duplicates

    def find_references(self, snapshot_ids):
        return {snapshot_id: "backs %s" % ", ".join(sorted(images)) for snapshot_id, images in images_using_snapshots(self.ec2, snapshot_ids).items()}

    def remove(self, backup):
        ebs_snapshots.delete_snapshot(self.ec2, backup["snapshot_id"])

    # -- results -------------------------------------------------------------------------------

    def entry(self, backup, **extra):
        entry = {
            "snapshot_id": backup["snapshot_id"],
            "source_snapshot_id": backup["tags"].get(SOURCE_SNAPSHOT_KEY),
            "source_volume_id": backup["source_volume"],
            "policy": backup["tags"].get(POLICY_KEY),
            "created_at": format_created_at(backup["created_at"]),
            "state": backup["state"],
            "volume_size": backup["volume_size"],
        }
        entry.update(extra)
        return entry

    def planned_entries(self, request, state):
        source = request.subject
        return [{"snapshot_id": None, "source_snapshot_id": source["snapshot_id"], "source_volume_id": source["source_volume"],
                 "policy": self._policy_of(source), "created_at": format_created_at(source["created_at"]), "state": state,
                 "volume_size": source["volume_size"]}]

    def diff_line(self, entry):
        return "%s %s" % (entry["snapshot_id"] or "(new)", entry["source_snapshot_id"])
