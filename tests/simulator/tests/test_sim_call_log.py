"""Every AWS call is recorded, whatever its protocol; control calls are not."""


def test_ec2_calls_are_recorded_with_their_resource_ids(sim, ec2, instance):
    sim.clear_log()
    image_id = ec2.create_image(InstanceId=instance["id"], Name="logged")["ImageId"]
    ec2.describe_images(ImageIds=[image_id])

    calls = sim.calls()
    assert [c["action"] for c in calls] == ["CreateImage", "DescribeImages"]
    create, describe = calls
    assert (create["service"], create["region"], create["status"], create["error_code"]) == (
        "ec2", "us-east-1", 200, None)
    assert create["resource_ids"] == [instance["id"]]
    assert describe["resource_ids"] == [image_id]
    assert create["seq"] < describe["seq"] and create["time"] <= describe["time"]
    assert create["duration_ms"] >= 0


def test_json_and_query_protocol_calls_are_recorded(sim, aws):
    aws("ssm").describe_parameters()
    aws("autoscaling").describe_auto_scaling_groups()
    aws("sts").get_caller_identity()

    assert [(c["service"], c["action"]) for c in sim.calls()] == [
        ("ssm", "DescribeParameters"),
        ("autoscaling", "DescribeAutoScalingGroups"),
        ("sts", "GetCallerIdentity"),
    ]


def test_other_regions_are_recorded_with_their_region(sim, aws):
    aws("ec2", region="eu-west-1").describe_snapshots(OwnerIds=["self"])
    assert sim.calls()[-1]["region"] == "eu-west-1"


def test_errors_are_recorded_with_their_code(sim, ec2):
    try:
        ec2.describe_images(ImageIds=["ami-0123456789abcdef0"])
    except ec2.exceptions.ClientError:
        pass
    call = sim.calls()[-1]
    assert (call["status"], call["error_code"]) == (400, "InvalidAMIID.NotFound")


def test_since_and_action_select_calls(sim, ec2):
    ec2.describe_instances()
    mark = sim.calls()[-1]["seq"]
    ec2.describe_volumes()
    ec2.describe_instances()

    assert [c["action"] for c in sim.calls(since=mark)] == ["DescribeVolumes", "DescribeInstances"]
    assert len(sim.calls(action="DescribeInstances")) == 2


def test_clearing_the_log_keeps_sequence_numbers_growing(sim, ec2):
    ec2.describe_instances()
    last = sim.calls()[-1]["seq"]
    sim.clear_log()
    assert sim.calls() == []
    ec2.describe_instances()
    assert sim.calls()[0]["seq"] > last


def test_control_calls_and_seeding_are_not_recorded(sim):
    sim.seed({"instances": [{"name": "quiet"}]})
    sim.health()
    sim.config()
    assert sim.calls() == []
