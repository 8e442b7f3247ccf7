# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What patch_rollout's waves and rolling_deploy's batches share: a batch of instances out of its target groups and
back, commands on it through RunCommand, its health check, and whether it stops the rollout.

A batch, in order:
1. Its instances are tagged with their registrations (service_marks), deregistered from their target groups and
   waited for until draining ends, so the work on them cuts no request. One still draining at drain_timeout fails,
   is not worked on, and is put back as it was.
2. The rollout's own work on the others (patches installed, a version deployed).
3. The health command, through RunCommand; a non-zero exit fails the instance.
4. What did not fail, and what was not worked on, goes back into its target groups, is waited for until healthy and
   loses its tags. Failed instances stay out, for the operator to look at, and keep their tags: a later run puts
   them back once they pass its health check.
Then a batch with more failures than max_failures allows stops the rollout: no later batch starts.
"""

from ansible_collections.cloudops.aws.plugins.module_utils.module_results import failure_list
from ansible_collections.cloudops.aws.plugins.module_utils.service_marks import clear_marks
from ansible_collections.cloudops.aws.plugins.module_utils.service_marks import mark_out_of_service
from ansible_collections.cloudops.aws.plugins.module_utils.service_marks import registrations_from_tags
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_rollout import run_on_instances
from ansible_collections.cloudops.aws.plugins.module_utils.target_groups import deregister
from ansible_collections.cloudops.aws.plugins.module_utils.target_groups import find_registrations
from ansible_collections.cloudops.aws.plugins.module_utils.target_groups import drained
from ansible_collections.cloudops.aws.plugins.module_utils.target_groups import healthy
from ansible_collections.cloudops.aws.plugins.module_utils.target_groups import register
from ansible_collections.cloudops.aws.plugins.module_utils.target_groups import wait_for_states
from ansible_collections.cloudops.aws.plugins.module_utils.waves import out_of_service_allowance
from ansible_collections.cloudops.aws.plugins.module_utils.waves import plan_waves

FAILED = "failed"
ROLLED_BACK = "rolled_back"
SKIPPED = "skipped"
NOT_REACHED = "not_reached"
# What counts against max_failures: a rolled-back instance is back in service, but its batch's work failed on it.
BATCH_FAILURES = (FAILED, ROLLED_BACK)


def group_name(group_arn):
    """A target group as people read it: targetgroup/<name>/<id>."""
    return group_arn.split(":")[-1]


def add_reason(entry, reason):
    entry["reason"] = "; ".join(filter(None, (entry["reason"], reason)))


def status_totals(entries, statuses):
    """How many of the entries ended in each of `statuses`, and `instances`, how many there are."""
    tally = dict.fromkeys(statuses, 0)
    for entry in entries:
        tally[entry["status"]] += 1
    tally["instances"] = len(entries)
    return tally


def plan_batches(elbv2, instance_ids, left_out, min_healthy, canary, batch_size):
    """(batches, {instance_id: [Registration]}): `canary` instances, then batches of `batch_size` that keep each target
    group's `min_healthy` (waves.plan_waves; WavePlanError when a minimum can never be kept, before anything changes);
    and where each instance goes back to, with the registrations earlier runs left out (`left_out`, from service_marks)."""
    registrations, healthy = find_registrations(elbv2, instance_ids)
    allowance = out_of_service_allowance(healthy, min_healthy)
    # Only what is in service now counts against a group's minimum.
    groups_of = {instance_id: tuple(r.target_group_arn for r in regs) for instance_id, regs in registrations.items()}
    batches = plan_waves(instance_ids, groups_of, allowance, canary, batch_size)
    for instance_id, remembered in left_out.items():
        registrations[instance_id] = sorted(set(registrations.get(instance_id, [])) | set(remembered))
    return batches, registrations


class BatchRollout:
    """A rollout in batches: the selected instances, one entry per instance (instance_id, status, reason, health),
    failures, commands, and stopping early. `result` holds everything returned, also when an AWS error ends the run.

    A subclass names itself (`name`, in the task's failure message) and its work on an instance (`verb`, in reasons),
    and its settings have command_timeout, drain_timeout, healthy_timeout and max_failures (a waves.Size).
    `clients` has ec2, elbv2, ssm and sender (SendCommand only, without botocore's retries: ssm_commands.send_command).
    """

    name = "rollout"
    verb = "worked on"

    def __init__(self, clients, settings, sleep, clock):
        self.clients = clients
        self.settings = settings
        self.sleep = sleep
        self.clock = clock
        # The selected instances (ec2_instances.summarize_instance) and their entries, by id.
        self.instances = {}
        self.entries = {}
        # Failed instances a batch tolerated (max_failures): they do not fail the task.
        self.tolerated = set()
        self.problems = []
        self.warnings = []
        self.result = {"changed": False, "stopped_early": None}

    def select(self, instances, gone, new_entry):
        """Keep the selected `instances`, each with `new_entry(instance)`, whose reason says when an earlier run left it
        out of service; warn of `gone` ids (terminated or shutting down) and of a selection of nothing."""
        if gone:
            self.warnings.append("ignoring terminated or shutting-down instances: %s" % ", ".join(gone))
        if not instances:
            self.warnings.append("the selection matches no instance; nothing is %s" % self.verb)
        for instance in instances:
            instance_id = instance["instance_id"]
            self.instances[instance_id] = instance
            self.entries[instance_id] = new_entry(instance)
            left_out = registrations_from_tags(instance["tags"])
            if left_out:
                add_reason(self.entries[instance_id], "an earlier run left it out of %s"
                           % ", ".join(sorted({group_name(entry.target_group_arn) for entry in left_out})))

    def left_out(self, instance_ids):
        """{instance_id: [Registration]} of those of `instance_ids` an earlier run left out of service (service_marks)."""
        remembered = {instance_id: registrations_from_tags(self.instances[instance_id]["tags"]) for instance_id in instance_ids}
        return {instance_id: registrations for instance_id, registrations in remembered.items() if registrations}

    def skip(self, instance_id, reason):
        self.entries[instance_id]["status"] = SKIPPED
        add_reason(self.entries[instance_id], reason)

    def fail(self, instance_id, reason):
        self.entries[instance_id]["status"] = FAILED
        add_reason(self.entries[instance_id], reason)

    def command(self, instance_ids, request):
        """{instance_id: why} for those of `instance_ids` (all Online) the command did not succeed on."""
        errors, warnings = run_on_instances(self.clients.ssm, self.clients.sender, instance_ids, request, self.settings.command_timeout,
                                            sleep=self.sleep, clock=self.clock)
        self.warnings.extend(warnings)
        return errors

    def run_batch(self, label, instance_ids, work):
        """`work(ids)` on those of `instance_ids` not failed yet, unless the rollout stopped early; then stop it when
        more of them failed than max_failures allows. `label` names the batch in messages ("wave 1")."""
        entries = [self.entries[instance_id] for instance_id in instance_ids]
        if self.result["stopped_early"]:
            for entry in entries:
                if entry["status"] != FAILED:
                    entry.update(status=NOT_REACHED, reason="not %s: the rollout stopped early" % self.verb)
            return
        working = [entry["instance_id"] for entry in entries if entry["status"] != FAILED]
        if not working:
            return
        work(working)
        failed = [self.entries[i] for i in working if self.entries[i]["status"] in BATCH_FAILURES]
        allowed = self.settings.max_failures.of(len(working))
        if len(failed) > allowed:
            self.result["stopped_early"] = "%s: %d of %d instance(s) failed, max_failures %s allows %d: %s" % (
                label, len(failed), len(working), self.settings.max_failures, allowed,
                failure_list([{"instance_id": e["instance_id"], "error": e["reason"]} for e in failed], "instance_id", limit=10))
        elif failed:
            self.tolerated.update(entry["instance_id"] for entry in failed)
            self.warnings.append("%s: %d instance(s) failed, within max_failures %s: %s"
                                 % (label, len(failed), self.settings.max_failures, ", ".join(e["instance_id"] for e in failed)))

    def verdict(self):
        """None when the task succeeds, else the message it fails with."""
        problems = []
        if self.result["stopped_early"]:
            problems.append("stopped early, %s" % self.result["stopped_early"])
        failed = [e for e in self.entries.values() if e["status"] == FAILED and e["instance_id"] not in self.tolerated]
        if failed:
            problems.append("%d instance(s) failed: %s" % (
                len(failed), failure_list([{"instance_id": e["instance_id"], "error": e["reason"]} for e in failed], "instance_id", limit=10)))
        problems += self.problems
        return "%s: %s" % (self.name, "; ".join(problems)) if problems else None


class BatchRun:
    """One batch of a BatchRollout over `instance_ids`; what happens to each is written into the rollout's entries.

    `registrations` ({instance_id: [Registration]}) are where its instances go back to; `health_request` is the
    SendCommand request of the health check, None for none. A subclass's run() calls drain(), does its work,
    health() and return_to_service().
    """

    def __init__(self, rollout, instance_ids, registrations, health_request):
        self.rollout = rollout
        self.settings = rollout.settings
        self.entries = rollout.entries
        self.instance_ids = list(instance_ids)
        self.registrations = {i: registrations[i] for i in instance_ids if i in registrations}
        self.health_request = health_request
        self.waits = {"sleep": rollout.sleep, "clock": rollout.clock}

    def drain(self):
        """The instances still draining at drain_timeout: failed, not worked on, and put back as they were."""
        if not self.registrations:
            return []
        elbv2 = self.rollout.clients.elbv2
        mark_out_of_service(self.rollout.clients.ec2, self.registrations)
        deregister(elbv2, self.registrations)
        self.rollout.result["changed"] = True
        states = wait_for_states(elbv2, self.registrations, drained, self.settings.drain_timeout, **self.waits)
        stuck = {}
        for (instance_id, group_arn), state in sorted(states.items()):
            if not drained(state):
                stuck.setdefault(instance_id, []).append("%s in %s" % (state, group_name(group_arn)))
        for instance_id, where in sorted(stuck.items()):
            self.rollout.fail(instance_id, "still %s after drain_timeout (%ds); not %s"
                              % (", ".join(where), self.settings.drain_timeout, self.rollout.verb))
        return sorted(stuck)

    def health(self, instance_ids, step):
        """Those of `instance_ids` the health command passed on (all of them without one); the others fail, named by `step`."""
        if self.health_request is None:
            return list(instance_ids)
        errors = self.rollout.command(instance_ids, self.health_request)
        for instance_id in instance_ids:
            self.entries[instance_id]["health"] = "failed" if instance_id in errors else "passed"
            if instance_id in errors:
                self.rollout.fail(instance_id, "%s: %s" % (step, errors[instance_id]))
        return [i for i in instance_ids if i not in errors]

    def return_to_service(self, untouched):
        """Register again what did not fail and what was `untouched`, and wait until healthy; the healthy ones lose their marks."""
        back = {i: regs for i, regs in self.registrations.items() if i in untouched or self.entries[i]["status"] != FAILED}
        if not back:
            return
        elbv2 = self.rollout.clients.elbv2
        register(elbv2, back)
        states = wait_for_states(elbv2, back, healthy, self.settings.healthy_timeout, **self.waits)
        for (instance_id, group_arn), state in sorted(states.items()):
            if not healthy(state):
                self.rollout.fail(instance_id, "%s in %s after healthy_timeout (%ds)" % (state, group_name(group_arn), self.settings.healthy_timeout))
        # An instance not healthy keeps its marks: a later run that finds it healthy removes them.
        clear_marks(self.rollout.clients.ec2, {i: regs for i, regs in back.items() if all(healthy(states.get((i, r.target_group_arn))) for r in regs)})
