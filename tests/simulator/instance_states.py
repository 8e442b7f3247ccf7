"""StartInstances and StopInstances (with hibernation) as the EC2 API reference describes them.

moto starts and stops instances at once, takes any state as a starting point, and ignores `Hibernate`.
Here:

- StartInstances makes a `stopped` instance `pending` (code 0) for `instances.start_seconds`, then
  `running`; StopInstances makes a `running` instance `stopping` (code 64) for `instances.stop_seconds`,
  then `stopped` (the EC2 user guide's instance life cycle). 0 (the default) settles at once, as moto
  did, and the answer still says `pending` or `stopping`, as AWS's does.
- A `running` or `pending` instance asked to start, or a `stopped` or `stopping` one asked to stop, is
  left as it is, and the answer gives its state as both previous and current, as AWS's does.
- Starting a `stopping` instance, or stopping a `pending` one, answers `IncorrectInstanceState` and
  changes no instance of the request (AWS refuses the whole request); so do `shutting-down` and
  `terminated` instances.
- `Hibernate=true` hibernates an instance launched with `HibernationOptions.Configured`: its state
  reason is `Client.UserInitiatedHibernate`. Any other instance of the request makes it answer
  `UnsupportedHibernationConfiguration`, changing nothing.
- `POST /_sim/instance-delays` (`delay_instances(instance_ids, seconds)`) gives some instances their
  own transition time, longer or shorter than the settings', until reset: a test of a start that does
  not finish in time.

States settle lazily, when read, as the images' do (ec2_images.py): no timers.
"""

import copy
import threading
import time

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.exceptions import OperationDisableApiStopNotPermitted
from moto.ec2.models.instances import Instance
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.models.instances import InstanceState
from moto.ec2.models.instances import StateReason
from moto.ec2.responses.instances import InstanceResponse

from simulator.seconds_settings import SecondsSettings

DEFAULTS = {"start_seconds": 0.0, "stop_seconds": 0.0}
CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}
GONE = ("shutting-down", "terminated")


class Transitions(SecondsSettings):
    """The transition times: the settings, and the instances given their own."""

    SECTION = "instances"

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.settings = dict(DEFAULTS)
            self.per_instance = {}

    def delay(self, instance_ids, seconds):
        if float(seconds) < 0:
            raise ValueError(f"seconds must be 0 or more, got {seconds}")
        with self.lock:
            self.per_instance.update(dict.fromkeys(instance_ids, float(seconds)))

    def seconds(self, instance_id, setting):
        with self.lock:
            return self.per_instance.get(instance_id, self.settings[setting])

    def describe(self):
        with self.lock:
            return dict(self.settings, delayed_instances=dict(self.per_instance))


TRANSITIONS = Transitions()


class TransitionState(InstanceState):
    """A transitional state (`pending`, `stopping`) until a monotonic time, then the final one; any state set
    explicitly (moto's terminate, reboot) ends the wait. moto copies the object for PreviousState."""

    def __init__(self, name, final, at):  # pylint: disable=super-init-not-called
        self.__dict__.update(_name=name, _code=CODES[name], _final=final, _at=at)

    def _settle(self):
        if self._final is not None and time.monotonic() >= self._at:
            self.__dict__.update(_name=self._final, _code=CODES[self._final], _final=None)

    @property
    def name(self):
        self._settle()
        return self._name

    @name.setter
    def name(self, value):
        self.__dict__.update(_name=value, _final=None)

    @property
    def code(self):
        self._settle()
        return self._code

    @code.setter
    def code(self, value):
        self.__dict__.update(_code=value, _final=None)


def _refuse(instance, verb):
    return EC2ClientError("IncorrectInstanceState", f"The instance '{instance.id}' is not in a state from which it can be {verb}.")


def _settle_into(instance, transitional, final, setting):
    seconds = TRANSITIONS.seconds(instance.id, setting)
    if seconds > 0:
        instance._state = TransitionState(transitional, final, time.monotonic() + seconds)


def start_instances(self, instance_ids):
    """[(instance, previous state, current state name)]; nothing changes when one instance cannot start."""
    instances = self.get_multi_instances_by_id(instance_ids)
    for instance in instances:
        if instance.state in ("stopping",) + GONE:
            raise _refuse(instance, "started")
    answers = []
    for instance in instances:
        previous = copy.copy(instance._state)
        if instance.state in ("running", "pending"):
            answers.append((instance, previous, instance.state))
            continue
        _moto_start(instance)
        _settle_into(instance, "pending", "running", "start_seconds")
        answers.append((instance, previous, "pending"))
    return answers


def stop_instances(self, instance_ids, hibernate=False):
    """[(instance, previous state, current state name)]; nothing changes when one instance cannot stop or hibernate."""
    instances = self.get_multi_instances_by_id(instance_ids)
    for instance in instances:
        if instance.disable_api_stop is True:
            raise OperationDisableApiStopNotPermitted(instance.id)
        if instance.state in ("pending",) + GONE:
            raise _refuse(instance, "stopped")
        if hibernate and not (instance.hibernation_options or {}).get("Configured"):
            raise EC2ClientError("UnsupportedHibernationConfiguration",
                                 f"The instance can't be hibernated because it was not configured at launch for hibernation: {instance.id}")
    answers = []
    for instance in instances:
        previous = copy.copy(instance._state)
        if instance.state in ("stopped", "stopping"):
            answers.append((instance, previous, instance.state))
            continue
        _moto_stop(instance)
        if hibernate:
            instance.state_reason = StateReason("Client.UserInitiatedHibernate: User initiated hibernate", "Client.UserInitiatedHibernate")
        _settle_into(instance, "stopping", "stopped", "stop_seconds")
        answers.append((instance, previous, "stopping"))
    return answers


def _answer(key, answers):
    return ActionResult({key: [
        {"InstanceId": instance.id, "CurrentState": {"Code": CODES[current], "Name": current}, "PreviousState": previous}
        for instance, previous, current in answers]})


def start_response(self):
    instance_ids = self._get_param("InstanceIds", [])
    self.error_on_dryrun()
    return _answer("StartingInstances", self.ec2_backend.start_instances(instance_ids))


def stop_response(self):
    instance_ids = self._get_param("InstanceIds", [])
    hibernate = self._get_bool_param("Hibernate", False)
    self.error_on_dryrun()
    return _answer("StoppingInstances", self.ec2_backend.stop_instances(instance_ids, hibernate=hibernate))


_moto_start = Instance.start
_moto_stop = Instance.stop


def install():
    """Patch moto's StartInstances and StopInstances; idempotent so tests and the CLI may both call it."""
    if getattr(InstanceResponse, "_instance_states_patched", False):
        return
    InstanceBackend.start_instances = start_instances
    InstanceBackend.stop_instances = stop_instances
    InstanceResponse.start_instances = start_response
    InstanceResponse.stop_instances = stop_response
    InstanceResponse._instance_states_patched = True
