"""Configurable latency per call, by default and per action."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError


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
    call = sim.calls(action="DescribeVolumes")[-1]
    assert call["duration_ms"] >= 200 > call["cpu_ms"]  # waiting costs no CPU time


def test_reset_removes_latency(sim, ec2):
    # Far from the latency, so that a busy machine's slow answer (0.58 s once) is not taken for it.
    sim.configure(latency={"default": 5})
    sim.reset()
    assert timed(ec2.describe_instances) < 2.5


def test_a_call_waiting_out_its_latency_at_a_reset_is_answered_at_once_and_not_logged(sim, ec2, instance):
    # As a killed run's stalled call, which must not act on or log into the next test's world.
    volume = instance["volumes"][0]
    sim.configure(latency={"actions": {"CreateSnapshot": 60}})
    with ThreadPoolExecutor(1) as pool:
        stalled = pool.submit(ec2.create_snapshot, VolumeId=volume)
        time.sleep(0.5)

        sim.reset()

        with pytest.raises(ClientError) as error:
            stalled.result(timeout=10)
    assert error.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert sim.calls() == []
