"""Injected faults answer with real AWS error codes, encoded per protocol."""

import pytest
from botocore.exceptions import ClientError


def error_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as error:
        call(*args, **kwargs)
    return error.value.response


def test_fault_answers_the_aws_error_for_ec2(sim, ec2):
    sim.add_fault(action="DescribeImages", code="InternalError", message="We encountered an internal error.")

    response = error_of(ec2.describe_images, Owners=["self"])

    assert response["Error"] == {"Code": "InternalError", "Message": "We encountered an internal error."}
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert sim.calls()[-1]["error_code"] == "InternalError"


def test_fault_count_limits_how_often_it_fires(sim, ec2):
    sim.add_fault(action="DescribeInstances", code="RequestLimitExceeded", count=2)

    assert error_of(ec2.describe_instances)["ResponseMetadata"]["HTTPStatusCode"] == 503
    error_of(ec2.describe_instances)
    ec2.describe_instances()

    [rule] = sim.faults()
    assert (rule["remaining"], rule["fired"]) == (0, 2)


def test_fault_matches_one_resource_only(sim, ec2):
    seeded = sim.seed({"instances": [{"name": "ok"}, {"name": "broken"}]})["instances"]
    sim.add_fault(action="CreateImage", code="IncorrectInstanceState", match=seeded["broken"])

    ec2.create_image(InstanceId=seeded["ok"], Name="fine")
    response = error_of(ec2.create_image, InstanceId=seeded["broken"], Name="not-fine")

    assert response["Error"]["Code"] == "IncorrectInstanceState"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_fault_after_the_effect_loses_the_response_only(sim, ec2, instance):
    sim.add_fault(action="CreateImage", code="InternalError", count=1, after=True)

    error_of(ec2.create_image, InstanceId=instance["id"], Name="lost-response")

    images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": ["lost-response"]}])["Images"]
    assert len(images) == 1
    retry = error_of(ec2.create_image, InstanceId=instance["id"], Name="lost-response")
    assert retry["Error"]["Code"] == "InvalidAMIName.Duplicate"


def test_wildcard_fault_with_zero_probability_never_fires(sim, ec2):
    sim.add_fault(action="*", code="Unavailable", probability=0)
    for attempt in range(10):
        assert ec2.describe_instances(), attempt
    assert sim.faults()[0]["fired"] == 0


def test_fault_status_can_be_given(sim, ec2):
    sim.add_fault(action="DescribeVolumes", code="Unavailable", status=502)
    assert error_of(ec2.describe_volumes)["ResponseMetadata"]["HTTPStatusCode"] == 502


def test_fault_is_encoded_for_json_protocols(sim, aws):
    sim.add_fault(action="SendCommand", code="InvalidInstanceId", message="Instances not in a valid state")

    response = error_of(aws("ssm").send_command, InstanceIds=["i-0123456789abcdef0"], DocumentName="AWS-RunShellScript")

    assert response["Error"]["Code"] == "InvalidInstanceId"
    assert response["Error"]["Message"] == "Instances not in a valid state"


def test_fault_is_encoded_for_query_protocols(sim, aws):
    sim.add_fault(action="DescribeAutoScalingGroups", code="Throttling", message="Rate exceeded")

    response = error_of(aws("autoscaling").describe_auto_scaling_groups)

    assert response["Error"]["Code"] == "Throttling"
    assert response["Error"]["Message"] == "Rate exceeded"


def test_clearing_faults_removes_them(sim, ec2):
    sim.add_fault(action="*", code="InternalError")
    sim.clear_faults()
    assert sim.faults() == []
    ec2.describe_instances()


def test_a_rule_without_a_code_is_refused(sim):
    from simulator.client import SimulatorError

    with pytest.raises(SimulatorError, match="400"):
        sim.add_fault(action="CreateImage")
