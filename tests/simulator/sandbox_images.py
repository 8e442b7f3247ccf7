"""The SSM sandbox of an instance as a machine part (machines.MACHINES): CreateImage keeps a copy of
its files, and a root volume replaced from that image puts the copy back.

The sandbox stands for the instance's root file system, so files written by Run Command (a deployed
version, the health file of elbv2_health) come back as they were when the image was made. Copies
live under the SSM engine's root, which a reset removes with the sandboxes.
"""

import os
import shutil
import uuid

from simulator.machines import MACHINES
from simulator.ssm_commands import ENGINE as SSM_ENGINE


def capture(instance_id):
    """A copy of the instance's sandbox; its path is the part's state."""
    copy = os.path.join(SSM_ENGINE.root, "images", str(uuid.uuid4()))
    shutil.copytree(SSM_ENGINE.sandbox(instance_id), copy, symlinks=True)
    return copy


def restore(instance_id, copy):
    sandbox = SSM_ENGINE.sandbox(instance_id)
    shutil.rmtree(sandbox)
    shutil.copytree(copy, sandbox, symlinks=True)


def install():
    MACHINES.register_part("sandbox", capture, restore)
