# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""restore_drill's options checked once into DrillSettings (no AWS call).

Every check raises ValueError naming the option and the value, so a mistake fails the task before any
throwaway instance is launched or any leftover removed.
"""

import datetime
import re
import uuid
from dataclasses import dataclass
from dataclasses import field
from typing import Mapping
from typing import Optional
from typing import Tuple

from ansible_collections.cloudops.aws.plugins.module_utils.durations import format_duration
from ansible_collections.cloudops.aws.plugins.module_utils.durations import parse_duration
from ansible_collections.cloudops.aws.plugins.module_utils.ec2_instances import validate_instance_ids
from ansible_collections.cloudops.aws.plugins.module_utils.ebs_volumes import VOLUME_ID_PATTERN
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import RESERVED_PREFIX
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_settings import TAG_KEY_MAX
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_settings import TAG_VALUE_MAX
from ansible_collections.cloudops.aws.plugins.module_utils.rotation_settings import validate_max_concurrency
from ansible_collections.cloudops.aws.plugins.module_utils.selection import checked_values

STATES = ("started", "finished")
SOURCES = ("image", "snapshot")
# A tag value, short enough to read in a report and an instance name.
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,35}$")
SUBNET_PATTERN = re.compile(r"^subnet-[0-9a-f]{8}([0-9a-f]{9})?$")
GROUP_PATTERN = re.compile(r"^sg-[0-9a-f]{8}([0-9a-f]{9})?$")
IMAGE_PATTERN = re.compile(r"^ami-[0-9a-f]{8}([0-9a-f]{9})?$")
# The device names EC2 takes for data volumes on Linux instances.
DEVICE_PATTERN = re.compile(r"^/dev/(sd|xvd)[f-p]$")


def argument_spec():
    return dict(
        state=dict(type="str", choices=list(STATES), default="started"),
        source=dict(type="str", choices=list(SOURCES), default="image"),
        instance_ids=dict(type="list", elements="str"),
        volume_ids=dict(type="list", elements="str"),
        filters=dict(type="dict"),
        policy=dict(type="str"),
        subnet_id=dict(type="str"),
        security_group_ids=dict(type="list", elements="str"),
        instance_type=dict(type="str", default="t3.micro"),
        instance_profile=dict(type="str"),
        helper_image_id=dict(type="str"),
        device_name=dict(type="str", default="/dev/sdf"),
        run_id=dict(type="str"),
        expire_after=dict(type="str", default="3h"),
        redrill=dict(type="bool", default=False),
        tags=dict(type="dict", default={}),
        wait_timeout=dict(type="int", default=900),
        max_concurrency=dict(type="int", default=10),
        drills=dict(type="list", elements="dict", default=[]),
        verification=dict(type="list", elements="dict", default=[]),
    )


def new_run_id(now):
    """A run id for a drill started without one: its start time and 8 random hex digits."""
    return "drill-%s-%s" % (now.strftime("%Y%m%dT%H%M%S"), uuid.uuid4().hex[:8])


def _tags(tags):
    reserved = sorted(key for key in tags if str(key).startswith(RESERVED_PREFIX))
    if reserved:
        raise ValueError("tags: keys starting with %r are reserved for the collection's own tags: %s" % (RESERVED_PREFIX, ", ".join(reserved)))
    checked = {}
    for key, value in tags.items():
        if not 1 <= len(str(key)) <= TAG_KEY_MAX or len(str(value)) > TAG_VALUE_MAX:
            raise ValueError("tags: %r=%r is longer than AWS allows (keys 1 to %d characters, values %d)" % (key, value, TAG_KEY_MAX, TAG_VALUE_MAX))
        checked[str(key)] = str(value)
    return checked


@dataclass(frozen=True)
class DrillSettings:
    """One restore_drill's options. `started` needs a selection and the drill's network; `finished` needs the run id."""

    state: str
    source: str
    run_id: str
    instance_ids: Optional[Tuple[str, ...]] = None
    volume_ids: Optional[Tuple[str, ...]] = None
    filters: Optional[Mapping[str, object]] = None
    policy: Optional[str] = None
    subnet_id: Optional[str] = None
    security_group_ids: Tuple[str, ...] = ()
    instance_type: str = "t3.micro"
    instance_profile: Optional[str] = None
    helper_image_id: Optional[str] = None
    device_name: str = "/dev/sdf"
    expire_after: datetime.timedelta = datetime.timedelta(hours=3)
    redrill: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)
    wait_timeout: int = 900
    max_concurrency: int = 10
    drills: Tuple[Mapping[str, object], ...] = ()
    verification: Tuple[Mapping[str, object], ...] = ()

    def __post_init__(self):
        if self.state not in STATES:
            raise ValueError("state: must be one of %s, got %r" % (", ".join(STATES), self.state))
        if self.source not in SOURCES:
            raise ValueError("source: must be one of %s, got %r" % (", ".join(SOURCES), self.source))
        if not RUN_ID_PATTERN.match(self.run_id):
            raise ValueError("run_id: %r must be 1 to 36 letters, digits, '.', '_', ':' or '-', starting with a letter or digit" % self.run_id)
        if self.wait_timeout < 1:
            raise ValueError("wait_timeout: must be 1 or more seconds, got %d" % self.wait_timeout)
        validate_max_concurrency(self.max_concurrency)
        if self.expire_after <= datetime.timedelta(seconds=self.wait_timeout):
            raise ValueError("expire_after: %s is not longer than wait_timeout %ds; a later run would remove a drill still under way"
                             % (format_duration(self.expire_after), self.wait_timeout))
        if self.state == "started":
            self._check_start()

    def _check_start(self):
        given = [name for name in ("instance_ids", "volume_ids", "filters") if getattr(self, name) is not None]
        allowed = ("instance_ids", "filters") if self.source == "image" else ("volume_ids", "filters")
        if len(given) != 1 or given[0] not in allowed:
            raise ValueError("%s: with source=%s select the %s by exactly one of them, got %s"
                             % (", ".join(allowed), self.source, "instances" if self.source == "image" else "volumes", " and ".join(given) or "none"))
        if self.filters == {}:
            raise ValueError("filters: {} selects every %s of the Region; name the ones to drill" % ("instance" if self.source == "image" else "volume"))
        if not self.subnet_id or not SUBNET_PATTERN.match(self.subnet_id):
            raise ValueError("subnet_id: the isolated subnet the drill instances run in is required, got %r" % (self.subnet_id,))
        if not self.security_group_ids:
            raise ValueError("security_group_ids: the drill instances' security groups are required, got none")
        if self.source == "snapshot":
            if not self.helper_image_id or not IMAGE_PATTERN.match(self.helper_image_id):
                raise ValueError("helper_image_id: with source=snapshot, the AMI of the instance the restored volume is attached to is "
                                 "required, got %r" % (self.helper_image_id,))
            if not DEVICE_PATTERN.match(self.device_name):
                raise ValueError("device_name: %r is not a data volume device name such as /dev/sdf (sdf to sdp, or xvdf to xvdp)" % self.device_name)

    @property
    def network(self):
        """Where and how the throwaway instances run."""
        return {"subnet_id": self.subnet_id, "security_group_ids": self.security_group_ids, "instance_type": self.instance_type,
                "instance_profile": self.instance_profile}

    @classmethod
    def from_params(cls, params, now):
        run_id = params["run_id"]
        if run_id is None:
            if params["state"] == "finished":
                raise ValueError("run_id: required with state=finished, to find the drill's resources")
            run_id = new_run_id(now)
        try:
            expire_after = parse_duration(params["expire_after"])
        except ValueError as error:
            raise ValueError("expire_after: %s" % error) from error
        instance_ids = params["instance_ids"]
        if instance_ids is not None and not instance_ids:
            raise ValueError("instance_ids: the list is empty")
        return cls(
            state=params["state"],
            source=params["source"],
            run_id=run_id,
            instance_ids=None if instance_ids is None else tuple(validate_instance_ids(instance_ids)),
            volume_ids=checked_values("volume_ids", params["volume_ids"], VOLUME_ID_PATTERN, "a volume id"),
            filters=params["filters"],
            policy=params["policy"].strip() or None if params["policy"] is not None else None,
            subnet_id=params["subnet_id"],
            security_group_ids=checked_values("security_group_ids", params["security_group_ids"], GROUP_PATTERN, "a security group id") or (),
            instance_type=params["instance_type"],
            instance_profile=params["instance_profile"],
            helper_image_id=params["helper_image_id"],
            device_name=params["device_name"],
            expire_after=expire_after,
            redrill=params["redrill"],
            tags=_tags(params["tags"]),
            wait_timeout=params["wait_timeout"],
            max_concurrency=params["max_concurrency"],
            drills=tuple(params["drills"]),
            verification=tuple(params["verification"]),
        )
