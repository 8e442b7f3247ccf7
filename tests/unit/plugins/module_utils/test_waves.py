"""Wave planning: canary, wave sizes, and target-group minimums that shrink a wave."""

import pytest

from ansible_collections.cloudops.aws.plugins.module_utils.waves import Size
from ansible_collections.cloudops.aws.plugins.module_utils.waves import WavePlanError
from ansible_collections.cloudops.aws.plugins.module_utils.waves import out_of_service_allowance
from ansible_collections.cloudops.aws.plugins.module_utils.waves import plan_waves

IDS = ["i-%02d" % n for n in range(12)]


def test_a_canary_then_waves_of_the_size_given():
    waves = plan_waves(IDS, {}, {}, canary=1, wave_size=Size.parse("wave_size", "4"))
    assert [len(wave) for wave in waves] == [1, 4, 4, 3]
    assert [i for wave in waves for i in wave] == IDS


def test_a_percentage_is_of_all_instances_rounded_down_and_at_least_one():
    assert [len(w) for w in plan_waves(IDS, {}, {}, canary=0, wave_size=Size.parse("wave_size", "25%"))] == [3, 3, 3, 3]
    assert [len(w) for w in plan_waves(IDS[:3], {}, {}, canary=0, wave_size=Size.parse("wave_size", "10%"))] == [1, 1, 1]


def test_a_wave_is_shrunk_so_a_target_group_keeps_its_minimum():
    groups_of = {i: ("tg-web",) for i in IDS[:6]}
    allowance = out_of_service_allowance({"tg-web": 6}, Size.parse("min_healthy", "4"))
    waves = plan_waves(IDS, groups_of, allowance, canary=1, wave_size=Size.parse("wave_size", "6"))

    assert allowance == {"tg-web": 2}
    for wave in waves:
        assert sum(1 for i in wave if i in groups_of) <= 2
    # Instances behind no load balancer fill the waves the limit leaves room in.
    assert waves[1] == ["i-01", "i-02", "i-06", "i-07", "i-08", "i-09"]
    assert sorted(i for wave in waves for i in wave) == IDS


def test_a_percentage_minimum_is_rounded_up():
    assert out_of_service_allowance({"tg": 3}, Size.parse("min_healthy", "50%")) == {"tg": 1}


def test_a_minimum_that_keeps_every_target_in_service_is_refused():
    with pytest.raises(WavePlanError, match="min_healthy 2 of target group tg-db keeps all of its 2 healthy target"):
        out_of_service_allowance({"tg-db": 2, "tg-web": 6}, Size.parse("min_healthy", "2"))


@pytest.mark.parametrize("text, message", [
    ("0", "wave_size: '0' takes nothing"),
    ("0%", "wave_size: '0%' takes nothing"),
    ("150%", "wave_size: '150%' is above 100%"),
    ("many", "wave_size: 'many' is neither a count nor a percentage"),
    ("-1", "wave_size: '-1' is neither a count nor a percentage"),
])
def test_bad_sizes_are_refused_naming_the_option_and_value(text, message):
    with pytest.raises(ValueError) as error:
        Size.parse("wave_size", text)
    assert str(error.value).startswith(message)


def test_zero_is_allowed_where_the_caller_says_so():
    assert Size.parse("max_failures", "0", allow_zero=True).of(10) == 0


def test_a_group_with_nothing_to_keep_in_service_limits_no_wave():
    """min_healthy 0, or a group that takes no traffic yet (a green fleet behind a weight of 0): no healthy target to keep."""
    groups_of = {i: ("tg-green",) for i in IDS[:4]}
    for healthy, min_healthy in ((4, "0"), (0, "50%"), (0, "0")):
        allowance = out_of_service_allowance({"tg-green": healthy}, Size.parse("min_healthy", min_healthy, allow_zero=True))
        assert allowance == {}
        assert plan_waves(IDS[:4], groups_of, allowance, canary=0, wave_size=Size.parse("wave_size", "100%")) == [IDS[:4]]
