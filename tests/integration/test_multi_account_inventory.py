"""inventories/multi-account with playbooks/backup.yml in check mode: each host acts in its own account and Region,
reached by an assumed role, a profile or the controller's own credentials (docs/credentials.md)."""

import json
import subprocess
import sys
from pathlib import Path

import boto3

from conftest import REPO
from conftest import ansible_env

INVENTORY = REPO / "inventories" / "multi-account"
# The accounts of the example: production through its role, staging through a profile, tooling the controller's own.
ACCOUNTS = {"production-eu-west-1": ("111111111111", "eu-west-1"), "production-us-east-1": ("111111111111", "us-east-1"),
            "staging-eu-west-1": ("222222222222", "eu-west-1"), "tooling-eu-west-1": ("123456789012", "eu-west-1")}


def client(sim, service, region, **credentials):
    keys = credentials or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(service, endpoint_url=sim.endpoint, region_name=region, **keys)


def in_account(sim, account):
    found = client(sim, "sts", "us-east-1").assume_role(RoleArn="arn:aws:iam::%s:role/setup" % account, RoleSessionName="setup")["Credentials"]
    return {"aws_access_key_id": found["AccessKeyId"], "aws_secret_access_key": found["SecretAccessKey"], "aws_session_token": found["SessionToken"]}


def instance_to_back_up(sim, account, region):
    ec2 = client(sim, "ec2", region, **in_account(sim, account))
    image_id = ec2.register_image(Name="base", RootDeviceName="/dev/xvda", Architecture="x86_64", VirtualizationType="hvm")["ImageId"]
    return ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "Backup", "Value": "daily"}]}])["Instances"][0]["InstanceId"]


def test_each_host_backs_up_its_own_account_and_region_with_its_credentials(sim, tmp_path):
    instances = {host: instance_to_back_up(sim, *place) for host, place in ACCOUNTS.items()}
    staging_user = client(sim, "iam", "us-east-1", **in_account(sim, "222222222222"))
    staging_user.create_user(UserName="cloudops")
    key = staging_user.create_access_key(UserName="cloudops")["AccessKey"]
    # The controller's own credentials stand in for an instance role: the default profile, not the environment (with
    # AWS_ACCESS_KEY_ID set, amazon.aws refuses a host's profile: "Passing both a profile and access tokens").
    (tmp_path / "credentials").write_text("[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
                                          "[staging]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (key["AccessKeyId"], key["SecretAccessKey"]))
    sim.clear_log()
    env = {name: value for name, value in ansible_env(sim).items() if name not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"), AWS_CONFIG_FILE=str(tmp_path / "config"))

    process = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(INVENTORY), str(REPO / "playbooks" / "backup.yml"), "--check"],
        env=env, capture_output=True, text=True, timeout=300, check=False)

    report = json.loads(process.stdout)
    failed = [(task["task"]["name"], host, result.get("msg")) for task in report["plays"][0]["tasks"] for host, result in task["hosts"].items()
              if result.get("failed")]
    assert process.returncode == 0, failed
    planned = {}
    for task in report["plays"][0]["tasks"]:
        for host, result in task["hosts"].items():
            for image in result.get("images_created", []):
                planned.setdefault(host, []).append(image["instance_id"])
    # Each host would image exactly the instance of its own account and Region, nothing of the others.
    assert planned == {host: [instance_id] for host, instance_id in instances.items()}
    assert sorted(call["region"] for call in sim.calls(action="AssumeRole")) == ["eu-west-1", "us-east-1"]
    assert [call for call in sim.calls() if call["action"] in ("CreateImage", "DeregisterImage", "DeleteSnapshot")] == []
