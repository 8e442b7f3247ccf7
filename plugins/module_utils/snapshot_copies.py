# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Copies of EBS snapshots in another Region (and account), with generations of the copies.

The sequence, in the order of ami_rotation:
1. describe the sources (source Region and account) and the copies the destination already
   holds (their cloudops:source-snapshot tag says what they are copies of), once each;
2. choose the sources to copy: completed, not copied yet, past min_interval, and kept by the
   retention plan of their group (existing copies and planned ones together); refuse encrypted
   sources whose copy cannot be made as asked, before anything is started;
3. start the copies through the copy queue (copy_queue.CopyQueue), which keeps at most
   max_in_flight of them pending in the destination Region (AWS allows 20);
4. wait for them with one poll for all, then stop sharing the sources whose copies are done;
5. describe the copies again and plan each (policy, source volume) group with the pure
   retention planner; delete. A source that failed in this run leaves its group unpruned.
"""

import collections
import datetime
import time

from ansible_collections.cloudops.aws.plugins.module_utils import ebs_snapshots
from ansible_collections.cloudops.aws.plugins.module_utils.aws_accounts import key_manager
from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_text
from ansible_collections.cloudops.aws.plugins.module_utils.copy_queue import CopyQueue
from ansible_collections.cloudops.aws.plugins.module_utils.copy_queue import CopyRequest
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_images import images_using_snapshots
from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import min_interval_reason
from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import plan_groups
from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import settle_overlaps
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import POLICY_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import SOURCE_SNAPSHOT_KEY
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import format_created_at
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import ownership_tags
from ansible_collections.cloudops.aws.plugins.module_utils.regions import region_reached
from ansible_collections.cloudops.aws.plugins.module_utils.retention import Generation
from ansible_collections.cloudops.aws.plugins.module_utils.retention import plan
from ansible_collections.cloudops.aws.plugins.module_utils.run_marks import RunMark
from ansible_collections.cloudops.aws.plugins.module_utils.workers import run_bounded

CopyOptions = collections.namedtuple(
    "CopyOptions",
    "policy retention extra_tags min_interval wait wait_timeout max_concurrency source_region destination_region "
    "only_latest max_in_flight encrypted kms_key_id destination_account",
)

DEFAULT_POLICY = "default"

# Copies that exist or are being made: a source with one is not copied again.
LIVE_STATES = ("pending", "completed")
PLANNED_COPY = "(copy of %s)"
# Two copies of one source are one too many however far apart they were started.
EVERY_COPY = datetime.timedelta.max


class SnapshotCopies:
    """One run of snapshot_copy_generations."""

    def __init__(self, source_ec2, destination_ec2, source_kms, options, sleep=time.sleep, clock=time.monotonic):
        self.source_ec2 = source_ec2
        self.ec2 = destination_ec2
        self.kms = source_kms
        self.options = options
        self.sleep = sleep
        self.clock = clock
        self.result = {key: [] for key in ("copies_started", "copies_completed", "copies_deleted", "copies_retained",
                                           "sources_unshared", "sources_skipped", "failures")}
        self.warnings = []
        self.failed_groups = set()
        self.copies_before = None
        # Marks this run's copies (in their description): a CopySnapshot retried after a lost answer
        # leaves a copy whose id the run never got, and the mark tells it is this run's own.
        self.run_mark = RunMark()

    # -- bookkeeping -------------------------------------------------------------------------

    def _policy_of(self, source):
        return self.options.policy or source["tags"].get(POLICY_KEY) or DEFAULT_POLICY

    def _group_of(self, source):
        return (self._policy_of(source), source["source_volume"])

    def _fail(self, source, message):
        self.failed_groups.add(self._group_of(source))
        self.result["failures"].append({"source_snapshot_id": source["snapshot_id"], "source_volume_id": source["source_volume"], "error": message})

    def skip(self, source, reason):
        self.result["sources_skipped"].append({"source_snapshot_id": source["snapshot_id"], "source_volume_id": source["source_volume"], "reason": reason})

    @staticmethod
    def _entry(copy, **extra):
        entry = {
            "snapshot_id": copy["snapshot_id"],
            "source_snapshot_id": copy["tags"].get(SOURCE_SNAPSHOT_KEY),
            "source_volume_id": copy["source_volume"],
            "policy": copy["tags"].get(POLICY_KEY),
            "created_at": format_created_at(copy["created_at"]),
            "state": copy["state"],
            "volume_size": copy["volume_size"],
        }
        entry.update(extra)
        return entry

    @staticmethod
    def _group_key(copy):
        return (copy["tags"].get(POLICY_KEY, ""), copy["source_volume"])

    def _groups(self, copies):
        groups = collections.defaultdict(list)
        for copy in copies:
            groups[self._group_key(copy)].append(copy)
        return groups

    def _copies(self):
        # run() and preview() begin here, in the destination Region (the option `region`).
        with region_reached("region", self.options.destination_region):
            copies = ebs_snapshots.describe_copies(self.ec2, self.options.source_region)
        if self.copies_before is None:
            self.copies_before = copies
        return copies

    # -- step 2: what to copy ------------------------------------------------------------------

    def _tags(self, source):
        tags = {k: v for k, v in source["tags"].items() if not k.startswith("aws:")}
        tags.update(self.options.extra_tags)
        tags.update(ownership_tags(self._policy_of(source), source["created_at"], source_snapshot=source["snapshot_id"],
                                   source_region=self.options.source_region, source_volume=source["source_volume"]))
        return tags

    def _encryption_problem(self, source, managers):
        """Why this source's copy cannot be made as asked, or None."""
        if not source["encrypted"] or not source["kms_key_id"]:
            return None
        manager = managers.get(source["kms_key_id"])
        if isinstance(manager, Exception):
            return "could not read its KMS key %s: %s" % (source["kms_key_id"], error_text(manager))
        if manager == "AWS" and self.options.destination_account:
            return ("refused: encrypted with the AWS managed key aws/ebs, whose key policy cannot be changed to let account %s use it, "
                    "so AWS does not let it be shared; re-encrypt it with a customer managed key (copy it in the source account with "
                    "a KmsKeyId) and share that key with account %s" % (self.options.destination_account, self.options.destination_account))
        if manager != "AWS" and not self.options.kms_key_id:
            return ("encrypted with the customer managed key %s; KMS keys belong to one Region and account, so give kms_key_id "
                    "(a key in %s that the destination account can use), or AWS would encrypt the copy with the destination's "
                    "AWS managed key aws/ebs" % (source["kms_key_id"], self.options.destination_region))
        return None

    def _key_managers(self, sources):
        managers = {}
        for key_id in sorted({s["kms_key_id"] for s in sources if s["encrypted"] and s["kms_key_id"]}):
            try:
                managers[key_id] = key_manager(self.kms, key_id)
            except Exception as error:  # pylint: disable=broad-except
                managers[key_id] = error
        return managers

    def _requests(self, sources, copies):
        """The sources to copy now, oldest first; the others are skipped or failed with the reason."""
        by_source = collections.defaultdict(list)
        for copy in copies:
            if copy["state"] in LIVE_STATES:
                by_source[copy["tags"].get(SOURCE_SNAPSHOT_KEY)].append(copy)
        groups = self._groups(copies)
        candidates = []
        for source in sorted(sources, key=lambda s: (s["created_at"], s["snapshot_id"])):
            existing = sorted(by_source.get(source["snapshot_id"], []), key=lambda c: c["snapshot_id"])
            if existing:
                self.skip(source, "already copied to %s (%s)" % (existing[0]["snapshot_id"], existing[0]["state"]))
                continue
            group = groups[self._group_of(source)]
            reason = min_interval_reason(group, "snapshot_id", self.options.min_interval, source["created_at"])
            if reason:
                self.skip(source, "min_interval: " + reason)
                continue
            candidates.append(source)
            group.append({"snapshot_id": PLANNED_COPY % source["snapshot_id"], "state": "pending", "created_at": source["created_at"]})
        kept = self._kept_by_retention(candidates, copies)
        managers = self._key_managers(kept)
        requests = []
        for source in kept:
            problem = self._encryption_problem(source, managers)
            if problem:
                self._fail(source, "%s: %s" % (source["snapshot_id"], problem))
                continue
            requests.append(source)
        return requests

    def _kept_by_retention(self, candidates, copies):
        """The candidates whose copies retention would keep; the others are skipped with the plan's reason.

        A copy the plan deletes in the run that made it costs a cross-Region transfer for nothing,
        and once deleted it no longer marks its source as copied, so every later run would copy and
        delete it again. Each (policy, source volume) group is planned over its sources as they will
        be once the copies are made: every source with a live copy (twins count once, a pending copy
        as the generation it becomes) and every candidate, each aged by the source's backup time.
        """
        groups = collections.defaultdict(dict)
        for copy in copies:
            if copy["state"] in LIVE_STATES:
                source_id = copy["tags"].get(SOURCE_SNAPSHOT_KEY) or copy["snapshot_id"]
                groups[self._group_key(copy)][source_id] = Generation(source_id, copy["created_at"], "completed")
        for source in candidates:
            groups[self._group_of(source)][source["snapshot_id"]] = Generation(source["snapshot_id"], source["created_at"], "completed")
        plans = {key: plan(generations.values(), self.options.retention) for key, generations in groups.items()}
        kept = []
        for source in candidates:
            group_plan = plans[self._group_of(source)]
            if any(generation.id == source["snapshot_id"] for generation in group_plan.keep):
                kept.append(source)
            else:
                self.skip(source, "retention would not keep its copy: " + group_plan.reasons[source["snapshot_id"]])
        return kept

    # -- step 3: the queue ---------------------------------------------------------------------

    def _copy_request(self, source):
        description = "cloudops.aws copy of %s (%s) from %s" % (source["snapshot_id"], source["source_volume"], self.options.source_region)
        return CopyRequest(source["snapshot_id"], self.run_mark.stamp(description), self._tags(source))

    def _start(self, requests, pending, deadline):
        """{copy_id: copy} started; sources still queued at the deadline are skipped, never failed."""
        options = self.options
        queue = CopyQueue(self.source_ec2, self.ec2, options.source_region, options.max_in_flight, options.max_concurrency,
                          options.encrypted, options.kms_key_id, options.destination_account, sleep=self.sleep, clock=self.clock)
        outcome = queue.start([self._copy_request(source) for source in requests], pending, deadline)
        self.warnings.extend(outcome.warnings)
        sources = {source["snapshot_id"]: source for source in requests}
        for request, error in outcome.failed:
            self._fail(sources[request.source_snapshot_id], "copying %s: %s" % (request.source_snapshot_id, error_text(error)))
        for request in outcome.queued:
            self.skip(sources[request.source_snapshot_id], "queued: %d copies in flight to %s (max_copies_in_flight %d) until wait_timeout %ss; "
                      "a later run copies it" % (outcome.in_flight, options.destination_region, options.max_in_flight, options.wait_timeout))
        started = {}
        for copy_id, request in outcome.started.items():
            source = sources[request.source_snapshot_id]
            started[copy_id] = {"snapshot_id": copy_id, "source": source, "tags": request.tags, "source_volume": source["source_volume"],
                                "created_at": source["created_at"], "state": "pending", "volume_size": source["volume_size"], "state_message": ""}
        return started

    # -- step 4: wait and unshare --------------------------------------------------------------

    def _wait(self, started, deadline):
        latest = ebs_snapshots.wait_for_snapshots(self.ec2, sorted(started), max(0, deadline - self.clock()), sleep=self.sleep, clock=self.clock)
        for copy_id, copy in started.items():
            if copy_id in latest:
                copy.update(state=latest[copy_id]["state"], state_message=latest[copy_id]["state_message"])

    def _check_outcomes(self, started):
        for copy_id, copy in sorted(started.items()):
            if copy["state"] == "pending" and self.options.wait:
                self.warnings.append("%s (copy of %s) is still pending after wait_timeout %ss; a later run counts it once completed"
                                     % (copy_id, copy["source"]["snapshot_id"], self.options.wait_timeout))
            elif copy["state"] not in LIVE_STATES:
                self._fail(copy["source"], "copy %s of %s ended %s%s" % (copy_id, copy["source"]["snapshot_id"], copy["state"],
                                                                         ": " + copy["state_message"] if copy["state_message"] else ""))

    def _unshare(self, copies):
        """Stop sharing the sources whose copies are done; a source with a copy still pending stays shared."""
        account = self.options.destination_account
        pending = {c["tags"].get(SOURCE_SNAPSHOT_KEY) for c in copies if c["state"] == "pending"}
        done = {c["tags"].get(SOURCE_SNAPSHOT_KEY): c for c in copies if c["state"] != "pending"}
        shared = ebs_snapshots.shared_snapshot_ids(self.source_ec2, account)
        targets = sorted(snapshot_id for snapshot_id in shared if snapshot_id in done and snapshot_id not in pending)
        for outcome in run_bounded(lambda snapshot_id: ebs_snapshots.set_shared(self.source_ec2, snapshot_id, account, False), targets, self.options.max_concurrency):
            if outcome.ok:
                self.result["sources_unshared"].append({"source_snapshot_id": outcome.item, "account_id": account})
            else:
                self.warnings.append("could not stop sharing %s with account %s: %s" % (outcome.item, account, error_text(outcome.error)))

    # -- step 5: plan and delete ---------------------------------------------------------------

    def _settle_twins(self, groups, started):
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
        settled_before = {c["snapshot_id"] for c in self.copies_before if c["state"] != "pending"}
        by_source = collections.defaultdict(list)
        for key, group in groups.items():
            for copy in group:
                if key not in self.failed_groups and copy["state"] in LIVE_STATES:
                    # Ordered by when each copy was started: the copies share their source's created_at.
                    by_source[copy["tags"].get(SOURCE_SNAPSHOT_KEY)].append(dict(copy, created_at=copy["start_time"]))
        twins = {source_id: same for source_id, same in by_source.items() if len(same) > 1}
        ours = {c["snapshot_id"]: source_id for source_id, same in twins.items() for c in same
                if c["snapshot_id"] in started or self.run_mark.is_on(c["description"]) or c["snapshot_id"] in settled_before}
        settlement = settle_overlaps(twins, ours, "snapshot_id", EVERY_COPY, "deletes")
        copies = {c["snapshot_id"]: c for group in groups.values() for c in group}
        own = {item["snapshot_id"] for item, _reason in settlement.own_duplicates}
        duplicates, left_out, unpruned = [], set(), set()
        for source_id, same in sorted(twins.items()):
            remaining = settlement.groups[source_id]
            if len(remaining) > 1:
                # None of this run's copies settled them: another run is still making or settling them.
                self.warnings.append(settlement.unsettled.get(source_id) or "%s: its copies %s are settled by the runs that made them; not pruned in this run"
                                     % (source_id, ", ".join(sorted(c["snapshot_id"] for c in same))))
                unpruned.add(self._group_key(same[0]))
                continue
            kept = remaining[0]["snapshot_id"]
            reason = "duplicate copy of %s (%s is kept)" % (source_id, kept)
            for copy_id in sorted({c["snapshot_id"] for c in same} - {kept}):
                left_out.add(copy_id)
                if copy_id in own:
                    duplicates.append((copies[copy_id], reason))
                else:
                    self.result["copies_retained"].append(self._entry(copies[copy_id], reason=reason + "; the run that made it deletes it"))
        planned = {key: [c for c in group if c["snapshot_id"] not in left_out] for key, group in groups.items() if key not in unpruned}
        return planned, duplicates

    def _find_references(self, snapshot_ids):
        return {snapshot_id: "backs %s" % ", ".join(sorted(images)) for snapshot_id, images in images_using_snapshots(self.ec2, snapshot_ids).items()}

    def _plan(self, groups, keys, extra=None):
        selected = {key: groups.get(key, []) for key in keys if key not in self.failed_groups}
        plans, _references = plan_groups(selected, "snapshot_id", self.options.retention, self._find_references, extra)
        to_delete = []
        for key, group_plan in sorted(plans.items()):
            copies = {c["snapshot_id"]: c for c in selected[key]}
            for generation in group_plan.keep:
                if generation.id in copies:
                    self.result["copies_retained"].append(self._entry(copies[generation.id], reason=group_plan.reasons[generation.id]))
            for generation in group_plan.delete:
                if generation.id in copies:
                    to_delete.append((copies[generation.id], group_plan.reasons[generation.id]))
        return to_delete

    def _delete(self, to_delete):
        for outcome in run_bounded(lambda item: ebs_snapshots.delete_snapshot(self.ec2, item[0]["snapshot_id"]), to_delete, self.options.max_concurrency):
            copy, reason = outcome.item
            if outcome.ok:
                self.result["copies_deleted"].append(self._entry(copy, reason=reason))
            else:
                self.failed_groups.add(self._group_key(copy))
                self.result["failures"].append({"source_snapshot_id": copy["tags"].get(SOURCE_SNAPSHOT_KEY), "source_volume_id": copy["source_volume"],
                                                "error": "DeleteSnapshot %s: %s" % (copy["snapshot_id"], error_text(outcome.error))})

    # -- the two entry points ------------------------------------------------------------------

    def run(self, sources):
        deadline = self.clock() + self.options.wait_timeout
        copies = self._copies()
        pending_before = {c["snapshot_id"] for c in copies if c["state"] == "pending"}
        requests = self._requests(sources, copies)
        started = self._start(requests, pending_before, deadline)
        keys = sorted({self._group_of(s) for s in sources})
        if self.options.wait:
            # Copies an earlier run left pending in these groups are waited for too: they become generations now.
            earlier = {c["snapshot_id"]: dict(c) for c in copies if c["snapshot_id"] in pending_before and self._group_key(c) in keys}
            if started or earlier:
                self._wait(dict(earlier, **started), deadline)
        self._check_outcomes(started)
        self.result["copies_started"] = [self._entry(c) for _id, c in sorted(started.items())]
        copies = self._copies()
        completed = (pending_before | set(started)) & {c["snapshot_id"] for c in copies if c["state"] == "completed"}
        self.result["copies_completed"] = [self._entry(c) for c in copies if c["snapshot_id"] in completed]
        if self.options.destination_account:
            self._unshare(copies)
        groups, own_duplicates = self._settle_twins(self._groups(copies), started)
        self._delete(own_duplicates + self._plan(groups, keys))
        return self.result

    def preview(self, sources):
        """Check mode: the exact plan, assuming every copy is made; nothing is mutated."""
        copies = self._copies()
        requests = self._requests(sources, copies)
        new_state = "completed" if self.options.wait else "pending"
        extra = collections.defaultdict(list)
        for source in requests:
            extra[self._group_of(source)].append(Generation(PLANNED_COPY % source["snapshot_id"], source["created_at"], new_state, True))
        self.result["copies_started"] = [{"snapshot_id": None, "source_snapshot_id": s["snapshot_id"], "source_volume_id": s["source_volume"],
                                          "policy": self._policy_of(s), "created_at": format_created_at(s["created_at"]), "state": "planned",
                                          "volume_size": s["volume_size"]} for s in requests]
        keys = sorted({self._group_of(s) for s in sources})
        for copy, reason in self._plan(self._groups(copies), keys, extra):
            self.result["copies_deleted"].append(self._entry(copy, reason=reason))
        return self.result
