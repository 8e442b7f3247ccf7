"""ELBv2 target health as AWS reports it, patched into moto's ELBv2 backend and responses.

moto 5.2.5 marks a registered target `healthy` at once and forgets a deregistered one at once.
Here, following the TargetHealth and DeregisterTargets API reference:

- A registered target is `initial` (Elb.RegistrationInProgress) for the `elbv2.healthy_after`
  setting, counted from its registration or from the moment a listener or rule first forwarded to
  its target group, whichever is later. Then an instance target follows its instance:
  `healthy` while it runs, or `unhealthy` while it reboots (machines.MACHINES: Target.Timeout) or
  while the `health` file of its SSM sandbox says `unhealthy` (Target.ResponseCodeMismatch);
  groups with TCP health checks answer Target.FailedHealthChecks for both, as AWS gives the other
  two reasons for HTTP health checks only.
- A target of a group no listener or rule forwards to is `unused` (Target.NotInUse); a target whose
  instance is not running is `unused` (Target.InvalidState).
- DeregisterTargets (or the instance's termination) leaves the target `draining`
  (Target.DeregistrationInProgress) for the group's `deregistration_delay.timeout_seconds`, capped
  by the `elbv2.deregistration_delay_cap` setting, then it is gone: DescribeTargetHealth no longer
  lists it, and asked for by id it is `unused` (Target.NotRegistered). A group no load balancer
  uses has no connections to drain, so its targets go at once. Registering a draining target makes
  it `initial` again; deregistering a target that is not registered succeeds and changes nothing.
- A forward action whose target group weight is outside 0-999 is refused with ValidationError.

Health is worked out when read, from the clock: there are no timers to cancel on reset.
"""

import os
import threading
import time
from dataclasses import dataclass, field

from moto.elbv2.exceptions import TargetGroupNotFoundError, ValidationError
from moto.elbv2.models import ELBv2Backend, FakeHealthStatus
from moto.elbv2.responses import ELBV2Response

from simulator.machines import MACHINES
from simulator.seconds_settings import SecondsSettings
from simulator.ssm_commands import ENGINE as SSM_ENGINE

HEALTH_FILE = "health"
UNHEALTHY = "unhealthy"
MAX_WEIGHT = 999
DEFAULT_DEREGISTRATION_DELAY = 300
HTTP_HEALTH_CHECKS = ("HTTP", "HTTPS")
# Backend calls after which a listener or rule may forward to other target groups than before.
LISTENER_CHANGES = ("create_listener", "modify_listener", "delete_listener", "create_rule", "modify_rule",
                    "delete_rule", "delete_load_balancer")
# Response handlers with forward actions, and the request member that holds them.
ACTION_PARAMETERS = {"create_listener": "DefaultActions", "modify_listener": "DefaultActions",
                     "create_rule": "Actions", "modify_rule": "Actions"}


class Settings(SecondsSettings):
    """The `elbv2` settings of the control endpoint."""

    DEFAULTS = {"healthy_after": 0.5, "deregistration_delay_cap": None}
    SECTION = "elbv2"
    # Only the cap may be null (no cap).
    NULLABLE = ("deregistration_delay_cap",)

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.settings = dict(self.DEFAULTS)


SETTINGS = Settings()
# Guards every TargetClock: requests run on several threads.
LOCK = threading.Lock()


@dataclass
class TargetClock:
    """What moto does not keep of a target group: when each target was registered, which targets
    drain until when, and since when a listener or rule forwards to the group."""

    registered: dict = field(default_factory=dict)  # target id -> monotonic time
    draining: dict = field(default_factory=dict)  # target id -> (target description, monotonic end)
    in_use_since: float | None = None


def _clock(target_group):
    # Kept on the moto object, so resetting moto's backends forgets it too.
    return target_group.__dict__.setdefault("_simulator_clock", TargetClock())


def write_health_file(instance_id, unhealthy):
    """What a deploy that broke (or was fixed) leaves on the instance: its health checks fail (or pass)."""
    path = os.path.join(SSM_ENGINE.sandbox(instance_id), HEALTH_FILE)
    if unhealthy:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(UNHEALTHY + "\n")
    elif os.path.exists(path):
        os.unlink(path)


def _health_file_says_unhealthy(instance_id):
    try:
        with open(os.path.join(SSM_ENGINE.sandbox(instance_id), HEALTH_FILE), encoding="utf-8") as handle:
            return handle.read().strip() == UNHEALTHY
    except FileNotFoundError:
        return False


def _failed_health_check(target_group, instance):
    """(reason, description) of a failing health check of the instance, or None when it passes."""
    http = (target_group.health_check_protocol or "").upper() in HTTP_HEALTH_CHECKS
    if MACHINES.rebooting(instance.id):
        return ("Target.Timeout", "Request timed out") if http else ("Target.FailedHealthChecks", "Health checks failed")
    if _health_file_says_unhealthy(instance.id):
        return (("Target.ResponseCodeMismatch", "Health checks failed with these codes: [503]") if http
                else ("Target.FailedHealthChecks", "Health checks failed"))
    return None


