"""The procedures of docs/iam/ run by IAM users that hold just their policy, on the simulator with IAM
checks on (docs/simulator.md, IAM authorization).

A *scenario* is one inventory host: its own Region (so scenarios run side by side in one
ansible-playbook, with forks, without seeing each other's resources), its own IAM user whose policy
is the procedure's document or that document with one action taken out, and, for the DR copy, its
own destination account whose role holds the destination policy (or it without one action).
`run` seeds every scenario's Region, creates the users and roles, switches the IAM checks on, runs
the procedure's playbook once for all scenarios, switches the checks off again and returns each
host's outcome with the calls made in its Region.
"""

import copy
import datetime
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from conftest import REPO
from conftest import ansible_env

POLICIES = REPO / "docs" / "iam"
PLAYS = Path(__file__).resolve().parent / "iam_plays"
# Every Region the simulator serves: each scenario has one (a DR scenario two) to itself.
REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-central-2",
    "eu-north-1", "eu-south-1", "eu-south-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
    "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-east-1", "ca-central-1",
    "ca-west-1", "sa-east-1", "me-south-1", "me-central-1", "af-south-1", "il-central-1", "mx-central-1",
    "ap-southeast-5", "ap-southeast-7", "ap-east-2", "ap-southeast-6",
]
# The DR account of the policy documents; each DR scenario replaces it with an account of its own.
DOCUMENTED_DR_ACCOUNT = "210987654321"
# Signing names that differ from the IAM service prefix (the call log has the signing name).
IAM_PREFIX = {"monitoring": "cloudwatch"}
# The collection calls it, and AWS lets every principal call it: no policy names it.
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}


def load_policy(name):
    return json.loads((POLICIES / (name + ".json")).read_text())


def policy_actions(policy):
    """The actions a policy document allows, each once, in document order."""
    found = []
    for statement in policy["Statement"]:
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            if action not in found:
                found.append(action)
    return found


def without_action(policy, action):
    """The policy with `action` taken out of every statement (a statement left with none goes)."""
    reduced = copy.deepcopy(policy)
    statements = []
    for statement in reduced["Statement"]:
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        kept = [a for a in actions if a != action]
        if kept:
            statement["Action"] = kept
            statements.append(statement)
    reduced["Statement"] = statements
    return reduced


def iam_action(call):
    """The IAM action of a logged call; REST calls are logged by method and path (S3: GET of a key is GetObject)."""
    if call["service"] == "s3" and call["action"].startswith("GET /") and "/" in call["action"][5:].strip("/"):
        return "s3:GetObject"
    return "%s:%s" % (IAM_PREFIX.get(call["service"], call["service"]), call["action"])


@dataclass
class Scenario:
    """One host: a user with `policy` in its own Region; `removed` names the action taken out, if any."""
    host: str
    policy: dict
    removed: str = None
    role_policy: dict = None
    region: str = None
    account: str = None  # the DR destination account of this scenario
    dr_region: str = None  # the DR destination Region of this scenario
    facts: dict = field(default_factory=dict)


@dataclass
class Outcome:
    scenario: Scenario
    rc_failed: bool
    failed_task: str
    failure: str  # the failed task's whole result, as JSON text
    calls: list  # the calls made in the scenario's Region (and, for DR, in its DR Region)
    result: str  # the last task's result, as JSON text
    warnings: list  # the warnings of every task of the run

    def actions(self):
        return {iam_action(call) for call in self.calls}


def admin_client(sim, service, region="us-east-1", credentials=None):
    keys = credentials or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(service, endpoint_url=sim.endpoint, region_name=region, **keys)


def account_credentials(sim, account):
    """Credentials that act in `account` (the simulator's STS answers any role ARN while IAM checks are off)."""
    found = admin_client(sim, "sts").assume_role(RoleArn="arn:aws:iam::%s:role/admin" % account, RoleSessionName="setup")["Credentials"]
    return {"aws_access_key_id": found["AccessKeyId"], "aws_secret_access_key": found["SecretAccessKey"],
            "aws_session_token": found["SessionToken"]}


