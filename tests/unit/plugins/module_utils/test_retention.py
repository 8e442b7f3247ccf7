# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Worked examples for retention.plan, each computed by hand and written out."""

from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.cloudops.aws.plugins.module_utils.retention import (
    Generation,
    Plan,
    RetentionPolicy,
    plan,
    policy_from_params,
    select_verified,
)

UTC = timezone.utc


def at(text):
    """'2026-11-23 05:00' -> aware UTC datetime."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def gen(gid, when, state="available", managed=True):
    return Generation(id=gid, created_at=at(when), state=state, managed=managed)


def ids(generations):
    return [g.id for g in generations]


def assert_partition(result, generations):
    """keep and delete split the input exactly, and every id has a reason."""
    assert sorted(ids(result.keep) + ids(result.delete)) == sorted(ids(generations))
    assert set(result.reasons) == set(ids(generations))


# --------------------------------------------------------------------------- worked examples


def test_ten_daily_backups_keep_last_3_and_keep_weekly_2():
    # One backup a day at 05:00, Sat 2026-11-14 .. Mon 2026-11-23.
    # ISO weeks: 11-14 and 11-15 are in 2026-W46, 11-16 .. 11-22 in 2026-W47, 11-23 (a Monday) in 2026-W48.
    # keep_last 3   -> 11-23, 11-22, 11-21
    # keep_weekly 2 -> newest of W48 (11-23) and newest of W47 (11-22)
    # union: 11-23, 11-22, 11-21; the seven older ones go.
    history = [gen("ami-%02d" % day, "2026-11-%02d 05:00" % day) for day in range(14, 24)]
    policy = policy_from_params({"keep_last": 3, "keep_weekly": 2})

    result = plan(history, policy)

    assert ids(result.keep) == ["ami-23", "ami-22", "ami-21"]
    assert ids(result.delete) == ["ami-20", "ami-19", "ami-18", "ami-17", "ami-16", "ami-15", "ami-14"]
    assert result.reasons["ami-23"] == "keep_last (1 of 3); keep_weekly 2026-W48 (1 of 2); newest available generation"
    assert result.reasons["ami-22"] == "keep_last (2 of 3); keep_weekly 2026-W47 (2 of 2)"
    assert result.reasons["ami-21"] == "keep_last (3 of 3)"
    for gid in ids(result.delete):
        assert result.reasons[gid] == "not selected by retention (keep_last=3, keep_weekly=2)"
    assert_partition(result, history)


def test_keep_daily_counts_days_that_have_a_backup_not_calendar_days():
    # A schedule that runs only on Sundays, nine weeks: 2026-09-27 .. 2026-11-22.
    # keep_daily 4 keeps the 4 most recent days that *have* a backup: four Sundays,
    # even though they span 22 calendar days.
    sundays = ["2026-09-27", "2026-10-04", "2026-10-11", "2026-10-18", "2026-10-25", "2026-11-01", "2026-11-08", "2026-11-15", "2026-11-22"]
    history = [gen("snap-" + day, day + " 03:00", state="completed") for day in sundays]

    result = plan(history, RetentionPolicy(keep_daily=4))

    assert ids(result.keep) == ["snap-2026-11-22", "snap-2026-11-15", "snap-2026-11-08", "snap-2026-11-01"]
    assert result.reasons["snap-2026-11-08"] == "keep_daily 2026-11-08 (3 of 4)"
    assert ids(result.delete) == ["snap-2026-10-25", "snap-2026-10-18", "snap-2026-10-11", "snap-2026-10-04", "snap-2026-09-27"]
    assert result.reasons["snap-2026-09-27"] == "not selected by retention (keep_daily=4)"


def test_several_backups_a_day_keep_daily_takes_the_newest_of_each_day():
    # Every 6 hours over three days. keep_daily 2 keeps the 18:00 backup of the two newest days;
    # keep_hourly 3 keeps the three newest (each sits in its own hour).
    history = [gen("ami-%s-%02d" % (day, hour), "2026-03-%s %02d:00" % (day, hour)) for day in ("01", "02", "03") for hour in (0, 6, 12, 18)]

    result = plan(history, RetentionPolicy(keep_daily=2, keep_hourly=3))

    assert ids(result.keep) == ["ami-03-18", "ami-03-12", "ami-03-06", "ami-02-18"]
    assert result.reasons["ami-03-18"] == "keep_hourly 2026-03-03 18:00 (1 of 3); keep_daily 2026-03-03 (1 of 2); newest available generation"
    assert result.reasons["ami-03-12"] == "keep_hourly 2026-03-03 12:00 (2 of 3)"
    assert result.reasons["ami-03-06"] == "keep_hourly 2026-03-03 06:00 (3 of 3)"
    assert result.reasons["ami-02-18"] == "keep_daily 2026-03-02 (2 of 2)"
    assert len(result.delete) == 8


def test_keep_monthly_and_keep_yearly_across_a_year_boundary():
    # keep_monthly 3 -> newest of 2026-02 (02-05), 2026-01 (01-20), 2025-12 (12-31)
    # keep_yearly 2  -> newest of 2026 (02-05), 2025 (12-31)
    history = [
        gen("ami-a", "2025-11-15 00:00"),
        gen("ami-b", "2025-12-01 00:00"),
        gen("ami-c", "2025-12-31 23:59"),
        gen("ami-d", "2026-01-10 00:00"),
        gen("ami-e", "2026-01-20 00:00"),
        gen("ami-f", "2026-02-05 00:00"),
    ]

    result = plan(history, policy_from_params({"keep_monthly": 3, "keep_yearly": 2}))

    assert ids(result.keep) == ["ami-f", "ami-e", "ami-c"]
    assert ids(result.delete) == ["ami-d", "ami-b", "ami-a"]
    assert result.reasons["ami-f"] == "keep_monthly 2026-02 (1 of 3); keep_yearly 2026 (1 of 2); newest available generation"
    assert result.reasons["ami-e"] == "keep_monthly 2026-01 (2 of 3)"
    assert result.reasons["ami-c"] == "keep_monthly 2025-12 (3 of 3); keep_yearly 2025 (2 of 2)"


def test_keep_weekly_uses_iso_weeks_across_new_year():
    # 2026 has 53 ISO weeks: Thu 2026-12-31 and Fri 2027-01-01 are both in 2026-W53;
    # Mon 2027-01-04 starts 2027-W01. keep_weekly 2 -> 01-04 and 01-01 (not 12-31).
    history = [gen("ami-1231", "2026-12-31 12:00"), gen("ami-0101", "2027-01-01 12:00"), gen("ami-0104", "2027-01-04 12:00")]

    result = plan(history, RetentionPolicy(keep_weekly=2))

    assert ids(result.keep) == ["ami-0104", "ami-0101"]
    assert result.reasons["ami-0101"] == "keep_weekly 2026-W53 (2 of 2)"
    assert ids(result.delete) == ["ami-1231"]


def test_keep_within_is_measured_from_the_newest_generation_not_the_clock():
    # The schedule stopped in 2020; nothing here knows today's date.
    # Newest 2020-06-01 00:00; 30d earlier is 2020-05-02 00:00, which is still within (inclusive).
    history = [
        gen("ami-new", "2020-06-01 00:00"),
        gen("ami-edge", "2020-05-02 00:00"),
        gen("ami-out", "2020-05-01 23:59"),
        gen("ami-old", "2020-01-01 00:00"),
    ]

    result = plan(history, policy_from_params({"keep_within": "30d"}))

    assert ids(result.keep) == ["ami-new", "ami-edge"]
    assert result.reasons["ami-new"] == "keep_within 30d of newest; newest available generation"
    assert result.reasons["ami-edge"] == "keep_within 30d of newest"
    assert ids(result.delete) == ["ami-out", "ami-old"]
    assert result.reasons["ami-out"] == "not selected by retention (keep_within=30d)"


def test_periods_are_utc_whatever_offset_the_timestamp_carries():
    # 2026-11-24 01:00 at +02:00 is 2026-11-23 23:00 UTC: same UTC day as the 10:00 backup.
    plus_two = timezone(timedelta(hours=2))
    late = Generation("ami-late", datetime(2026, 11, 24, 1, 0, tzinfo=plus_two), "available")
    early = gen("ami-early", "2026-11-23 10:00")
    before = gen("ami-before", "2026-11-22 10:00")

    result = plan([early, late, before], RetentionPolicy(keep_daily=2))

    assert ids(result.keep) == ["ami-late", "ami-before"]
    assert result.reasons["ami-late"].startswith("keep_daily 2026-11-23 (1 of 2)")
    assert ids(result.delete) == ["ami-early"]


def test_short_history_is_kept_whole():
    history = [gen("ami-1", "2026-01-01 00:00"), gen("ami-2", "2026-01-02 00:00")]
    result = plan(history, RetentionPolicy(keep_last=5, keep_daily=7, keep_monthly=12))
    assert ids(result.keep) == ["ami-2", "ami-1"]
    assert result.delete == ()


def test_empty_group_gives_empty_plan():
    assert plan([], RetentionPolicy(keep_last=1)) == Plan(keep=(), delete=(), reasons={})


def test_zero_count_rules_are_switched_off():
    history = [gen("ami-%d" % day, "2026-01-%02d 00:00" % day) for day in range(1, 4)]
    result = plan(history, policy_from_params({"keep_last": 1, "keep_daily": 0, "keep_weekly": None}))
    assert ids(result.keep) == ["ami-3"]
    assert result.reasons["ami-2"] == "not selected by retention (keep_last=1, keep_daily=0)"


# --------------------------------------------------------------------------- safety rules


def test_newest_available_is_kept_and_newer_pending_or_failed_do_not_count():
    history = [
        gen("ami-pending", "2026-11-23 06:00", state="pending"),
        gen("ami-failed", "2026-11-23 05:00", state="failed"),
        gen("ami-good", "2026-11-22 05:00"),
        gen("ami-older", "2026-11-21 05:00"),
    ]

    result = plan(history, RetentionPolicy(keep_last=1))

    assert ids(result.keep) == ["ami-pending", "ami-good"]
    assert result.reasons["ami-pending"] == "pending: not a generation yet"
    assert result.reasons["ami-good"] == "keep_last (1 of 1); newest available generation"
    assert ids(result.delete) == ["ami-failed", "ami-older"]
    assert result.reasons["ami-failed"] == "failed: not a usable generation"
    assert result.reasons["ami-older"] == "not selected by retention (keep_last=1)"


def test_snapshot_error_state_is_deleted_and_named():
    history = [gen("snap-ok", "2026-11-23 05:00", state="completed"), gen("snap-bad", "2026-11-23 06:00", state="error")]
    result = plan(history, RetentionPolicy(keep_last=3))
    assert ids(result.keep) == ["snap-ok"]
    assert ids(result.delete) == ["snap-bad"]
    assert result.reasons["snap-bad"] == "error: not a usable generation"


def test_unmanaged_resources_are_never_deleted_and_do_not_count():
    history = [
        gen("ami-foreign-new", "2026-11-24 05:00", managed=False),
        gen("ami-foreign-failed", "2020-01-01 00:00", state="failed", managed=False),
        gen("ami-2", "2026-11-23 05:00"),
        gen("ami-1", "2026-11-22 05:00"),
    ]

    result = plan(history, RetentionPolicy(keep_last=1))

    # keep_last 1 selects ami-2: the newer unmanaged image is not a generation of this group.
    assert ids(result.keep) == ["ami-foreign-new", "ami-2", "ami-foreign-failed"]
    assert result.reasons["ami-foreign-new"] == "not managed by cloudops.aws"
    assert result.reasons["ami-foreign-failed"] == "not managed by cloudops.aws"
    assert result.reasons["ami-2"] == "keep_last (1 of 1); newest available generation"
    assert ids(result.delete) == ["ami-1"]


def test_protected_generations_are_kept_with_the_given_reason():
    history = [
        gen("ami-3", "2026-11-23 05:00"),
        gen("ami-2", "2026-11-22 05:00"),
        gen("ami-1", "2026-11-21 05:00"),
        gen("ami-0", "2026-11-20 05:00", state="failed"),
    ]
    protected = {
        "ami-3": "in use by instance i-0123",
        "ami-1": "in use by launch template lt-0abc version 3",
        "ami-0": "in use by auto scaling group web",
        "ami-elsewhere": "not in this group, ignored",
    }

    result = plan(history, RetentionPolicy(keep_last=1), protected)

    assert ids(result.keep) == ["ami-3", "ami-1", "ami-0"]
    assert result.reasons["ami-3"] == "keep_last (1 of 1); newest available generation; in use by instance i-0123"
    assert result.reasons["ami-1"] == "in use by launch template lt-0abc version 3"
    assert result.reasons["ami-0"] == "in use by auto scaling group web"
    assert ids(result.delete) == ["ami-2"]
    assert "ami-elsewhere" not in result.reasons


def test_protected_generation_still_counts_as_a_generation():
    # Protection keeps ami-1 but does not make it "not a generation": keep_last 2 still means ami-3 and ami-2.
    history = [gen("ami-3", "2026-11-23 05:00"), gen("ami-2", "2026-11-22 05:00"), gen("ami-1", "2026-11-21 05:00")]
    result = plan(history, RetentionPolicy(keep_last=2), {"ami-1": "in use"})
    assert ids(result.keep) == ["ami-3", "ami-2", "ami-1"]
    assert result.reasons["ami-2"] == "keep_last (2 of 2)"


def test_pending_and_protected_reasons_are_joined():
    history = [gen("ami-p", "2026-11-23 06:00", state="pending"), gen("ami-a", "2026-11-23 05:00")]
    result = plan(history, RetentionPolicy(keep_last=1), {"ami-p": "in use by instance i-1"})
    assert result.reasons["ami-p"] == "pending: not a generation yet; in use by instance i-1"
    assert result.delete == ()


def test_unknown_states_are_left_alone():
    history = [gen("ami-a", "2026-11-23 05:00"), gen("ami-x", "2026-01-01 00:00", state="transient")]
    result = plan(history, RetentionPolicy(keep_last=1))
    assert ids(result.keep) == ["ami-a", "ami-x"]
    assert result.reasons["ami-x"] == "state 'transient': not a generation, left alone"


def test_group_with_only_failed_backups_deletes_them_all():
    history = [gen("ami-f1", "2026-11-23 05:00", state="failed"), gen("ami-f2", "2026-11-22 05:00", state="failed")]
    result = plan(history, RetentionPolicy(keep_last=3))
    assert result.keep == ()
    assert ids(result.delete) == ["ami-f1", "ami-f2"]


def test_states_are_compared_case_insensitively():
    history = [gen("ami-2", "2026-11-23 05:00", state="Available"), gen("ami-1", "2026-11-22 05:00", state="AVAILABLE")]
    result = plan(history, RetentionPolicy(keep_last=1))
    assert ids(result.keep) == ["ami-2"]
    assert ids(result.delete) == ["ami-1"]


def test_duplicate_ids_are_refused():
    history = [gen("ami-1", "2026-11-23 05:00"), gen("ami-1", "2026-11-22 05:00")]
    with pytest.raises(ValueError, match="generation ami-1 is listed more than once"):
        plan(history, RetentionPolicy(keep_last=1))


def test_naive_timestamps_are_refused():
    with pytest.raises(ValueError, match="created_at of ami-1 must be timezone-aware, got 2026-11-23T05:00:00"):
        Generation("ami-1", datetime(2026, 11, 23, 5, 0), "available")


# --------------------------------------------------------------------------- determinism


def test_ties_are_broken_by_id_whatever_the_input_order():
    same = "2026-11-23 05:00"
    history = [gen("ami-b", same), gen("ami-a", same), gen("ami-c", same), gen("ami-0", "2026-11-22 05:00")]

    forward = plan(history, RetentionPolicy(keep_last=1, keep_daily=2))
    backward = plan(list(reversed(history)), RetentionPolicy(keep_last=1, keep_daily=2))

    assert forward == backward
    assert ids(forward.keep) == ["ami-a", "ami-0"]
    assert forward.reasons["ami-a"] == "keep_last (1 of 1); keep_daily 2026-11-23 (1 of 2); newest available generation"
    assert forward.reasons["ami-0"] == "keep_daily 2026-11-22 (2 of 2)"
    assert ids(forward.delete) == ["ami-b", "ami-c"]


def test_plan_accepts_any_iterable():
    history = [gen("ami-2", "2026-11-23 05:00"), gen("ami-1", "2026-11-22 05:00")]
    assert plan(iter(history), RetentionPolicy(keep_last=1)) == plan(history, RetentionPolicy(keep_last=1))


# --------------------------------------------------------------------------- policy validation


def test_policy_from_params_reads_module_options():
    params = {
        "keep_last": 3,
        "keep_hourly": None,
        "keep_daily": 7,
        "keep_weekly": 4,
        "keep_monthly": 0,
        "keep_yearly": None,
        "keep_within": "1d12h",
    }
    assert policy_from_params(params) == RetentionPolicy(keep_last=3, keep_daily=7, keep_weekly=4, keep_monthly=0, keep_within=timedelta(hours=36))


def test_policy_keep_within_accepts_seconds():
    assert policy_from_params({"keep_within": 3600}).keep_within == timedelta(hours=1)


def test_policy_describe_lists_rules_in_use():
    policy = policy_from_params({"keep_last": 3, "keep_daily": 7, "keep_yearly": 0, "keep_within": "2w"})
    assert policy.describe() == "keep_last=3, keep_daily=7, keep_yearly=0, keep_within=14d"


KEEPS_NOTHING = (
    "retention keeps nothing: give at least one of keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly greater than 0, or keep_within"
)


@pytest.mark.parametrize(
    "params, message",
    [
        (
            {"keep_dayly": 7},
            "unknown retention option 'keep_dayly': use one of keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within",
        ),
        ({"keep_daily": "7"}, "keep_daily must be a non-negative integer, got '7'"),
        ({"keep_weekly": 1.5}, "keep_weekly must be a non-negative integer, got 1.5"),
        ({"keep_monthly": -1}, "keep_monthly must be a non-negative integer, got -1"),
        ({"keep_yearly": True}, "keep_yearly must be a non-negative integer, got True"),
        ({"keep_last": 0}, "keep_last must be at least 1 when given, got 0"),
        ({"keep_last": -2}, "keep_last must be a non-negative integer, got -2"),
        ({"keep_within": "7x"}, "keep_within: invalid duration '7x': use a number and a unit (s, m, h, d, w), e.g. '90m', '7d' or '1d12h'"),
        ({"keep_within": "1y"}, "keep_within: invalid duration '1y': use a number and a unit (s, m, h, d, w), e.g. '90m', '7d' or '1d12h'"),
        ({"keep_within": "0s"}, "keep_within must be longer than 0s when given, got 0s"),
        ({}, KEEPS_NOTHING),
        ({"keep_last": None, "keep_within": None}, KEEPS_NOTHING),
        ({"keep_hourly": 0, "keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0, "keep_yearly": 0}, KEEPS_NOTHING),
    ],
)
def test_policy_from_params_refuses(params, message):
    with pytest.raises(ValueError) as caught:
        policy_from_params(params)
    assert str(caught.value) == message


def test_retention_policy_validates_on_construction_too():
    with pytest.raises(ValueError, match="keep_last must be at least 1 when given, got 0"):
        RetentionPolicy(keep_last=0)
    with pytest.raises(ValueError, match="retention keeps nothing"):
        RetentionPolicy()
    with pytest.raises(ValueError, match="keep_within must be a duration, got '30d'"):
        RetentionPolicy(keep_within="30d")


# --------------------------------------------------------------------------- keep_verified


def test_keep_verified_protects_the_newest_verified_generations_the_policy_would_delete():
    # Five daily backups; drills passed on 11-19, 11-20 and 11-21.
    # keep_last 2 keeps 11-23 and 11-22; keep_verified 2 adds the newest two verified: 11-21, 11-20.
    # 11-19 is verified too but the third one, so it goes, with the unverified 11-18.
    history = [gen("ami-%02d" % day, "2026-11-%02d 05:00" % day) for day in range(18, 24)]
    verified = {"ami-19": "2026-11-19T06:00:00Z", "ami-20": "2026-11-20T06:00:00Z", "ami-21": ""}
    protected = select_verified(history, verified, 2)
    assert protected == {"ami-21": "keep_verified (1 of 2): restore drill passed",
                         "ami-20": "keep_verified (2 of 2): restore drill passed 2026-11-20T06:00:00Z"}

    result = plan(history, policy_from_params({"keep_last": 2}), protected)
    assert_partition(result, history)
    assert ids(result.keep) == ["ami-23", "ami-22", "ami-21", "ami-20"]
    assert ids(result.delete) == ["ami-19", "ami-18"]
    assert result.reasons["ami-20"] == "keep_verified (2 of 2): restore drill passed 2026-11-20T06:00:00Z"


def test_keep_verified_counts_only_usable_managed_generations():
    history = [
        gen("ami-a", "2026-11-23 05:00", state="pending"),
        gen("ami-b", "2026-11-22 05:00", managed=False),
        gen("ami-c", "2026-11-21 05:00", state="failed"),
        gen("ami-d", "2026-11-20 05:00"),
        gen("ami-e", "2026-11-19 05:00"),
    ]
    verified = {key: "" for key in ("ami-a", "ami-b", "ami-c", "ami-d", "ami-e")}
    assert sorted(select_verified(history, verified, 1)) == ["ami-d"]
    assert select_verified(history, verified, 0) == {}
    assert select_verified(history, {}, 3) == {}


@pytest.mark.parametrize("count", [-1, 1.5, "2", True])
def test_keep_verified_refuses_a_count_that_is_not_a_non_negative_integer(count):
    with pytest.raises(ValueError) as caught:
        select_verified([], {}, count)
    assert str(caught.value) == "keep_verified must be a non-negative integer, got %r" % (count,)
