"""Configurable latency per call, by default and per action."""

import time


def timed(call):
    started = time.monotonic()
    call()
    return time.monotonic() - started


def test_latency_per_action_and_default(sim, ec2):
    sim.configure(latency={"default": 0.05, "actions": {"DescribeImages": 0.4}})

    assert timed(lambda: ec2.describe_images(Owners=["self"])) >= 0.4
    assert 0.05 <= timed(ec2.describe_instances) < 0.4
    assert sim.config()["latency"] == {"default": 0.05, "actions": {"DescribeImages": 0.4}}


def test_latency_is_recorded_in_the_log(sim, ec2):
    sim.configure(latency={"actions": {"DescribeVolumes": 0.2}})
    ec2.describe_volumes()
    assert sim.calls(action="DescribeVolumes")[-1]["duration_ms"] >= 200


def test_reset_removes_latency(sim, ec2):
    sim.configure(latency={"default": 1})
    sim.reset()
    assert timed(ec2.describe_instances) < 0.5