def create_user(sim, name, policy):
    iam = admin_client(sim, "iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
    return iam.create_access_key(UserName=name)["AccessKey"]


def create_role(sim, account, name, policy, trusted_account):
    iam = admin_client(sim, "iam", credentials=account_credentials(sim, account))
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"AWS": "arn:aws:iam::%s:root" % trusted_account}}]}
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.put_role_policy(RoleName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
    return role["Arn"]


class Procedure:
    """What differs per procedure: its documents, its playbook, its world and what success looks like."""

    name = None
    policy_name = None
    role_policy_name = None  # the DR destination role's document
    playbook = None
    extra_vars = {}
    # False for a procedure that runs only a part of its document (PatchRollback): its run is not expected to call
    # every action, and only the actions it calls are removed in turn.
    covers_document = True

    def policy(self):
        return load_policy(self.policy_name)

    def role_policy(self):
        return load_policy(self.role_policy_name) if self.role_policy_name else None

    def seed(self, sim, scenario):
        """Build the scenario's world in its Region (IAM checks off); facts for `check` go to scenario.facts."""
        raise NotImplementedError

    def host_vars(self, scenario):
        return {}

    def personal_policy(self, policy, scenario):
        """The scenario's copy of a document: its own names where the document has an example's."""
        return json.loads(json.dumps(policy).replace(DOCUMENTED_DR_ACCOUNT, scenario.account))

    def faults(self, scenario):
        """Fault rules of the scenario's run (/_sim/faults)."""
        return []

    def check(self, sim, outcome):
        """Assert the procedure did its work in the scenario's Region (IAM checks off again)."""
        raise NotImplementedError

    def scenario_calls(self, calls, scenario):
        return [call for call in calls if call["region"] in (scenario.region, scenario.dr_region)]


def scenarios_for(procedure, removals=(), wrong_policies=None):
    """The full-policy scenario, one per removed action, and one per (name, policy) given as wrong."""
    policy, role_policy = procedure.policy(), procedure.role_policy()
    source_actions = policy_actions(policy)
    found = [Scenario("%s-full" % procedure.name, policy, role_policy=role_policy)]
    for action in removals:
        in_source = action in source_actions
        found.append(Scenario("%s-without-%s" % (procedure.name, action.replace(":", "-")),
                              without_action(policy, action) if in_source else policy, removed=action,
                              role_policy=role_policy if in_source else without_action(role_policy, action)))
    for name, wrong in (wrong_policies or {}).items():
        found.append(Scenario("%s-%s" % (procedure.name, name), wrong, role_policy=role_policy))
    return found


def regions_needed(plan):
    return sum((2 if procedure.role_policy_name else 1) * len(scenarios) for procedure, scenarios in plan)


def _place(plan):
    """Give every scenario its Region(s) and DR account."""
    if regions_needed(plan) > len(REGIONS):
        raise ValueError("%d Regions needed, the simulator has %d: split the plan" % (regions_needed(plan), len(REGIONS)))
    regions = iter(REGIONS)
    for number, (procedure, scenario) in enumerate((p, s) for p, group in plan for s in group):
        scenario.region = next(regions)
        scenario.account = "2100000000%02d" % number
        if procedure.role_policy_name:
            scenario.dr_region = next(regions)


def _playbook(procedure, scenarios, workdir, env):
    hosts = {s.host: dict(procedure.host_vars(s), aws_region=s.region, aws_profile=s.host) for s in scenarios}
    inventory = {"aws_targets": {"hosts": hosts, "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}
    path = workdir / ("%s.json" % procedure.name)
    path.write_text(json.dumps(inventory))
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(path), "-f", str(len(scenarios)),
         str(procedure.playbook), "-e", json.dumps(procedure.extra_vars)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _outcomes(procedure, scenarios, stdout, stderr, calls):
    try:
        report = json.loads(stdout)
    except ValueError as error:
        raise AssertionError("%s: ansible-playbook gave no JSON report:\n%s\n%s" % (procedure.name, stdout[-4000:], stderr[-4000:])) from error
    found = {}
    for scenario in scenarios:
        failed_task, failure, last, warnings = None, "", {}, []
        for play in report["plays"]:
            for task in play["tasks"]:
                result = task["hosts"].get(scenario.host)
                if result and result.get("failed") and failed_task is None:
                    failed_task, failure = task["task"]["name"], json.dumps(result)
                last = result or last
                warnings += (result or {}).get("warnings", [])
        stats = report["stats"].get(scenario.host, {})
        found[scenario.host] = Outcome(scenario, bool(stats.get("failures") or stats.get("unreachable")), failed_task, failure,
                                       procedure.scenario_calls(calls, scenario), json.dumps(last), warnings)
    return found


def run(sim, plan, workdir, timeout=300):
    """Run every procedure of `plan` ([(procedure, scenarios)]) at once, each scenario in its own Region,
    one ansible-playbook per procedure; {host: Outcome}."""
    _place(plan)
    sim.reset()
    sim.configure(**FAST)
    credentials = ["[default]", "aws_access_key_id = none", "aws_secret_access_key = none", ""]
    for procedure, scenarios in plan:
        for scenario in scenarios:
            procedure.seed(sim, scenario)
            if scenario.role_policy is not None:
                scenario.facts["role_arn"] = create_role(sim, scenario.account, "cloudops-dr-copy", scenario.role_policy, "123456789012")
            key = create_user(sim, "cloudops-%s" % scenario.account, procedure.personal_policy(scenario.policy, scenario))
            credentials += ["[%s]" % scenario.host, "aws_access_key_id = %s" % key["AccessKeyId"],
                            "aws_secret_access_key = %s" % key["SecretAccessKey"], ""]
            for rule in procedure.faults(scenario):
                sim.add_fault(**rule)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "credentials").write_text("\n".join(credentials))
    (workdir / "config").write_text("")
    env = ansible_env(sim)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(name, None)
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(workdir / "credentials"), AWS_CONFIG_FILE=str(workdir / "config"))
    sim.clear_log()
    sim.configure(iam={"enforce": True})
    processes = []
    try:
        processes = [(procedure, scenarios, _playbook(procedure, scenarios, workdir, env)) for procedure, scenarios in plan]
        deadline = time.monotonic() + timeout
        finished = []
        for procedure, scenarios, process in processes:
            try:
                stdout, stderr = process.communicate(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                raise
            finished.append((procedure, scenarios, stdout, stderr))
    finally:
        for _procedure, _scenarios, process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
        sim.configure(iam={"enforce": False})
    calls = sim.calls()
    outcomes = {}
    for procedure, scenarios, stdout, stderr in finished:
        outcomes.update(_outcomes(procedure, scenarios, stdout, stderr, calls))
    return outcomes


# -- the procedures --------------------------------------------------------------------------------

MANAGED = {"cloudops:managed-by": "cloudops.aws"}


def tag_list(tags):
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def days_ago(days):
    moment = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def image_with_tags(ec2, instance_id, name, tags):
    """An AMI of the instance whose image and snapshots carry `tags`; (image id, snapshot ids)."""
    image_id = ec2.create_image(InstanceId=instance_id, Name=name, NoReboot=True, TagSpecifications=[
        {"ResourceType": "image", "Tags": tag_list(tags)}, {"ResourceType": "snapshot", "Tags": tag_list(tags)}])["ImageId"]
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    return image_id, [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]


def existing(ec2, image_ids=(), snapshot_ids=()):
    """(the image ids, the snapshot ids) of those given that still exist."""
    images = {i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]}
    snapshots = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    return images & set(image_ids), snapshots & set(snapshot_ids)


class Backup(Procedure):
    """playbooks/backup.yml with its three steps: AMIs, volume snapshots, orphaned snapshots.

    Each Region holds one instance (its data volume tagged for snapshots), an older managed AMI and
    an older managed snapshot that retention (keep_last 1) prunes, the managed snapshots of a
    deregistered AMI of another policy for the orphan step, and an unmanaged AMI that looks like an
    older daily backup of the instance, which must stay.
    """

    name = "backup"
    policy_name = "backup"
    playbook = REPO / "playbooks" / "backup.yml"
    extra_vars = {"ami_backup_retention": {"keep_last": 1}, "ami_backup_min_interval": "",
                  "backup_snapshots": True, "snapshot_backup_retention": {"keep_last": 1}, "snapshot_backup_min_interval": "",
                  "backup_orphan_min_age": "0s"}

    def seed(self, sim, scenario):
        region = scenario.region
        seeded = sim.seed({"region": region, "instances": [{"name": "web", "tags": {"Backup": "daily"}, "volumes": [
            {"device": "/dev/xvda", "size": 8}, {"device": "/dev/sdf", "size": 20, "tags": {"Backup": "daily"}}]}]})
        instance_id, (_root, data_volume) = seeded["instances"]["web"], seeded["volumes"]["web"]
        ec2 = admin_client(sim, "ec2", region)
        legacy_group(sim, region, seeded["images"]["base-image"])
        lineage = dict(MANAGED, **{"cloudops:policy": "daily", "cloudops:source-instance": instance_id, "cloudops:created-at": days_ago(3)})
        old_image, old_image_snapshots = image_with_tags(ec2, instance_id, "web-daily-old", lineage)
        old_snapshot = ec2.create_snapshot(VolumeId=data_volume, TagSpecifications=[{"ResourceType": "snapshot", "Tags": tag_list(
            dict(lineage, **{"cloudops:source-volume": data_volume}))}])["SnapshotId"]
        orphaned_image, orphans = image_with_tags(ec2, instance_id, "web-weekly-old", dict(lineage, **{"cloudops:policy": "weekly"}))
        ec2.deregister_image(ImageId=orphaned_image)
        lookalike = {key: value for key, value in lineage.items() if key != "cloudops:managed-by"}
        unmanaged_image, unmanaged_snapshots = image_with_tags(ec2, instance_id, "web-daily-by-hand", lookalike)
        scenario.facts.update(instance_id=instance_id, data_volume=data_volume, pruned_images=[old_image],
                              pruned_snapshots=old_image_snapshots + [old_snapshot] + orphans,
                              unmanaged_images=[unmanaged_image], unmanaged_snapshots=unmanaged_snapshots)

    def check(self, sim, outcome):
        facts = outcome.scenario.facts
        ec2 = admin_client(sim, "ec2", outcome.scenario.region)
        assert existing(ec2, facts["pruned_images"], facts["pruned_snapshots"]) == (set(), set())
        new_images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:cloudops:policy", "Values": ["daily"]},
                                                                   {"Name": "tag:cloudops:managed-by", "Values": ["cloudops.aws"]}])["Images"]
        assert len(new_images) == 1 and new_images[0]["State"] == "available"
        volume_snapshots = ec2.describe_snapshots(OwnerIds=["self"], Filters=[
            {"Name": "tag:cloudops:source-volume", "Values": [facts["data_volume"]]}])["Snapshots"]
        assert len(volume_snapshots) == 1
        check_unmanaged_kept(ec2, outcome)


