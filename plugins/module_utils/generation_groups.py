# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every rotating module does with its generation groups, whatever the resource.

A group is the list of one source's backups under one policy, each a summary dict with
`id_key`, `created_at`, `state` and `managed`.
"""

import collections
import datetime

from ansible_collections.cloudops.aws.plugins.module_utils.durations import format_duration
from ansible_collections.cloudops.aws.plugins.module_utils.retention import Generation
from ansible_collections.cloudops.aws.plugins.module_utils.retention import plan

# A pending backup is one in progress: it counts for min_interval, not yet for retention.
RECENT_STATES = ("available", "completed", "pending")


def group_by_source(items, source_key):
    """{source: [items]}; a source with no item yet reads as an empty group."""
    groups = collections.defaultdict(list)
    for item in items:
        groups[item[source_key]].append(item)
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


def plan_groups(groups, id_key, retention, find_references=None, extra_generations=None):
    """({source: Plan}, {id: reason}) with the items something still uses protected.

    The plan is made twice when needed: first to learn which items retention would delete, so
    that only those are looked up (reference lookups are the expensive part), then with them
    protected. `extra_generations` adds planned, not yet existing items (check mode).
    """
    extra_generations = extra_generations or {}

    def plan_all(protected):
        plans = {}
        for source, group in groups.items():
            generations = [Generation(item[id_key], item["created_at"], item["state"], item["managed"]) for item in group]
            plans[source] = plan(generations + extra_generations.get(source, []), retention, protected)
        return plans

    plans = plan_all({})
    existing = {item[id_key] for group in groups.values() for item in group}
    candidates = sorted(g.id for p in plans.values() for g in p.delete if g.id in existing)
    if find_references is None or not candidates:
        return plans, {}
    references = find_references(candidates)
    return (plan_all(references) if references else plans), references
