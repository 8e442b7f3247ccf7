"""DescribeLaunchTemplateVersions across all templates with $Latest / $Default."""


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