def legacy_group(sim, region, image_id):
    """An Auto Scaling group on a launch configuration: the in-use check of AMIs reads both kinds of launch data."""
    autoscaling = admin_client(sim, "autoscaling", region)
    autoscaling.create_launch_configuration(LaunchConfigurationName="legacy", ImageId=image_id, InstanceType="t3.micro")
    autoscaling.create_auto_scaling_group(AutoScalingGroupName="legacy", LaunchConfigurationName="legacy", MinSize=0, MaxSize=1,
                                          DesiredCapacity=0, AvailabilityZones=[region + "a"])


def check_unmanaged_kept(ec2, outcome):
    """The unmanaged look-alike AMI and its snapshots exist, and no call of the run named them."""
    facts = outcome.scenario.facts
    kept = set(facts["unmanaged_images"]), set(facts["unmanaged_snapshots"])
    assert existing(ec2, *kept) == kept
    named = [call for call in outcome.calls if set(call["resource_ids"]) & (kept[0] | kept[1])
             and call["action"] in ("DeregisterImage", "DeleteSnapshot")]
    assert named == []


class DrCopy(Procedure):
    """snapshot_copy_generations to another account (a role assumed there) and Region: the newest of two
    volume backups is copied, the copy of the older one (made earlier, its source still shared) is
    deleted by retention, and the older source is unshared."""

    name = "dr_copy"
    policy_name = "dr_copy"
    role_policy_name = "dr_copy_destination_role"
    playbook = PLAYS / "dr_copy.yml"

    def seed(self, sim, scenario):
        region = scenario.region
        seeded = sim.seed({"region": region, "instances": [{"name": "db", "volumes": [
            {"device": "/dev/xvda", "size": 8}, {"device": "/dev/sdf", "size": 20}]}]})
        instance_id, (_root, volume_id) = seeded["instances"]["db"], seeded["volumes"]["db"]
        ec2 = admin_client(sim, "ec2", region)
        sources = []
        for days in (3, 1):
            tags = dict(MANAGED, **{"cloudops:policy": "daily", "cloudops:source-instance": instance_id,
                                    "cloudops:source-volume": volume_id, "cloudops:created-at": days_ago(days)})
            sources.append(ec2.create_snapshot(VolumeId=volume_id, TagSpecifications=[
                {"ResourceType": "snapshot", "Tags": tag_list(tags)}])["SnapshotId"])
        older, newer = sources
        ec2.modify_snapshot_attribute(SnapshotId=older, Attribute="createVolumePermission", OperationType="add",
                                      UserIds=[scenario.account])
        dr = admin_client(sim, "ec2", scenario.dr_region, credentials=account_credentials(sim, scenario.account))
        copy_tags = dict(MANAGED, **{"cloudops:policy": "daily", "cloudops:source-instance": instance_id, "cloudops:source-volume": volume_id,
                                     "cloudops:source-snapshot": older, "cloudops:source-region": region, "cloudops:created-at": days_ago(3)})
        old_copy = dr.copy_snapshot(SourceRegion=region, SourceSnapshotId=older, TagSpecifications=[
            {"ResourceType": "snapshot", "Tags": tag_list(copy_tags)}])["SnapshotId"]
        scenario.facts.update(older=older, newer=newer, old_copy=old_copy)

    def host_vars(self, scenario):
        return {"dr_region": scenario.dr_region, "dr_role_arn": scenario.facts["role_arn"]}

    def check(self, sim, outcome):
        scenario, facts = outcome.scenario, outcome.scenario.facts
        dr = admin_client(sim, "ec2", scenario.dr_region, credentials=account_credentials(sim, scenario.account))
        copies = dr.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:cloudops:managed-by", "Values": ["cloudops.aws"]}])["Snapshots"]
        assert [(c["State"], {t["Key"]: t["Value"] for t in c["Tags"]}["cloudops:source-snapshot"]) for c in copies] == [("completed", facts["newer"])]
        ec2 = admin_client(sim, "ec2", scenario.region)
        shared = ec2.describe_snapshots(OwnerIds=["self"], RestorableByUserIds=[scenario.account])["Snapshots"]
        assert shared == []


