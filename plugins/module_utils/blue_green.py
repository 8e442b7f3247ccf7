# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""blue_green_shift's options checked once, the steps still to take, and the gates' report (no AWS call).

A step is green's percentage of the traffic the forward sends to blue and green: step 10 weighs
blue 90 and green 10. Other target groups of the forward keep their weight (listener_weights).
"""

from dataclasses import dataclass
from typing import Optional
from typing import Tuple

from ansible_collections.cloudops.aws.plugins.module_utils.listener_weights import TARGET_GROUP_ARN
from ansible_collections.cloudops.aws.plugins.module_utils.listener_weights import TARGET_GROUP_NAME
from ansible_collections.cloudops.aws.plugins.module_utils.listener_weights import TrafficShiftSettings

# The gates, in the order they are read: a failing one means those before it passed.
GATES = ("target_health", "alarms", "health_command")


def _checked_group(option, value):
    if not TARGET_GROUP_ARN.match(value) and not TARGET_GROUP_NAME.match(value):
        raise ValueError("%s: %r is neither a target group name nor a target group ARN" % (option, value))
    return value


def _checked_steps(steps):
    if not steps:
        raise ValueError("steps: give the percentages of the traffic green takes, step by step, ending with 100; got %r" % (steps,))
    outside = [step for step in steps if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= 100]
    if outside:
        raise ValueError("steps: each step is a whole percentage from 1 to 100, got %r in %r" % (outside[0], steps))
    if any(later <= earlier for earlier, later in zip(steps, steps[1:])):
        raise ValueError("steps: each step must be above the one before, got %r" % (steps,))
    if steps[-1] != 100:
        raise ValueError("steps: the last step must be 100 (all of the traffic on green), got %r" % (steps,))
    return tuple(steps)


def _checked_alarm_names(names):
    blank = [name for name in names if not name.strip()]
    if blank:
        raise ValueError("alarm_names: an alarm name is empty: %r" % (names,))
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError("alarm_names: %s named twice" % ", ".join(repr(name) for name in twice))
    return tuple(names)


@dataclass(frozen=True)
class BlueGreenSettings:
    """One blue_green_shift's options, checked when built: ValueError names the option and the value."""

    listener_arn: str
    rule_arn: Optional[str]
    # Target group names or ARNs, as the task gives them.
    blue: str
    green: str
    steps: Tuple[int, ...]
    bake_time: int
    alarm_names: Tuple[str, ...]
    health_command: Optional[str]
    healthy_timeout: int
    command_timeout: int
    rollback: bool

    def __post_init__(self):
        if self.blue == self.green:
            raise ValueError("green_target_group: %r is blue_target_group too; blue and green are two target groups" % self.green)
        if self.bake_time < 0:
            raise ValueError("bake_time: must be 0 or more seconds, got %d" % self.bake_time)
        if self.healthy_timeout < 0:
            raise ValueError("healthy_timeout: must be 0 or more seconds, got %d" % self.healthy_timeout)
        if self.command_timeout < 1:
            raise ValueError("command_timeout: must be 1 or more seconds, got %d" % self.command_timeout)
        if self.health_command is not None and not self.health_command.strip():
            raise ValueError("health_command: %r runs nothing; leave it unset for no health command" % self.health_command)

    @classmethod
    def from_params(cls, params):
        settings = cls(
            listener_arn=params["listener_arn"],
            rule_arn=params["rule_arn"],
            blue=_checked_group("blue_target_group", params["blue_target_group"]),
            green=_checked_group("green_target_group", params["green_target_group"]),
            steps=_checked_steps(params["steps"]),
            bake_time=params["bake_time"],
            alarm_names=_checked_alarm_names(params["alarm_names"]),
            health_command=params["health_command"],
            healthy_timeout=params["healthy_timeout"],
            command_timeout=params["command_timeout"],
            rollback=params["rollback"],
        )
        # alb_traffic_shift's checks of the listener and rule ARNs, with their messages.
        settings.shift_to(0, settings.blue, settings.green, checked=True)
        return settings

    def shift_to(self, percent, blue_arn, green_arn, checked=False):
        """alb_traffic_shift's settings that give green `percent` of blue's and green's traffic."""
        params = dict(listener_arn=self.listener_arn, rule_arn=self.rule_arn, weights={blue_arn: 100 - percent, green_arn: percent},
                      stickiness=None)
        if checked:
            return TrafficShiftSettings.from_params(params)
        return TrafficShiftSettings(**params)

    @property
    def gates_set(self):
        """{gate: whether this run reads it}."""
        return {"target_health": True, "alarms": bool(self.alarm_names), "health_command": self.health_command is not None}


def green_percent(weights, blue_arn, green_arn):
    """Green's share of the traffic the forward sends to blue and green, in percent (0 when neither has weight)."""
    total = weights[blue_arn] + weights[green_arn]
    return round(100.0 * weights[green_arn] / total, 1) if total else 0


def remaining_steps(steps, weights, blue_arn, green_arn):
    """The steps above green's share now: a run stopped at 50% goes on from there, one at 100% has none left."""
    blue, green = weights[blue_arn], weights[green_arn]
    # Whole numbers only, so that 1/3 of the weight is below step 34 and above step 33.
    return [step for step in steps if blue + green == 0 or step * (blue + green) > 100 * green]


def gate_results(gates_set, failure):
    """{gate: "passed", "failed", "not checked" (after a failing gate) or "not set"} after one look at the gates.

    `failure` is None or (gate, reason) of the first gate that failed.
    """
    results = {}
    reached = True
    for gate in GATES:
        if not gates_set[gate]:
            results[gate] = "not set"
        elif failure is not None and failure[0] == gate:
            results[gate] = "failed"
            reached = False
        else:
            results[gate] = "passed" if reached else "not checked"
    return results
