"""Instances launched (RunInstances) from an image the simulator saw made: they boot as on AWS.

moto's RunInstances answers with instances that are `running` at once, and the simulator's SSM
knows every running instance. An instance launched from an AMI that CreateImage made (a backup
restored, a restore drill) instead:

- is `pending` for `launches.pending_seconds`, then `running` (the EC2 API reference's instance
  life cycle: RunInstances answers `pending`, code 0);
- has its SSM agent register `launches.agent_registers_after` seconds after the launch (counted
  from the launch, at least until it runs): DescribeInstanceInformation does not list it before,
  and SendCommand refuses it as not managed (machines.MACHINES: booting);
- comes up with the machine parts of the instance the image was made of, as they were then: the
  SSM sandbox's files and the patch inventory (machines.MACHINES.restore_image).

Instances launched from other images (the fleet's registered base image) are as moto makes them,
so seeding and the tests that use SSM at once are not slowed down. Only RunInstances requests go
this way; Auto Scaling's launches have their own life cycle (instance_refresh.py).

States settle lazily, when read (instance_states.TransitionState): no timers.
"""

import threading
import time

from moto.ec2.responses.instances import InstanceResponse

from simulator.instance_states import TransitionState
from simulator.machines import MACHINES

DEFAULTS = {"pending_seconds": 0.5, "agent_registers_after": 1.0}


class LaunchSettings:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.settings = dict(DEFAULTS)

    def configure(self, **settings):
        unknown = set(settings) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown launches settings: {sorted(unknown)}")
        for key, value in settings.items():
            if float(value) < 0:
                raise ValueError(f"launches.{key} must be 0 or more seconds, got {value}")
        with self.lock:
            self.settings.update({key: float(value) for key, value in settings.items()})

    def describe(self):
        with self.lock:
            return dict(self.settings)


SETTINGS = LaunchSettings()


def boot(instance, image_id):
    """Make a just-launched instance of a known image pending, then booting, with the image's machine parts."""
    settings = SETTINGS.describe()
    instance._state = TransitionState("pending", "running", time.monotonic() + settings["pending_seconds"])
    MACHINES.boot(instance.id, max(settings["pending_seconds"], settings["agent_registers_after"]))
    MACHINES.restore_image(instance.id, image_id)


def run_instances(self):
    result = _moto_run_instances(self)
    for instance in result.result.instances:
        if MACHINES.image_source(instance.image_id) is not None:
            boot(instance, instance.image_id)
    return result


_moto_run_instances = InstanceResponse.run_instances


def install():
    """Patch moto's RunInstances; idempotent so tests and the CLI may both call it."""
    if getattr(InstanceResponse, "_launches_patched", False):
        return
    InstanceResponse.run_instances = run_instances
    InstanceResponse._launches_patched = True