class OrphanCleanup(Procedure):
    """orphan_snapshot_cleanup: the managed snapshots of a deregistered AMI go, an unmanaged AMI's stay."""

    name = "orphan_cleanup"
    policy_name = "orphan_cleanup"
    playbook = PLAYS / "orphan_cleanup.yml"

    def seed(self, sim, scenario):
        seeded = sim.seed({"region": scenario.region, "instances": [{"name": "app"}]})
        instance_id = seeded["instances"]["app"]
        ec2 = admin_client(sim, "ec2", scenario.region)
        tags = dict(MANAGED, **{"cloudops:policy": "weekly", "cloudops:source-instance": instance_id, "cloudops:created-at": days_ago(9)})
        orphaned_image, orphans = image_with_tags(ec2, instance_id, "app-weekly-old", tags)
        ec2.deregister_image(ImageId=orphaned_image)
        unmanaged_image, unmanaged_snapshots = image_with_tags(ec2, instance_id, "app-by-hand", {"Owner": "ops"})
        ec2.deregister_image(ImageId=unmanaged_image)
        scenario.facts.update(orphans=orphans, unmanaged_images=[], unmanaged_snapshots=unmanaged_snapshots)

    def check(self, sim, outcome):
        facts = outcome.scenario.facts
        ec2 = admin_client(sim, "ec2", outcome.scenario.region)
        assert existing(ec2, (), facts["orphans"]) == (set(), set())
        check_unmanaged_kept(ec2, outcome)


class RunCommand(Procedure):
    """ssm_run over a tag target: two online instances run it, an offline one's invocation is cancelled, the
    output is read whole from S3."""

    name = "run_command"
    policy_name = "run_command"
    playbook = PLAYS / "run_command.yml"
    # The documents' output bucket; each scenario has its own (bucket names are global).
    DOCUMENTED_BUCKET = "ops-command-output"

    def seed(self, sim, scenario):
        seeded = sim.seed({"region": scenario.region, "instances": [{"name": "web", "count": 3, "tags": {"Role": "web"}}]})
        ids = seeded["instances"]
        sim.ssm_mark([ids["web-3"]], offline=True)
        bucket = "%s-%s" % (self.DOCUMENTED_BUCKET, scenario.region)
        admin_client(sim, "s3", "us-east-1").create_bucket(Bucket=bucket)
        scenario.facts.update(online=sorted([ids["web-1"], ids["web-2"]]), offline=ids["web-3"], bucket=bucket)

    def host_vars(self, scenario):
        return {"output_bucket": scenario.facts["bucket"]}

    def faults(self, scenario):
        return [lost_send_command(scenario.facts["bucket"])]

    def personal_policy(self, policy, scenario):
        return json.loads(json.dumps(policy).replace(self.DOCUMENTED_BUCKET, scenario.facts["bucket"]))

    def check(self, sim, outcome):
        facts = outcome.scenario.facts
        ssm = admin_client(sim, "ssm", outcome.scenario.region)
        invocations = ssm.list_command_invocations(Details=True)["CommandInvocations"]
        assert sorted((i["InstanceId"], i["Status"]) for i in invocations) == sorted(
            [(i, "Success") for i in facts["online"]] + [(facts["offline"], "Cancelled")])
        result = json.loads(outcome.result)
        assert [len(i["stdout"]) for i in result["invocations"] if i["instance_id"] in facts["online"]] == [30000, 30000]


MISSING_PATCHES = [
    {"id": "openssl-libs.x86_64", "classification": "Security", "severity": "Critical", "cve_ids": ["CVE-2024-5535"]},
    {"id": "curl.x86_64", "classification": "Security", "severity": "Important"},
]
HEALTH = "test -d /"
DEPLOY = ["mkdir -p app", 'echo "$DEPLOY_VERSION" > app/VERSION']
FAST = {"patching": {"reboot_seconds": 0.3}, "elbv2": {"healthy_after": 0.2, "deregistration_delay_cap": 0.2},
        "launches": {"pending_seconds": 0.3, "agent_registers_after": 0.8},
        "root_volumes": {"replace_seconds": 0.4},
        "autoscaling": {"step_seconds": 0.1, "instance_warmup_cap": 0.2, "bake_time_cap": 0.2, "wait_cap": 0.3}}


def lost_send_command(match):
    """SendCommand's answer lost once (after SSM acted) for the call naming `match`: the module finds its
    command with ListCommands rather than sending it twice."""
    return {"action": "SendCommand", "code": "InternalError", "after": True, "count": 1, "match": match}


APP_TAGS = [{"Key": "App", "Value": "shop"}]


