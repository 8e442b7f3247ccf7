"""Auto Scaling instance refreshes, which moto 5.2.5 lacks (NotImplementedError), as the Auto Scaling API
reference (StartInstanceRefresh, DescribeInstanceRefreshes, CancelInstanceRefresh, RollbackInstanceRefresh,
RefreshPreferences) and the user guide's instance refresh chapters describe them.

- StartInstanceRefresh (Strategy `Rolling`) of a group with a launch template. The target is
  DesiredConfiguration.LaunchTemplate, else the group's own launch template version, resolved when the
  refresh starts. One refresh at a time per group: InstanceRefreshInProgress.
- The refresh is Pending for one `autoscaling.step_seconds`, then InProgress: the instances not launched
  by it (with SkipMatching, those not launched from the target version) are replaced in batches, oldest
  first. With D the desired capacity, ceil(D * MinHealthyPercentage / 100) stay in service and at most
  floor(D * MaxHealthyPercentage / 100) run: a batch is the difference (at least one instance), and no
  more than the next checkpoint needs. Old instances beyond the extra capacity this allows are
  terminated first; the others once their replacements have warmed up (launch before terminate).
- A new instance runs the target version's AMI and instance type. It is Pending for one step, unknown
  to SSM (its agent has not registered yet), then InService: registered with the group's target groups,
  SSM-managed, with the machine parts the simulator saw in its AMI (machines.MACHINES). After
  InstanceWarmup it counts as updated. An old instance is Terminating while it drains from the
  group's target groups (elbv2_health), then terminated.
- ScaleInProtectedInstances (Refresh, Ignore, Wait) and StandbyInstances (Terminate, Ignore, Wait); Wait,
  the default, waits up to an hour for the instances to be unprotected or back in service, then fails.
- CheckpointPercentages: a batch that reaches a checkpoint is followed by CheckpointDelay (default 3600 s);
  reaching the last checkpoint ends the replacements.
- BakeTime: Baking, then Successful, and the group takes the desired configuration.
- An alarm of AlarmSpecification in ALARM (InProgress, Baking), or a launch that fails (the AMI is gone or
  not available), fails the refresh, or rolls it back with AutoRollback. RollbackInstanceRefresh rolls back
  by request. A rollback (RollbackInProgress) replaces the refresh's instances with the group's
  configuration in the same batches: RollbackSuccessful, or RollbackFailed when a launch fails.
- CancelInstanceRefresh: Cancelling until the batch under way is in service (at least a step), then
  Cancelled; nothing is rolled back.
- DescribeAutoScalingInstances and DescribeAutoScalingGroups show the launch template version each
  instance was launched from (moto showed the template's default version).

Every wait is capped by the `autoscaling` settings so tests take seconds. A refresh runs on its own
thread, which a reset ends.
"""

import datetime
import functools
import math
import threading
import time

from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError
from moto.autoscaling.models import ASG_NAME_TAG, FakeAutoScalingGroup, InstanceState
from moto.autoscaling.responses import AutoScalingResponse
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.moto_api._internal import mock_random

from simulator.machines import MACHINES
from simulator.seconds_settings import SecondsSettings
from simulator.ssm_instances import MARKS

DEFAULT_PREFERENCES = {"MinHealthyPercentage": 90, "MaxHealthyPercentage": 100, "SkipMatching": False,
                       "AutoRollback": False, "ScaleInProtectedInstances": "Wait", "StandbyInstances": "Wait"}
DEFAULT_CHECKPOINT_DELAY = 3600
# How long a Wait preference waits for protected or standby instances.
WAIT_SECONDS = 3600
MAX_ALARMS = 10
MAX_DELAY = 172800
# A refresh in these states blocks another; the API calls act on the subsets below.
ACTIVE = ("Pending", "InProgress", "Baking", "Cancelling", "RollbackInProgress")
CANCELLABLE = ("Pending", "InProgress", "Baking", "RollbackInProgress")
REVERSIBLE = ("Pending", "InProgress", "Baking")
LAUNCHED_FROM = "_simulator_launched_from"


class InstanceRefreshInProgress(AutoscalingClientError):
    code = "InstanceRefreshInProgress"
    message = "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh."


class ActiveInstanceRefreshNotFound(AutoscalingClientError):
    code = "ActiveInstanceRefreshNotFound"

    def __init__(self, group_name):
        super().__init__(f"No in progress or pending Instance Refresh found for Auto Scaling group {group_name}")


