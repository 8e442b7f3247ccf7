# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What instance_schedule does to one instance, and why (pure: no AWS; docs/schedule.md).

Tags are the only state (docs/tags.md). The schedule's last act on an instance is the tag
`cloudops:schedule-applied`, "<state> <edge>[ retained]":

- <state> is the state the schedule wanted at that edge (running or stopped);
- <edge> is the edge it acted on, ISO 8601 UTC ("2026-11-27T17:00:00Z"), "override" while override_status
  holds, or "none" for a schedule whose state has not changed for over a year;
- "retained": with retain_running, the instance was already running when the period began, or was kept
  running past the period's end for that reason.

With enforced: false, an instance whose tag names the schedule's latest edge is left as it is: the schedule
acted on that edge already, and whoever started or stopped the instance since meant it. The first run after a
new edge (or on an instance without the tag) brings it to the wanted state and writes the tag, also when
nothing needed changing, so the next run leaves it alone. The tag is written once the instance is in the
state (a start that does not finish in time is tried again by the next run). With enforced: true, every run
corrects the state, and the tag is written when the run acts.
"""

from dataclasses import dataclass
from typing import Optional

from ansible_collections.cloudops.aws.plugins.module_utils.maintenance_marks import active_mark
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_periods import ANY
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_periods import RUNNING
from ansible_collections.cloudops.aws.plugins.module_utils.schedule_periods import STOPPED
from ansible_collections.cloudops.aws.plugins.module_utils.schedules import TINY
from ansible_collections.cloudops.aws.plugins.module_utils.schedules import format_instant

APPLIED_TAG = "cloudops:schedule-applied"
SKIP_TAG = "cloudops:schedule-skip"
AUTO_SCALING_TAG = "aws:autoscaling:groupName"
OVERRIDE_EDGE = "override"
NO_EDGE = "none"
RETAINED = "retained"
START, STOP, HIBERNATE = "start", "stop", "hibernate"
# The state an instance in transition is heading for.
HEADING = {"pending": RUNNING, "stopping": STOPPED}


@dataclass(frozen=True)
class Applied:
    """The value of the applied tag: the state the schedule brought the instance to, at which edge."""

    state: str
    edge: str
    retained: bool = False

    @property
    def value(self):
        return " ".join([self.state, self.edge] + ([RETAINED] if self.retained else []))

    @classmethod
    def parse(cls, value):
        """The Applied of a tag value; None for a missing or hand-edited value (which the next edge replaces)."""
        parts = str(value or "").split()
        if len(parts) not in (2, 3) or parts[0] not in (RUNNING, STOPPED) or (len(parts) == 3 and parts[2] != RETAINED):
            return None
        return cls(parts[0], parts[1], len(parts) == 3)


@dataclass(frozen=True)
class Situation:
    """A schedule at the run's instant: the state it wants and why, its latest edge and the one before it, the next
    one, and the options that decide how it acts."""

    name: str
    state: Optional[str]
    reason: str
    edge: Optional[object]
    previous_edge: Optional[object]
    next_edge: Optional[object]
    override: bool
    enforced: bool
    retain_running: bool
    hibernate: bool

    @property
    def edge_key(self):
        if self.override:
            return OVERRIDE_EDGE
        return self.edge.key if self.edge is not None else NO_EDGE

    @property
    def previous_edge_key(self):
        return self.previous_edge.key if self.previous_edge is not None else None

    @classmethod
    def of(cls, schedule, now):
        state, reason = schedule.state_at(now)
        edge = schedule.last_edge(now)
        previous = schedule.last_edge(edge.at - TINY) if edge is not None and schedule.retain_running else None
        return cls(schedule.name, state, reason, edge, previous, schedule.next_edge(now), bool(schedule.override_status),
                   schedule.enforced, schedule.retain_running, schedule.hibernate)

    def summary(self):
        """The schedule as the module reports it."""
        return {
            "state": self.state or "any",
            "reason": self.reason,
            "last_edge": format_instant(self.edge.at) if self.edge else None,
            "next_edge": format_instant(self.next_edge.at) if self.next_edge else None,
            "next_state": (self.next_edge.state or "any") if self.next_edge else None,
            "enforced": self.enforced or self.override,
        }


@dataclass(frozen=True)
class Decision:
    """What to do with an instance: `action` (start, stop, hibernate) or None; `skip`, the reason it is left alone
    whatever the schedule wants; `reason`, why; `tag`, the Applied to write once the instance is in its state."""

    desired: Optional[str]
    reason: str
    action: Optional[str] = None
    skip: bool = False
    tag: Optional[Applied] = None

    @property
    def target_state(self):
        return {START: RUNNING, STOP: STOPPED, HIBERNATE: STOPPED}.get(self.action)


def skip_reason(tags, now):
    """Why an instance is never touched, whatever its schedule says; None when it may be."""
    if SKIP_TAG in tags:
        return "tagged %s=%s: left alone" % (SKIP_TAG, tags[SKIP_TAG])
    if tags.get(AUTO_SCALING_TAG):
        return "member of Auto Scaling group %s, which decides whether its instances run" % tags[AUTO_SCALING_TAG]
    mark = active_mark(tags, now)
    if mark is not None:
        return "in maintenance by %s until %s (tag cloudops:maintenance)" % (mark.owner, format_instant(mark.until))
    return None


def _retained(applied, situation):
    """Whether retain_running keeps the instance running through this stopped span: it was found running when the span's
    period began (or kept at this very edge)."""
    return (applied is not None and applied.retained
            and applied.edge in (situation.edge_key, situation.previous_edge_key))


def decide(instance, situation, now):
    """The Decision for `instance` ({instance_id, state, tags, hibernation}) under `situation` at `now`."""
    tags = instance["tags"]
    skipped = skip_reason(tags, now)
    if skipped:
        return Decision(situation.state, skipped, skip=True)
    desired = situation.state
    if desired is ANY:
        return Decision(None, "%s: left as it is" % situation.reason)
    state = instance["state"]
    applied = Applied.parse(tags.get(APPLIED_TAG))
    key = situation.edge_key
    # A schedule edited since (its latest edge now wants another state) counts as a new edge too.
    new_edge = applied is None or applied.edge != key or applied.state != desired
    enforced = situation.enforced or situation.override
    if not enforced and not new_edge:
        if state == desired:
            return Decision(desired, "already %s" % state)
        return Decision(desired, "the schedule brought it to %s at %s already; enforced is false, so it stays %s until the next edge"
                        % (applied.state, key, state))
    # The state to record when nothing needs doing: only where edges decide (enforced: false, first run after an edge).
    record = Applied(desired, key) if not enforced and new_edge else None
    if state in HEADING:
        if HEADING[state] == desired:
            return Decision(desired, "already %s, on its way to %s" % (state, desired), tag=record)
        return Decision(desired, "%s; the next run %s it" % (state, "starts" if desired == RUNNING else "stops"), skip=True)
    if desired == RUNNING:
        if state != "running":
            return Decision(desired, situation.reason, action=START, tag=Applied(RUNNING, key))
        if situation.retain_running and not situation.override and new_edge:
            return Decision(desired, "already running when the period began: retain_running leaves it running past the "
                            "period's end", tag=Applied(RUNNING, key, retained=True))
        return Decision(desired, "already running", tag=record)
    if state != "running":
        return Decision(desired, "already %s" % state, tag=record)
    if situation.retain_running and not situation.override and _retained(applied, situation):
        return Decision(desired, "retain_running: it was already running when the period began, so the schedule leaves it "
                        "running", tag=Applied(STOPPED, key, retained=True) if applied.edge != key else None)
    if situation.hibernate and instance.get("hibernation"):
        return Decision(desired, situation.reason, action=HIBERNATE, tag=Applied(STOPPED, key))
    reason = situation.reason
    if situation.hibernate:
        reason += "; stopped, not hibernated: it was not launched with hibernation configured"
    return Decision(desired, reason, action=STOP, tag=Applied(STOPPED, key))
