# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One wave of patch_rollout: out of service, install, back, checked, and in service again or rolled back.

The steps of a batch (out of service, the health check, back in service) are rollout_batches.BatchRun's; a wave adds:
1. Its instances out of service (rollout_batches); one still draining at drain_timeout is not patched.
2. Install (AWS-RunPatchBaseline with the run's SnapshotId and RebootOption), one SendCommand
   per 50 instances. With RebootIfNeeded the agent resumes the document after the reboot.
3. Wait for every agent to be Online again; one not back within reboot_timeout fails, the
   others go on.
4. Read the install's report: failed patches, or patches still pending a reboot under
   RebootIfNeeded, fail the instance.
5. The health command on the others; then a scan records what is still missing.
6. With rollback, a failed instance's root volume is replaced from its pre-patch AMI; its agent
   is waited for, the health command runs again, and a scan records the restored state.
7. What passed, what was rolled back and is healthy, and what was never touched goes back into
   its target groups (rollout_batches). Failed instances stay out, and keep their tags for a later run.
"""

from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_text
from ansible_collections.cloudops.aws.plugins.module_utils.patch_report import FAILED
from ansible_collections.cloudops.aws.plugins.module_utils.patch_report import NON_COMPLIANT
from ansible_collections.cloudops.aws.plugins.module_utils.patch_report import PATCHED
from ansible_collections.cloudops.aws.plugins.module_utils.patch_report import ROLLED_BACK
from ansible_collections.cloudops.aws.plugins.module_utils.patch_report import counts
from ansible_collections.cloudops.aws.plugins.module_utils.patch_report import installed_count
from ansible_collections.cloudops.aws.plugins.module_utils.patch_rollout_settings import health_request
from ansible_collections.cloudops.aws.plugins.module_utils.patch_rollout_settings import install_request
from ansible_collections.cloudops.aws.plugins.module_utils.rollout_batches import BatchRun
from ansible_collections.cloudops.aws.plugins.module_utils.rollout_batches import add_reason
from ansible_collections.cloudops.aws.plugins.module_utils.root_volumes import replace_root_volume
from ansible_collections.cloudops.aws.plugins.module_utils.root_volumes import wait_for_tasks
from ansible_collections.cloudops.aws.plugins.module_utils.workers import run_bounded

# CreateReplaceRootVolumeTask calls in flight at once (a wave is rarely larger).
ROLLBACK_CONCURRENCY = 10


class WaveRun(BatchRun):
    """The steps of one wave over `instance_ids`; what happens to each is written into the rollout's entries."""

    def __init__(self, rollout, instance_ids, registrations):
        command = rollout.settings.health_command
        super().__init__(rollout, instance_ids, registrations, None if command is None else health_request(command))

    def run(self):
        untouched = self.drain()
        installing = [i for i in self.instance_ids if i not in untouched]
        self._install(installing)
        if self.settings.rollback:
            self._roll_back([i for i in installing if self.entries[i]["status"] == FAILED and self.entries[i]["pre_patch_image"]])
        self.return_to_service(untouched)

    # -- 2 to 5 ---------------------------------------------------------------------------------

    def _install(self, instance_ids):
        rollout, settings = self.rollout, self.settings
        if not instance_ids:
            return
        rollout.result["changed"] = True
        errors = rollout.command(instance_ids, install_request(rollout.snapshot_id, settings.reboot_option))
        for instance_id, error in sorted(errors.items()):
            rollout.fail(instance_id, "install: %s" % error)
        online = rollout.wait_online(instance_ids)
        for instance_id in instance_ids:
            if instance_id not in online:
                rollout.fail(instance_id, "SSM agent not Online within reboot_timeout (%ds) after the install" % settings.reboot_timeout)
        # The install's own report: a later scan counts a patch that failed to install as missing again.
        rollout.read_states(online)
        for instance_id in online:
            self._judge(instance_id, install_failed=instance_id in errors)
        self.health([i for i in online if self.entries[i]["status"] != FAILED], "health")
        for instance_id in rollout.scan(online, "scan after the install"):
            self._record(instance_id, missing_after=True)
        for instance_id in instance_ids:
            # An instance with nothing to install (one an earlier run left out of service) stays compliant.
            if self.entries[instance_id]["status"] == NON_COMPLIANT:
                self.entries[instance_id]["status"] = PATCHED

    def _record(self, instance_id, missing_after=False):
        """The instance's latest patch state in its entry: patches installed by the run, and failed or missing ones."""
        before, now = self.rollout.states_before.get(instance_id), self.rollout.states.get(instance_id)
        summary = counts(now)
        if summary:
            entry = self.entries[instance_id]
            entry["installed"] = max(0, installed_count(now) - installed_count(before))
            entry["missing_after" if missing_after else "failed_patches"] = summary["missing" if missing_after else "failed"]
        return summary

    def _judge(self, instance_id, install_failed):
        """What the install's report says of one instance."""
        entry = self.entries[instance_id]
        summary = self._record(instance_id)
        if not summary or install_failed:
            return
        reboot_if_needed = self.settings.reboot_option == "RebootIfNeeded"
        # AWS-RunPatchBaseline reboots when it installed something or a reboot was pending.
        pending_before = (counts(self.rollout.states_before.get(instance_id)) or {}).get("installed_pending_reboot")
        entry["rebooted"] = reboot_if_needed and bool(entry["installed"] or pending_before)
        if summary["failed"]:
            self.rollout.fail(instance_id, "%d patch(es) failed to install" % summary["failed"])
        if reboot_if_needed and summary["installed_pending_reboot"]:
            self.rollout.fail(instance_id, "%d patch(es) still pending a reboot" % summary["installed_pending_reboot"])

    # -- 6 --------------------------------------------------------------------------------------

    def _replace_root_volume(self, instance_id):
        # One token per run and instance: a retried call after a lost answer starts no second task.
        token = "%s-%s" % (self.rollout.snapshot_id, instance_id)
        return replace_root_volume(self.rollout.clients.ec2, instance_id, self.entries[instance_id]["pre_patch_image"], token)

    def _roll_back(self, instance_ids):
        rollout = self.rollout
        tasks = {}
        for outcome in run_bounded(self._replace_root_volume, instance_ids, ROLLBACK_CONCURRENCY):
            if outcome.ok:
                tasks[outcome.item] = outcome.value
            else:
                reason = "rollback: CreateReplaceRootVolumeTask: %s" % error_text(outcome.error)
                rollout.fail(outcome.item, reason)
                # Within max_failures the task still succeeds; an instance left as the failed patch left it
                # (a denied or refused rollback) must not show only in its report entry.
                rollout.warnings.append("%s was not rolled back: %s" % (outcome.item, reason))
        ended = wait_for_tasks(rollout.clients.ec2, sorted(tasks.values()), self.settings.rollback_timeout, **self.waits) if tasks else {}
        replaced = []
        for instance_id, task_id in sorted(tasks.items()):
            state = ended.get(task_id, {}).get("task_state", "pending")
            if state == "succeeded":
                replaced.append(instance_id)
                self.entries[instance_id]["rolled_back"] = True
                add_reason(self.entries[instance_id], "root volume replaced from %s" % self.entries[instance_id]["pre_patch_image"])
            else:
                rollout.fail(instance_id, "rollback: root volume task %s is %s (rollback_timeout %ds)" % (task_id, state, self.settings.rollback_timeout))
        online = rollout.wait_online(replaced)
        for instance_id in replaced:
            if instance_id not in online:
                rollout.fail(instance_id, "SSM agent not Online within reboot_timeout (%ds) after the rollback" % self.settings.reboot_timeout)
        passed = self.health(online, "health after the rollback")
        for instance_id in rollout.scan(online, "scan after the rollback"):
            self._record(instance_id, missing_after=True)
        for instance_id in passed:
            self.entries[instance_id]["status"] = ROLLED_BACK