def load_balanced(sim, region, groups, weights=None):
    """Target groups with their instances registered behind one ALB listener (forwarding with `weights`, or to
    the first group); {name: ARN} and the listener's ARN under "listener"."""
    ec2, elbv2 = admin_client(sim, "ec2", region), admin_client(sim, "elbv2", region)
    vpc_id = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]]
    arns = {}
    for name, instance_ids in groups.items():
        arns[name] = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc_id, Tags=APP_TAGS)["TargetGroups"][0]["TargetGroupArn"]
        elbv2.register_targets(TargetGroupArn=arns[name], Targets=[{"Id": i} for i in instance_ids])
    balancer = elbv2.create_load_balancer(Name="lb", Subnets=subnets[:2], Tags=APP_TAGS)["LoadBalancers"][0]["LoadBalancerArn"]
    weights = weights or {next(iter(groups)): 100}
    forward = {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": arns[n], "Weight": w} for n, w in weights.items()]}}
    arns["listener"] = elbv2.create_listener(LoadBalancerArn=balancer, Protocol="HTTP", Port=80, DefaultActions=[forward], Tags=APP_TAGS)[
        "Listeners"][0]["ListenerArn"]
    return arns


def target_health(sim, region, group_arn):
    elbv2 = admin_client(sim, "elbv2", region)
    return {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in elbv2.describe_target_health(TargetGroupArn=group_arn)["TargetHealthDescriptions"]}


def instance_tags(sim, region, instance_ids):
    ec2 = admin_client(sim, "ec2", region)
    return {i["InstanceId"]: {t["Key"]: t["Value"] for t in i.get("Tags", [])}
            for r in ec2.describe_instances(InstanceIds=list(instance_ids))["Reservations"] for i in r["Instances"]}


class Patch(Procedure):
    """playbooks/patch.yml installing in a canary and a wave: pre-patch AMIs (an older one rotated away), the
    instances drained from and put back in their target group, a health command, a stopped instance of the
    patch group started and stopped again, the compliance report with details; rollback on, not needed."""

    name = "patch"
    policy_name = "patch"
    playbook = REPO / "playbooks" / "patch.yml"
    extra_vars = {"patch_group": "web", "patch_mode": "install", "patch_start_stopped": True, "patch_health_command": HEALTH,
                  "patch_wave_size": "100%", "patch_pre_image_retention": {"keep_last": 1}, "patch_pre_image_min_interval": "",
                  "patch_compliance_details": True, "patch_rollback": True, "patch_healthy_timeout": 120, "patch_drain_timeout": 120}

    def seed(self, sim, scenario):
        region = scenario.region
        ids = sim.seed({"region": region, "instances": [
            {"name": "web", "count": 2, "tags": {"PatchGroup": "web"}, "patches": MISSING_PATCHES},
            {"name": "web-spare", "state": "stopped", "tags": {"PatchGroup": "web"}, "patches": MISSING_PATCHES}]})["instances"]
        arns = load_balanced(sim, region, {"web": [ids["web-1"], ids["web-2"]]})
        ec2 = admin_client(sim, "ec2", region)
        legacy_group(sim, region, ec2.describe_instances(InstanceIds=[ids["web-1"]])["Reservations"][0]["Instances"][0]["ImageId"])
        old_image, old_snapshots = image_with_tags(ec2, ids["web-1"], "web-1-pre-patch-old", dict(MANAGED, **{
            "cloudops:policy": "pre-patch", "cloudops:source-instance": ids["web-1"], "cloudops:created-at": days_ago(30)}))
        scenario.facts.update(ids=ids, group_arn=arns["web"], pruned_images=[old_image], pruned_snapshots=old_snapshots)

    def faults(self, scenario):
        return [lost_send_command(scenario.facts["ids"]["web-1"])]

    def check(self, sim, outcome):
        scenario, facts = outcome.scenario, outcome.scenario.facts
        ids = facts["ids"]
        ssm, ec2 = admin_client(sim, "ssm", scenario.region), admin_client(sim, "ec2", scenario.region)
        states = ssm.describe_instance_patch_states(InstanceIds=sorted(ids.values()))["InstancePatchStates"]
        assert sorted((s["InstanceId"], s["MissingCount"]) for s in states) == sorted((i, 0) for i in ids.values())
        spare = ec2.describe_instances(InstanceIds=[ids["web-spare"]])["Reservations"][0]["Instances"][0]
        assert spare["State"]["Name"] == "stopped"
        assert existing(ec2, facts["pruned_images"], facts["pruned_snapshots"]) == (set(), set())
        images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:cloudops:policy", "Values": ["pre-patch"]}])["Images"]
        assert len(images) == 3
        assert target_health(sim, scenario.region, facts["group_arn"]) == {ids["web-1"]: "healthy", ids["web-2"]: "healthy"}


class PatchRollback(Patch):
    """playbooks/patch.yml with patch.json where an install fails: of two instances patched in one wave, one
    fails its patches and is rolled back, its root volume replaced from its pre-patch AMI; the other is patched.
    It proves the rollback actions of patch.json, which a run that goes well does not call."""

    name = "patch_rollback"
    covers_document = False
    removals = ("ec2:CreateReplaceRootVolumeTask", "ec2:DescribeReplaceRootVolumeTasks")
    extra_vars = {"patch_group": "web", "patch_mode": "install", "patch_canary": 0, "patch_wave_size": "100%", "patch_max_failures": "50%",
                  "patch_rollback": True, "patch_health_command": HEALTH, "patch_pre_image_min_interval": "", "patch_healthy_timeout": 120,
                  "patch_rollback_timeout": 120}

    def seed(self, sim, scenario):
        ids = sim.seed({"region": scenario.region, "instances": [
            {"name": "web", "count": 2, "tags": {"PatchGroup": "web"}, "patches": MISSING_PATCHES}]})["instances"]
        sim._request("POST", "patch-failures", {"instance_id": ids["web-1"], "region": scenario.region})  # pylint: disable=protected-access
        scenario.facts.update(ids=ids)

    def faults(self, scenario):
        return []

    def check(self, sim, outcome):
        ids = outcome.scenario.facts["ids"]
        ec2 = admin_client(sim, "ec2", outcome.scenario.region)
        image = ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:cloudops:source-instance", "Values": [ids["web-1"]]}])["Images"][0]
        tasks = ec2.describe_replace_root_volume_tasks()["ReplaceRootVolumeTasks"]
        assert [(t["InstanceId"], t["ImageId"], t["TaskState"]) for t in tasks] == [(ids["web-1"], image["ImageId"], "succeeded")]
        ssm = admin_client(sim, "ssm", outcome.scenario.region)
        states = {s["InstanceId"]: s["MissingCount"] for s in ssm.describe_instance_patch_states(InstanceIds=sorted(ids.values()))["InstancePatchStates"]}
        assert states == {ids["web-1"]: 2, ids["web-2"]: 0}


class DeployRolling(Procedure):
    """playbooks/deploy.yml, rolling: two instances behind a target group, one batch at a time, each drained,
    deployed, health-checked, put back and tagged with the version."""

    name = "deploy_rolling"
    policy_name = "deploy_rolling"
    playbook = REPO / "playbooks" / "deploy.yml"
    extra_vars = {"deploy_strategy": "rolling", "deploy_target_group_names": ["web"], "deploy_version": "1.4.2", "deploy_commands": DEPLOY,
                  "deploy_health_command": "test -s app/VERSION", "deploy_batch_size": "50%", "deploy_healthy_timeout": 120,
                  "deploy_drain_timeout": 120}

    def seed(self, sim, scenario):
        ids = sim.seed({"region": scenario.region, "instances": [{"name": "web", "count": 2, "tags": {"App": "shop"}}]})["instances"]
        arns = load_balanced(sim, scenario.region, {"web": sorted(ids.values())})
        scenario.facts.update(ids=sorted(ids.values()), group_arn=arns["web"])

    def faults(self, scenario):
        return [lost_send_command(scenario.facts["ids"][0])]

    def check(self, sim, outcome):
        scenario, facts = outcome.scenario, outcome.scenario.facts
        tags = instance_tags(sim, scenario.region, facts["ids"])
        assert {i: t.get("cloudops:deployed-version") for i, t in tags.items()} == dict.fromkeys(facts["ids"], "1.4.2")
        assert target_health(sim, scenario.region, facts["group_arn"]) == dict.fromkeys(facts["ids"], "healthy")


class DeployBlueGreen(Procedure):
    """playbooks/deploy.yml, blue_green: green deployed (rolling, in one batch), then the listener moved to it
    in two steps behind a health command and an alarm."""

    name = "deploy_blue_green"
    policy_name = "deploy_blue_green"
    playbook = REPO / "playbooks" / "deploy.yml"
    extra_vars = {"deploy_strategy": "blue_green", "bg_blue_target_group": "shop-blue", "bg_green_target_group": "shop-green",
                  "bg_steps": [50, 100], "bg_bake_time": 1, "bg_healthy_timeout": 120, "bg_version": "2.0", "bg_deploy_commands": DEPLOY,
                  "bg_deploy_batch_size": "100%", "bg_deploy_min_healthy": "0", "bg_health_command": "test -s app/VERSION",
                  "bg_alarm_names": ["shop-5xx"]}

    def seed(self, sim, scenario):
        region = scenario.region
        ids = sim.seed({"region": region, "instances": [
            {"name": "blue", "count": 2, "tags": {"App": "shop"}}, {"name": "green", "count": 2, "tags": {"App": "shop"}}]})["instances"]
        green = sorted([ids["green-1"], ids["green-2"]])
        arns = load_balanced(sim, region, {"shop-blue": [ids["blue-1"], ids["blue-2"]], "shop-green": green},
                             weights={"shop-blue": 100, "shop-green": 0})
        admin_client(sim, "cloudwatch", region).put_metric_alarm(
            AlarmName="shop-5xx", MetricName="HTTPCode_Target_5XX_Count", Namespace="AWS/ApplicationELB", Statistic="Sum", Period=60,
            EvaluationPeriods=1, Threshold=10, ComparisonOperator="GreaterThanThreshold")
        scenario.facts.update(green=green, listener=arns["listener"], green_arn=arns["shop-green"])

    def faults(self, scenario):
        return [lost_send_command(scenario.facts["green"][0])]

    def host_vars(self, scenario):
        return {"bg_listener_arn": scenario.facts["listener"]}

    def check(self, sim, outcome):
        scenario, facts = outcome.scenario, outcome.scenario.facts
        elbv2 = admin_client(sim, "elbv2", scenario.region)
        groups = elbv2.describe_listeners(ListenerArns=[facts["listener"]])["Listeners"][0]["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
        assert {g["TargetGroupArn"]: g["Weight"] for g in groups}[facts["green_arn"]] == 100
        tags = instance_tags(sim, scenario.region, facts["green"])
        assert {i: t.get("cloudops:deployed-version") for i, t in tags.items()} == dict.fromkeys(facts["green"], "2.0")


class DeployAmiRollout(Procedure):
    """playbooks/deploy.yml, ami_rollout: a new launch template version with the new AMI, rolled out by an
    instance refresh with an alarm, followed to its end."""

    name = "deploy_ami_rollout"
    policy_name = "deploy_ami_rollout"
    playbook = REPO / "playbooks" / "deploy.yml"
    extra_vars = {"deploy_strategy": "ami_rollout", "ami_rollout_group_name": "web", "ami_rollout_min_healthy_percentage": 50,
                  "ami_rollout_poll_interval": 1, "ami_rollout_wait_timeout": 120, "ami_rollout_alarms": ["web-5xx"]}

    def seed(self, sim, scenario):
        region = scenario.region
        seeded = sim.seed({"region": region, "instances": [{"name": "builder"}]})
        ec2 = admin_client(sim, "ec2", region)
        image_id = ec2.create_image(InstanceId=seeded["instances"]["builder"], Name="web-2026-11-30")["ImageId"]
        template_id = ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={
            "ImageId": seeded["images"]["base-image"], "InstanceType": "t3.micro"}, TagSpecifications=[
                {"ResourceType": "launch-template", "Tags": APP_TAGS}])["LaunchTemplate"]["LaunchTemplateId"]
        admin_client(sim, "autoscaling", region).create_auto_scaling_group(
            AutoScalingGroupName="web", LaunchTemplate={"LaunchTemplateId": template_id, "Version": "1"}, MinSize=1, MaxSize=4,
            DesiredCapacity=2, AvailabilityZones=[region + "a"],
            Tags=[{"Key": "App", "Value": "shop", "PropagateAtLaunch": False, "ResourceId": "web", "ResourceType": "auto-scaling-group"}])
        admin_client(sim, "cloudwatch", region).put_metric_alarm(
            AlarmName="web-5xx", MetricName="HTTPCode_Target_5XX_Count", Namespace="AWS/ApplicationELB", Statistic="Sum", Period=60,
            EvaluationPeriods=1, Threshold=10, ComparisonOperator="GreaterThanThreshold")
        scenario.facts.update(image_id=image_id)

    def host_vars(self, scenario):
        return {"ami_rollout_image_id": scenario.facts["image_id"]}

    def check(self, sim, outcome):
        scenario = outcome.scenario
        autoscaling, ec2 = admin_client(sim, "autoscaling", scenario.region), admin_client(sim, "ec2", scenario.region)
        instances = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]["Instances"]
        described = ec2.describe_instances(InstanceIds=[i["InstanceId"] for i in instances])["Reservations"]
        assert [i["ImageId"] for r in described for i in r["Instances"]] == [scenario.facts["image_id"]] * 2
        refreshes = autoscaling.describe_instance_refreshes(AutoScalingGroupName="web")["InstanceRefreshes"]
        assert [r["Status"] for r in refreshes] == ["Successful"]


