# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""patch_rollout's report: one entry per selected instance, its status and why, totals and compliance (no AWS call)."""

import datetime

from ansible_collections.cloudops.aws.plugins.module_utils.patch_compliance import COMPLIANT
from ansible_collections.cloudops.aws.plugins.module_utils.patch_compliance import NEVER_SCANNED
from ansible_collections.cloudops.aws.plugins.module_utils.patch_compliance import NON_COMPLIANT
from ansible_collections.cloudops.aws.plugins.module_utils.patch_compliance import instance_report
from ansible_collections.cloudops.aws.plugins.module_utils.patch_compliance import summarize_patch_state
from ansible_collections.cloudops.aws.plugins.module_utils.rollout_batches import FAILED
from ansible_collections.cloudops.aws.plugins.module_utils.rollout_batches import NOT_REACHED
from ansible_collections.cloudops.aws.plugins.module_utils.rollout_batches import ROLLED_BACK
from ansible_collections.cloudops.aws.plugins.module_utils.rollout_batches import SKIPPED
from ansible_collections.cloudops.aws.plugins.module_utils.rollout_batches import status_totals

PATCHED = "patched"
# compliant: nothing to install; non_compliant: something to install, and the run does not install (scan mode).
STATUSES = (COMPLIANT, NON_COMPLIANT, PATCHED, FAILED, ROLLED_BACK, SKIPPED, NOT_REACHED)

# Staleness is patch_compliance_info's concern; a rollout has just scanned what it reports on.
NEVER_STALE = datetime.timedelta.max


def new_entry(instance):
    return {
        "instance_id": instance["instance_id"],
        "name": instance["name"],
        "wave": None,
        "status": None,
        "reason": "",
        "missing_before": None,
        "missing_after": None,
        "installed": 0,
        "failed_patches": None,
        "rebooted": False,
        "health": "not_run",
        "pre_patch_image": None,
        "rolled_back": False,
        "started_and_stopped": False,
    }


def counts(state):
    """The patch counts of an InstancePatchState (patch_compliance's names), or None for an instance never scanned."""
    return summarize_patch_state(state) if state else None


def installed_count(state):
    """Patches installed, whether or not their reboot is done: what an Install adds to."""
    summary = counts(state)
    return summary["installed"] + summary["installed_pending_reboot"] if summary else 0


def verdict(instance, state, now):
    """compliant, non_compliant or never_scanned, as patch_compliance_info says it."""
    return instance_report(instance, state, now, NEVER_STALE)["compliance"]


def compliance(instances, states, now):
    """How many of `instances` are compliant, non-compliant and never scanned, from their latest patch states."""
    verdicts = [verdict(instance, states.get(instance["instance_id"]), now) for instance in instances]
    return {key: verdicts.count(key) for key in (COMPLIANT, NON_COMPLIANT, NEVER_SCANNED)}


def totals(entries):
    return status_totals(entries, STATUSES)
