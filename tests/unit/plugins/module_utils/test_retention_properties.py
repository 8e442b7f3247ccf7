# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Properties of retention.plan over random histories and policies.

The oracle below recomputes the kept set a different way from the implementation
(group by period, newest per group, then the N newest groups) so a shared mistake in
walking order or period boundaries would show up as a disagreement.
"""

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from ansible_collections.cloudops.aws.plugins.module_utils.durations import format_duration
from ansible_collections.cloudops.aws.plugins.module_utils.retention import Generation, RetentionPolicy, plan

UTC = timezone.utc
# Two years ending 2027-01-03, so the busy last days straddle a new year: 2026-12-31 .. 2027-01-03
# are all ISO week 2026-W53, where calendar-year week numbering would split them.
START = datetime(2025, 1, 3, tzinfo=UTC)
TWO_YEARS = 730 * 86400

USABLE = ("available", "completed")
PENDING = ("pending",)
FAILED = ("failed", "error")
# Weighted towards usable generations so most histories have something to rotate.
STATES = USABLE * 4 + PENDING + FAILED + ("transient",)

PROPERTY_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

offsets = st.one_of(
    st.integers(0, TWO_YEARS),  # anywhere in two years
    st.integers(0, 730).map(lambda day: day * 86400),  # midnight: exact ties and period edges
    st.integers(TWO_YEARS - 3 * 86400, TWO_YEARS),  # a busy last few days: many per hour and day, across a new year
    st.just(TWO_YEARS),  # a midnight newest, so whole-day keep_within lands exactly on older midnights
)
# Same instant, shown in another zone: periods must still be UTC periods.
zones = st.sampled_from([UTC, UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7)), timezone(timedelta(hours=5, minutes=30))])


def _generation(gid, offset, zone, state, managed):
    return Generation("ami-" + gid, (START + timedelta(seconds=offset)).astimezone(zone), state, managed)


generations = st.builds(
    _generation,
    st.text("0123456789abcdef", min_size=6, max_size=6),
    offsets,
    zones,
    st.sampled_from(STATES),
    st.integers(0, 9).map(lambda n: n > 0),  # one in ten not managed by the collection
)


@st.composite
def histories(draw):
    history = draw(st.lists(generations, max_size=30, unique_by=lambda g: g.id))
    gids = [g.id for g in history]
    protected = draw(st.sets(st.sampled_from(gids), max_size=5)) if gids else set()
    return history, dict((gid, "in use by instance i-" + gid[4:]) for gid in protected)


@st.composite
def policies(draw):
    count = st.one_of(st.none(), st.integers(0, 12))
    within = st.one_of(
        st.none(),
        st.integers(1, 400 * 86400).map(lambda seconds: timedelta(seconds=seconds)),
        st.integers(1, 400).map(lambda days: timedelta(days=days)),
    )
    args = {
        "keep_last": draw(st.one_of(st.none(), st.integers(1, 12))),
        "keep_hourly": draw(count),
        "keep_daily": draw(count),
        "keep_weekly": draw(count),
        "keep_monthly": draw(count),
        "keep_yearly": draw(count),
        "keep_within": draw(within),
    }
    if not any(args.values()):
        args["keep_daily"] = draw(st.integers(1, 12))
    return RetentionPolicy(**args)


# Period keys as tuples/dates of a UTC datetime (the implementation uses formatted strings).
PERIOD_KEYS = {
    "keep_hourly": lambda t: (t.year, t.month, t.day, t.hour),
    "keep_daily": lambda t: t.date(),
    "keep_weekly": lambda t: tuple(t.isocalendar())[:2],
    "keep_monthly": lambda t: (t.year, t.month),
    "keep_yearly": lambda t: t.year,
}


def oracle_keep_ids(history, policy, protected):
    """The ids a correct plan keeps, computed without walking a sorted list by period."""
    usable = [g for g in history if g.managed and g.state in USABLE]

    def newness(g):
        # Smaller is newer; same instant -> smaller id counts as newer.
        return (-g.created_at.timestamp(), g.id)

    kept = set()
    ranked = sorted(usable, key=newness)
    if policy.keep_last:
        kept.update(g.id for g in ranked[:policy.keep_last])
    for name, key_of in PERIOD_KEYS.items():
        wanted = getattr(policy, name)
        if not wanted:
            continue
        groups = {}
        for g in usable:
            groups.setdefault(key_of(g.created_at.astimezone(UTC)), []).append(g)
        for key in sorted(groups, reverse=True)[:wanted]:
            kept.add(min(groups[key], key=newness).id)
    if policy.keep_within is not None and usable:
        newest_time = max(g.created_at for g in usable)
        kept.update(g.id for g in usable if newest_time - g.created_at <= policy.keep_within)
    if ranked:
        kept.add(ranked[0].id)
    for g in history:
        if not g.managed or g.id in protected or (g.state not in USABLE and g.state not in FAILED):
            kept.add(g.id)
    return kept


def _ids(generations):
    return [g.id for g in generations]


@PROPERTY_SETTINGS
@given(histories(), policies())
def test_keep_and_delete_partition_the_input_with_a_reason_each(case, policy):
    history, protected = case
    result = plan(history, policy, protected)
    kept, deleted = _ids(result.keep), _ids(result.delete)
    assert not set(kept) & set(deleted)
    assert sorted(kept + deleted) == sorted(_ids(history))
    assert set(result.reasons) == set(_ids(history))
    assert all(result.reasons.values())
    for side in (result.keep, result.delete):
        assert [g.created_at for g in side] == sorted((g.created_at for g in side), reverse=True)


@PROPERTY_SETTINGS
@given(histories(), policies())
def test_never_deletes_newest_unmanaged_protected_or_pending(case, policy):
    history, protected = case
    result = plan(history, policy, protected)
    usable = [g for g in history if g.managed and g.state in USABLE]
    if usable:
        newest_time = max(g.created_at for g in usable)
        newest = min((g for g in usable if g.created_at == newest_time), key=lambda g: g.id)
        assert newest in result.keep
        assert "newest available generation" in result.reasons[newest.id]
    for g in result.delete:
        assert g.managed
        assert g.id not in protected
        assert g.state not in PENDING
        if g.state in FAILED:
            assert result.reasons[g.id] == "%s: not a usable generation" % g.state
        else:
            assert result.reasons[g.id].startswith("not selected by retention (")
    for g in result.keep:
        if g.managed and g.state in PENDING:
            assert "pending: not a generation yet" in result.reasons[g.id]
    for gid, why in protected.items():
        assert why in result.reasons[gid]


NEW_YEAR_HISTORY = [
    Generation("ami-dec20", datetime(2026, 12, 20, 12, tzinfo=UTC), "available"),
    Generation("ami-dec31", datetime(2026, 12, 31, 12, tzinfo=UTC), "available"),
    Generation("ami-jan02", datetime(2027, 1, 2, 12, tzinfo=UTC), "completed"),
]


@PROPERTY_SETTINGS
@given(histories(), policies())
@example((NEW_YEAR_HISTORY, {}), RetentionPolicy(keep_weekly=2))
@example((NEW_YEAR_HISTORY, {}), RetentionPolicy(keep_monthly=2, keep_yearly=2))
def test_keeps_exactly_what_the_oracle_keeps(case, policy):
    history, protected = case
    result = plan(history, policy, protected)
    assert set(_ids(result.keep)) == oracle_keep_ids(history, policy, protected)


@PROPERTY_SETTINGS
@given(histories(), st.data())
def test_keep_within_reaches_exactly_back_to_its_boundary(case, data):
    # Random durations almost never land on a generation's exact age, so aim at one.
    history, protected = case
    usable = [g for g in history if g.managed and g.state in USABLE]
    assume(usable)
    newest_time = max(g.created_at for g in usable)
    older = [g for g in usable if g.created_at < newest_time]
    assume(older)
    edge = data.draw(st.sampled_from(older))
    policy = RetentionPolicy(keep_within=newest_time - edge.created_at)
    result = plan(history, policy, protected)
    assert edge in result.keep
    assert "keep_within %s of newest" % format_duration(policy.keep_within) in result.reasons[edge.id]
    for g in usable:
        if newest_time - g.created_at > policy.keep_within and g.id not in protected:
            assert g in result.delete
    assert set(_ids(result.keep)) == oracle_keep_ids(history, policy, protected)


@PROPERTY_SETTINGS
@given(histories(), policies(), st.randoms(use_true_random=False))
def test_input_order_does_not_matter(case, policy, rng):
    history, protected = case
    shuffled = list(history)
    rng.shuffle(shuffled)
    assert plan(shuffled, policy, protected) == plan(history, policy, protected)


@PROPERTY_SETTINGS
@given(histories(), policies())
def test_planning_again_over_what_was_kept_deletes_nothing(case, policy):
    history, protected = case
    first = plan(history, policy, protected)
    second = plan(first.keep, policy, protected)
    assert second.delete == ()
    assert second.keep == first.keep


def test_oracle_agrees_on_a_known_case():
    # Guards the oracle itself: 10 daily backups, keep_last 3 + keep_weekly 2 -> the 3 newest (see test_retention.py).
    history = [Generation("ami-%02d" % day, datetime(2026, 11, day, 5, tzinfo=UTC), "available") for day in range(14, 24)]
    policy = RetentionPolicy(keep_last=3, keep_weekly=2)
    assert oracle_keep_ids(history, policy, {}) == {"ami-23", "ami-22", "ami-21"}
    assert oracle_keep_ids(history, RetentionPolicy(keep_weekly=3), {}) == {"ami-23", "ami-22", "ami-15"}


def test_histories_strategy_reaches_the_interesting_cases():
    # A property suite that never draws ties, several items per day, or all the states proves little.
    seen = set()

    @settings(max_examples=100, deadline=None, database=None)
    @given(histories())
    def collect(case):
        history, protected = case
        times = [g.created_at for g in history]
        days = [t.astimezone(UTC).date() for t in times]
        if len(set(times)) < len(times):
            seen.add("tie")
        if len(set(days)) < len(days):
            seen.add("same day")
        if protected:
            seen.add("protected")
        seen.update(g.state for g in history)
        seen.update("unmanaged" for g in history if not g.managed)

    collect()
    assert {"tie", "same day", "protected", "unmanaged", "available", "completed", "pending", "failed", "error", "transient"} <= seen
