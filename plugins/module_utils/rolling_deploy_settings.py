# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""rolling_deploy's options checked once into RollingDeploySettings, and the SendCommand requests of a run (no AWS call).

Every check raises ValueError naming the option and the value, so a mistake fails the task before any
instance is drained or sent a command.
"""

import re
import shlex
from dataclasses import dataclass
from typing import Mapping
from typing import Optional
from typing import Tuple

from ansible_collections.cloudops.aws.plugins.module_utils.ec2_instances import validate_instance_ids
from ansible_collections.cloudops.aws.plugins.module_utils.selection import check_one_selection
from ansible_collections.cloudops.aws.plugins.module_utils.selection import checked_values
from ansible_collections.cloudops.aws.plugins.module_utils.waves import Size

SELECTIONS = ("instance_ids", "filters", "target_group_arns", "target_group_names")
# CodeDeploy's names for the usual batch sizes.
PRESETS = {"one_at_a_time": "1", "half_at_a_time": "50%", "all_at_once": "100%"}
SHELL_DOCUMENT = "AWS-RunShellScript"
# Written on an instance after a successful deploy; an instance that carries the version wanted is skipped.
VERSION_TAG = "cloudops:deployed-version"
# Every command the run sends sees the version under this name.
VERSION_VARIABLE = "DEPLOY_VERSION"
# EC2 tag values hold at most 256 characters.
VERSION_LIMIT = 256
TARGET_GROUP_ARN = re.compile(r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]+$")
TARGET_GROUP_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")


def argument_spec():
    return dict(
        instance_ids=dict(type="list", elements="str"),
        filters=dict(type="dict"),
        target_group_arns=dict(type="list", elements="str"),
        target_group_names=dict(type="list", elements="str"),
        version=dict(type="str", required=True),
        deploy_commands=dict(type="list", elements="str", required=True),
        health_command=dict(type="str"),
        rollback_commands=dict(type="list", elements="str"),
        version_command=dict(type="str"),
        batch_size=dict(type="raw", default="25%"),
        min_healthy=dict(type="raw", default="50%"),
        max_failures=dict(type="raw", default="0"),
        command_timeout=dict(type="int", default=3600),
        drain_timeout=dict(type="int", default=600),
        healthy_timeout=dict(type="int", default=600),
    )


def batch_size(value):
    """The Size of `batch_size`: a count, a percentage, or a preset."""
    if str(value).strip() in PRESETS:
        return Size.parse("batch_size", PRESETS[str(value).strip()])
    try:
        return Size.parse("batch_size", value)
    except ValueError as error:
        raise ValueError("%s; or one of %s" % (error, ", ".join(PRESETS))) from error


def _commands(option, lines):
    """The lines of `option`, None when it is not set; ValueError when they run nothing."""
    if lines is None:
        return None
    if not any(str(line).strip() for line in lines):
        raise ValueError("%s: %r runs nothing" % (option, lines))
    return tuple(str(line) for line in lines)


@dataclass(frozen=True)
class RollingDeploySettings:
    """One rolling_deploy's options, checked when built: ValueError names the option and the value.

    Exactly one of instance_ids, filters, target_group_arns and target_group_names is set.
    """

    instance_ids: Optional[Tuple[str, ...]]
    filters: Optional[Mapping[str, object]]
    target_group_arns: Optional[Tuple[str, ...]]
    target_group_names: Optional[Tuple[str, ...]]
    version: str
    deploy_commands: Tuple[str, ...]
    health_command: Optional[str]
    rollback_commands: Optional[Tuple[str, ...]]
    version_command: Optional[str]
    batch_size: Size
    min_healthy: Size
    max_failures: Size
    command_timeout: int
    drain_timeout: int
    healthy_timeout: int

    def __post_init__(self):
        check_one_selection(self, SELECTIONS)
        if self.filters == {}:
            raise ValueError("filters: {} selects every instance of the Region; name the instances to deploy to")
        if not self.version.strip() or len(self.version) > VERSION_LIMIT:
            raise ValueError("version: %r must be 1 to %d characters, not blank (it is written in the tag %s)"
                             % (self.version, VERSION_LIMIT, VERSION_TAG))
        for option in ("health_command", "version_command"):
            if getattr(self, option) is not None and not getattr(self, option).strip():
                raise ValueError("%s: %r runs nothing; leave it unset" % (option, getattr(self, option)))
        for option in ("command_timeout", "drain_timeout", "healthy_timeout"):
            if getattr(self, option) < 1:
                raise ValueError("%s: must be 1 or more seconds, got %d" % (option, getattr(self, option)))

    @property
    def by_target_group(self):
        return self.target_group_arns is not None or self.target_group_names is not None

    @classmethod
    def from_params(cls, params):
        instance_ids = params["instance_ids"]
        return cls(
            instance_ids=None if instance_ids is None else tuple(validate_instance_ids(instance_ids)),
            filters=params["filters"],
            target_group_arns=checked_values("target_group_arns", params["target_group_arns"], TARGET_GROUP_ARN, "a target group ARN"),
            target_group_names=checked_values("target_group_names", params["target_group_names"], TARGET_GROUP_NAME, "a target group name"),
            version=params["version"],
            deploy_commands=_commands("deploy_commands", params["deploy_commands"]),
            health_command=params["health_command"],
            rollback_commands=_commands("rollback_commands", params["rollback_commands"]),
            version_command=params["version_command"],
            batch_size=batch_size(params["batch_size"]),
            min_healthy=Size.parse("min_healthy", params["min_healthy"], allow_zero=True),
            max_failures=Size.parse("max_failures", params["max_failures"], allow_zero=True),
            command_timeout=params["command_timeout"],
            drain_timeout=params["drain_timeout"],
            healthy_timeout=params["healthy_timeout"],
        )

    # -- the SendCommand requests of a run ----------------------------------------------------------

    def request(self, step):
        """The AWS-RunShellScript request of `step` (deploy, health, rollback or version), its lines after the version's
        export, so each command reads $DEPLOY_VERSION; None when that step has no command."""
        lines = {"deploy": self.deploy_commands, "rollback": self.rollback_commands,
                 "health": self.health_command and (self.health_command,), "version": self.version_command and (self.version_command,)}[step]
        if not lines:
            return None
        return {"DocumentName": SHELL_DOCUMENT,
                "Parameters": {"commands": ["export %s=%s" % (VERSION_VARIABLE, shlex.quote(self.version))] + list(lines)},
                "Comment": "cloudops.aws rolling_deploy %s" % step}
