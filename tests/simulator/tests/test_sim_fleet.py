"""Seeding a fleet: instances with attached EBS volumes, states, launch templates, ASGs."""

from pathlib import Path

from simulator.fleet import load

DEMO = Path(__file__).resolve().parents[1] / "fleets" / "demo.yml"


def instances_by_name(ec2):
    reservations = ec2.describe_instances()["Reservations"]
    return {
        next(t["Value"] for t in i["Tags"] if t["Key"] == "Name"): i
        for r in reservations for i in r["Instances"]
    }


def test_demo_fleet_is_seeded_as_described(sim, ec2, aws):
    seeded = sim.seed(load(DEMO))

    assert sorted(seeded["instances"]) == ["db-1", "db-2", "db-old", "web-1", "web-2", "web-3"]
    instances = instances_by_name(ec2)
    assert {name: i["State"]["Name"] for name, i in instances.items()} == {
        "web-1": "running", "web-2": "running", "web-3": "running",
        "db-1": "running", "db-2": "stopped", "db-old": "terminated",
    }
    db = instances["db-1"]
    assert {t["Key"]: t["Value"] for t in db["Tags"]}["Role"] == "db"
    assert db["RootDeviceName"] == "/dev/xvda"
    assert [m["DeviceName"] for m in db["BlockDeviceMappings"]] == ["/dev/xvda", "/dev/sdf", "/dev/sdg"]
    assert seeded["launch_templates"]["web-lt"].startswith("lt-")
    assert seeded["auto_scaling_groups"] == ["web-asg"]
    group = aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["web-asg"])["AutoScalingGroups"][0]
    assert group["LaunchTemplate"]["LaunchTemplateName"] == "web-lt"
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (0, 2, 0)


def test_volumes_are_attached_ebs_volumes_with_their_tags(sim, ec2):
    seeded = sim.seed(load(DEMO))

    volumes = ec2.describe_volumes(VolumeIds=seeded["volumes"]["db-1"])["Volumes"]
    by_device = {v["Attachments"][0]["Device"]: v for v in volumes}
    assert {d: v["Size"] for d, v in by_device.items()} == {"/dev/xvda": 20, "/dev/sdf": 100, "/dev/sdg": 50}
    for volume in volumes:
        assert volume["Attachments"][0]["InstanceId"] == seeded["instances"]["db-1"]
        assert volume["State"] == "in-use"
    assert {"Key": "Data", "Value": "yes"} in by_device["/dev/sdf"]["Tags"]


def test_count_expands_names_and_instances_share_one_base_image(sim, ec2):
    seeded = sim.seed({"instances": [{"name": "w", "count": 3}]})

    assert sorted(seeded["instances"]) == ["w-1", "w-2", "w-3"]
    images = ec2.describe_images(Owners=["self"])["Images"]
    assert [i["Name"] for i in images] == ["base-image"]
    assert {i["ImageId"] for i in instances_by_name(ec2).values()} == {images[0]["ImageId"]}


def test_launch_template_uses_the_given_image(sim, ec2):
    seeded = sim.seed({"launch_templates": [{"name": "app-lt", "image_id": "ami-0123456789abcdef0"}]})

    version = ec2.describe_launch_template_versions(LaunchTemplateId=seeded["launch_templates"]["app-lt"])
    assert version["LaunchTemplateVersions"][0]["LaunchTemplateData"]["ImageId"] == "ami-0123456789abcdef0"


def test_cli_seeds_the_fleet_file_at_start_up():
    import boto3

    from simulator.client import running_simulator

    with running_simulator(fleet=DEMO) as started:
        ec2 = boto3.client("ec2", **{"endpoint_url": started.endpoint, "region_name": "us-east-1",
                                     "aws_access_key_id": "testing", "aws_secret_access_key": "testing"})
        assert len(instances_by_name(ec2)) == 6
        assert [c["action"] for c in started.calls()] == ["DescribeInstances"]
