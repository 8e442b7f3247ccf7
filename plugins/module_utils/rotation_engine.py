# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The rotation engine: the one sequence every resource kept in generations goes through.

A run, and why it is in this order (docs/architecture.md, "The rotation sequence"):
1. read the policy's backups once, grouped per source (the adapter's group key);
2. choose what to create: a source whose newest backup is younger than min_interval is
   skipped, and so is a backup the retention policy would delete at once (a copy of an old
   source under keep_last, say): the plan is made over what exists and what would be created
   before anything is created, so a re-run with nothing new at the source changes nothing;
3. create (a bounded pool, or the adapter's own queue), then wait with one poll a round;
4. read again: the plan is made from what AWS holds now, so a crashed or concurrent run's
   backups are counted too; twins of retried creates and backups of overlapping runs are
   settled (generation_groups);
5. plan each group with the pure retention planner, protecting what is still in use;
6. remove, then the adapter's follow-up (an AMI's snapshots, a copy source's sharing).
A group whose backup or removal failed in this run is not pruned (safety rule 5). Check mode
(preview) runs steps 1, 2 and 5 with the new backups assumed made.

Steps 4 to 6 need a group's own new backup finished, not the whole selection's: while the
creates are still going, the groups whose backups are finished are pruned in batches
(_create_and_prune_as_finished). Creates and removals draw on different AWS token buckets, so on
a large selection the removals then cost no time after the last create; the last batch holds
what is left once nothing is being created.

What differs per resource is an adapter (BackupAdapter): how to describe, create and remove,
how a backup is grouped and named in results. The engine never calls AWS itself.
"""

import collections
import threading
import time

from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_text
from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import group_by_source
from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import min_interval_reason
from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import plan_groups
from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import settle_overlaps
from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import settle_retried_twins
from ansible_collections.cloudops.aws.plugins.module_utils.generation_groups import verified_protection
from ansible_collections.cloudops.aws.plugins.module_utils.retention import Generation
from ansible_collections.cloudops.aws.plugins.module_utils.retention import plan
from ansible_collections.cloudops.aws.plugins.module_utils.run_marks import RunMark
from ansible_collections.cloudops.aws.plugins.module_utils.waiting import poll_delay
from ansible_collections.cloudops.aws.plugins.module_utils.workers import run_bounded

# One create call to make: `subject` is the adapter's own (an instance, a volume set, a source
# snapshot); `labels` maps each group the call makes a backup in to the fields that name it in
# skip and failure entries; `created_at` is the time the backup will carry.
Request = collections.namedtuple("Request", "subject labels created_at")

# The result keys of one resource: what was created, removed, kept, kept because in use
# (None: kept entries say why), and skipped sources.
ResultKeys = collections.namedtuple("ResultKeys", "created removed retained protected skipped")


class BackupAdapter:
    """What a resource kept in generations tells the engine; every method is about one resource type.

    Summaries of backups are dicts with `id_key`, `created_at`, `state`, `managed` and, for
    resources whose descriptions bear run marks, `description`.
    """

    id_key = None           # the summary key of a backup's id, e.g. "image_id"
    noun = "backup"         # what one backup is called in reasons: "image", "snapshot", "copy"
    finished_state = None   # the state in which a backup is a generation: "available", "completed"
    removes = "deletes"     # the verb of reasons about removing ("deregisters" for AMIs)
    keys = None             # ResultKeys
    extra_result_keys = ()  # result lists the adapter fills itself
    also_changes = ()       # those of them that mean the run changed something
    marks_twins = False     # whether retried creates are told apart by the run mark in descriptions
    create_action = None    # the API action named in a failed create's message
    remove_action = None    # the API action named in a failed removal's message
    diff_key = None         # the key of diff mode's before/after lists
    find_references = None  # {id: reason} of backups still in use, or None: nothing is protected

    def describe(self):
        """The managed backups of the policy (or policies) this run rotates."""
        raise NotImplementedError

    def describe_groups(self, keys):
        """The managed backups of at least the groups `keys`: the read before a batch is pruned.

        All of the policy's by default; an adapter that can read a few groups for less (a filter
        on the source) does, so a batch's read costs what the batch holds, not what the policy does.
        """
        return self.describe()

    def group_of(self, backup):
        raise NotImplementedError

    def labels(self, backup):
        """The fields that name a backup's source in failure entries."""
        raise NotImplementedError

    def requests(self, subjects, run):
        """The Requests for the selected subjects, oldest first; may skip or fail some through `run`."""
        raise NotImplementedError

    def group_keys(self, subjects):
        """The groups this run prunes: every selected source's, whether a backup was made or not."""
        raise NotImplementedError

    def generation_key(self, backup):
        """What makes two backups one generation (twins of one create count once when planning ahead)."""
        return backup[self.id_key]

    def admit(self, requests, run):
        """The requests that may be made, once min_interval and retention chose them (e.g. encryption checks)."""
        return requests

    def create(self, request, run):
        """{id: summary} of what one create call made, state pending."""
        raise NotImplementedError

    def create_action_for(self, request):
        """The API action named when the create call of `request` fails."""
        return self.create_action

    def create_all(self, requests, run, on_created=None):
        """{id: summary} of every request, a failed one recorded and not stopping the others.

        `on_created({id: summary})` is called as each create answers, so that groups can be
        pruned while the others are still being created; an adapter with its own way of creating
        (a queue) calls it too.
        """

        def made(outcome):
            if outcome.ok and on_created is not None:
                on_created(outcome.value)

        created = {}
        for outcome in run_bounded(lambda request: self.create(request, run), requests, run.settings.max_concurrency, made):
            if outcome.ok:
                created.update(outcome.value)
            else:
                run.fail_request(outcome.item, "%s: %s" % (self.create_action_for(outcome.item), error_text(outcome.error)))
        return created

    def wait(self, backup_ids, timeout):
        """{id: summary} once none is pending or `timeout` seconds have passed."""
        raise NotImplementedError

    def wait_timeout_left(self, run):
        """Seconds left to wait for the new backups: wait_timeout from when the waiting starts."""
        return run.settings.wait_timeout

    def earlier_pending(self, run):
        """{id: summary} of backups earlier runs left pending that this run waits for too."""
        return {}

    def remove(self, backup):
        raise NotImplementedError

    def entry(self, backup, **extra):
        """A backup as the module returns it."""
        raise NotImplementedError

    def planned_entries(self, request, state):
        """Check mode: the entries of what `request` would create."""
        raise NotImplementedError

    def diff_line(self, entry):
        raise NotImplementedError

    def settle(self, groups, created, run):
        """(groups to plan, own duplicates to remove): twins of retried creates, then overlapping runs."""
        twins = settle_retried_twins(groups, self.id_key, {i: self.group_of(b) for i, b in created.items()}, run.mark) if self.marks_twins else []
        twin_ids = {backup[self.id_key] for backup, _reason in twins}
        groups = {key: [b for b in group if b[self.id_key] not in twin_ids] for key, group in groups.items()}
        sources = {backup_id: self.group_of(b) for backup_id, b in created.items() if self.group_of(b) not in run.failed_groups}
        settled = settle_overlaps(groups, sources, self.id_key, run.settings.min_interval, self.removes)
        run.unpruned.update(settled.unsettled)
        run.warnings.extend(warning for _key, warning in sorted(settled.unsettled.items()))
        run.result[self.keys.retained] += [self.entry(backup, reason=reason) for backup, reason in settled.others]
        return settled.groups, twins + settled.own_duplicates

    def after_wait(self, created, backups, run, groups):
        """Once the new backups of `groups` are waited for and the policy's backups read again."""

    def after_removal(self, removed, backups, run, groups):
        """Once the plan's backups of `groups` are removed; `backups` is what the read before planning found."""


