"""Start-up, health, configuration and reset."""

import subprocess
import sys
from pathlib import Path

import pytest

from simulator.client import SimulatorError, running_simulator

TESTS = Path(__file__).resolve().parents[2]


def test_health(sim):
    assert sim.health() == {"ok": True}


def test_cli_announces_the_port_it_bound():
    process = subprocess.Popen([sys.executable, "-m", "simulator", "--port", "0"], cwd=TESTS,
                               stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("simulator listening on http://127.0.0.1:")
        assert int(line.rsplit(":", 1)[1]) > 0
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_start_options_become_the_configuration_reset_returns_to():
    with running_simulator(ami_available_after=2.5, snapshot_completed_after=1.5, throttling=True) as started:
        started.configure(ami_available_after=0, throttling={"enabled": False})
        started.reset()
        config = started.config()
    assert (config["ami_available_after"], config["snapshot_completed_after"]) == (2.5, 1.5)
    assert config["throttling"]["enabled"] is True


def test_env_points_clients_at_the_simulator(sim):
    assert sim.env["AWS_ENDPOINT_URL"] == sim.endpoint
    assert sim.env["AWS_DEFAULT_REGION"] == sim.env["AWS_REGION"] == "us-east-1"
    assert sim.env["AWS_ACCESS_KEY_ID"] and sim.env["AWS_SECRET_ACCESS_KEY"]


def test_reset_empties_aws_state_and_simulator_state(sim, ec2, instance):
    ec2.create_image(InstanceId=instance["id"], Name="before-reset")
    sim.add_fault(action="DescribeVolumes", code="InternalError")
    sim.configure(latency={"default": 0.01}, ami_available_after=5)
    sim.fail_images(instance_id=instance["id"])

    sim.reset()

    assert ec2.describe_instances()["Reservations"] == []
    assert ec2.describe_images(Owners=["self"])["Images"] == []
    assert ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []
    assert sim.faults() == [] and sim.calls()[-1]["action"] == "DescribeSnapshots"
    assert sim.config()["latency"] == {"default": 0.0, "actions": {}}
    assert sim.config()["ami_available_after"] == 0.0


def test_unknown_configuration_is_refused(sim):
    with pytest.raises(SimulatorError, match="400"):
        sim.configure(ami_availble_after=1)