class Schedule(Procedure):
    """playbooks/schedule.yml on Friday 27 November 2026 at 19:00 in Berlin: an instance of the office schedule
    (08:00-18:00 on weekdays) is stopped, a stopped instance of the evening schedule (from 18:30) started, each
    tagged with what was applied."""

    name = "schedule"
    policy_name = "schedule"
    playbook = REPO / "playbooks" / "schedule.yml"
    extra_vars = {"schedule_periods": [{"name": "office-hours", "begintime": "08:00", "endtime": "18:00", "weekdays": "mon-fri"},
                                       {"name": "evening", "begintime": "18:30", "endtime": "23:00"}],
                  "schedule_schedules": [{"name": "office", "periods": ["office-hours"], "timezone": "Europe/Berlin"},
                                         {"name": "late", "periods": ["evening"], "timezone": "Europe/Berlin"}],
                  "schedule_now": "2026-11-27T19:00:00+01:00", "schedule_verify_timeout": 120}

    def seed(self, sim, scenario):
        ids = sim.seed({"region": scenario.region, "instances": [{"name": "dev", "tags": {"Schedule": "office"}},
                                                                 {"name": "batch", "state": "stopped", "tags": {"Schedule": "late"}}]})["instances"]
        scenario.facts.update(ids=ids)

    def check(self, sim, outcome):
        ids = outcome.scenario.facts["ids"]
        ec2 = admin_client(sim, "ec2", outcome.scenario.region)
        found = {i["InstanceId"]: (i["State"]["Name"], {t["Key"]: t["Value"] for t in i.get("Tags", [])}.get("cloudops:schedule-applied", "")[:7])
                 for r in ec2.describe_instances(InstanceIds=list(ids.values()))["Reservations"] for i in r["Instances"]}
        assert found == {ids["dev"]: ("stopped", "stopped"), ids["batch"]: ("running", "running")}


