# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decide which backup generations to keep and which to delete, and say why.

The rules are those of restic's ``forget`` command, so operators can reuse what they
already know:

- keep_last N keeps the N newest generations.
- keep_hourly / keep_daily / keep_weekly / keep_monthly / keep_yearly N look at the N
  most recent UTC hours / days / ISO weeks / months / years that hold at least one
  generation, and keep the newest generation of each. Periods without a backup do not
  count, so a schedule that ran only on Sundays keeps N Sundays under keep_daily N.
- keep_within D keeps every generation created at most D before the newest one.
- A generation is kept when any rule selects it.

keep_within is measured from the newest generation, not from the clock, and plan()
takes no "now": the same inputs always give the same plan, and a backup schedule that
stops (a paused job, a broken credential) never ages out the generations that are left.

One difference: since 0.17, restic also keeps the oldest snapshot when a history is too
short to fill a period rule. That is not done here, so that every kept generation is kept
by a rule (or safety rule) its reason names.

Safety rules override the policy (the collection-wide rules for deleting modules):

- Only managed generations in state available (AMIs) or completed (snapshots) are
  generations; the rules above count nothing else.
- The newest such generation is always kept.
- Resources without the cloudops:managed-by tag are never deleted.
- Protected ids (an AMI still used by a launch template, ...) are never deleted.
- Pending resources are kept: they are not a generation yet, and deleting an image
  while it is being created would fail or lose the backup under way.
- Managed failed / error resources are deleted unless protected.
- Any other state is left alone: what is not understood is not deleted.

keep_verified N is not a rule of the policy but a protection (select_verified): the newest N
generations a restore drill verified are kept whatever the rules say, since a backup known to
restore is worth more than a younger one nobody tried.

