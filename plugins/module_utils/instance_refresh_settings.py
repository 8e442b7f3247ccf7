# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""instance_refresh's options checked once into InstanceRefreshSettings, and the refresh's Preferences (no AWS call).

Every check raises ValueError naming the option and the value, so a mistake fails the task before
a launch template version is created or a refresh started. The limits are the Auto Scaling API
reference's (RefreshPreferences), so AWS refuses nothing the module let through.
"""

import re
from dataclasses import dataclass
from typing import Mapping
from typing import Optional
from typing import Tuple

from ansible_collections.cloudops.aws.plugins.module_utils.ec2_instances import INSTANCE_ID_PATTERN
from ansible_collections.cloudops.aws.plugins.module_utils.ownership import SOURCE_INSTANCE_KEY

STATES = ("present", "cancelled", "rolled_back")
IMAGE_OPTIONS = ("image_id", "image_policy", "image_source_instance", "image_tags")
IMAGE_ID_PATTERN = re.compile(r"^ami-[0-9a-f]{8}([0-9a-f]{9})?$")
# CheckpointDelay and BakeTime: at most two days.
MAX_DELAY = 172800
MAX_ALARMS = 10


def argument_spec():
    return dict(
        group_name=dict(type="str", required=True),
        state=dict(type="str", choices=list(STATES), default="present"),
        image_id=dict(type="str"),
        image_policy=dict(type="str"),
        image_source_instance=dict(type="str"),
        image_tags=dict(type="dict"),
        min_healthy_percentage=dict(type="int", default=90),
        max_healthy_percentage=dict(type="int"),
        instance_warmup=dict(type="int"),
        checkpoint_percentages=dict(type="list", elements="int"),
        checkpoint_delay=dict(type="int"),
        skip_matching=dict(type="bool", default=True),
        auto_rollback=dict(type="bool", default=False),
        alarms=dict(type="list", elements="str"),
        bake_time=dict(type="int"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=3600),
        poll_interval=dict(type="int", default=15),
        wait_for_in_progress=dict(type="bool", default=False),
    )


def _seconds(option, value, most=None):
    if value is not None and (value < 0 or (most is not None and value > most)):
        raise ValueError("%s: %d is not a number of seconds from 0 to %s" % (option, value, most if most is not None else "any"))


def _checked_image_choice(settings):
    """The image options fit the state: one way to name the AMI to roll out, none to cancel or roll back."""
    given = [option for option in IMAGE_OPTIONS if getattr(settings, option)]
    if settings.state != "present":
        if given:
            raise ValueError("%s: only with state present; state %s acts on the refresh in progress" % (given[0], settings.state))
        return
    if bool(settings.image_id) == bool(settings.image_policy):
        raise ValueError("image_id, image_policy: give exactly one to name the AMI to roll out, got %s"
                         % (" and ".join("%s=%r" % (o, getattr(settings, o)) for o in ("image_id", "image_policy") if getattr(settings, o)) or "none"))
    if settings.image_id:
        if not IMAGE_ID_PATTERN.match(settings.image_id):
            raise ValueError("image_id: not an AMI id: %r" % settings.image_id)
        if settings.image_source_instance or settings.image_tags:
            raise ValueError("%s: only with image_policy" % ("image_source_instance" if settings.image_source_instance else "image_tags"))
        return
    if not (settings.image_source_instance or settings.image_tags):
        # A policy such as ami_rotate's `daily` holds the backups of many instances: its newest is anyone's.
        raise ValueError("image_policy: %r needs image_source_instance or image_tags to say whose generations to take" % settings.image_policy)
    if settings.image_source_instance and not INSTANCE_ID_PATTERN.match(settings.image_source_instance):
        raise ValueError("image_source_instance: not an instance id: %r" % settings.image_source_instance)


@dataclass(frozen=True)
class InstanceRefreshSettings:
    """One instance_refresh's options, checked when built: ValueError names the option and the value."""

    group_name: str
    state: str
    image_id: Optional[str]
    image_policy: Optional[str]
    image_source_instance: Optional[str]
    image_tags: Optional[Mapping[str, str]]
    min_healthy_percentage: int
    max_healthy_percentage: Optional[int]
    instance_warmup: Optional[int]
    checkpoint_percentages: Tuple[int, ...]
    checkpoint_delay: Optional[int]
    skip_matching: bool
    auto_rollback: bool
    alarms: Tuple[str, ...]
    bake_time: Optional[int]
    wait: bool
    wait_timeout: int
    poll_interval: int
    wait_for_in_progress: bool

    def __post_init__(self):
        if not self.group_name.strip():
            raise ValueError("group_name: must not be empty")
        if self.state not in STATES:
            raise ValueError("state: %r is not one of %s" % (self.state, ", ".join(STATES)))
        _checked_image_choice(self)
        if not 0 <= self.min_healthy_percentage <= 100:
            raise ValueError("min_healthy_percentage: %d is not a percentage from 0 to 100" % self.min_healthy_percentage)
        high = self.max_healthy_percentage
        if high is not None and not 100 <= high <= 200:
            raise ValueError("max_healthy_percentage: %d is not a percentage from 100 to 200" % high)
        if high is not None and high - self.min_healthy_percentage > 100:
            raise ValueError("max_healthy_percentage: %d is more than 100 above min_healthy_percentage %d"
                             % (high, self.min_healthy_percentage))
        checkpoints = list(self.checkpoint_percentages)
        if checkpoints and not 1 <= min(checkpoints) <= max(checkpoints) <= 100:
            raise ValueError("checkpoint_percentages: %r: each must be a percentage from 1 to 100" % checkpoints)
        if checkpoints != sorted(set(checkpoints)):
            raise ValueError("checkpoint_percentages: %r must be ascending, each once" % checkpoints)
        if self.checkpoint_delay is not None and not checkpoints:
            raise ValueError("checkpoint_delay: %d needs checkpoint_percentages" % self.checkpoint_delay)
        _seconds("instance_warmup", self.instance_warmup)
        _seconds("checkpoint_delay", self.checkpoint_delay, MAX_DELAY)
        _seconds("bake_time", self.bake_time, MAX_DELAY)
        if len(self.alarms) > MAX_ALARMS:
            raise ValueError("alarms: %d alarms, AWS takes at most %d" % (len(self.alarms), MAX_ALARMS))
        if not all(name.strip() for name in self.alarms):
            raise ValueError("alarms: %r has an empty alarm name" % list(self.alarms))
        for option in ("wait_timeout", "poll_interval"):
            if getattr(self, option) < 1:
                raise ValueError("%s: must be 1 or more seconds, got %d" % (option, getattr(self, option)))

    @classmethod
    def from_params(cls, params):
        return cls(
            group_name=params["group_name"],
            state=params["state"],
            image_id=params["image_id"],
            image_policy=params["image_policy"],
            image_source_instance=params["image_source_instance"],
            image_tags=params["image_tags"],
            min_healthy_percentage=params["min_healthy_percentage"],
            max_healthy_percentage=params["max_healthy_percentage"],
            instance_warmup=params["instance_warmup"],
            checkpoint_percentages=tuple(params["checkpoint_percentages"] or ()),
            checkpoint_delay=params["checkpoint_delay"],
            skip_matching=params["skip_matching"],
            auto_rollback=params["auto_rollback"],
            alarms=tuple(params["alarms"] or ()),
            bake_time=params["bake_time"],
            wait=params["wait"],
            wait_timeout=params["wait_timeout"],
            poll_interval=params["poll_interval"],
            wait_for_in_progress=params["wait_for_in_progress"],
        )

    def image_policy_tags(self):
        """The tags the policy's image must carry: image_tags, and the source instance's lineage tag."""
        tags = dict(self.image_tags or {})
        if self.image_source_instance:
            tags[SOURCE_INSTANCE_KEY] = self.image_source_instance
        return tags

    def preferences(self):
        """StartInstanceRefresh's Preferences; what is not set is left to AWS's defaults."""
        given = {
            "MinHealthyPercentage": self.min_healthy_percentage,
            "MaxHealthyPercentage": self.max_healthy_percentage,
            "InstanceWarmup": self.instance_warmup,
            "CheckpointPercentages": list(self.checkpoint_percentages) or None,
            "CheckpointDelay": self.checkpoint_delay,
            "SkipMatching": self.skip_matching,
            "AutoRollback": self.auto_rollback,
            "AlarmSpecification": {"Alarms": list(self.alarms)} if self.alarms else None,
            "BakeTime": self.bake_time,
        }
        return {key: value for key, value in given.items() if value is not None}