class RestoreDrill(Procedure):
    """playbooks/restore_drill.yml: the newest daily AMI of an instance restored on a throwaway instance in an
    isolated subnet, verified with a command, the outcome tagged on the AMI, everything of the drill removed, and the
    leftovers of a killed drill (an instance and a volume, expired) removed too."""

    name = "restore_drill"
    policy_name = "restore_drill"
    playbook = REPO / "playbooks" / "restore_drill.yml"
    extra_vars = {"restore_drill_filters": {"tag:Backup": "daily"}, "restore_drill_policy": "daily", "restore_drill_wait_timeout": 120,
                  "restore_drill_command_timeout": 60}
    # The document's example network; each scenario has its own.
    DOCUMENTED_NETWORK = ("subnet-0123456789abcdef0", "sg-0123456789abcdef0")

    def seed(self, sim, scenario):
        region = scenario.region
        db = sim.seed({"region": region, "instances": [{"name": "db", "tags": {"Backup": "daily"}}]})["instances"]["db"]
        ssm, ec2 = admin_client(sim, "ssm", region), admin_client(sim, "ec2", region)
        command_id = ssm.send_command(InstanceIds=[db], DocumentName="AWS-RunShellScript", Parameters={"commands": ["echo ok > marker"]})[
            "Command"]["CommandId"]
        ssm.get_waiter("command_executed").wait(CommandId=command_id, InstanceId=db, WaiterConfig={"Delay": 0.2})
        image = ec2.create_image(InstanceId=db, Name="db-daily", TagSpecifications=[{"ResourceType": "image", "Tags": tag_list(dict(
            MANAGED, **{"cloudops:policy": "daily", "cloudops:source-instance": db, "cloudops:created-at": days_ago(0.1)}))}])["ImageId"]
        vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.50.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="restore-drill", Description="isolated", VpcId=vpc)["GroupId"]
        leftover_tags = tag_list(dict(MANAGED, **{"cloudops:drill-run": "drill-killed", "cloudops:drill-expires-at": days_ago(0.01)}))
        base = ec2.describe_instances(InstanceIds=[db])["Reservations"][0]["Instances"][0]
        leftover = ec2.run_instances(ImageId=base["ImageId"], MinCount=1, MaxCount=1, SubnetId=subnet, TagSpecifications=[
            {"ResourceType": "instance", "Tags": leftover_tags}])["Instances"][0]["InstanceId"]
        volume = ec2.create_volume(Size=8, AvailabilityZone=base["Placement"]["AvailabilityZone"], TagSpecifications=[
            {"ResourceType": "volume", "Tags": leftover_tags}])["VolumeId"]
        scenario.facts.update(image=image, subnet=subnet, group=group, leftovers=[leftover, volume])

    def host_vars(self, scenario):
        return {"restore_drill_subnet_id": scenario.facts["subnet"], "restore_drill_security_group_ids": [scenario.facts["group"]],
                "restore_drill_commands": ["test -f marker", self._echo(scenario)]}

    @staticmethod
    def _echo(scenario):
        return "echo %s" % scenario.host

    def personal_policy(self, policy, scenario):
        text = json.dumps(policy)
        for documented, own in zip(self.DOCUMENTED_NETWORK, (scenario.facts["subnet"], scenario.facts["group"])):
            text = text.replace(documented, own)
        return json.loads(text)

    def faults(self, scenario):
        return [lost_send_command(self._echo(scenario))]

    def check(self, sim, outcome):
        facts = outcome.scenario.facts
        ec2 = admin_client(sim, "ec2", outcome.scenario.region)
        image = ec2.describe_images(ImageIds=[facts["image"]])["Images"][0]
        assert {t["Key"]: t["Value"] for t in image["Tags"]}.get("cloudops:verify-result") == "passed"
        drills = ec2.describe_instances(Filters=[{"Name": "tag-key", "Values": ["cloudops:drill-run"]}])["Reservations"]
        assert {i["State"]["Name"] for r in drills for i in r["Instances"]} == {"terminated"}
        assert ec2.describe_volumes(Filters=[{"Name": "tag-key", "Values": ["cloudops:drill-run"]}])["Volumes"] == []


PROCEDURES = {procedure.name: procedure for procedure in (
    Backup(), DrCopy(), OrphanCleanup(), RunCommand(), Patch(), PatchRollback(), DeployRolling(), DeployBlueGreen(), DeployAmiRollout(),
    Schedule(), RestoreDrill())}


# -- what each document holds that the runs cannot show, and how a run is judged -------------------

