# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""alb_traffic_shift's options checked once, and the actions of a listener or rule with new forward weights (no AWS call).

ModifyListener and ModifyRule replace the whole action list, so the list is given back as it was
read, every action and field in its place, with only the forward's weights (and its target-group
stickiness, when asked) changed. Only target groups already on the forward are weighed: a group
named in `weights` that the forward does not have is refused, not added (docs/alb_traffic_shift.md
says why). Groups of the forward that `weights` does not name keep their weight.
"""

import collections
import re
from dataclasses import dataclass
from typing import Mapping
from typing import Optional

MAX_WEIGHT = 999
# ELB weighs 1 a target group given without a weight (a forward with a bare TargetGroupArn).
DEFAULT_WEIGHT = 1
# A forward action has at most 5 target groups (Elastic Load Balancing quotas).
MAX_GROUPS = 5
MAX_STICKINESS_SECONDS = 604800  # 7 days, the most TargetGroupStickinessConfig takes

_ARN_HEAD = r"^arn:[\w-]+:elasticloadbalancing:[\w-]+:\d{12}:"
LISTENER_ARN = re.compile(_ARN_HEAD + r"listener/app/[\w-]+/\w+/\w+$")
RULE_ARN = re.compile(_ARN_HEAD + r"listener-rule/app/[\w-]+/\w+/\w+/\w+$")
TARGET_GROUP_ARN = re.compile(_ARN_HEAD + r"targetgroup/[\w-]+/\w+$")
# Up to 32 letters, digits and hyphens, not beginning or ending with a hyphen.
TARGET_GROUP_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")

# The actions to write (None when the forward is as asked already), and the forward before and after:
# {"weights": {target group ARN: weight}, "stickiness": {"enabled": bool, "duration": seconds or None}}.
Shift = collections.namedtuple("Shift", "actions before after")


@dataclass(frozen=True)
class Stickiness:
    enabled: bool
    # Seconds; None keeps the forward's current duration.
    duration: Optional[int] = None


def _checked_listener_arn(value):
    if not LISTENER_ARN.match(value):
        raise ValueError("listener_arn: not the ARN of an Application Load Balancer listener "
                         "(arn:aws:elasticloadbalancing:<region>:<account>:listener/app/...): %r" % value)
    return value


def _checked_rule_arn(value, listener_arn):
    if not RULE_ARN.match(value):
        raise ValueError("rule_arn: not the ARN of an Application Load Balancer listener rule "
                         "(arn:aws:elasticloadbalancing:<region>:<account>:listener-rule/app/...): %r" % value)
    # A rule's ARN is its listener's, under listener-rule/, with the rule's id added.
    if value.rsplit("/", 1)[0] != listener_arn.replace(":listener/", ":listener-rule/", 1):
        raise ValueError("rule_arn: %r is not a rule of listener_arn %r" % (value, listener_arn))
    return value


def _checked_weight(key, value):
    weight = None
    if isinstance(value, int) and not isinstance(value, bool):
        weight = value
    elif isinstance(value, str) and re.match(r"^\s*-?\d+\s*$", value):
        weight = int(value)
    if weight is None or not 0 <= weight <= MAX_WEIGHT:
        raise ValueError("weights: the weight of %r must be a whole number from 0 to %d, got %r" % (key, MAX_WEIGHT, value))
    return weight


def _checked_weights(weights):
    if not weights:
        raise ValueError("weights: name at least one target group and its weight, got %r" % (weights,))
    if len(weights) > MAX_GROUPS:
        raise ValueError("weights: a forward action has at most %d target groups, got %d: %s" % (MAX_GROUPS, len(weights), sorted(weights)))
    for key in weights:
        if not TARGET_GROUP_ARN.match(key) and not TARGET_GROUP_NAME.match(key):
            raise ValueError("weights: %r is neither a target group name nor a target group ARN" % key)
    return {key: _checked_weight(key, value) for key, value in weights.items()}


def _checked_stickiness(stickiness):
    if stickiness is None:
        return None
    duration = stickiness.get("duration")
    if not stickiness["enabled"]:
        # A disabled stickiness has no duration; a templated task may still give one.
        return Stickiness(False)
    if duration is not None and not 1 <= duration <= MAX_STICKINESS_SECONDS:
        raise ValueError("stickiness: duration must be from 1 to %d seconds, got %r" % (MAX_STICKINESS_SECONDS, duration))
    return Stickiness(True, duration)


@dataclass(frozen=True)
class TrafficShiftSettings:
    """One alb_traffic_shift's options, checked when built: ValueError names the option and the value."""

    listener_arn: str
    rule_arn: Optional[str]
    # Target group name or ARN, as the task names it, to weight.
    weights: Mapping[str, int]
    # None keeps the forward's stickiness as it is.
    stickiness: Optional[Stickiness]

    @classmethod
    def from_params(cls, params):
        listener_arn = _checked_listener_arn(params["listener_arn"])
        rule_arn = params["rule_arn"]
        return cls(
            listener_arn=listener_arn,
            rule_arn=None if rule_arn is None else _checked_rule_arn(rule_arn, listener_arn),
            weights=_checked_weights(params["weights"]),
            stickiness=_checked_stickiness(params["stickiness"]),
        )

    @property
    def names(self):
        """The target groups `weights` names by name rather than ARN."""
        return [key for key in self.weights if not TARGET_GROUP_ARN.match(key)]

    @property
    def subject(self):
        """(option, what it names) for messages: the rule when there is one, else the listener."""
        if self.rule_arn is not None:
            return "rule_arn", "rule %s" % self.rule_arn
        return "listener_arn", "listener %s" % self.listener_arn


