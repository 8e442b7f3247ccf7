# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One run of ssm_run: check the instances, send, wait, collect every instance's result.

The sequence, and why:
1. DescribeInstanceInformation first: SendCommand refuses a whole call for one unmanaged id,
   and an offline agent holds its invocation until the delivery timeout. Instances that are
   not ready fail the task before anything is sent, or are skipped (skip_unmanaged).
2. SendCommand once for the targets, or once per 50 instance ids.
3. Poll with ListCommandInvocations (Details, 50 a page) for all invocations at once, never
   one GetCommandInvocation per instance; an invocation not listed yet counts as pending.
4. Only for the invocations whose listed output was cut (2,500 characters), read stdout and
   stderr with GetCommandInvocation (24,000 / 8,000), and the whole text from S3 when asked.
"""

import time

from ansible_collections.cloudops.aws.plugins.module_utils import ssm_commands
from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_text
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import failure_list
from ansible_collections.cloudops.aws.plugins.module_utils.selection import SelectionError
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_output import apply_invocation_content
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_output import count_by_status
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_output import outcome_of
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_output import summarize_invocation
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_instances import Selection
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_params import SsmRunSettings
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_params import allowed_failure_count
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_params import send_requests
from ansible_collections.cloudops.aws.plugins.module_utils.waiting import poll_delay
from ansible_collections.cloudops.aws.plugins.module_utils.workers import run_bounded

# Commands are often short: look again soon, then settle to a steady pace.
POLL_DELAYS = (1, 2, 3, 5, 8, 10)
OUTPUT_READERS = 10


class NotReady(SelectionError):
    """Selected instances SSM cannot run the command on, and skip_unmanaged is false."""


class RunCommand:
    """ssm_run over one selection, as `settings` (ssm_params.SsmRunSettings) say; `result` holds everything returned, also on failure."""

    def __init__(self, ssm, sender, ec2, s3, settings, sleep=time.sleep, clock=time.monotonic):
        self.ssm = ssm
        # For SendCommand only: a client without botocore's retries (ssm_commands.send_command).
        self.sender = sender
        self.ec2 = ec2
        self.s3 = s3
        self.settings = settings
        self.sleep = sleep
        self.clock = clock
        self.warnings = []
        self.result = {
            "changed": False,
            "command_ids": [],
            "invocations": [],
            "status_counts": {},
            "would_run": [],
            "instances_skipped": [],
            "undelivered": [],
            "failures": [],
            "still_running": [],
        }

    # -- 1. selection ------------------------------------------------------------------------

    def check_selection(self, selection, strict=True):
        """Record what will not run; raise NotReady (when strict) unless skip_unmanaged allows skipping it."""
        not_ready = selection.not_ready()
        self.result["would_run"] = list(selection.online)
        if not selection.resolvable:
            self.warnings.append("targets with resource groups are resolved by SSM only; instances could not be checked before sending")
        if not_ready and not self.settings.skip_unmanaged and strict:
            raise NotReady("%s: %d selected instance(s) cannot run the command, nothing was sent (set skip_unmanaged to run on the others): %s"
                           % (selection.option, len(not_ready), "; ".join("%s: %s" % (item["instance_id"], item["reason"]) for item in not_ready)))
        self.result["instances_skipped"] = not_ready
        if not_ready and not self.settings.skip_unmanaged:
            self.warnings.append("a real run would fail before sending: %d selected instance(s) are not managed or offline "
                                 "(set skip_unmanaged to skip them)" % len(not_ready))
        elif not_ready:
            self.warnings.append("skipped %d instance(s) SSM cannot run the command on: %s"
                                 % (len(not_ready), ", ".join(item["instance_id"] for item in not_ready)))

    # -- 2. send -----------------------------------------------------------------------------

    def send(self, selection):
        if self.settings.targets:
            requests = send_requests(self.settings.request, targets=self.settings.targets)
        else:
            requests = send_requests(self.settings.request, instance_ids=selection.online)
        for request in requests:
            self.result["command_ids"].append(ssm_commands.send_command(self.sender, request))
            self.result["changed"] = True

    # -- 3. wait -----------------------------------------------------------------------------

    def _listed(self):
        invocations = []
        for command_id in self.result["command_ids"]:
            invocations += [summarize_invocation(i) for i in ssm_commands.list_invocations(self.ssm, command_id)]
        return invocations

    def _pending(self, invocations, expected, skipped):
        listed = {i["instance_id"] for i in invocations}
        missing = [i for i in expected if i not in listed]
        running = [i["instance_id"] for i in invocations
                   if outcome_of(i["status"], i["status_details"]) == "running" and i["instance_id"] not in skipped]
        if not invocations and not expected and not self._commands_settled():
            # Targets SSM resolves itself (resource groups): nothing listed yet is not "done".
            return ["(targets not resolved yet)"]
        return sorted(set(missing + running))

    def _commands_settled(self):
        return all(ssm_commands.command_settled(self.ssm, command_id) for command_id in self.result["command_ids"])

    def wait(self, expected):
        """Poll every command's invocations until none is running (skipped offline ones aside) or time is up."""
        skipped = {item["instance_id"] for item in self.result["instances_skipped"]}
        deadline = self.clock() + self.settings.wait_timeout
        round_number = 0
        while True:
            invocations = self._listed()
            pending = self._pending(invocations, expected, skipped)
            remaining = deadline - self.clock()
            if not pending or remaining <= 0:
                return invocations, pending
            self.sleep(min(poll_delay(round_number, POLL_DELAYS), remaining))
            round_number += 1

    def cancel_skipped(self, invocations):
        """Targets reach offline instances too: their invocations wait for the agent, which may come back
        and run the command long after this task. Skipped means not run, so they are cancelled."""
        skipped = {item["instance_id"] for item in self.result["instances_skipped"]}
        waiting = {}
        for summary in invocations:
            if summary["instance_id"] in skipped and outcome_of(summary["status"], summary["status_details"]) == "running":
                waiting.setdefault(summary["command_id"], []).append(summary["instance_id"])
                summary["status"] = summary["status_details"] = "Cancelled"
        for command_id, instance_ids in sorted(waiting.items()):
            ssm_commands.cancel_invocations(self.ssm, command_id, instance_ids)
            self.warnings.append("cancelled the command on skipped instance(s) %s, so they do not run it when their agent "
                                 "comes back" % ", ".join(sorted(instance_ids)))

    # -- 4. output ---------------------------------------------------------------------------

    def _complete_output(self, summary):
        if summary["output_truncated"] and summary["plugin_count"] == 1:
            content = ssm_commands.get_invocation_content(self.ssm, summary["command_id"], summary["instance_id"])
            apply_invocation_content(summary, content)
        if summary["output_truncated"] and self.settings.fetch_full_output:
            stdout = ssm_commands.read_s3_text(self.s3, summary["stdout_url"])
            stderr = ssm_commands.read_s3_text(self.s3, summary["stderr_url"])
            if stdout is not None:
                summary["stdout"] = stdout
                summary["stderr"] = stderr if stderr is not None else summary["stderr"]
                summary["output_truncated"] = False
        return summary

    def complete_outputs(self, invocations):
        finished = [i for i in invocations if outcome_of(i["status"], i["status_details"]) != "running"]
        for outcome in run_bounded(self._complete_output, finished, OUTPUT_READERS):
            if not outcome.ok:
                self.warnings.append("could not read the whole output of %s: %s" % (outcome.item["instance_id"], error_text(outcome.error)))

    # -- the run -----------------------------------------------------------------------------

    def preview(self, selection):
        self.check_selection(selection, strict=False)
        self.result["changed"] = bool(self.result["would_run"])
        return self.result

    def run(self, selection):
        self.check_selection(selection)
        if not selection.online and (selection.resolvable or not self.settings.targets):
            self.warnings.append("no managed, online instance matches the selection; nothing was sent")
            return self.result
        self.send(selection)
        if not self.settings.wait:
            return self.result
        invocations, pending = self.wait(selection.online)
        self.cancel_skipped(invocations)
        self.complete_outputs(invocations)
        self._classify(sorted(invocations, key=lambda i: i["instance_id"]), pending)
        return self.result

    def _classify(self, invocations, pending):
        skipped = {item["instance_id"] for item in self.result["instances_skipped"]}
        for summary in invocations:
            del summary["plugin_count"]
            outcome = outcome_of(summary["status"], summary["status_details"])
            if outcome == "undelivered" or summary["instance_id"] in skipped:
                self.result["undelivered"].append({
                    "instance_id": summary["instance_id"], "status": summary["status"], "status_details": summary["status_details"]})
            elif outcome == "failed":
                self.result["failures"].append({
                    "instance_id": summary["instance_id"], "status": summary["status"], "status_details": summary["status_details"],
                    "response_code": summary["response_code"], "error": _failure_text(summary)})
        self.result["invocations"] = invocations
        self.result["status_counts"] = count_by_status(invocations)
        self.result["still_running"] = pending

    def verdict(self):
        """None when the task succeeds, else the message it fails with."""
        problems = []
        failures = self.result["failures"]
        total = len(self.result["invocations"])
        allowed = allowed_failure_count(self.settings.allowed_failures, total)
        if len(failures) > allowed:
            problems.append("the command failed on %d of %d instance(s)%s: %s" % (
                len(failures), total, " (%d allowed)" % allowed if allowed else "", failure_list(failures, "instance_id", limit=20)))
        if self.result["still_running"]:
            problems.append("wait_timeout (%ds) reached with %d invocation(s) still running: %s" % (
                self.settings.wait_timeout, len(self.result["still_running"]), ", ".join(self.result["still_running"][:20])))
        undelivered = self.result["undelivered"]
        if undelivered and not self.settings.skip_unmanaged:
            problems.append("the command was not delivered to %d instance(s): %s" % (
                len(undelivered), ", ".join("%s (%s)" % (u["instance_id"], u["status_details"]) for u in undelivered)))
        return "ssm_run: " + "; ".join(problems) if problems else None