TAG_ON_CREATE = ("AWS checks it when a create call tags at birth (TagSpecifications, ec2:CreateAction); the simulator "
                 "does not, and the collection never calls CreateTags on what it creates")
# Actions of a document that its run does not call, each with the reason; docs/iam/README.md lists them too.
NOT_CALLED = {
    "backup": {"ec2:CreateTags": TAG_ON_CREATE},
    "dr_copy": {"ec2:CreateTags": TAG_ON_CREATE + " (the destination role's, for CopySnapshot)"},
    "orphan_cleanup": {},
    "run_command": {},
    "patch": {
        "ec2:CreateReplaceRootVolumeTask": "only to roll back an instance whose patching failed (patch_rollback: true): patch_rollback's run",
        "ec2:DescribeReplaceRootVolumeTasks": "only to follow such a rollback: patch_rollback's run",
    },
    "deploy_rolling": {},
    "deploy_blue_green": {},
    "schedule": {},
    "restore_drill": {},
    "deploy_ami_rollout": {
        "autoscaling:CancelInstanceRefresh": "only with ami_rollout_state: cancelled",
        "autoscaling:RollbackInstanceRefresh": "only with ami_rollout_state: rolled_back",
        "ec2:RunInstances": "AWS checks that the caller may launch from the launch template a refresh uses; the simulator does not",
        "ec2:CreateTags": "idem, when the launch template tags instances or volumes at launch",
    },
}
# Removing these does not fail the run, by design; it warns, naming the denied action: ssm_run reads the whole
# output of an instance at best effort (ssm_rollout.complete_outputs); patch_rollout goes on patching when its new
# pre-patch AMI is there and only pruning an older one failed (patch_rollout._pre_patch_images); a refused rollback
# leaves an instance that had already failed its install, counted once within max_failures (patch_wave._roll_back).
WARNS_WITHOUT = {
    ("run_command", "ssm:GetCommandInvocation"): "reading the whole output is best effort",
    ("run_command", "s3:GetObject"): "reading the whole output is best effort",
    ("patch", "ec2:DeregisterImage"): "the new pre-patch AMI is made; pruning an older one failed",
    ("patch", "ec2:DeleteSnapshot"): "the new pre-patch AMI is made; pruning an older one's snapshots failed",
    ("patch_rollback", "ec2:CreateReplaceRootVolumeTask"): "the instance had already failed; it is not rolled back",
}
DENIAL_CODES = ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException")


def document_actions(procedure):
    actions = policy_actions(procedure.policy())
    if procedure.role_policy_name:
        actions += [a for a in policy_actions(procedure.role_policy()) if a not in actions]
    return actions


def removable_actions(procedure):
    """The actions of the procedure's documents that its run calls: each one's removal must show."""
    if not procedure.covers_document:
        return list(procedure.removals)
    return [a for a in document_actions(procedure) if a not in NOT_CALLED[procedure.name]]


def with_wrong_condition(policy, sid, condition):
    """The policy with statement `sid`'s condition replaced by `condition`."""
    wrong = copy.deepcopy(policy)
    for statement in wrong["Statement"]:
        if statement.get("Sid") == sid:
            statement["Condition"] = condition
            return wrong
    raise KeyError(sid)


# The delete statements conditioned on the policy tag, which the unmanaged look-alike AMI carries too (backup),
# or on a tag the unmanaged snapshots carry (orphan cleanup): on AWS these would let the procedure delete them.
WRONG_CONDITIONS = {
    "backup": ("DeleteOnlyManaged", {"StringLike": {"aws:ResourceTag/cloudops:policy": "*"}}),
    "orphan_cleanup": ("DeleteOnlyManagedSnapshots", {"StringLike": {"aws:ResourceTag/Owner": "*"}}),
}


def plan_for(names, removals):
    """[(procedure, scenarios)]: each named procedure's full-policy scenario, its wrong-condition one when it has
    one, and one scenario per action of removals(procedure)."""
    plan = []
    for name in names:
        procedure = PROCEDURES[name]
        wrong = {}
        if name in WRONG_CONDITIONS:
            wrong["wrong-condition"] = with_wrong_condition(procedure.policy(), *WRONG_CONDITIONS[name])
        plan.append((procedure, scenarios_for(procedure, removals(procedure), wrong)))
    return plan


def split_plan(plan):
    """The plan cut into parts that each fit the simulator's Regions."""
    parts, part = [], []
    for procedure, scenarios in plan:
        for scenario in scenarios:
            if part and regions_needed(_regroup(part + [(procedure, scenario)])) > len(REGIONS):
                parts.append(_regroup(part))
                part = []
            part.append((procedure, scenario))
    if part:
        parts.append(_regroup(part))
    return parts


def _regroup(pairs):
    grouped = {}
    for procedure, scenario in pairs:
        grouped.setdefault(procedure.name, (procedure, []))[1].append(scenario)
    return list(grouped.values())


def denied(outcome):
    return [call for call in outcome.calls if call["error_code"] in DENIAL_CODES]


def problems_of(sim, procedure, outcome):
    """What is wrong with a scenario's outcome; empty when it is as the documents promise."""
    scenario = outcome.scenario
    refused = sorted({iam_action(call) for call in denied(outcome)})
    if scenario.removed is None:
        problems = []
        if outcome.rc_failed:
            problems.append("the run failed in %r: %s" % (outcome.failed_task, outcome.failure[:1500]))
        if refused:
            problems.append("calls were denied: %s" % ", ".join(refused))
        if not problems:
            try:
                procedure.check(sim, outcome)
            except AssertionError as error:
                problems.append("the run did not do its work: %r" % (error,))
        return problems
    action = scenario.removed
    problems = [] if refused == [action] else ["denied %s, expected %s only" % (refused or "nothing", action)]
    if (procedure.name, action) in WARNS_WITHOUT:
        warnings = json.dumps(outcome.warnings)
        if outcome.rc_failed or action not in warnings:
            problems.append("expected a warning naming %s and no failure; failed: %s, warnings: %s" % (action, outcome.rc_failed, warnings))
    elif not outcome.rc_failed:
        problems.append("the run did not fail without %s" % action)
    elif action not in outcome.failure or not any(code in outcome.failure for code in DENIAL_CODES):
        problems.append("the failure does not name %s with a denial: %s" % (action, outcome.failure[:1500]))
    return problems