def forward_position(actions, settings):
    """The index of the forward action in `actions`; ValueError naming the listener or rule when there is none."""
    for position, action in enumerate(actions):
        if action.get("Type") == "forward":
            return position
    option, subject = settings.subject
    raise ValueError("%s: %s has no forward action (its actions: %s); only a forward's target groups have weights"
                     % (option, subject, ", ".join(action.get("Type", "?") for action in actions) or "none"))


def forward_state(forward):
    """{"weights": {target group ARN: weight}, "stickiness": {"enabled", "duration"}} of a forward action."""
    config = forward.get("ForwardConfig") or {}
    groups = config.get("TargetGroups") or [{"TargetGroupArn": forward["TargetGroupArn"]}]
    sticky = config.get("TargetGroupStickinessConfig") or {}
    enabled = bool(sticky.get("Enabled"))
    return {
        "weights": {group["TargetGroupArn"]: group.get("Weight", DEFAULT_WEIGHT) for group in groups},
        "stickiness": {"enabled": enabled, "duration": sticky.get("DurationSeconds") if enabled else None},
    }


def _weights_by_arn(settings, arns_by_name, on_forward):
    """{target group ARN: weight} from `weights`; ValueError for a name that no target group has, a group named twice
    with two weights, or a group the forward does not have."""
    unknown = [key for key in settings.names if key not in arns_by_name]
    if unknown:
        raise ValueError("weights: no target group named %s" % ", ".join(repr(name) for name in unknown))
    by_arn, given_as = {}, {}
    for key, weight in settings.weights.items():
        arn = arns_by_name.get(key, key)
        if by_arn.get(arn, weight) != weight:
            raise ValueError("weights: %r and %r are the same target group, with weights %d and %d"
                             % (given_as[arn], key, by_arn[arn], weight))
        by_arn[arn] = weight
        given_as.setdefault(arn, key)
    missing = [given_as[arn] for arn in by_arn if arn not in on_forward]
    if missing:
        raise ValueError("weights: %s not a target group of the forward of %s, which has %s; alb_traffic_shift weighs the "
                         "groups a forward has and adds none" % (", ".join(repr(key) for key in missing), settings.subject[1],
                                                                 ", ".join(on_forward)))
    return by_arn


def _stickiness_after(before, stickiness, settings):
    if stickiness is None:
        return before
    if not stickiness.enabled:
        return {"enabled": False, "duration": None}
    duration = stickiness.duration or before["duration"]
    if duration is None:
        raise ValueError("stickiness: enabling it on the forward of %s needs a duration (1 to %d seconds): "
                         "the forward has none to keep" % (settings.subject[1], MAX_STICKINESS_SECONDS))
    return {"enabled": True, "duration": duration}


def _restated(action):
    """An action as ModifyListener or ModifyRule take it back. DescribeListeners and DescribeRules never show an OIDC
    client secret: UseExistingClientSecret keeps the one the action has."""
    config = action.get("AuthenticateOidcConfig")
    if config is None or "ClientSecret" in config:
        return action
    return dict(action, AuthenticateOidcConfig=dict(config, UseExistingClientSecret=True))


def _weighted_forward(forward, after, set_stickiness):
    config = dict(forward.get("ForwardConfig") or {})
    # In the forward's own order; a bare TargetGroupArn stays, naming the same (only) group.
    config["TargetGroups"] = [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in after["weights"].items()]
    if set_stickiness:
        sticky = after["stickiness"]
        config["TargetGroupStickinessConfig"] = ({"Enabled": True, "DurationSeconds": sticky["duration"]} if sticky["enabled"]
                                                 else {"Enabled": False})
    return dict(forward, ForwardConfig=config)


def plan_shift(actions, settings, arns_by_name):
    """The Shift that gives the forward of `actions` the weights and stickiness of `settings`.

    `arns_by_name` holds the ARN of every target group `settings.weights` names by name that exists. ValueError, naming
    the option and the value, for a refused shift: no forward, a group unknown or not on the forward, or no weight above 0.
    """
    position = forward_position(actions, settings)
    forward = actions[position]
    before = forward_state(forward)
    weights = {**before["weights"], **_weights_by_arn(settings, arns_by_name, before["weights"])}
    if not any(weights.values()):
        raise ValueError("weights: %s would leave every target group of the forward of %s at weight 0, sending it no traffic"
                         % (dict(settings.weights), settings.subject[1]))
    after = {"weights": weights, "stickiness": _stickiness_after(before["stickiness"], settings.stickiness, settings)}
    if after == before:
        return Shift(None, before, after)
    new_actions = [_restated(action) for action in actions]
    new_actions[position] = _weighted_forward(forward, after, settings.stickiness is not None)
    return Shift(new_actions, before, after)