# Seconds between the reads of the new backups' states while others are still being created.
POLL_WHILE_CREATING = 5
# Groups pruned together while creating: half the 100 tokens of the DeregisterImage and
# DeleteSnapshot buckets, so a batch does not wait for tokens, and what is left for the last
# batch once the creates end is at most about this many.
PRUNE_BATCH = 50
# Once the creates end, the backups still pending are waited for from when the earlier ones
# showed they would be finished (the shortest time from a create's answer to a poll that found
# its backup finished), plus this share of it, since both ends of that time are seen from here.
DUE_MARGIN = 0.1


class _Creating(threading.Thread):
    """The create pool of a run, beside its pruning: what it has made so far, and at the end.

    The pool's threads touch the run only through fail() (a set add and a list append, each
    atomic), and the pruning leaves out the groups failed so far.
    """

    def __init__(self, adapter, requests, run):
        super().__init__(name="creates", daemon=True)
        self.adapter = adapter
        self.requests = requests
        self.rotation = run
        self.lock = threading.Lock()
        self.so_far = {}
        # {id: clock time its create answered}: when a pending backup can be expected finished.
        self.answered_at = {}
        self.answer = None
        self.error = None

    def run(self):
        try:
            self.answer = self.adapter.create_all(self.requests, self.rotation, self._made)
        except Exception as error:  # pylint: disable=broad-except
            # Raised again in the run's own thread (created()).
            self.error = error

    def _made(self, backups):
        answered = self.rotation.clock()
        with self.lock:
            self.so_far.update(backups)
            self.answered_at.update((backup_id, answered) for backup_id in backups)

    def made(self):
        with self.lock:
            return dict(self.so_far)

    def created(self):
        if self.error is not None:
            raise self.error
        return self.answer


