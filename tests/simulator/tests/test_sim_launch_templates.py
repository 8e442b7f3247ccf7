"""Launch template versions: SourceVersion inherits the source's launch parameters, UserData of a new
version launches; DescribeLaunchTemplateVersions across all templates with $Latest / $Default."""

import base64

import pytest
from botocore.exceptions import ClientError

SOURCE_DATA = {
    "ImageId": "ami-11111111111111111",
    "InstanceType": "t3.small",
    "UserData": base64.b64encode(b"#!/bin/sh\necho v1\n").decode(),
    "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 20, "SnapshotId": "snap-0123456789abcdef0"}}],
    "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "Role", "Value": "web"}]}],
    "MetadataOptions": {"HttpTokens": "required"},
}


def version_data(ec2, version):
    described = ec2.describe_launch_template_versions(LaunchTemplateName="web-lt", Versions=[str(version)])
    return described["LaunchTemplateVersions"][0]["LaunchTemplateData"]


def test_source_version_is_inherited_and_given_parameters_replace_it(sim, ec2):
    ec2.create_launch_template(LaunchTemplateName="web-lt", LaunchTemplateData=SOURCE_DATA)

    created = ec2.create_launch_template_version(
        LaunchTemplateName="web-lt", SourceVersion="1",
        LaunchTemplateData={"ImageId": "ami-22222222222222222", "MetadataOptions": {"HttpEndpoint": "disabled"}},
    )["LaunchTemplateVersion"]

    expected = dict(SOURCE_DATA, ImageId="ami-22222222222222222", MetadataOptions={"HttpEndpoint": "disabled"},
                    # Snapshots of inherited block device mappings are ignored, as the API reference says.
                    BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 20}}])
    assert created["VersionNumber"] == 2
    assert created["LaunchTemplateData"] == expected
    assert version_data(ec2, 2) == expected
    assert version_data(ec2, 1) == SOURCE_DATA


def test_latest_as_source_is_the_version_before_the_new_one(sim, ec2):
    ec2.create_launch_template(LaunchTemplateName="web-lt", LaunchTemplateData=SOURCE_DATA)
    ec2.create_launch_template_version(LaunchTemplateName="web-lt", SourceVersion="1",
                                       LaunchTemplateData={"InstanceType": "t3.large"})

    ec2.create_launch_template_version(LaunchTemplateName="web-lt", SourceVersion="$Latest",
                                       LaunchTemplateData={"ImageId": "ami-33333333333333333"})

    assert (version_data(ec2, 3)["InstanceType"], version_data(ec2, 3)["ImageId"]) == ("t3.large", "ami-33333333333333333")


def test_without_source_version_the_new_version_holds_only_the_given_parameters(sim, ec2):
    ec2.create_launch_template(LaunchTemplateName="web-lt", LaunchTemplateData=SOURCE_DATA)

    ec2.create_launch_template_version(LaunchTemplateName="web-lt", LaunchTemplateData={"ImageId": "ami-22222222222222222"})

    assert version_data(ec2, 2) == {"ImageId": "ami-22222222222222222"}


def test_an_unknown_source_version_is_refused_and_creates_nothing(sim, ec2):
    ec2.create_launch_template(LaunchTemplateName="web-lt", LaunchTemplateData=SOURCE_DATA)

    with pytest.raises(ClientError) as caught:
        ec2.create_launch_template_version(LaunchTemplateName="web-lt", SourceVersion="7", LaunchTemplateData={})

    assert caught.value.response["Error"]["Code"] == "InvalidLaunchTemplateId.VersionNotFound"
    assert len(ec2.describe_launch_template_versions(LaunchTemplateName="web-lt")["LaunchTemplateVersions"]) == 1


def test_an_auto_scaling_group_launches_from_a_new_version_with_user_data(sim, ec2, aws):
    ec2.create_launch_template(LaunchTemplateName="web-lt", LaunchTemplateData={"ImageId": "ami-11111111111111111",
                                                                                "InstanceType": "t3.small"})
    ec2.create_launch_template_version(LaunchTemplateName="web-lt", SourceVersion="1", LaunchTemplateData={
        "UserData": base64.b64encode(b"#!/bin/sh\necho v2\n").decode()})
    autoscaling = aws("autoscaling")

    autoscaling.create_auto_scaling_group(AutoScalingGroupName="web", MinSize=1, MaxSize=1, AvailabilityZones=["us-east-1a"],
                                          LaunchTemplate={"LaunchTemplateName": "web-lt", "Version": "2"})

    instance = autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"][0]["Instances"][0]
    assert instance["LaunchTemplate"]["Version"] == "2"
    assert ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][0]["InstanceType"] == "t3.small"


def test_latest_and_default_versions_of_every_template(sim, ec2):
    for name in ("a-lt", "b-lt"):
        ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={"ImageId": "ami-11111111111111111"})
        ec2.create_launch_template_version(LaunchTemplateName=name, LaunchTemplateData={"ImageId": "ami-22222222222222222"})

    versions = ec2.describe_launch_template_versions(Versions=["$Latest", "$Default"])["LaunchTemplateVersions"]

    found = sorted((v["LaunchTemplateName"], v["VersionNumber"], v["LaunchTemplateData"]["ImageId"]) for v in versions)
    assert found == [
        ("a-lt", 1, "ami-11111111111111111"), ("a-lt", 2, "ami-22222222222222222"),
        ("b-lt", 1, "ami-11111111111111111"), ("b-lt", 2, "ami-22222222222222222"),
    ]


def test_without_template_the_versions_must_be_latest_or_default(sim, ec2):
    try:
        ec2.describe_launch_template_versions(Versions=["1"])
    except ec2.exceptions.ClientError as error:
        assert error.response["Error"]["Code"] == "InvalidParameterValue"
    else:
        raise AssertionError("expected InvalidParameterValue")