Everything here is pure (no AWS calls, no clock), so modules can run it in check mode
and return the exact plan.
"""

import datetime
import types
from dataclasses import dataclass, field
from typing import Dict, Iterable, Mapping, Optional, Tuple

from ansible_collections.cloudops.aws.plugins.module_utils.durations import format_duration, parse_duration

GENERATION_STATES = frozenset(("available", "completed"))
PENDING_STATES = frozenset(("pending",))
FAILED_STATES = frozenset(("failed", "error"))

COUNT_RULES = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")
RULES = COUNT_RULES + ("keep_within",)

REASON_UNMANAGED = "not managed by cloudops.aws"
REASON_PENDING = "pending: not a generation yet"
REASON_NEWEST = "newest available generation"

_NOT_PROTECTED = types.MappingProxyType({})


@dataclass(frozen=True)
class Generation:
    """One backup (an AMI or a snapshot) as retention sees it."""

    id: str
    created_at: datetime.datetime
    state: str
    managed: bool = True

    def __post_init__(self):
        # A naive time would be read as local time by astimezone(), and bucket
        # boundaries would move with the controller's TZ setting.
        if self.created_at.tzinfo is None or self.created_at.utcoffset() is None:
            raise ValueError("created_at of %s must be timezone-aware, got %s" % (self.id, self.created_at.isoformat()))


@dataclass(frozen=True)
class RetentionPolicy:
    """Which generations to keep. None means the rule is not used.

    Construction validates the policy; policy_from_params builds one from module options.
    """

    keep_last: Optional[int] = None
    keep_hourly: Optional[int] = None
    keep_daily: Optional[int] = None
    keep_weekly: Optional[int] = None
    keep_monthly: Optional[int] = None
    keep_yearly: Optional[int] = None
    keep_within: Optional[datetime.timedelta] = None

    def __post_init__(self):
        for name in COUNT_RULES:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError("%s must be a non-negative integer, got %r" % (name, value))
        # keep_last 0 keeps nothing and reads like "keep the last one"; refuse it rather
        # than guess. The calendar rules accept 0 so a role default can switch them off.
        if self.keep_last == 0:
            raise ValueError("keep_last must be at least 1 when given, got 0")
        if self.keep_within is not None:
            if not isinstance(self.keep_within, datetime.timedelta):
                raise ValueError("keep_within must be a duration, got %r" % (self.keep_within,))
            if self.keep_within <= datetime.timedelta(0):
                raise ValueError("keep_within must be longer than 0s when given, got %s" % format_duration(self.keep_within))
        if not any(getattr(self, name) for name in COUNT_RULES) and self.keep_within is None:
            raise ValueError(
                "retention keeps nothing: give at least one of %s greater than 0, or keep_within" % ", ".join(COUNT_RULES)
            )

    def describe(self):
        """Return the rules in use, e.g. "keep_last=3, keep_daily=7, keep_within=30d"."""
        parts = []
        for name in COUNT_RULES:
            value = getattr(self, name)
            if value is not None:
                parts.append("%s=%d" % (name, value))
        if self.keep_within is not None:
            parts.append("keep_within=%s" % format_duration(self.keep_within))
        return ", ".join(parts)


@dataclass(frozen=True)
class Plan:
    """The outcome of plan(): every input is in exactly one of keep / delete.

    keep and delete are newest first; reasons maps every input id to why it is kept or
    deleted (several reasons joined with "; ").
    """

    keep: Tuple[Generation, ...]
    delete: Tuple[Generation, ...]
    reasons: Mapping[str, str] = field(default_factory=dict)


def policy_from_params(params: Mapping[str, object]) -> RetentionPolicy:
    """Build a RetentionPolicy from module options.

    params holds any of the RULES keys; a None value means "not given" (Ansible passes
    every declared option). keep_within is a duration string such as "30d". Raises
    ValueError naming the bad key and value.
    """
    unknown = sorted(set(params) - set(RULES))
    if unknown:
        raise ValueError("unknown retention option %r: use one of %s" % (unknown[0], ", ".join(RULES)))
    values = dict((name, params.get(name)) for name in COUNT_RULES)
    within = params.get("keep_within")
    if within is not None:
        try:
            within = parse_duration(within)
        except ValueError as exc:
            raise ValueError("keep_within: %s" % exc)
    values["keep_within"] = within
    return RetentionPolicy(**values)


def _newest_first(items):
    # Two generations created in the same second are ordered by id, so the plan does
    # not depend on the order AWS happened to list them in.
    return sorted(sorted(items, key=lambda g: g.id), key=lambda g: g.created_at, reverse=True)


def _utc(moment):
    return moment.astimezone(datetime.timezone.utc)


def _hour(moment):
    return _utc(moment).strftime("%Y-%m-%d %H:00")


def _day(moment):
    return _utc(moment).strftime("%Y-%m-%d")


def _iso_week(moment):
    # ISO year, not calendar year: 2026-12-31 is in week 2026-W53, 2027-01-01 too.
    iso = _utc(moment).isocalendar()
    return "%04d-W%02d" % (iso[0], iso[1])


def _month(moment):
    return _utc(moment).strftime("%Y-%m")


def _year(moment):
    return _utc(moment).strftime("%Y")


# Every key above sorts and changes monotonically with time, so walking generations
# newest first visits each period once, as one run.
_PERIODS = (
    ("keep_hourly", _hour),
    ("keep_daily", _day),
    ("keep_weekly", _iso_week),
    ("keep_monthly", _month),
    ("keep_yearly", _year),
)


def _select(generations, policy):
    """Return {id: [reason, ...]} for the generations the policy keeps.

    generations are managed, usable and newest first.
    """
    chosen = {}

    def choose(generation, reason):
        chosen.setdefault(generation.id, []).append(reason)

    if policy.keep_last:
        for position, generation in enumerate(generations[:policy.keep_last], start=1):
            choose(generation, "keep_last (%d of %d)" % (position, policy.keep_last))

    for name, period_of in _PERIODS:
        wanted = getattr(policy, name)
        if not wanted:
            continue
        taken = 0
        previous = None
        for generation in generations:
            if taken == wanted:
                break
            period = period_of(generation.created_at)
            if period == previous:
                continue
            previous = period
            taken += 1
            choose(generation, "%s %s (%d of %d)" % (name, period, taken, wanted))

    if policy.keep_within is not None and generations:
        oldest_kept = generations[0].created_at - policy.keep_within
        reason = "keep_within %s of newest" % format_duration(policy.keep_within)
        for generation in generations:
            if generation.created_at < oldest_kept:
                break
            choose(generation, reason)

    return chosen


def plan(generations: Iterable[Generation], policy: RetentionPolicy, protected: Mapping[str, str] = _NOT_PROTECTED) -> Plan:
    """Return the Plan for one generation group under policy.

    generations: every resource of the group (any state, managed or not).
    protected: id -> reason for resources that must not be deleted whatever the policy
    says (e.g. "in use by launch template lt-0abc version 3"); ids not in generations
    are ignored.
    """
    items = _newest_first(generations)
    seen = set()
    for item in items:
        if item.id in seen:
            raise ValueError("generation %s is listed more than once" % item.id)
        seen.add(item.id)

    usable = [g for g in items if g.managed and g.state.lower() in GENERATION_STATES]
    chosen = _select(usable, policy)
    newest_id = usable[0].id if usable else None

    keep = []
    delete = []
    reasons = {}
    for item in items:
        state = item.state.lower()
        keep_reasons = list(chosen.get(item.id, ()))
        if item.id == newest_id:
            keep_reasons.append(REASON_NEWEST)
        if not item.managed:
            keep_reasons.append(REASON_UNMANAGED)
        elif state in PENDING_STATES:
            keep_reasons.append(REASON_PENDING)
        elif state not in GENERATION_STATES and state not in FAILED_STATES:
            keep_reasons.append("state %r: not a generation, left alone" % item.state)
        if item.id in protected:
            keep_reasons.append(protected[item.id] or "protected")

        if keep_reasons:
            keep.append(item)
            reasons[item.id] = "; ".join(keep_reasons)
        else:
            delete.append(item)
            if state in FAILED_STATES:
                reasons[item.id] = "%s: not a usable generation" % state
            else:
                reasons[item.id] = "not selected by retention (%s)" % policy.describe()

    return Plan(keep=tuple(keep), delete=tuple(delete), reasons=reasons)


def select_verified(generations: Iterable[Generation], verified_at: Mapping[str, str], count: int) -> Dict[str, str]:
    """{id: reason} for the newest `count` verified generations of one group (keep_verified).

    generations: every resource of the group; verified_at: id -> when a restore drill of it
    passed, for those it verified. Only usable generations count (managed, available or
    completed), newest first as plan() orders them. The result is meant as plan()'s
    `protected`, so the generations are kept whatever the policy says.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError("keep_verified must be a non-negative integer, got %r" % (count,))
    chosen = {}
    for generation in _newest_first(generations):
        if len(chosen) == count:
            break
        if generation.id in verified_at and generation.managed and generation.state.lower() in GENERATION_STATES:
            when = verified_at[generation.id]
            chosen[generation.id] = "keep_verified (%d of %d): restore drill passed%s" % (len(chosen) + 1, count, " " + when if when else "")
    return chosen
