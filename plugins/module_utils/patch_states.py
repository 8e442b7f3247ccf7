# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS I/O for Patch Manager's compliance data: patch states 50 instances a call, and an instance's patches.

ComplianceRead selects the instances in EC2 (which also tells the stopped ones), asks SSM which of
the running ones it can reach (ssm_instances), reads every selected instance's patch state, and
hands it all to patch_compliance for the report.
"""

from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import all_pages
from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import chunks
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_instances import select_instances
from ansible_collections.cloudops.aws.plugins.module_utils.patch_compliance import api_state
from ansible_collections.cloudops.aws.plugins.module_utils.patch_compliance import compliance_report
from ansible_collections.cloudops.aws.plugins.module_utils.patch_compliance import fleet_summary
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_instances import select_by_ids
from ansible_collections.cloudops.aws.plugins.module_utils.workers import run_bounded

# SSM takes either tag key as an instance's patch group.
PATCH_GROUP_TAG_KEYS = ("Patch Group", "PatchGroup")
# DescribeInstancePatchStates takes at most 50 InstanceIds; its pages hold 10 by default, 100 at most.
STATES_PER_CALL = 50
PATCHES_PER_PAGE = 100
# DescribeInstancePatches is one call per instance; SSM throttles its describes at a few calls a second,
# so more in flight would only be retried.
PATCHES_CONCURRENCY = 4


def patch_states_by_id(ssm, instance_ids):
    """{instance_id: InstancePatchState} of the instances SSM has a patch state for; one never scanned is absent."""
    states = {}
    for chunk in chunks(instance_ids, STATES_PER_CALL):
        for state in all_pages(ssm.describe_instance_patch_states, "InstancePatchStates", InstanceIds=chunk, MaxResults=STATES_PER_CALL):
            states[state["InstanceId"]] = state
    return states


def patches_of(ssm, instance_id, patch_states=None):
    """The instance's patches (PatchComplianceData), only those in `patch_states` when given."""
    request = {"InstanceId": instance_id, "MaxResults": PATCHES_PER_PAGE}
    if patch_states:
        request["Filters"] = [{"Key": "State", "Values": [api_state(state) for state in patch_states]}]
    return all_pages(ssm.describe_instance_patches, "Patches", **request)


def select_by_patch_group(ec2, patch_group):
    """select_instances for the instances tagged with `patch_group` under either key, each once."""
    live, gone = {}, set()
    for key in PATCH_GROUP_TAG_KEYS:
        instances, gone_ids = select_instances(ec2, filters={"tag:%s" % key: patch_group})
        live.update((instance["instance_id"], instance) for instance in instances)
        gone.update(gone_ids)
    return [live[instance_id] for instance_id in sorted(live)], sorted(gone)


class ComplianceRead:
    """One patch_compliance_info run; `result` and `warnings` as module_results.ending_on_errors reads them."""

    def __init__(self, ec2, ssm, settings, now):
        self.ec2 = ec2
        self.ssm = ssm
        self.settings = settings
        self.now = now
        self.result = {"changed": False, "instances": [], "instances_not_ready": [], "summary": fleet_summary([], [])}
        self.warnings = []

    def _selected(self):
        if self.settings.patch_group is not None:
            return select_by_patch_group(self.ec2, self.settings.patch_group)
        instance_ids = self.settings.instance_ids
        return select_instances(self.ec2, list(instance_ids) if instance_ids else None, self.settings.filters)

    def _not_ready_reasons(self, instances):
        """{instance_id: reason} for the selected instances SSM cannot reach now: stopped, unmanaged or offline."""
        running = [instance["instance_id"] for instance in instances if instance["state"] == "running"]
        reasons = {entry["instance_id"]: entry["reason"] for entry in select_by_ids(self.ssm, running).not_ready()}
        # SSM calls a stopped instance's agent ConnectionLost; its EC2 state says why.
        reasons.update((i["instance_id"], "instance is %s" % i["state"]) for i in instances if i["state"] != "running")
        return reasons

    def _patches(self, instance_ids):
        outcomes = run_bounded(lambda instance_id: patches_of(self.ssm, instance_id, self.settings.patch_states), instance_ids, PATCHES_CONCURRENCY)
        for outcome in outcomes:
            if not outcome.ok:
                raise outcome.error
        return {outcome.item: outcome.value for outcome in outcomes}

    def run(self):
        instances, gone = self._selected()
        if gone:
            self.warnings.append("ignoring terminated or shutting-down instances: %s" % ", ".join(gone))
        if not instances:
            self.warnings.append("the selection matches no instance")
        reasons = self._not_ready_reasons(instances)
        states = patch_states_by_id(self.ssm, [instance["instance_id"] for instance in instances])
        # Only an instance SSM has a patch state for has patches to list.
        patches = self._patches(sorted(states)) if self.settings.details else None
        self.result.update(compliance_report(instances, states, reasons, self.now, self.settings.max_age, patches))
        return self.result