def _failure_text(summary):
    details = summary["status_details"] or summary["status"]
    if details == "Terminated":
        return "Terminated: not run, the command exceeded max_errors"
    if details in ("ExecutionTimedOut", "TimedOut"):
        return "%s: the command ran longer than execution_timeout" % details
    last_line = (summary["stderr"].strip().splitlines() or [""])[-1]
    return "%s (exit code %s)%s" % (details, summary["response_code"], ": " + last_line if last_line else "")


def command_errors(result, instance_ids, timeout):
    """{instance_id: why} for the instances a RunCommand result does not show succeeding."""
    errors = {failure["instance_id"]: failure["error"] for failure in result["failures"]}
    errors.update((item["instance_id"], "not delivered (%s)" % item["status_details"]) for item in result["undelivered"])
    errors.update((instance_id, "still running after command_timeout (%ds)" % timeout) for instance_id in result["still_running"])
    listed = {invocation["instance_id"] for invocation in result["invocations"]}
    errors.update((instance_id, "SSM listed no invocation") for instance_id in instance_ids if instance_id not in listed and instance_id not in errors)
    return errors


def outputs_on_instances(ssm, sender, instance_ids, request, timeout, sleep=time.sleep, clock=time.monotonic):
    """({instance_id: stdout} of those of `instance_ids` (all Online) the command succeeded on, {instance_id: why} of
    the others, warnings): run_on_instances with each output, as ListCommandInvocations lists it (2,500 characters)."""
    if not instance_ids:
        return {}, {}, []
    settings = SsmRunSettings(instance_ids=tuple(instance_ids), targets=None, request=request, allowed_failures="0",
                              skip_unmanaged=False, wait=True, wait_timeout=timeout, fetch_full_output=False)
    run = RunCommand(ssm, sender, None, None, settings, sleep=sleep, clock=clock)
    result = run.run(Selection("instance_ids", instance_ids, [], []))
    errors = command_errors(result, instance_ids, timeout)
    return {i["instance_id"]: i["stdout"] for i in result["invocations"] if i["instance_id"] not in errors}, errors, run.warnings


def run_on_instances(ssm, sender, instance_ids, request, timeout, sleep=time.sleep, clock=time.monotonic):
    """({instance_id: why} for those of `instance_ids` (all Online) the command did not succeed on, warnings).

    A procedure's step on instances it has checked itself (an install, a health command): sent, waited
    for up to `timeout` seconds (the caller's command_timeout), every instance judged.
    """
    _outputs, errors, warnings = outputs_on_instances(ssm, sender, instance_ids, request, timeout, sleep=sleep, clock=clock)
    return errors, warnings
