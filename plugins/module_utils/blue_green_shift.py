# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One run of blue_green_shift: traffic moved from blue to green in steps, each watched through gates (docs/blue_green.md).

The sequence, and why:
1. Find both target groups' ARNs (one DescribeTargetGroups for those given by name) and read the
   forward, which must have both; `rollback` then puts 100% on blue and ends. Every alarm must
   exist. A refusal here changes nothing; check mode ends here with the steps it would take.
2. Before the first step: wait until every green target is healthy (healthy_timeout), then read
   the alarms and run the health command once, so a green that is not ready takes no traffic.
3. Each step still to take (those above green's share now, so a stopped run goes on where it
   stopped): one ModifyListener or ModifyRule through elbv2_listeners.TrafficShift, then the
   bake: green's target health and the alarms read every poll round for bake_time, then the
   health command once.
4. The first failing gate ends the run: one write puts 100% on blue, and the task fails with the
   gate and the reason. A gate that cannot be read fails too: traffic does not stay on green
   unwatched.
"""

import collections
import datetime
import time

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_text
from ansible_collections.cloudops.aws.plugins.module_utils.blue_green import gate_results
from ansible_collections.cloudops.aws.plugins.module_utils.blue_green import green_percent
from ansible_collections.cloudops.aws.plugins.module_utils.blue_green import remaining_steps
from ansible_collections.cloudops.aws.plugins.module_utils.cloudwatch_alarms import alarm_states
from ansible_collections.cloudops.aws.plugins.module_utils.cloudwatch_alarms import missing_alarms
from ansible_collections.cloudops.aws.plugins.module_utils.cloudwatch_alarms import not_ok
from ansible_collections.cloudops.aws.plugins.module_utils.elbv2_listeners import TrafficShift
from ansible_collections.cloudops.aws.plugins.module_utils.elbv2_listeners import read_actions
from ansible_collections.cloudops.aws.plugins.module_utils.listener_weights import TARGET_GROUP_ARN
from ansible_collections.cloudops.aws.plugins.module_utils.listener_weights import forward_position
from ansible_collections.cloudops.aws.plugins.module_utils.listener_weights import forward_state
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import failure_list
from ansible_collections.cloudops.aws.plugins.module_utils.selection import SelectionError
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_instances import select_by_ids
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_params import SHELL_DOCUMENTS
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_rollout import run_on_instances
from ansible_collections.cloudops.aws.plugins.module_utils.target_groups import arns_by_name
from ansible_collections.cloudops.aws.plugins.module_utils.target_groups import group_health
from ansible_collections.cloudops.aws.plugins.module_utils.waiting import poll_delay

# `sender` is the SSM client for SendCommand only, without botocore's retries (ssm_commands.send_command).
Clients = collections.namedtuple("Clients", "elbv2 cloudwatch ssm sender")

# Gates are read soon after a shift, when a bad green shows first, then at a steady pace.
GATE_POLL_DELAYS = (1, 2, 5, 10, 15)


def health_request(command):
    return {"DocumentName": SHELL_DOCUMENTS["bash"], "Parameters": {"commands": [command]},
            "Comment": "cloudops.aws blue_green_shift health check"}


def _utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


class BlueGreenShift:
    """One blue_green_shift run; `result` holds everything returned, also when an AWS error ends the run."""

    def __init__(self, clients, settings, sleep=time.sleep, clock=time.monotonic, now=_utc_now):
        self.clients = clients
        self.settings = settings
        self.sleep = sleep
        self.clock = clock
        self.now = now
        self.blue_arn = self.green_arn = None
        self.green_targets = []
        self.warnings = []
        self.result = {"changed": False, "blue_target_group_arn": None, "green_target_group_arn": None, "before": {}, "steps": [],
                       "weights": {}, "green_percent": None, "rolled_back": False, "failed_gate": None, "reason": None}

    # -- 1. what the task names ---------------------------------------------------------------------

    def _find(self):
        settings = self.settings
        names = [group for group in (settings.blue, settings.green) if not TARGET_GROUP_ARN.match(group)]
        found = arns_by_name(self.clients.elbv2, names)
        for option, group in (("blue_target_group", settings.blue), ("green_target_group", settings.green)):
            if group in names and group not in found:
                raise SelectionError("%s: no target group named %r" % (option, group))
        self.blue_arn, self.green_arn = found.get(settings.blue, settings.blue), found.get(settings.green, settings.green)
        self.result.update(blue_target_group_arn=self.blue_arn, green_target_group_arn=self.green_arn)

        to_blue = settings.shift_to(0, self.blue_arn, self.green_arn)
        actions = read_actions(self.clients.elbv2, settings.listener_arn, settings.rule_arn)
        weights = forward_state(actions[forward_position(actions, to_blue)])["weights"]
        for option, group, arn in (("blue_target_group", settings.blue, self.blue_arn), ("green_target_group", settings.green, self.green_arn)):
            if arn not in weights:
                raise SelectionError("%s: %r is not a target group of the forward of %s, which has %s; blue_green_shift moves traffic "
                                     "between groups the forward has" % (option, group, to_blue.subject[1], ", ".join(weights)))
        self._record_weights(weights)
        self.result["before"] = {"weights": weights, "green_percent": self.result["green_percent"]}
        return weights

    def _record_weights(self, weights):
        self.result.update(weights=weights, green_percent=green_percent(weights, self.blue_arn, self.green_arn))

    # -- the gates: each returns why it fails now, or "" ------------------------------------------------

    def _target_health(self):
        targets = group_health(self.clients.elbv2, self.green_arn)
        self.green_targets = [target_id for target_id, _state, _reason in targets]
        if not targets:
            return "green target group %s has no registered target" % self.settings.green
        sick = ["%s %s%s" % (target_id, state, " (%s)" % reason if reason else "") for target_id, state, reason in targets if state != "healthy"]
        if sick:
            return "%d of %d green target(s) not healthy: %s" % (len(sick), len(targets), ", ".join(sick))
        return ""

    def _alarms(self):
        if not self.settings.alarm_names:
            return ""
        return not_ok(self.settings.alarm_names, alarm_states(self.clients.cloudwatch, self.settings.alarm_names))

    def _health_command(self):
        if self.settings.health_command is None:
            return ""
        not_instances = [target_id for target_id in self.green_targets if not target_id.startswith("i-")]
        if not_instances:
            return "the health command runs on instances; green's targets include %s" % ", ".join(not_instances)
        selection = select_by_ids(self.clients.ssm, self.green_targets)
        errors = {item["instance_id"]: item["reason"] for item in selection.not_ready()}
        ran, warnings = run_on_instances(self.clients.ssm, self.clients.sender, selection.online, health_request(self.settings.health_command),
                                         self.settings.command_timeout, sleep=self.sleep, clock=self.clock)
        self.warnings.extend(warnings)
        errors.update(ran)
        if errors:
            failures = [{"instance_id": instance_id, "error": error} for instance_id, error in sorted(errors.items())]
            return "the health command failed on %d of %d green instance(s): %s" % (
                len(errors), len(self.green_targets), failure_list(failures, "instance_id", limit=10))
        return ""

    def _first_failure(self, gates):
        """(gate, reason) of the first of `gates` that fails now, or None. A gate that cannot be read fails."""
        for gate in gates:
            try:
                reason = getattr(self, "_" + gate)()
            except (BotoCoreError, ClientError) as error:
                reason = "could not be read: %s" % error_text(error)
            if reason:
                return gate, reason
        return None

    def _watch(self, seconds, gates, until):
        """Read `gates` every poll round for `seconds`, or until `until(failure)` holds; the last (gate, reason) or None."""
        deadline = self.clock() + seconds
        round_number = 0
        while True:
            failure = self._first_failure(gates)
            remaining = deadline - self.clock()
            if until(failure) or remaining <= 0:
                return failure
            self.sleep(min(poll_delay(round_number, GATE_POLL_DELAYS), remaining))
            round_number += 1

    # -- 2, 3. before the first step, and each step ----------------------------------------------------

    def _gates_before(self):
        started = self.clock()
        failure = self._watch(self.settings.healthy_timeout, ["target_health"], until=lambda failure: failure is None)
        if failure is not None:
            failure = (failure[0], "%s after healthy_timeout (%ds)" % (failure[1], self.settings.healthy_timeout))
        else:
            failure = self._first_failure(["alarms", "health_command"])
        self.result["before"].update(gates=gate_results(self.settings.gates_set, failure), seconds=round(self.clock() - started, 1))
        return failure

    def _step(self, percent):
        entry = {"percent": percent, "started_at": self.now().strftime("%Y-%m-%dT%H:%M:%SZ")}
        self.result["steps"].append(entry)
        started = self.clock()
        shifted = self._shift(percent)
        entry["weights"] = shifted["weights"]
        failure = self._watch(self.settings.bake_time, ["target_health", "alarms"], until=lambda failure: failure is not None)
        if failure is None:
            failure = self._first_failure(["health_command"])
        entry.update(gates=gate_results(self.settings.gates_set, failure), seconds=round(self.clock() - started, 1))
        return failure

    def _shift(self, percent):
        shifted = TrafficShift(self.clients.elbv2, self.settings.shift_to(percent, self.blue_arn, self.green_arn)).run()
        self.result["changed"] = self.result["changed"] or shifted["changed"]
        self._record_weights(shifted["weights"])
        return shifted

    # -- the run ------------------------------------------------------------------------------------

    def run(self, check_mode=False):
        weights = self._find()
        if self.settings.rollback:
            shifted = TrafficShift(self.clients.elbv2, self.settings.shift_to(0, self.blue_arn, self.green_arn)).run(check_mode=check_mode)
            self.result.update(changed=shifted["changed"], rolled_back=shifted["changed"] and not check_mode)
            self._record_weights(shifted["weights"])
            return self.result
        missing = missing_alarms(self.clients.cloudwatch, self.settings.alarm_names)
        if missing:
            raise SelectionError("alarm_names: no CloudWatch alarm named %s" % ", ".join(repr(name) for name in missing))
        steps = remaining_steps(self.settings.steps, weights, self.blue_arn, self.green_arn)
        if check_mode:
            planned = [self.settings.shift_to(percent, self.blue_arn, self.green_arn).weights for percent in steps]
            self.result["steps"] = [{"percent": percent, "weights": {**weights, **shift}} for percent, shift in zip(steps, planned)]
            self.result["changed"] = bool(steps)
            if steps:
                self._record_weights(self.result["steps"][-1]["weights"])
            return self.result
        failure = self._gates_before()
        for percent in steps:
            if failure is not None:
                break
            failure = self._step(percent)
        if failure is not None:
            self._roll_back(failure)
        return self.result

    def _roll_back(self, failure):
        gate, reason = failure
        where = "at %s%% green" % self.result["steps"][-1]["percent"] if self.result["steps"] else "before the first step"
        self.result.update(failed_gate=gate, reason="gate %s failed %s: %s" % (gate, where, reason))
        self.result["rolled_back"] = self._shift(0)["changed"]

    def verdict(self):
        """None when the task succeeds, else the message it fails with."""
        if self.result["failed_gate"] is None:
            return None
        done = "rolled back" if self.result["rolled_back"] else "nothing to roll back"
        return "blue_green_shift: %s; %s: blue (%s) weighs 100, green (%s) 0" % (self.result["reason"], done, self.settings.blue, self.settings.green)
