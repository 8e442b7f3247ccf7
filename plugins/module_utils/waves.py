# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Which instances go out of service together: a canary, then waves, never breaking a load
balancer's minimum of healthy targets. Pure: the caller gives the target groups' members.

Sizes are a count ("3", 3) or a percentage of a whole ("25%"). A wave size in percent is of
the instances to process, rounded down and at least 1, as SSM rounds MaxConcurrency; a minimum
in percent is of a target group's healthy targets, rounded up, so "50%" of 3 keeps 2.
"""

import math
import re

from dataclasses import dataclass

_SIZE = re.compile(r"^\s*(\d+)\s*(%?)\s*$")


@dataclass(frozen=True)
class Size:
    """A count, or a percentage of a whole."""

    value: int
    percent: bool

    @classmethod
    def parse(cls, option, text, allow_zero=False):
        """The size in `text`; ValueError naming `option` and the value when it is not one."""
        match = _SIZE.match(str(text))
        if not match:
            raise ValueError("%s: %r is neither a count nor a percentage such as 25%%" % (option, text))
        size = cls(int(match.group(1)), bool(match.group(2)))
        if size.percent and size.value > 100:
            raise ValueError("%s: %r is above 100%%" % (option, text))
        if size.value == 0 and not allow_zero:
            raise ValueError("%s: %r takes nothing; give at least 1 or 1%%" % (option, text))
        return size

    def of(self, whole, round_up=False):
        if not self.percent:
            return self.value
        share = whole * self.value / 100.0
        return int(math.ceil(share)) if round_up else int(math.floor(share))

    def __str__(self):
        return "%d%s" % (self.value, "%" if self.percent else "")


class WavePlanError(ValueError):
    """The minimum of a target group can never be kept: refused before anything starts."""


def out_of_service_allowance(healthy_by_group, min_healthy):
    """{target group: how many of its healthy targets may be out of service at once}; a group with
    nothing to keep in service (min_healthy 0, or no healthy target) is left out: it limits no wave.

    WavePlanError names the group whose minimum leaves none, since every instance of it
    would wait for ever.
    """
    allowance = {}
    for group, healthy in sorted(healthy_by_group.items()):
        keep = min(min_healthy.of(healthy, round_up=True), healthy) if min_healthy.percent else min_healthy.value
        if keep == 0:
            continue
        allowance[group] = healthy - keep
        if allowance[group] <= 0:
            raise WavePlanError("min_healthy %s of target group %s keeps all of its %d healthy target(s) in service; none can be "
                                "taken out without breaking it" % (min_healthy, group, healthy))
    return allowance


def plan_waves(instance_ids, groups_of, allowance, canary, wave_size):
    """[[instance ids]]: `canary` instances first, then waves of at most `wave_size` (a Size of
    all instances), each shrunk so no target group loses more than its allowance at once.

    `groups_of` maps an instance to the target groups it is registered in (none, or none `allowance`
    names: no limit).
    An instance pushed out of a wave by a limit goes into the next one, in the given order.
    """
    size = max(1, wave_size.of(len(instance_ids)))
    waves = []
    pending = list(instance_ids)
    limits = [canary] if canary else []
    while pending:
        limit = limits.pop(0) if limits else size
        wave, taken = [], {}
        for instance_id in list(pending):
            if len(wave) == limit:
                break
            groups = groups_of.get(instance_id, ())
            # Every group has an allowance of at least 1, so the first instance pending always fits.
            if any(group in allowance and taken.get(group, 0) >= allowance[group] for group in groups):
                continue
            wave.append(instance_id)
            pending.remove(instance_id)
            for group in groups:
                taken[group] = taken.get(group, 0) + 1
        waves.append(wave)
    return waves