def _target_health(backend, target_group, target, in_use, now):
    target_id = target["Id"]
    clock = _clock(target_group)
    registered = target_group.targets.get(target_id)
    draining = clock.draining.get(target_id)
    port = (registered or (draining[0] if draining else target)).get("Port", target_group.port)

    def health(state, reason=None, description=None):
        return FakeHealthStatus(target_id, port, target_group.health_check_port, state, reason, description)

    if registered is None:
        if draining:
            return health("draining", "Target.DeregistrationInProgress", "Target deregistration is in progress")
        return health("unused", "Target.NotRegistered", "Target is not registered to the target group")
    if not in_use:
        return health("unused", "Target.NotInUse", "Target group is not configured to receive traffic from the load balancer")
    instance = backend.ec2_backend.get_instance_by_id(target_id) if target_id.startswith("i-") else None
    if instance is not None and instance.state != "running":
        return health("unused", "Target.InvalidState", f"Target is in the {instance.state} state")
    checked_from = max(clock.registered.get(target_id, 0.0), clock.in_use_since or 0.0)
    if now < checked_from + SETTINGS.describe()["healthy_after"]:
        return health("initial", "Elb.RegistrationInProgress", "Target registration is in progress")
    failure = instance is not None and _failed_health_check(target_group, instance)
    return health("unhealthy", *failure) if failure else health("healthy")


def _deregistration_delay(target_group):
    delay = float(target_group.attributes.get("deregistration_delay.timeout_seconds", DEFAULT_DEREGISTRATION_DELAY))
    cap = SETTINGS.describe()["deregistration_delay_cap"]
    return delay if cap is None else min(delay, cap)


def _drain(backend, target_group, target_ids):
    """Take targets out of the group; they drain for its deregistration delay if a load balancer uses it."""
    delay = _deregistration_delay(target_group) if backend._any_listener_using(target_group.arn) else 0.0
    ends = time.monotonic() + delay
    with LOCK:
        clock = _clock(target_group)
        for target_id in target_ids:
            target = target_group.targets.pop(target_id, None)
            if target is None:
                continue
            clock.registered.pop(target_id, None)
            if delay > 0:
                clock.draining[target_id] = (target, ends)


def register_targets(self, target_group_arn, instances):
    target_group = self.target_groups.get(target_group_arn)
    already_registered = set(target_group.targets) if target_group is not None else set()
    _moto_register_targets(self, target_group_arn, instances)
    now = time.monotonic()
    with LOCK:
        clock = _clock(target_group)
        for target in instances:
            if target["Id"] not in already_registered:
                clock.registered[target["Id"]] = now
                clock.draining.pop(target["Id"], None)


def deregister_targets(self, target_group_arn, instances):
    target_group = self.target_groups.get(target_group_arn)
    if target_group is None:
        raise TargetGroupNotFoundError()
    _drain(self, target_group, [target["Id"] for target in instances])


def notify_terminate_instances(self, instance_ids):
    for target_group in self.target_groups.values():
        _drain(self, target_group, [target_id for target_id in instance_ids if target_id in target_group.targets])


def describe_target_health(self, target_group_arn, targets):
    target_group = self.target_groups.get(target_group_arn)
    if target_group is None:
        raise TargetGroupNotFoundError()
    in_use = self._any_listener_using(target_group_arn)
    now = time.monotonic()
    with LOCK:
        clock = _clock(target_group)
        clock.draining = {target_id: entry for target_id, entry in clock.draining.items() if entry[1] > now}
        if not targets:
            targets = list(target_group.targets.values()) + [target for target, _ends in clock.draining.values()]
        return [_target_health(self, target_group, target, in_use, now) for target in targets]


def _note_use(backend):
    """Start the health-check clock of groups a listener or rule forwards to now, stop it for the others."""
    now = time.monotonic()
    with LOCK:
        for target_group in backend.target_groups.values():
            clock = _clock(target_group)
            if not backend._any_listener_using(target_group.arn):
                clock.in_use_since = None
            elif clock.in_use_since is None:
                clock.in_use_since = now


def _noting_use(change):
    def changed(self, *args, **kwargs):
        result = change(self, *args, **kwargs)
        _note_use(self)
        return result
    return changed


def _weight_errors(actions, member):
    errors = []
    for action_number, action in enumerate(actions or [], 1):
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
        for group_number, group in enumerate(groups, 1):
            weight = group.get("Weight")
            if weight is None or 0 <= weight <= MAX_WEIGHT:
                continue
            bound = f"less than or equal to {MAX_WEIGHT}" if weight > MAX_WEIGHT else "greater than or equal to 0"
            errors.append(f"Value '{weight}' at '{member}.{action_number}.member.forwardConfig.targetGroups."
                          f"{group_number}.member.weight' failed to satisfy constraint: Member must have value {bound}")
    return errors


def _checking_weights(handler, parameter):
    member = parameter[0].lower() + parameter[1:]

    def checked(self):
        errors = _weight_errors(self._get_param(parameter), member)
        if errors:
            plural = "s" if len(errors) > 1 else ""
            raise ValidationError(f"{len(errors)} validation error{plural} detected: " + "; ".join(errors))
        return handler(self)
    return checked


_moto_register_targets = ELBv2Backend.register_targets


def install():
    """Patch moto's ELBv2 classes; idempotent so tests and the CLI may both call it."""
    if getattr(ELBv2Backend, "_health_patched", False):
        return
    ELBv2Backend.register_targets = register_targets
    ELBv2Backend.deregister_targets = deregister_targets
    ELBv2Backend.notify_terminate_instances = notify_terminate_instances
    ELBv2Backend.describe_target_health = describe_target_health
    for name in LISTENER_CHANGES:
        setattr(ELBv2Backend, name, _noting_use(getattr(ELBv2Backend, name)))
    for name, parameter in ACTION_PARAMETERS.items():
        setattr(ELBV2Response, name, _checking_weights(getattr(ELBV2Response, name), parameter))
    ELBv2Backend._health_patched = True