class IrreversibleInstanceRefresh(AutoscalingClientError):
    code = "IrreversibleInstanceRefresh"
    message = ("The instance refresh cannot be rolled back: it has no desired configuration, or the group uses "
               "the $Latest or $Default launch template version.")


class InvalidNextToken(ServiceException):
    code = "InvalidNextToken"
    message = "The token is invalid."


class Stopped(Exception):
    """A cancel, rollback or failure was requested: the refresh stops replacing."""


class Ended(Exception):
    """The simulator was reset: the refresh's thread ends."""


class RefreshFailed(Exception):
    """A launch failed, or protected or standby instances were waited for in vain."""


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


class Target:
    """A launch template version instances are launched from."""

    def __init__(self, template, version):
        self.template = template
        self.number = template.get_version(version).number

    @property
    def key(self):
        return (self.template.id, self.number)


class Refresh:
    def __init__(self, group, preferences, desired, target, reversible):
        self.refresh_id = str(mock_random.uuid4())
        self.group = group
        self.preferences = preferences
        self.desired = desired
        self.target = target
        self.previous = Target(group.ec2_launch_template, group.launch_template_version)
        self.reversible = reversible
        self.status = "Pending"
        self.status_reason = None
        self.start_time = _now()
        self.end_time = None
        self.percentage = 0
        self.to_update = 0
        self.rollback = None
        self.stop = None  # "cancel", "rollback" or "fail", as requested
        self.rolling_back = False  # replacing the refresh's instances with the previous configuration
        self.launched = set()  # instances the refresh launched (its rollback's are not kept: none is replaced again)
        self.warmed = set()  # those of them past their warm-up
        self.ended = threading.Event()

    def describe(self):
        progress = {"PercentageComplete": self.percentage, "InstancesToUpdate": self.to_update}
        described = dict(progress, InstanceRefreshId=self.refresh_id, AutoScalingGroupName=self.group.name,
                         Strategy="Rolling", Status=self.status, StartTime=self.start_time,
                         ProgressDetails={"LivePoolProgress": progress}, Preferences=self.preferences)
        optional = {"StatusReason": self.status_reason, "EndTime": self.end_time, "DesiredConfiguration": self.desired,
                    "RollbackDetails": self.rollback}
        described.update({key: value for key, value in optional.items() if value is not None})
        return described


class Refreshes(SecondsSettings):
    """Every instance refresh, oldest first, and the `autoscaling` settings."""

    DEFAULTS = {"step_seconds": 0.2, "instance_warmup_cap": None, "checkpoint_delay_cap": None,
                "bake_time_cap": None, "wait_cap": None}
    SECTION = "autoscaling"
    # A cap may be null (no cap); a step must move time on.
    NULLABLE = tuple(key for key in DEFAULTS if key.endswith("_cap"))
    POSITIVE = ("step_seconds",)

    def __init__(self):
        # Reentrant: a refresh's success and its group's new configuration are one change.
        self.lock = threading.RLock()
        self.refreshes = []
        self.reset()

    def reset(self):
        with self.lock:
            ended, self.refreshes = self.refreshes, []
            self.settings = dict(self.DEFAULTS)
        for refresh in ended:
            refresh.ended.set()

    def capped(self, cap, seconds):
        limit = self.describe()[cap]
        return float(seconds) if limit is None else min(float(seconds), limit)

    def of_group(self, group):
        """The group's refreshes, newest first."""
        with self.lock:
            return [refresh for refresh in reversed(self.refreshes) if refresh.group is group]

    def latest(self, group, statuses):
        return next((refresh for refresh in self.of_group(group) if refresh.status in statuses), None)


REFRESHES = Refreshes()


# --- starting -------------------------------------------------------------------------------------