class RotationRun:
    """One run of a rotating module over its selected subjects."""

    def __init__(self, adapter, settings, now, clock=time.monotonic, sleep=time.sleep):
        self.adapter = adapter
        self.settings = settings
        self.now = now
        self.clock = clock
        self.sleep = sleep
        self.started_at = clock()
        self.mark = RunMark()
        self.result = {key: [] for key in adapter.keys + adapter.extra_result_keys + ("failures",) if key}
        self.warnings = []
        self.failed_groups = set()
        # Groups whose overlap with another run is not settled yet: not pruned in this run.
        self.unpruned = set()
        # The backups as the run found them, for diff mode.
        self.backups_before = None
        self.selected_groups = ()

    # -- bookkeeping -------------------------------------------------------------------------

    def skip(self, labels, reason):
        self.result[self.adapter.keys.skipped].append(dict(labels, reason=reason))

    def fail(self, group, labels, message):
        self.failed_groups.add(group)
        self.result["failures"].append(dict(labels, error=message))

    def fail_request(self, request, message):
        for group, labels in request.labels.items():
            self.fail(group, labels, message)

    def fail_backup(self, backup, message):
        self.fail(self.adapter.group_of(backup), self.adapter.labels(backup), message)

    def _read(self, keys=None):
        backups = self.adapter.describe() if keys is None else self.adapter.describe_groups(keys)
        if self.backups_before is None:
            self.backups_before = backups
        return backups

    def _groups(self, backups):
        return group_by_source(backups, self.adapter.group_of)

    # -- step 2: what to create ----------------------------------------------------------------

    def _choose(self, subjects, groups):
        """The requests worth making now; the others are skipped with the reason."""
        id_key = self.adapter.id_key
        chosen = []
        planned = collections.defaultdict(list)
        for request in self.adapter.requests(subjects, self):
            reasons = {group: min_interval_reason(groups.get(group, []) + planned[group], id_key, self.settings.min_interval, request.created_at)
                       for group in request.labels}
            # A set of several volumes is made when any of them is due.
            if request.labels and all(reasons.values()):
                for group, labels in request.labels.items():
                    self.skip(labels, "min_interval: " + reasons[group])
                continue
            chosen.append(request)
            for group in request.labels:
                planned[group].append({id_key: "(planned)", "state": "pending", "created_at": request.created_at})
        return self.adapter.admit(self._kept_by_retention(chosen, groups), self)

    def _planned_generations(self, requests, state):
        """{group: [Generation]} of what the requests would create, each id naming its request."""
        planned = collections.defaultdict(list)
        for number, request in enumerate(requests):
            for group in request.labels:
                planned[group].append(Generation("(new %d)" % number, request.created_at, state, True))
        return planned

    def _kept_by_retention(self, requests, groups):
        """The requests whose backup the retention policy would keep once made.

        A backup the plan deletes in the run that made it costs its creation for nothing, and for a
        copy of an old source, once deleted it no longer marks the source as copied: every later
        run would copy and delete it again. Each group is planned as it will be once the backups
        are made: what exists (a pending backup as the generation it becomes, twins once) and what
        the requests would make.
        """
        adapter = self.adapter
        planned = self._planned_generations(requests, adapter.finished_state)
        plans = {}
        for group, new in planned.items():
            existing = {}
            for backup in groups.get(group, []):
                if backup["state"] in ("pending", adapter.finished_state) and backup["managed"]:
                    existing.setdefault(adapter.generation_key(backup), Generation(backup[adapter.id_key], backup["created_at"], adapter.finished_state))
            plans[group] = plan(list(existing.values()) + new, self.settings.retention)
        kept = []
        for number, request in enumerate(requests):
            planned_id = "(new %d)" % number
            if any(planned_id in {g.id for g in plans[group].keep} for group in request.labels):
                kept.append(request)
                continue
            for group, labels in request.labels.items():
                self.skip(labels, "retention would not keep its %s: %s" % (adapter.noun, plans[group].reasons[planned_id]))
        return kept

    # -- step 3: wait --------------------------------------------------------------------------

    def _wait(self, created, settled=()):
        """Wait for the new backups not `settled` yet (and those earlier runs left pending); record how they ended."""
        adapter = self.adapter
        waiting = (set(created) - set(settled)) | set(adapter.earlier_pending(self))
        latest = adapter.wait(sorted(waiting), max(0, adapter.wait_timeout_left(self))) if waiting else {}
        self._record_states({backup_id: backup for backup_id, backup in created.items() if backup_id not in settled}, latest)

    def _record_states(self, created, latest):
        """Update the new backups from a describe's `latest`; a pending one is a warning, one not finished a failure."""
        adapter = self.adapter
        for backup_id, backup in sorted(created.items()):
            backup.update(latest.get(backup_id, {}))
            if backup["state"] == "pending":
                source = " ".join(value for value in adapter.labels(backup).values() if value)
                self.warnings.append("%s of %s is still pending after wait_timeout %ss; it becomes a generation once %s"
                                     % (backup_id, source, self.settings.wait_timeout, adapter.finished_state))
            elif backup["state"] != self.adapter.finished_state:
                message = backup.get("state_message")
                self.fail_backup(backup, "%s ended %s%s" % (backup_id, backup["state"], ": " + message if message else ""))

    # -- steps 5 and 6: plan and remove ----------------------------------------------------------

    def _plan(self, groups, extra=None, keys=None):
        """[(backup, reason)] to remove from the selected groups (or `keys`); kept backups are recorded with the rule that keeps them."""
        adapter = self.adapter
        keys = self.selected_groups if keys is None else keys
        selected = {key: groups.get(key, []) for key in keys if key not in self.failed_groups and key not in self.unpruned}
        # keep_verified: backups a restore drill proved are kept whatever the retention says.
        verified = verified_protection(selected, adapter.id_key, self.settings.keep_verified)
        plans, references = plan_groups(selected, adapter.id_key, self.settings.retention, adapter.find_references, extra, verified)
        to_remove = []
        for key, group_plan in sorted(plans.items()):
            backups = {backup[adapter.id_key]: backup for backup in selected[key]}
            for generation in group_plan.keep:
                if generation.id in backups:
                    result_key = adapter.keys.protected if adapter.keys.protected and generation.id in references else adapter.keys.retained
                    self.result[result_key].append(adapter.entry(backups[generation.id], reason=group_plan.reasons[generation.id]))
            to_remove += [(backups[g.id], group_plan.reasons[g.id]) for g in group_plan.delete if g.id in backups]
        return to_remove

    def _remove(self, to_remove):
        adapter = self.adapter
        removed = []
        for outcome in run_bounded(lambda item: adapter.remove(item[0]), to_remove, self.settings.max_concurrency):
            backup, reason = outcome.item
            if outcome.ok:
                removed.append(backup)
                self.result[adapter.keys.removed].append(adapter.entry(backup, reason=reason))
            else:
                self.fail_backup(backup, "%s %s: %s" % (adapter.remove_action, backup[adapter.id_key], error_text(outcome.error)))
        return removed

    # -- the two entry points ------------------------------------------------------------------

    def _prune(self, created, keys=None, done=()):
        """Read again, settle and prune: the groups `keys` (all but those `done` when None); `created`: this run's backups.

        Returns the selected groups pruned. With `keys`, a group holding a pending backup is left
        for later: an overlapping run's or a killed run's pending backup settles once finished.
        """
        adapter = self.adapter
        batch = keys is not None
        if not batch:
            keys = [key for key in self.selected_groups if key not in done]
        backups = self._read(keys)
        groups = self._groups(backups)
        if batch:
            keys = [key for key in keys if all(backup["state"] != "pending" for backup in groups.get(key, []))]
            groups = {key: groups.get(key, []) for key in keys}
        else:
            groups = {key: group for key, group in groups.items() if key not in done}
        created = {backup_id: backup for backup_id, backup in created.items() if adapter.group_of(backup) in groups}
        adapter.after_wait(created, backups, self, set(groups))
        groups, own_duplicates = adapter.settle(groups, created, self)
        removed = self._remove(own_duplicates + self._plan(groups, keys=keys))
        adapter.after_removal(removed, backups, self, keys)
        return keys

    def _create_and_prune_as_finished(self, requests):
        """{id: backup} made; the groups whose new backups are finished are pruned while the others are created.

        The creates run in their own thread; every POLL_WHILE_CREATING seconds one describe reads
        the new backups' states, and once PRUNE_BATCH groups have theirs finished they are pruned
        together (a batch costs a read, the reference lookups and the adapter's follow-up, so
        batches keep the describes per page, not per group). When the creates are done, one read
        at once finds the backups finished by then, and their groups are pruned while the last
        ones are still pending; those are waited for from when they are due (_sleep_until_due),
        then pruned in a last batch with the groups that have no new backup.
        """
        adapter = self.adapter
        creating = _Creating(adapter, requests, self)
        creating.start()
        settled, done, seen = set(), set(), {}
        try:
            while creating.is_alive():
                creating.join(POLL_WHILE_CREATING)
                if creating.is_alive():
                    self._prune_finished(creating.made(), creating.answered_at, settled, done, seen, PRUNE_BATCH)
        finally:
            # An error while pruning ends the run only once the creates have answered, so the result holds them.
            creating.join()
            created = creating.created()
            self.result[adapter.keys.created] = [adapter.entry(backup) for _id, backup in sorted(created.items())]
        self._prune_finished(created, creating.answered_at, settled, done, seen, 1)
        self._sleep_until_due(set(created) - settled, creating.answered_at, seen)
        self._wait(created, settled)
        self.result[adapter.keys.created] = [adapter.entry(backup) for _id, backup in sorted(created.items())]
        if any(key not in done for key in self.selected_groups) or adapter.earlier_pending(self):
            self._prune(created, done=done)
        return created

    def _prune_finished(self, made, answered_at, settled, done, seen, batch):
        """One read of the new backups not settled yet; once `batch` groups have theirs finished, they are pruned.

        `seen` gets, for each backup found finished, the time from its create's answer to the
        end of that read: the shortest of these tells when a backup still pending is due.
        """
        adapter = self.adapter
        waiting = sorted(set(made) - settled)
        if waiting:
            latest = adapter.wait(waiting, 0)
            read_at = self.clock()
            finished = {backup_id: made[backup_id] for backup_id in waiting if latest.get(backup_id, {}).get("state", "pending") != "pending"}
            self._record_states(finished, latest)
            settled.update(finished)
            seen.update((backup_id, read_at - answered_at[backup_id]) for backup_id in finished if backup_id in answered_at)
        ready = sorted({adapter.group_of(made[backup_id]) for backup_id in settled} - done - self.failed_groups)
        if len(ready) >= batch:
            done.update(self._prune(made, keys=ready))

    def _sleep_until_due(self, pending, answered_at, seen):
        """Sleep until the last of the `pending` backups is due, judged by how soon the others were finished.

        Only when that comes before the first poll of the waiting's own schedule: the waiting
        then finds them finished at its first read, rather than at a read one poll delay later.
        """
        times = [answered_at[backup_id] for backup_id in pending if backup_id in answered_at]
        if not times or not seen:
            return
        delay = max(times) + min(seen.values()) * (1 + DUE_MARGIN) - self.clock()
        if 0 < delay <= min(poll_delay(0), max(0, self.adapter.wait_timeout_left(self))):
            self.sleep(delay)

    def run(self, subjects):
        adapter = self.adapter
        self.selected_groups = adapter.group_keys(subjects)
        requests = self._choose(subjects, self._groups(self._read()))
        if self.settings.wait and requests:
            self._create_and_prune_as_finished(requests)
            return self.result
        created = adapter.create_all(requests, self)
        if (created or adapter.earlier_pending(self)) and self.settings.wait:
            self._wait(created)
        self.result[adapter.keys.created] = [adapter.entry(backup) for _id, backup in sorted(created.items())]
        self._prune(created)
        return self.result

    def preview(self, subjects):
        """Check mode: the exact plan, assuming every backup is made; nothing is mutated."""
        adapter = self.adapter
        self.selected_groups = adapter.group_keys(subjects)
        groups = self._groups(self._read())
        requests = self._choose(subjects, groups)
        # With wait, the new backups are finished before pruning and count as generations.
        state = adapter.finished_state if self.settings.wait else "pending"
        self.result[adapter.keys.created] = [entry for request in requests for entry in adapter.planned_entries(request, "planned")]
        for backup, reason in self._plan(groups, self._planned_generations(requests, state)):
            self.result[adapter.keys.removed].append(adapter.entry(backup, reason=reason))
        return self.result

    def outcome(self, with_diff=False):
        """What the module returns: the result, whether the run changed anything, and the diff when asked."""
        adapter = self.adapter
        changed = any(self.result[key] for key in (adapter.keys.created, adapter.keys.removed) + adapter.also_changes)
        return dict(self.result, changed=changed, **({"diff": self.diff()} if with_diff else {}))

    def diff(self):
        """Diff mode: the selected groups' backups before and after the run."""
        adapter = self.adapter
        removed = {entry[adapter.id_key] for entry in self.result[adapter.keys.removed]}
        before = sorted(adapter.diff_line(adapter.entry(b)) for b in self.backups_before or [] if adapter.group_of(b) in self.selected_groups)
        after = [line for line in before if line.split(" ", 1)[0] not in removed]
        after += [adapter.diff_line(entry) for entry in self.result[adapter.keys.created]]
        return {"before": {adapter.diff_key: before}, "after": {adapter.diff_key: sorted(after)}}
