# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One run of rolling_deploy: select, skip what is at the version already, deploy in batches (docs/rolling_deploy.md).

The sequence, and why:
1. Select in EC2: ids or filters; or the members of target groups (by ARN or name), with the instances an
   earlier run left out of them (their service_marks), which are members no more. A target group that does not
   exist or is not of instances refuses the run. Instances that are not running, or that SSM cannot reach, are
   skipped with the reason.
2. Each instance's version: its `cloudops:deployed-version` tag, or the output of version_command when set (a
   failed version command reads as no version). One at the version wanted is skipped; an instance an earlier run
   left out of service is deployed again whatever its version, so its health check decides whether it goes back.
3. Batches of batch_size that keep each target group's min_healthy; a minimum that can never be kept refuses the
   run here, before anything changes. Check mode ends here.
4. Batch after batch (rollout_batches.BatchRollout): out of service, the deploy commands, the health command, the
   rollback commands on the instances that failed, back in service and healthy; the tag is written on the
   instances deployed. A batch with more failures than max_failures stops the rollout; no later batch starts.
"""

import collections
import time

from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list

from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import chunks
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_instances import select_instances
from ansible_collections.cloudops.aws.plugins.module_utils.maintenance_marks import MaintenanceMarks
from ansible_collections.cloudops.aws.plugins.module_utils.rolling_deploy_settings import VERSION_TAG
from ansible_collections.cloudops.aws.plugins.module_utils.rollout_batches import FAILED
from ansible_collections.cloudops.aws.plugins.module_utils.rollout_batches import NOT_REACHED
from ansible_collections.cloudops.aws.plugins.module_utils.rollout_batches import ROLLED_BACK
from ansible_collections.cloudops.aws.plugins.module_utils.rollout_batches import SKIPPED
from ansible_collections.cloudops.aws.plugins.module_utils.rollout_batches import BatchRollout
from ansible_collections.cloudops.aws.plugins.module_utils.rollout_batches import BatchRun
from ansible_collections.cloudops.aws.plugins.module_utils.rollout_batches import add_reason
from ansible_collections.cloudops.aws.plugins.module_utils.rollout_batches import plan_batches
from ansible_collections.cloudops.aws.plugins.module_utils.rollout_batches import status_totals
from ansible_collections.cloudops.aws.plugins.module_utils.selection import SelectionError
from ansible_collections.cloudops.aws.plugins.module_utils.service_marks import MARK_PREFIX
from ansible_collections.cloudops.aws.plugins.module_utils.service_marks import registrations_from_tags
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_instances import select_by_ids
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_rollout import outputs_on_instances
from ansible_collections.cloudops.aws.plugins.module_utils.target_groups import arns_by_name
from ansible_collections.cloudops.aws.plugins.module_utils.target_groups import group_health
from ansible_collections.cloudops.aws.plugins.module_utils.target_groups import not_instance_groups

DEPLOYED = "deployed"
STATUSES = (DEPLOYED, SKIPPED, FAILED, ROLLED_BACK, NOT_REACHED)

# `sender` is the SSM client for SendCommand only, without botocore's retries (ssm_commands.send_command).
Clients = collections.namedtuple("Clients", "ec2 ssm sender elbv2")


def new_entry(instance):
    return {"instance_id": instance["instance_id"], "name": instance["name"], "batch": None, "status": None, "reason": "",
            "health": "not_run", "version_before": instance["tags"].get(VERSION_TAG)}


def totals(entries):
    return status_totals(entries, STATUSES)


class DeployBatch(BatchRun):
    """One batch: out of service, deploy, health, rollback of what failed, back in service, the version tag."""

    def __init__(self, rollout, instance_ids, registrations):
        super().__init__(rollout, instance_ids, registrations, rollout.settings.request("health"))

    def run(self):
        untouched = self.drain()
        deploying = [i for i in self.instance_ids if i not in untouched]
        self.rollout.result["changed"] = self.rollout.result["changed"] or bool(deploying)
        errors = self.rollout.command(deploying, self.settings.request("deploy"))
        for instance_id, error in sorted(errors.items()):
            self.rollout.fail(instance_id, "deploy: %s" % error)
        for instance_id in self.health([i for i in deploying if i not in errors], "health"):
            self.entries[instance_id]["status"] = DEPLOYED
        if self.settings.rollback_commands:
            self._roll_back([i for i in deploying if self.entries[i]["status"] == FAILED])
        self.return_to_service(untouched)
        self._tag([i for i in deploying if self.entries[i]["status"] == DEPLOYED])

    def _roll_back(self, instance_ids):
        errors = self.rollout.command(instance_ids, self.settings.request("rollback"))
        for instance_id, error in sorted(errors.items()):
            add_reason(self.entries[instance_id], "rollback: %s" % error)
        for instance_id in self.health([i for i in instance_ids if i not in errors], "health after the rollback"):
            self.entries[instance_id]["status"] = ROLLED_BACK
            add_reason(self.entries[instance_id], "rolled back by rollback_commands")

    def _tag(self, instance_ids):
        tags = ansible_dict_to_boto3_tag_list({VERSION_TAG: self.settings.version})
        for chunk in chunks(instance_ids):
            self.rollout.clients.ec2.create_tags(aws_retry=True, Resources=chunk, Tags=tags)


class RollingDeploy(BatchRollout):
    """One rolling_deploy run; `result` holds everything returned, also when an AWS error ends the run."""

    name = "rolling_deploy"
    verb = "deployed"

    def __init__(self, clients, settings, check_mode=False, sleep=time.sleep, clock=time.monotonic):
        super().__init__(clients, settings, sleep, clock)
        self.check_mode = check_mode
        # instance_schedule leaves the instances this run works on alone while they carry its mark.
        self.maintenance = MaintenanceMarks(clients.ec2, self.name)
        self.result.update(version=settings.version, instances=[], batches=[], totals=totals([]))

    # -- 1. selection ------------------------------------------------------------------------------

    def _group_arns(self):
        settings, elbv2 = self.settings, self.clients.elbv2
        if settings.target_group_arns:
            option, arns = "target_group_arns", list(settings.target_group_arns)
        else:
            option, found = "target_group_names", arns_by_name(elbv2, list(settings.target_group_names))
            unknown = [name for name in settings.target_group_names if name not in found]
            if unknown:
                raise SelectionError("target_group_names: no target group named %s" % ", ".join(repr(name) for name in unknown))
            arns = [found[name] for name in settings.target_group_names]
        wrong = not_instance_groups(elbv2, arns)
        if wrong:
            raise SelectionError("%s: not a target group of instances in this Region: %s" % (option, ", ".join(wrong)))
        return arns

    def _members(self, group_arns):
        """The ids registered in the groups (not draining), and those an earlier run left out of them."""
        members = {target for arn in group_arns for target, state, _reason in group_health(self.clients.elbv2, arn) if state != "draining"}
        # Every out-of-service mark set starts at 1.
        marked, _gone = select_instances(self.clients.ec2, filters={"tag-key": MARK_PREFIX + "1"})
        members.update(i["instance_id"] for i in marked
                       if any(r.target_group_arn in group_arns for r in registrations_from_tags(i["tags"])))
        return sorted(members)

    def _select(self):
        settings = self.settings
        if settings.by_target_group:
            instance_ids = self._members(self._group_arns())
            instances, gone = select_instances(self.clients.ec2, instance_ids) if instance_ids else ([], [])
        else:
            instances, gone = select_instances(self.clients.ec2, list(settings.instance_ids or []), settings.filters)
        self.select(instances, gone, new_entry)
        return instances

    def _ready(self, instances):
        """The ids SSM can run the commands on; the others are skipped with the reason."""
        running = [i["instance_id"] for i in instances if i["state"] == "running"]
        for instance in instances:
            if instance["state"] != "running":
                self.skip(instance["instance_id"], "instance is %s" % instance["state"])
        selection = select_by_ids(self.clients.ssm, running)
        not_ready = selection.not_ready()
        for item in not_ready:
            self.skip(item["instance_id"], item["reason"])
        if not_ready:
            self.warnings.append("%d instance(s) SSM cannot reach are not deployed: %s"
                                 % (len(not_ready), ", ".join(item["instance_id"] for item in not_ready)))
        return selection.online

    # -- 2. versions -----------------------------------------------------------------------------

    def _read_versions(self, ready):
        if self.settings.version_command is None:
            return
        if self.check_mode:
            self.warnings.append("check mode sends no version_command: every instance is planned as not at the version")
            for instance_id in ready:
                self.entries[instance_id]["version_before"] = None
            return
        outputs, errors, warnings = outputs_on_instances(self.clients.ssm, self.clients.sender, ready, self.settings.request("version"),
                                                         self.settings.command_timeout, sleep=self.sleep, clock=self.clock)
        self.warnings.extend(warnings)
        for instance_id in ready:
            self.entries[instance_id]["version_before"] = outputs[instance_id].strip() if instance_id in outputs else None
            if instance_id in errors:
                add_reason(self.entries[instance_id], "version_command: %s" % errors[instance_id])

    def _targets(self, ready):
        """(ids to deploy, {instance_id: [Registration]} that earlier runs left out)."""
        left_out = self.left_out(ready)
        self._read_versions(ready)
        targets = []
        for instance_id in ready:
            if self.entries[instance_id]["version_before"] == self.settings.version and instance_id not in left_out:
                self.skip(instance_id, "already at version %s (%s)" % (
                    self.settings.version, "version_command" if self.settings.version_command else "tag " + VERSION_TAG))
            else:
                targets.append(instance_id)
        return targets, left_out

    # -- 3 and 4. batches --------------------------------------------------------------------------

    def _deploy(self, targets, left_out):
        settings = self.settings
        batches, registrations = plan_batches(self.clients.elbv2, targets, left_out, settings.min_healthy, 0, settings.batch_size)
        self.result["batches"] = batches
        for number, batch in enumerate(batches, 1):
            for instance_id in batch:
                self.entries[instance_id]["batch"] = number
        if self.check_mode:
            self.result["changed"] = True
            for instance_id in targets:
                entry = self.entries[instance_id]
                entry["status"] = NOT_REACHED
                add_reason(entry, "check mode: would be deployed in batch %d" % entry["batch"])
            return
        self.maintenance.mark(targets)
        for number, batch in enumerate(batches, 1):
            self.maintenance.refresh()
            self.run_batch("batch %d" % number, batch, lambda ids: DeployBatch(self, ids, registrations).run())

    def run(self):
        try:
            ready = self._ready(self._select())
            targets, left_out = self._targets(ready)
            if targets:
                self._deploy(targets, left_out)
        finally:
            self.maintenance.clear()
            self.warnings.extend(self.maintenance.warnings)
            self._report()
        return self.result

    def _report(self):
        entries = [self.entries[instance_id] for instance_id in sorted(self.entries)]
        for entry in entries:
            # Only when an error ended the run: what it did not get to.
            if entry["status"] is None:
                entry["status"] = NOT_REACHED
        self.result.update(instances=entries, totals=totals(entries))