def _group(backend, name):
    group = backend.autoscaling_groups.get(name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup '{name}' not found")
    return group


def _desired_target(backend, desired):
    spec = desired.get("LaunchTemplate")
    if not spec or desired.get("MixedInstancesPolicy"):
        raise ValidationError("The simulator's desired configuration is a LaunchTemplate, without MixedInstancesPolicy.")
    template_id, name = spec.get("LaunchTemplateId"), spec.get("LaunchTemplateName")
    if bool(template_id) == bool(name):
        raise ValidationError("Valid requests must contain either launchTemplateId or LaunchTemplateName")
    ec2 = backend.ec2_backend
    try:
        template = ec2.get_launch_template(template_id) if template_id else ec2.get_launch_template_by_name(name)
    except EC2ClientError:
        named = f"ID {template_id}" if template_id else f"name {name}"
        raise ValidationError(f"You must use a valid fully-formed launch template. The specified launch template, "
                              f"with template {named}, does not exist.") from None
    try:
        return Target(template, spec.get("Version") or "$Default")
    except EC2ClientError:
        raise ValidationError(f"You must use a valid fully-formed launch template. The specified launch template "
                              f"version {spec.get('Version')} of {template.id} does not exist.") from None


def _enum_error(key, value, allowed):
    return ValidationError(f"1 validation error detected: Value '{value}' at 'preferences.{key[0].lower() + key[1:]}' "
                           f"failed to satisfy constraint: Member must satisfy enum value set: [{', '.join(allowed)}]")


def _preferences(group, given, reversible):
    """The preferences the refresh runs with (as DescribeInstanceRefreshes shows them), or ValidationError."""
    preferences = dict(DEFAULT_PREFERENCES, InstanceWarmup=group.health_check_grace_period or 0)
    preferences.update({key: value for key, value in given.items() if value is not None})
    for key, allowed in (("ScaleInProtectedInstances", ("Refresh", "Ignore", "Wait")),
                         ("StandbyInstances", ("Terminate", "Ignore", "Wait"))):
        if preferences[key] not in allowed:
            raise _enum_error(key, preferences[key], allowed)
    low, high = preferences["MinHealthyPercentage"], preferences["MaxHealthyPercentage"]
    if not 0 <= low <= 100:
        raise ValidationError("MinHealthyPercentage must be between 0 and 100.")
    if "MaxHealthyPercentage" in given and "MinHealthyPercentage" not in given:
        raise ValidationError("If you specify MaxHealthyPercentage, you must also specify MinHealthyPercentage.")
    if not 100 <= high <= 200 or high - low > 100:
        raise ValidationError("MaxHealthyPercentage must be between 100 and 200, and at most 100 above "
                              "MinHealthyPercentage.")
    checkpoints = preferences.get("CheckpointPercentages")
    if checkpoints:
        if sorted(set(checkpoints)) != list(checkpoints) or not 1 <= checkpoints[0] <= checkpoints[-1] <= 100:
            raise ValidationError("CheckpointPercentages must be unique values from 1 to 100 in ascending order.")
        preferences.setdefault("CheckpointDelay", DEFAULT_CHECKPOINT_DELAY)
    elif "CheckpointDelay" in preferences:
        raise ValidationError("CheckpointDelay requires CheckpointPercentages.")
    delays = (preferences.get("CheckpointDelay", 0), preferences.get("BakeTime", 0))
    if preferences["InstanceWarmup"] < 0 or not all(0 <= delay <= MAX_DELAY for delay in delays):
        raise ValidationError(f"InstanceWarmup must be at least 0, CheckpointDelay and BakeTime from 0 to {MAX_DELAY}.")
    alarms = (preferences.get("AlarmSpecification") or {}).get("Alarms") or []
    if len(alarms) > MAX_ALARMS:
        raise ValidationError(f"You can specify up to {MAX_ALARMS} alarms.")
    known = cloudwatch_backends[group.account_id][group.region].alarms
    missing = [name for name in alarms if name not in known]
    if missing:
        raise ValidationError(f"The following alarms do not exist: {', '.join(missing)}")
    if preferences["AutoRollback"] and not reversible:
        raise ValidationError("AutoRollback needs a desired configuration, and a group on a numbered launch template "
                              "version (not $Latest or $Default).")
    return preferences


def start(backend, group_name, strategy, desired, given):
    group = _group(backend, group_name)
    if (strategy or "Rolling") != "Rolling":
        raise ValidationError("The simulator refreshes instances with the Rolling strategy only.")
    if group.ec2_launch_template is None or group.mixed_instances_policy:
        raise ValidationError("The simulator refreshes groups with a launch template (no launch configuration or "
                              "mixed instances policy) only.")
    if desired:
        target = _desired_target(backend, desired)
    else:
        target = Target(group.ec2_launch_template, group.launch_template_version)
    reversible = bool(desired) and group.launch_template_version.lower() not in ("$latest", "$default")
    preferences = _preferences(group, given, reversible)
    with REFRESHES.lock:
        if any(refresh.group is group and refresh.status in ACTIVE for refresh in REFRESHES.refreshes):
            raise InstanceRefreshInProgress()
        refresh = Refresh(group, preferences, desired, target, reversible)
        REFRESHES.refreshes.append(refresh)
    _record_progress(refresh)
    threading.Thread(target=_run, args=(refresh,), daemon=True, name=refresh.refresh_id).start()
    return refresh


# --- state changes, under the lock ------------------------------------------------------------------

def request_stop(refresh, stop, reason=None):
    """Ask the refresh's thread to stop replacing: "cancel", "rollback" or "fail" (when the batch under way is
    in service). Cancelling and RollbackInProgress show at once; Failed shows when the thread stops."""
    with REFRESHES.lock:
        refresh.stop = stop
        refresh.status_reason = reason
        if stop == "cancel":
            refresh.status = "Cancelling"
        elif stop == "rollback":
            refresh.status = "RollbackInProgress"
            progress = {"PercentageComplete": refresh.percentage, "InstancesToUpdate": refresh.to_update}
            refresh.rollback = {"RollbackReason": reason, "RollbackStartTime": _now(),
                                "PercentageCompleteOnRollback": refresh.percentage,
                                "InstancesToUpdateOnRollback": refresh.to_update,
                                "ProgressDetailsOnRollback": {"LivePoolProgress": progress}}


def _enter(refresh, status, reason=None, final=False):
    """Move the refresh on to `status`; Stopped instead when a stop was requested meanwhile."""
    with REFRESHES.lock:
        if refresh.stop:
            raise Stopped()
        refresh.status, refresh.status_reason = status, reason
        if final:
            refresh.end_time = _now()


def _end(refresh, status, reason=None):
    with REFRESHES.lock:
        refresh.status, refresh.status_reason, refresh.end_time = status, reason, _now()


def _set_reason(refresh, reason):
    with REFRESHES.lock:
        if not refresh.stop:  # a stop's reason stands
            refresh.status_reason = reason


# --- the refresh's thread ------------------------------------------------------------------------

def _run(refresh):
    try:
        _refresh(refresh)
    except Ended:
        pass
    finally:
        # A simulator bug must end the refresh, not leave a client polling until its timeout.
        if refresh.status in ACTIVE:
            _end(refresh, "Failed", "The simulator could not run the instance refresh.")


def _refresh(refresh):
    preferences = refresh.preferences
    try:
        _wait(refresh, REFRESHES.describe()["step_seconds"])
        _enter(refresh, "InProgress")
        _replace(refresh, refresh.target, functools.partial(_outdated, refresh), refresh.launched,
                 preferences.get("CheckpointPercentages") or ())
        if preferences.get("BakeTime"):
            _enter(refresh, "Baking")
            _wait(refresh, REFRESHES.capped("bake_time_cap", preferences["BakeTime"]),
                  f"Waiting for the bake time of {preferences['BakeTime']} seconds to end.")
        with REFRESHES.lock:
            _enter(refresh, "Successful", final=True)
            if refresh.desired:
                refresh.group._set_launch_configuration(None, refresh.desired["LaunchTemplate"], None)
        return
    except Stopped:
        pass
    except RefreshFailed as failure:
        request_stop(refresh, "rollback" if preferences["AutoRollback"] else "fail", str(failure))
    if refresh.stop == "rollback":
        _roll_back(refresh)
    elif refresh.stop == "cancel":
        _cancel(refresh)
    else:
        _end(refresh, "Failed", refresh.status_reason)


def _roll_back(refresh):
    with REFRESHES.lock:
        refresh.rolling_back = True
        if refresh.stop == "rollback":  # a cancel requested meanwhile stands
            refresh.stop = None
    try:
        _replace(refresh, refresh.previous, lambda state: state.instance_id in refresh.launched, set())
        _record_progress(refresh)
        _enter(refresh, "RollbackSuccessful", final=True)
    except Stopped:
        _cancel(refresh)
    except RefreshFailed as failure:
        _end(refresh, "RollbackFailed", str(failure))


def _cancel(refresh):
    # Cancelling is asynchronous on AWS: it shows for at least a step.
    _tick(refresh)
    _end(refresh, "Cancelled")


def _tick(refresh, seconds=None):
    """Let a step (or `seconds`) pass, then look at the refresh's alarms, as AWS does until a rollback."""
    if refresh.ended.wait(REFRESHES.describe()["step_seconds"] if seconds is None else seconds):
        raise Ended()
    if refresh.rolling_back or refresh.stop:
        return
    alarm = _alarm_in_alarm(refresh)
    if alarm:
        request_stop(refresh, "rollback" if refresh.preferences["AutoRollback"] else "fail",
                     f"CloudWatch alarm {alarm} is in the ALARM state.")


def _alarm_in_alarm(refresh):
    names = (refresh.preferences.get("AlarmSpecification") or {}).get("Alarms") or []
    alarms = cloudwatch_backends[refresh.group.account_id][refresh.group.region].alarms
    return next((name for name in names if name in alarms and alarms[name].state_value == "ALARM"), None)


def _wait(refresh, seconds, reason=None, until=None):
    """Wait `seconds`, or until `until()` holds (True); Stopped as soon as a stop is requested."""
    deadline = time.monotonic() + seconds
    if refresh.stop:
        raise Stopped()
    if reason:
        _set_reason(refresh, reason)
    while not (until and until()):
        if refresh.stop:
            raise Stopped()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        _tick(refresh, min(remaining, REFRESHES.describe()["step_seconds"]))
    return True


# --- replacing instances ---------------------------------------------------------------------------

def _handled_as(refresh, state, choice):
    """Whether the refresh's preference for the instance's scale-in protection or Standby state is `choice`."""
    preferences = refresh.preferences
    return ((bool(state.protected_from_scale_in) and preferences["ScaleInProtectedInstances"] == choice)
            or (state.lifecycle_state == "Standby" and preferences["StandbyInstances"] == choice))


def _scope(refresh):
    """The group's instances the refresh counts: neither leaving nor ignored."""
    return [state for state in list(refresh.group.instance_states)
            if state.lifecycle_state != "Terminating" and not _handled_as(refresh, state, "Ignore")]


def _outdated(refresh, state):
    if state.instance_id in refresh.launched:
        return False
    return not (refresh.preferences["SkipMatching"] and launched_from(state) == refresh.target.key)


def _updated(refresh, state):
    if state.instance_id in refresh.launched:
        return state.instance_id in refresh.warmed
    return not _outdated(refresh, state)


def _record_progress(refresh):
    """PercentageComplete and InstancesToUpdate now (a rollback keeps InstancesToUpdate as it was)."""
    scope = _scope(refresh)
    with REFRESHES.lock:
        if refresh.rolling_back:
            still_new = sum(state.instance_id in refresh.launched for state in scope)
            refresh.percentage = 100 * still_new // len(scope) if scope else 0
        else:
            updated = sum(_updated(refresh, state) for state in scope)
            refresh.percentage = 100 * updated // len(scope) if scope else 100
            refresh.to_update = len(scope) - updated
        return refresh.percentage


def _ready(refresh, candidates):
    return [state for state in candidates if not _handled_as(refresh, state, "Wait")]


def _batch(refresh, ready, checkpoints):
    """(instances to replace next, how many of them may stay until their replacements have warmed up)."""
    desired = refresh.group.desired_capacity or 0
    keep = math.ceil(desired * refresh.preferences["MinHealthyPercentage"] / 100)
    allowed = desired * refresh.preferences["MaxHealthyPercentage"] // 100
    size = max(1, allowed - keep)
    upcoming = [checkpoint for checkpoint in checkpoints if checkpoint > refresh.percentage]
    if upcoming:
        scope = _scope(refresh)
        needed = math.ceil(len(scope) * upcoming[0] / 100) - sum(_updated(refresh, state) for state in scope)
        size = min(size, max(1, needed))
    batch = ready[:size]
    return batch, min(len(batch), max(0, allowed - desired))


def _replace(refresh, target, outdated, launched, checkpoints=()):
    """Replace the group's instances that `outdated(state)` selects with instances of `target`, batch by batch,
    until none is left or the last checkpoint is reached; Stopped when a stop is requested."""
    while True:
        if refresh.stop:
            raise Stopped()
        _record_progress(refresh)
        candidates = [state for state in _scope(refresh) if outdated(state)]
        if not candidates:
            return
        standby = [state for state in candidates if _handled_as(refresh, state, "Terminate")]
        if standby:
            _retire(refresh, standby)
            continue
        ready = functools.partial(_ready, refresh, candidates)
        if not ready():
            waited = ", ".join(state.instance_id for state in candidates)
            if not _wait(refresh, REFRESHES.capped("wait_cap", WAIT_SECONDS),
                         f"Waiting for instances protected from scale in or in Standby: {waited}.", until=ready):
                raise RefreshFailed(f"Instances protected from scale in or in Standby were not released in time: {waited}.")
            continue
        before = refresh.percentage
        # Checked before any instance goes: AWS would replace a terminated one from the group's configuration.
        version = _launchable(refresh, target)
        batch, kept = _batch(refresh, ready(), checkpoints)
        _retire(refresh, batch[:len(batch) - kept])
        new = _launch(refresh, target, version, len(batch), launched)
        _record_progress(refresh)
        try:
            _wait(refresh, REFRESHES.capped("instance_warmup_cap", refresh.preferences["InstanceWarmup"]),
                  f"Waiting for instances to warm up before continuing. For example: {new[0]} is warming up.")
        except Stopped:
            # The replacements are in service: the instances they replace go all the same.
            _retire(refresh, batch[len(batch) - kept:])
            raise
        refresh.warmed.update(new)
        _retire(refresh, batch[len(batch) - kept:])
        percentage = _record_progress(refresh)
        crossed = [checkpoint for checkpoint in checkpoints if before < checkpoint <= percentage]
        if crossed and crossed[-1] == checkpoints[-1]:
            return
        if crossed:
            delay = refresh.preferences["CheckpointDelay"]
            _wait(refresh, REFRESHES.capped("checkpoint_delay_cap", delay),
                  f"Checkpoint {crossed[-1]}% reached: waiting {delay} seconds before continuing.")
        _set_reason(refresh, None)


def _target_group_arns(group):
    # A target group may be deleted before its Auto Scaling group.
    return [arn for arn in group.target_group_arns if arn in group.autoscaling_backend.elbv2_backend.target_groups]


def _retire(refresh, states):
    """Terminating: out of the group's target groups, drained, then terminated."""
    if not states:
        return
    group = refresh.group
    elbv2 = group.autoscaling_backend.elbv2_backend
    targets = [{"Id": state.instance_id} for state in states]
    for state in states:
        state.lifecycle_state = "Terminating"
    arns = _target_group_arns(group)
    for arn in arns:
        elbv2.deregister_targets(arn, targets)
    while any(health.status == "draining" for arn in arns for health in elbv2.describe_target_health(arn, targets)):
        _tick(refresh)
    group.instance_states = [state for state in group.instance_states if state not in states]
    group.autoscaling_backend.ec2_backend.terminate_instances([target["Id"] for target in targets])


def _launchable(refresh, target):
    """The launch template version of `target`, or RefreshFailed when its AMI cannot be launched."""
    version = target.template.get_version(target.number)
    image = refresh.group.autoscaling_backend.ec2_backend.amis.get(version.image_id)
    if image is None or image.state != "available":
        problem = "does not exist" if image is None else f"is {image.state}"
        raise RefreshFailed(f"Launching a new EC2 instance failed: the image id '[{version.image_id}]' {problem}.")
    return version


def _launch(refresh, target, version, count, launched):
    """`count` instances of `version` (of `target`), Pending for a step, then InService; their ids."""
    group = refresh.group
    ec2 = group.autoscaling_backend.ec2_backend
    # As moto launches a group's instances, from the target version.
    tags = {**group.get_propagated_tags(), ASG_NAME_TAG: group.name, **version.instance_tags}
    reservation = ec2.run_instances(
        version.image_id, count, version.user_data, version.security_groups, instance_type=version.instance_type,
        tags={"instance": tags}, placement=mock_random.choice(group.availability_zones), launch_config=None,
        launch_template={"LaunchTemplateId": target.template.id, "Version": str(target.number)},
        is_instance_type_default=False, associate_public_ip=None,
        subnet_id=group.vpc_zone_identifier.split(",")[0] if group.vpc_zone_identifier else None)
    states = [InstanceState(instance, lifecycle_state="Pending", autoscaling_group=group,
                            protected_from_scale_in=group.new_instances_protected_from_scale_in)
              for instance in reservation.instances]
    ids = [state.instance_id for state in states]
    # Its SSM agent registers once the instance has booted.
    MARKS.mark(ids, unmanaged=True)
    for state in states:
        state.__dict__[LAUNCHED_FROM] = target
        MACHINES.restore_image(state.instance_id, version.image_id)
    group.instance_states = group.instance_states + states
    launched.update(ids)
    _tick(refresh)
    for state in states:
        state.lifecycle_state = "InService"
    MARKS.mark(ids, unmanaged=False)
    elbv2 = group.autoscaling_backend.elbv2_backend
    for arn in _target_group_arns(group):
        elbv2.register_targets(arn, [{"Id": instance_id, "Port": elbv2.target_groups[arn].port} for instance_id in ids])
    return ids


# --- the launch template version of each instance ------------------------------------------------------

def launched_from(state):
    """(launch template id, version number) the instance was launched from, or None if unknown."""
    target = state.__dict__.get(LAUNCHED_FROM)
    return target.key if target else None


def _instance_launch_template(state):
    target = state.__dict__.get(LAUNCHED_FROM)
    if target is None:
        return _moto_instance_launch_template(state)
    return {"LaunchTemplateId": target.template.id, "LaunchTemplateName": target.template.name,
            "Version": str(target.number)}


def _replace_group_instances(group, count_needed, propagated_tags):
    """moto's launch of a group's instances, noting the launch template version they come from."""
    _moto_replace_group_instances(group, count_needed, propagated_tags)
    if group.ec2_launch_template is not None and count_needed > 0:
        target = Target(group.ec2_launch_template, group.launch_template_version)
        for state in group.instance_states[-count_needed:]:
            state.__dict__[LAUNCHED_FROM] = target


# --- API actions ---------------------------------------------------------------------------------

def start_instance_refresh(self):
    refresh = start(self.autoscaling_backend, self._get_param("AutoScalingGroupName"), self._get_param("Strategy"),
                    self._get_param("DesiredConfiguration"), self._get_param("Preferences") or {})
    return ActionResult({"InstanceRefreshId": refresh.refresh_id})


def describe_instance_refreshes(self):
    group = _group(self.autoscaling_backend, self._get_param("AutoScalingGroupName"))
    refresh_ids = self._get_param("InstanceRefreshIds") or []
    size = self._get_int_param("MaxRecords", 50)
    if not 1 <= size <= 100:
        raise ValidationError(f"1 validation error detected: Value '{size}' at 'maxRecords' failed to satisfy "
                              "constraint: Member must have value between 1 and 100")
    refreshes = [refresh for refresh in REFRESHES.of_group(group) if not refresh_ids or refresh.refresh_id in refresh_ids]
    token = self._get_param("NextToken")
    if token is not None and not (token.isdigit() and int(token) < len(refreshes)):
        raise InvalidNextToken()
    first = int(token or 0)
    with REFRESHES.lock:
        page = [refresh.describe() for refresh in refreshes[first:first + size]]
    following = first + size
    return ActionResult(dict({"InstanceRefreshes": page},
                             **({"NextToken": str(following)} if following < len(refreshes) else {})))


def cancel_instance_refresh(self):
    group = _group(self.autoscaling_backend, self._get_param("AutoScalingGroupName"))
    refresh = REFRESHES.latest(group, CANCELLABLE)
    if refresh is None:
        raise ActiveInstanceRefreshNotFound(group.name)
    request_stop(refresh, "cancel")
    return ActionResult({"InstanceRefreshId": refresh.refresh_id})


def rollback_instance_refresh(self):
    group = _group(self.autoscaling_backend, self._get_param("AutoScalingGroupName"))
    refresh = REFRESHES.latest(group, REVERSIBLE)
    if refresh is None:
        raise ActiveInstanceRefreshNotFound(group.name)
    if not refresh.reversible:
        raise IrreversibleInstanceRefresh()
    request_stop(refresh, "rollback", "Rollback initiated by user request.")
    return ActionResult({"InstanceRefreshId": refresh.refresh_id})


_moto_instance_launch_template = InstanceState.launch_template.fget
_moto_replace_group_instances = FakeAutoScalingGroup.replace_autoscaling_group_instances


def install():
    """Patch moto's Auto Scaling classes; idempotent so tests and the CLI may both call it."""
    if getattr(FakeAutoScalingGroup, "_refresh_patched", False):
        return
    for handler in (start_instance_refresh, describe_instance_refreshes, cancel_instance_refresh,
                    rollback_instance_refresh):
        setattr(AutoScalingResponse, handler.__name__, handler)
    FakeAutoScalingGroup.replace_autoscaling_group_instances = _replace_group_instances
    InstanceState.launch_template = property(_instance_launch_template)
    FakeAutoScalingGroup._refresh_patched = True
