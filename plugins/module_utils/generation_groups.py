# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the rotation engine does with generation groups, whatever the resource: min_interval,
planning with protection, and settling the duplicates that retried and overlapping runs make
(docs/architecture.md, "Retried and overlapping runs").

A group is the list of one source's backups under one policy, each a summary dict with
`id_key`, `created_at`, `state`, `managed` and, where the resource has one, `description`.
"""

import collections
import datetime

from ansible_collections.cloudops.aws.plugins.module_utils.durations import format_duration
from ansible_collections.cloudops.aws.plugins.module_utils.retention import GENERATION_STATES
from ansible_collections.cloudops.aws.plugins.module_utils.retention import Generation
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import verified_at_of
from ansible_collections.cloudops.aws.plugins.module_utils.retention import plan
from ansible_collections.cloudops.aws.plugins.module_utils.retention import select_verified
from ansible_collections.cloudops.aws.plugins.module_utils.run_marks import mark_token

# A pending backup is one in progress: it counts for min_interval, not yet for retention.
RECENT_STATES = ("available", "completed", "pending")


def group_by_source(items, group_of):
    """{group: [items]} with `group_of(item)` naming each item's group; a group with no item yet reads as empty."""
    groups = collections.defaultdict(list)
    for item in items:
        groups[group_of(item)].append(item)
    return groups


def min_interval_reason(group, id_key, min_interval, now):
    """Why min_interval skips this source (its newest backup is too young), or None."""
    if not min_interval:
        return None
    recent = [item for item in group if item["state"] in RECENT_STATES]
    if not recent:
        return None
    newest = max(recent, key=lambda item: item["created_at"])
    age = now - newest["created_at"]
    if age >= min_interval:
        return None
    return "newest generation %s (%s) is %s old, younger than min_interval %s" % (
        newest[id_key], newest["state"], format_duration(max(age, datetime.timedelta(0))), format_duration(min_interval))


def _generations(group, id_key):
    return [Generation(item[id_key], item["created_at"], item["state"], item["managed"]) for item in group]


def verified_protection(groups, id_key, count):
    """{id: reason} for the newest `count` generations of each group that a restore drill verified (keep_verified)."""
    if not count:
        return {}
    protected = {}
    for group in groups.values():
        verified = {item[id_key]: verified_at_of(item.get("tags") or {}) for item in group}
        protected.update(select_verified(_generations(group, id_key), {key: when for key, when in verified.items() if when is not None}, count))
    return protected


def plan_groups(groups, id_key, retention, find_references=None, extra_generations=None, protected=None):
    """({source: Plan}, {id: reason}) with `protected` ({id: reason}) and the items something still uses protected.

    The plan is made twice when needed: first to learn which items retention would delete, so
    that only those are looked up (reference lookups are the expensive part), then with them
    protected. `extra_generations` adds planned, not yet existing items (check mode).
    """
    extra_generations = extra_generations or {}
    protected = protected or {}

    def plan_all(references):
        reasons = dict(protected)
        for item_id, reason in references.items():
            reasons[item_id] = "%s; %s" % (reasons[item_id], reason) if item_id in reasons else reason
        plans = {}
        for source, group in groups.items():
            plans[source] = plan(_generations(group, id_key) + extra_generations.get(source, []), retention, reasons)
        return plans

    plans = plan_all({})
    existing = {item[id_key] for group in groups.values() for item in group}
    candidates = sorted(g.id for p in plans.values() for g in p.delete if g.id in existing)
    if find_references is None or not candidates:
        return plans, {}
    references = find_references(candidates)
    return (plan_all(references) if references else plans), references


Settlement = collections.namedtuple("Settlement", "groups own_duplicates others unsettled")


def settle_overlaps(groups, created, id_key, window, removes):
    """A Settlement of the backups that overlapping runs of one policy made of one source.

    Two runs of one policy that start together (two AWX jobs) both read the groups before
    either has created anything, so min_interval cannot stop the second backup, and the two
    extra generations would push a kept generation out. With min_interval (`window`) set,
    backups of one source made less than `window` apart are one backup too many: the oldest
    (then the lowest id) is the one kept, by the same rule in every run. A run only ever removes
    its own duplicate, and only once it and the kept backup are usable generations; it neither
    counts nor removes another run's duplicate (that run does). If the kept backup is still
    pending, the source is not pruned in this run. Without a window every run is a generation.

    `created` maps this run's new backups (ids) to their sources; `removes` is the verb for the
    reasons ("deregisters", "deletes"). The Settlement holds the groups to plan (duplicates
    left out), own_duplicates [(this run's backup, reason)] to remove, others [(another run's
    duplicate, reason)] to report as retained, and unsettled {source: warning}.
    """
    settlement = Settlement(dict(groups), [], [], {})
    if not window:
        return settlement
    for backup_id, source in sorted(created.items()):
        group = groups.get(source, [])
        ours = next((item for item in group if item[id_key] == backup_id), None)
        if ours is None:
            continue
        overlapping = [item for item in group if item is not ours and item["managed"]
                       and item["state"] in RECENT_STATES and abs(item["created_at"] - ours["created_at"]) < window]
        if not overlapping:
            continue
        kept = min(overlapping + [ours], key=lambda item: (item["created_at"], item[id_key]))
        if kept is not ours and not (kept["state"] in GENERATION_STATES and ours["state"] in GENERATION_STATES):
            settlement.unsettled[source] = "%s: %s of an overlapping run is %s; %s is not pruned in this run" % (source, kept[id_key], kept["state"], source)
            continue
        extra_ids = {item[id_key] for item in overlapping + [ours] if item is not kept}
        settlement.groups[source] = [item for item in group if item[id_key] not in extra_ids]
        settlement.others.extend((item, "made by an overlapping run less than min_interval after %s; that run %s it" % (kept[id_key], removes))
                                 for item in overlapping if item is not kept)
        if kept is not ours:
            settlement.own_duplicates.append((ours, "duplicate: an overlapping run made %s less than min_interval before it" % kept[id_key]))
    return settlement


def settle_retried_twins(groups, id_key, answered, run_mark):
    """[(backup, reason)] to remove: extra backups that retries of one create call made.

    A create without a client token retried after AWS had acted leaves a twin whose id the run
    never got. Run marks are unique per run, so the backups of one group bearing one mark are
    one backup. This run keeps the one AWS answered with (`answered`: {id: group}). Of a killed
    run's twins every run keeps the same one, the oldest then the lowest id, and removes the
    others only once that one is a usable generation.
    """
    ours = {group: backup_id for backup_id, group in answered.items()}
    twins = []
    for group_key, group in sorted(groups.items()):
        by_mark = collections.defaultdict(list)
        for item in group:
            token = mark_token(item.get("description"))
            if token:
                by_mark[token].append(item)
        for token, same_run in sorted(by_mark.items()):
            if token == run_mark.token and group_key in ours:
                kept = ours[group_key]
            else:
                first = min(same_run, key=lambda item: (item["created_at"], item[id_key]))
                if first["state"] not in GENERATION_STATES:
                    continue
                kept = first[id_key]
            twins += [(item, "duplicate of %s made by a retried request" % kept) for item in same_run if item[id_key] != kept]
    return twins
