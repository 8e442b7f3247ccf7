# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""instance_schedule's options checked once into ScheduleSettings (no AWS call).

Every check raises ValueError naming the option (or the schedule and its field) and the value, so a
mistake fails the task before any instance is started or stopped.
"""

import datetime
from dataclasses import dataclass
from typing import Mapping

from ansible_collections.cloudops.aws.plugins.module_utils.schedules import build_schedules
from ansible_collections.cloudops.aws.plugins.module_utils.schedules import parse_instant
from ansible_collections.cloudops.aws.plugins.module_utils.schedules import time_zone
from ansible_collections.cloudops.aws.plugins.module_utils.selection import filter_list

# The states a scheduled instance can be started or stopped from, or is on its way to one.
LIVE_STATES = ("pending", "running", "stopping", "stopped")


def argument_spec():
    return dict(
        schedules=dict(type="list", elements="dict", required=True),
        periods=dict(type="list", elements="dict", default=[]),
        tag_key=dict(type="str", default="Schedule", no_log=False),
        filters=dict(type="dict", default={}),
        now=dict(type="str"),
        timezone=dict(type="str", default="UTC"),
        enforced=dict(type="bool", default=False),
        retain_running=dict(type="bool", default=False),
        hibernate=dict(type="bool", default=False),
        verify_timeout=dict(type="int", default=600),
    )


@dataclass(frozen=True)
class ScheduleSettings:
    """One instance_schedule's options, checked when built; `schedules` maps each name to its schedules.Schedule."""

    schedules: Mapping[str, object]
    tag_key: str
    filters: Mapping[str, object]
    now: datetime.datetime
    verify_timeout: int

    def __post_init__(self):
        key = self.tag_key.strip()
        if not key or len(key) > 128 or key.lower().startswith("aws:") or key != self.tag_key:
            raise ValueError("tag_key: %r must be 1 to 128 characters without surrounding blanks, not starting with aws:" % self.tag_key)
        if "tag-key" in self.filters or "tag:%s" % self.tag_key in self.filters:
            raise ValueError("filters: %s selects by the schedule tag, which tag_key sets already" % ", ".join(
                sorted(name for name in self.filters if name in ("tag-key", "tag:%s" % self.tag_key))))
        if self.verify_timeout < 0:
            raise ValueError("verify_timeout: must be 0 (do not wait) or more seconds, got %d" % self.verify_timeout)
        filter_list(self.filters)

    def describe_filters(self):
        """The DescribeInstances filters of the run: the schedule tag, the live states, and the user's filters."""
        filters = dict(self.filters)
        filters["tag-key"] = self.tag_key
        filters.setdefault("instance-state-name", list(LIVE_STATES))
        return filter_list(filters)

    @classmethod
    def from_params(cls, params, clock):
        time_zone("timezone", params["timezone"])
        defaults = {"timezone": params["timezone"], "enforced": params["enforced"], "retain_running": params["retain_running"],
                    "hibernate": params["hibernate"]}
        now = parse_instant("now", params["now"]) if params["now"] else clock()
        return cls(
            schedules=build_schedules(params["schedules"], params["periods"], defaults),
            tag_key=params["tag_key"],
            filters=params["filters"] or {},
            now=now,
            verify_timeout=params["verify_timeout"],
        )
