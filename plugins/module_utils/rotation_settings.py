# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The options every rotating module shares (doc fragment cloudops.aws.rotation), checked once.

RotationSettings is built from the module's parameters before any AWS call; each check sits
next to the field it guards and names the option and the bad value, as RetentionPolicy does.
"""

import datetime
from dataclasses import dataclass
from dataclasses import field
from typing import Mapping
from typing import Optional

from ansible_collections.cloudops.aws.plugins.module_utils.durations import parse_duration
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import RESERVED_PREFIX
from ansible_collections.cloudops.aws.plugins.module_utils.retention import COUNT_RULES
from ansible_collections.cloudops.aws.plugins.module_utils.retention import RetentionPolicy
from ansible_collections.cloudops.aws.plugins.module_utils.retention import policy_from_params

MAX_CONCURRENCY_LIMIT = 100
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256


def rotation_argument_spec():
    retention = {key: {"type": "int"} for key in COUNT_RULES}
    retention["keep_within"] = {"type": "str"}
    return dict(
        policy=dict(type="str", default="default"),
        retention=dict(type="dict", required=True, options=retention),
        tags=dict(type="dict", default={}),
        min_interval=dict(type="str"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
        max_concurrency=dict(type="int", default=10),
        keep_verified=dict(type="int", default=0),
    )


def validate_max_concurrency(value):
    if not 1 <= value <= MAX_CONCURRENCY_LIMIT:
        raise ValueError("max_concurrency: must be between 1 and %d, got %d" % (MAX_CONCURRENCY_LIMIT, value))
    return value


@dataclass(frozen=True)
class RotationSettings:
    """The shared rotation options. `policy` is None where the module derives it per backup
    (snapshot_copy_generations takes each source's own policy tag)."""

    policy: Optional[str]
    retention: RetentionPolicy
    extra_tags: Mapping[str, str] = field(default_factory=dict)
    min_interval: Optional[datetime.timedelta] = None
    wait: bool = True
    wait_timeout: int = 1800
    max_concurrency: int = 10
    keep_verified: int = 0

    def __post_init__(self):
        if self.policy is not None:
            if not self.policy:
                raise ValueError("policy: must not be empty")
            # The policy is a tag value; AWS would refuse the create calls, one resource at a time.
            if len(self.policy) > TAG_VALUE_MAX:
                raise ValueError("policy: %r is %d characters; a tag value holds at most %d" % (self.policy, len(self.policy), TAG_VALUE_MAX))
        reserved = sorted(key for key in self.extra_tags if key.startswith(RESERVED_PREFIX))
        if reserved:
            raise ValueError("tags: keys starting with %r are reserved for the collection's own tags: %s" % (RESERVED_PREFIX, ", ".join(reserved)))
        for key, value in self.extra_tags.items():
            if not 1 <= len(key) <= TAG_KEY_MAX:
                raise ValueError("tags: key %r is %d characters; AWS allows 1 to %d" % (key, len(key), TAG_KEY_MAX))
            if len(value) > TAG_VALUE_MAX:
                raise ValueError("tags: value of %r is %d characters; AWS allows at most %d" % (key, len(value), TAG_VALUE_MAX))
        if self.wait_timeout < 0:
            raise ValueError("wait_timeout: must be 0 or more seconds, got %d" % self.wait_timeout)
        validate_max_concurrency(self.max_concurrency)
        if isinstance(self.keep_verified, bool) or not isinstance(self.keep_verified, int) or self.keep_verified < 0:
            raise ValueError("keep_verified: must be 0 or more generations, got %r" % (self.keep_verified,))

    @classmethod
    def from_params(cls, params, policy_required=True):
        """The settings from Ansible's parameters; ValueError names the option and the value."""
        policy = params["policy"]
        if policy is not None:
            policy = policy.strip()
            if not policy:
                raise ValueError("policy: must not be empty%s" % ("" if policy_required else " when given"))
        elif policy_required:
            raise ValueError("policy: must not be empty")
        try:
            min_interval = parse_duration(params["min_interval"]) if params["min_interval"] is not None else None
        except ValueError as error:
            raise ValueError("min_interval: %s" % error) from error
        return cls(
            policy=policy,
            retention=policy_from_params({key: value for key, value in params["retention"].items() if value is not None}),
            extra_tags={str(key): str(value) for key, value in params["tags"].items()},
            min_interval=min_interval,
            wait=params["wait"],
            wait_timeout=params["wait_timeout"],
            max_concurrency=params["max_concurrency"],
            keep_verified=params.get("keep_verified") or 0,
        )
