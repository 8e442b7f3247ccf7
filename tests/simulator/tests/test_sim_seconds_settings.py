"""The control endpoint's seconds settings, checked by one function for every section."""

import pytest

from simulator.seconds_settings import checked_seconds

KNOWN = {"step_seconds": 0.2, "wait_cap": None, "healthy_after": 0.5}


def test_numbers_become_floats_and_a_nullable_cap_keeps_none():
    given = {"step_seconds": 1, "wait_cap": None, "healthy_after": "0"}

    assert checked_seconds("autoscaling", KNOWN, given, nullable=("wait_cap",), positive=("step_seconds",)) == {
        "step_seconds": 1.0, "wait_cap": None, "healthy_after": 0.0}


@pytest.mark.parametrize("given, message", [
    ({"speed": 1, "step_seconds": 1}, "unknown autoscaling settings: ['speed']"),
    ({"healthy_after": -1}, "autoscaling healthy_after: give a number of seconds >= 0, got -1"),
    ({"healthy_after": None}, "autoscaling healthy_after: give a number of seconds >= 0, got None"),
    ({"step_seconds": 0}, "autoscaling step_seconds: give a number of seconds > 0, got 0"),
    ({"wait_cap": -0.5}, "autoscaling wait_cap: give a number of seconds >= 0, or null, got -0.5"),
])
def test_a_refused_setting_is_named_with_its_section(given, message):
    with pytest.raises(ValueError) as refused:
        checked_seconds("autoscaling", KNOWN, given, nullable=("wait_cap",), positive=("step_seconds",))
    assert str(refused.value) == message
