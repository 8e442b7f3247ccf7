"""StartInstances and StopInstances (and hibernation) as the EC2 API reference describes them."""

import time

import pytest
from botocore.exceptions import ClientError


def fleet(sim, *specs):
    return sim.seed({"instances": list(specs)})["instances"]


def state_of(ec2, instance_id):
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]


def wait_for(ec2, instance_id, wanted, timeout=5):
    deadline = time.monotonic() + timeout
    while state_of(ec2, instance_id) != wanted:
        assert time.monotonic() < deadline, "%s never %s" % (instance_id, wanted)
        time.sleep(0.05)


def code_of(error):
    return error.value.response["Error"]["Code"]


def test_stop_then_start_pass_through_stopping_and_pending(sim, ec2):
    ids = fleet(sim, {"name": "a"})
    # Long enough that the describes right after each call still see the transition on a loaded machine
    # (0.3 s was not, in a full parallel run).
    sim.configure(instances={"start_seconds": 2, "stop_seconds": 2})

    answer = ec2.stop_instances(InstanceIds=[ids["a"]])["StoppingInstances"][0]
    assert answer["PreviousState"]["Name"] == "running" and answer["CurrentState"] == {"Code": 64, "Name": "stopping"}
    assert state_of(ec2, ids["a"]) == "stopping"
    # The state filter sees the same clock as the describe.
    assert ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["stopping"]}])["Reservations"]
    wait_for(ec2, ids["a"], "stopped")
    reason = ec2.describe_instances(InstanceIds=[ids["a"]])["Reservations"][0]["Instances"][0]["StateReason"]
    assert reason["Code"] == "Client.UserInitiatedShutdown"

    answer = ec2.start_instances(InstanceIds=[ids["a"]])["StartingInstances"][0]
    assert answer["PreviousState"]["Name"] == "stopped" and answer["CurrentState"] == {"Code": 0, "Name": "pending"}
    assert state_of(ec2, ids["a"]) == "pending"
    wait_for(ec2, ids["a"], "running")


def test_without_delays_the_answer_still_says_stopping_and_the_state_is_reached_at_once(sim, ec2):
    ids = fleet(sim, {"name": "a"})
    answer = ec2.stop_instances(InstanceIds=[ids["a"]])["StoppingInstances"][0]
    assert answer["CurrentState"]["Name"] == "stopping" and state_of(ec2, ids["a"]) == "stopped"


def test_an_instance_already_there_is_left_as_it_is(sim, ec2):
    ids = fleet(sim, {"name": "up"}, {"name": "down", "state": "stopped"})
    started = ec2.start_instances(InstanceIds=[ids["up"]])["StartingInstances"][0]
    stopped = ec2.stop_instances(InstanceIds=[ids["down"]])["StoppingInstances"][0]
    assert started["PreviousState"]["Name"] == started["CurrentState"]["Name"] == "running"
    assert stopped["PreviousState"]["Name"] == stopped["CurrentState"]["Name"] == "stopped"


def test_a_request_with_one_instance_in_the_wrong_state_changes_none(sim, ec2):
    ids = fleet(sim, {"name": "a"}, {"name": "b"}, {"name": "c", "state": "stopped"})
    sim.configure(instances={"stop_seconds": 2, "start_seconds": 2})
    ec2.stop_instances(InstanceIds=[ids["a"]])
    ec2.start_instances(InstanceIds=[ids["c"]])

    with pytest.raises(ClientError) as starting:
        ec2.start_instances(InstanceIds=[ids["a"], ids["b"]])
    with pytest.raises(ClientError) as stopping:
        ec2.stop_instances(InstanceIds=[ids["b"], ids["c"]])

    assert code_of(starting) == code_of(stopping) == "IncorrectInstanceState"
    assert ids["a"] in str(starting.value) and ids["c"] in str(stopping.value)
    assert state_of(ec2, ids["b"]) == "running"


def test_hibernate_needs_hibernation_configured_at_launch(sim, ec2):
    ids = fleet(sim, {"name": "sleeper", "hibernation": True}, {"name": "plain"})
    described = ec2.describe_instances(InstanceIds=[ids["plain"]])["Reservations"][0]["Instances"][0]
    assert described["HibernationOptions"] == {"Configured": False}

    with pytest.raises(ClientError) as refused:
        ec2.stop_instances(InstanceIds=[ids["sleeper"], ids["plain"]], Hibernate=True)
    assert code_of(refused) == "UnsupportedHibernationConfiguration" and ids["plain"] in str(refused.value)
    assert state_of(ec2, ids["sleeper"]) == "running"

    ec2.stop_instances(InstanceIds=[ids["sleeper"]], Hibernate=True)
    slept = ec2.describe_instances(InstanceIds=[ids["sleeper"]])["Reservations"][0]["Instances"][0]
    assert slept["State"]["Name"] == "stopped" and slept["StateReason"]["Code"] == "Client.UserInitiatedHibernate"


def test_delayed_instances_take_their_own_time_until_reset(sim, ec2):
    ids = fleet(sim, {"name": "slow"}, {"name": "quick"})
    sim.delay_instances([ids["slow"]], 30)
    ec2.stop_instances(InstanceIds=[ids["slow"], ids["quick"]])
    assert state_of(ec2, ids["slow"]) == "stopping" and state_of(ec2, ids["quick"]) == "stopped"
    assert sim.config()["instances"]["delayed_instances"] == {ids["slow"]: 30.0}

    sim.reset()
    assert sim.config()["instances"] == {"start_seconds": 0.0, "stop_seconds": 0.0, "delayed_instances": {}}


def test_terminating_a_stopping_instance_ends_the_transition(sim, ec2):
    ids = fleet(sim, {"name": "a"})
    sim.configure(instances={"stop_seconds": 0.2})
    ec2.stop_instances(InstanceIds=[ids["a"]])
    ec2.terminate_instances(InstanceIds=[ids["a"]])
    time.sleep(0.3)
    assert state_of(ec2, ids["a"]) == "terminated"


def test_bad_settings_are_refused(sim):
    for bad in ({"instances": {"stop_seconds": -1}}, {"instances": {"reboot_seconds": 1}}):
        with pytest.raises(Exception) as refused:
            sim.configure(**bad)
        assert "instances" in str(refused.value)
