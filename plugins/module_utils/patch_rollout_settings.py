# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""patch_rollout's options checked once into PatchRolloutSettings, and the SendCommand requests of a run (no AWS call).

Every check raises ValueError naming the option and the value, so a mistake fails the task
before any instance is imaged, drained or patched.
"""

import uuid
from dataclasses import dataclass
from typing import Mapping
from typing import Optional
from typing import Tuple

from ansible_collections.cloudops.aws.plugins.module_utils.durations import parse_duration
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_instances import validate_instance_ids
from ansible_collections.cloudops.aws.plugins.module_utils.patch_compliance import checked_patch_group
from ansible_collections.cloudops.aws.plugins.module_utils.retention import COUNT_RULES
from ansible_collections.cloudops.aws.plugins.module_utils.retention import policy_from_params
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_settings import RotationSettings
from ansible_collections.cloudops.aws.plugins.module_utils.selection import check_one_selection
from ansible_collections.cloudops.aws.plugins.module_utils.waves import Size

SELECTIONS = ("instance_ids", "filters", "patch_group")
MODES = ("scan", "install")
REBOOT_OPTIONS = ("RebootIfNeeded", "NoReboot")
PATCH_DOCUMENT = "AWS-RunPatchBaseline"
SHELL_DOCUMENT = "AWS-RunShellScript"


def argument_spec():
    retention = {key: {"type": "int"} for key in COUNT_RULES}
    retention["keep_within"] = {"type": "str"}
    return dict(
        instance_ids=dict(type="list", elements="str"),
        filters=dict(type="dict"),
        patch_group=dict(type="str"),
        mode=dict(type="str", choices=list(MODES), default="scan"),
        start_stopped=dict(type="bool", default=False),
        canary=dict(type="int", default=1),
        wave_size=dict(type="raw", default="25%"),
        min_healthy=dict(type="raw", default="50%"),
        max_failures=dict(type="raw", default="0"),
        reboot_option=dict(type="str", choices=list(REBOOT_OPTIONS), default="RebootIfNeeded"),
        health_command=dict(type="str"),
        rollback=dict(type="bool", default=False),
        pre_image=dict(type="bool", default=True),
        pre_image_policy=dict(type="str", default="pre-patch"),
        pre_image_retention=dict(type="dict", options=retention, default={"keep_last": 3}),
        pre_image_min_interval=dict(type="str", default="6h"),
        command_timeout=dict(type="int", default=3600),
        drain_timeout=dict(type="int", default=600),
        reboot_timeout=dict(type="int", default=900),
        healthy_timeout=dict(type="int", default=600),
        pre_image_timeout=dict(type="int", default=3600),
        rollback_timeout=dict(type="int", default=1800),
    )


def _renamed(option, error):
    """A ValueError of a shared check, named after the option of this module that gave the value."""
    return ValueError("%s: %s" % (option, error))


def pre_image_settings(params):
    """The rotation settings of the pre-patch AMIs (ami_rotate's, under pre_image_* names), or None without pre_image."""
    if not params["pre_image"]:
        return None
    policy = params["pre_image_policy"].strip()
    if not policy:
        raise ValueError("pre_image_policy: must not be empty")
    try:
        retention = policy_from_params({key: value for key, value in params["pre_image_retention"].items() if value is not None})
    except ValueError as error:
        raise _renamed("pre_image_retention", error) from error
    try:
        min_interval = parse_duration(params["pre_image_min_interval"]) if params["pre_image_min_interval"] else None
    except ValueError as error:
        raise _renamed("pre_image_min_interval", error) from error
    try:
        return RotationSettings(policy=policy, retention=retention, min_interval=min_interval, wait=True,
                                wait_timeout=params["pre_image_timeout"])
    except ValueError as error:
        # RotationSettings names its own option first ("policy: ..."): pre_image_ makes it this module's.
        raise ValueError("pre_image_%s" % error) from error


def _size(option, value, allow_zero):
    if isinstance(value, bool) or value is None:
        raise ValueError("%s: %r is neither a count nor a percentage such as 25%%" % (option, value))
    return Size.parse(option, value, allow_zero=allow_zero)


@dataclass(frozen=True)
class PatchRolloutSettings:
    """One patch_rollout's options, checked when built: ValueError names the option and the value.

    Exactly one of instance_ids, filters and patch_group is set. `pre_image` is None when no
    pre-patch AMI is taken.
    """

    instance_ids: Optional[Tuple[str, ...]]
    filters: Optional[Mapping[str, object]]
    patch_group: Optional[str]
    mode: str
    start_stopped: bool
    canary: int
    wave_size: Size
    min_healthy: Size
    max_failures: Size
    reboot_option: str
    health_command: Optional[str]
    rollback: bool
    pre_image: Optional[RotationSettings]
    command_timeout: int
    drain_timeout: int
    reboot_timeout: int
    healthy_timeout: int
    rollback_timeout: int

    def __post_init__(self):
        check_one_selection(self, SELECTIONS)
        if self.mode not in MODES:
            raise ValueError("mode: %r is not one of %s" % (self.mode, ", ".join(MODES)))
        if self.reboot_option not in REBOOT_OPTIONS:
            raise ValueError("reboot_option: %r is not one of %s" % (self.reboot_option, ", ".join(REBOOT_OPTIONS)))
        if self.canary < 0:
            raise ValueError("canary: must be 0 (no canary) or more instances, got %d" % self.canary)
        if self.health_command is not None and not self.health_command.strip():
            raise ValueError("health_command: %r runs nothing; leave it unset to skip the health check" % self.health_command)
        if self.rollback and self.pre_image is None:
            raise ValueError("rollback: restores the root volume from the pre-patch AMI, and pre_image is false")
        for option in ("command_timeout", "drain_timeout", "reboot_timeout", "healthy_timeout", "rollback_timeout"):
            if getattr(self, option) < 1:
                raise ValueError("%s: must be 1 or more seconds, got %d" % (option, getattr(self, option)))

    @property
    def install(self):
        return self.mode == "install"

    @classmethod
    def from_params(cls, params):
        instance_ids, patch_group = params["instance_ids"], params["patch_group"]
        if params["pre_image_timeout"] < 1:
            raise ValueError("pre_image_timeout: must be 1 or more seconds, got %d" % params["pre_image_timeout"])
        return cls(
            instance_ids=None if instance_ids is None else tuple(validate_instance_ids(instance_ids)),
            filters=params["filters"],
            patch_group=None if patch_group is None else checked_patch_group(patch_group),
            mode=params["mode"],
            start_stopped=params["start_stopped"],
            canary=params["canary"],
            wave_size=_size("wave_size", params["wave_size"], allow_zero=False),
            min_healthy=_size("min_healthy", params["min_healthy"], allow_zero=True),
            max_failures=_size("max_failures", params["max_failures"], allow_zero=True),
            reboot_option=params["reboot_option"],
            health_command=params["health_command"],
            rollback=params["rollback"],
            pre_image=pre_image_settings(params),
            command_timeout=params["command_timeout"],
            drain_timeout=params["drain_timeout"],
            reboot_timeout=params["reboot_timeout"],
            healthy_timeout=params["healthy_timeout"],
            rollback_timeout=params["rollback_timeout"],
        )


# -- the SendCommand requests of a run --------------------------------------------------------------

def new_snapshot_id():
    """The baseline SnapshotId of one run: every wave installs (and every scan measures) the same patch set,
    even when the baseline or the repositories change during the run."""
    return str(uuid.uuid4())


def scan_request(snapshot_id):
    return {"DocumentName": PATCH_DOCUMENT, "Parameters": {"Operation": ["Scan"], "SnapshotId": [snapshot_id]},
            "Comment": "cloudops.aws patch_rollout scan"}


def install_request(snapshot_id, reboot_option):
    return {"DocumentName": PATCH_DOCUMENT,
            "Parameters": {"Operation": ["Install"], "SnapshotId": [snapshot_id], "RebootOption": [reboot_option]},
            "Comment": "cloudops.aws patch_rollout install"}


def health_request(command):
    return {"DocumentName": SHELL_DOCUMENT, "Parameters": {"commands": [command]}, "Comment": "cloudops.aws patch_rollout health check"}
