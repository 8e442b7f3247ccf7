"""The simulator's ELBv2 target health: initial, healthy or unhealthy from the instance, draining for
the deregistration delay, unused without a listener; weights limited to 0-999."""

import time

import pytest
from botocore.exceptions import ClientError

from simulator.client import SimulatorError


@pytest.fixture
def elbv2(aws):
    return aws("elbv2")


@pytest.fixture
def web(sim):
    """Two running instances and a stopped one, as [id, id, stopped id]."""
    seeded = sim.seed({"instances": [{"name": "web", "count": 2}, {"name": "web-stopped", "state": "stopped"}]})
    return [seeded["instances"][name] for name in ("web-1", "web-2", "web-stopped")]


def target_group(ec2, elbv2, name="web", listener=True, protocol="HTTP"):
    """A target group, behind a load balancer's listener unless listener=False; returns (group ARN, balancer ARN)."""
    vpc_id = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]]
    group_arn = elbv2.create_target_group(Name=name, Protocol=protocol, Port=80, VpcId=vpc_id,
                                          HealthCheckProtocol=protocol)["TargetGroups"][0]["TargetGroupArn"]
    balancer_type = "application" if protocol == "HTTP" else "network"
    balancer_arn = elbv2.create_load_balancer(Name=f"{name}-lb", Subnets=subnets[:2],
                                              Type=balancer_type)["LoadBalancers"][0]["LoadBalancerArn"]
    if listener:
        add_listener(elbv2, balancer_arn, group_arn, protocol)
    return group_arn, balancer_arn


def add_listener(elbv2, balancer_arn, group_arn, protocol="HTTP"):
    return elbv2.create_listener(LoadBalancerArn=balancer_arn, Protocol=protocol, Port=80,
                                 DefaultActions=[{"Type": "forward", "TargetGroupArn": group_arn}])["Listeners"][0]["ListenerArn"]


def health(elbv2, group_arn, **extra):
    """{target id: (State, Reason, Description)}."""
    described = elbv2.describe_target_health(TargetGroupArn=group_arn, **extra)["TargetHealthDescriptions"]
    return {d["Target"]["Id"]: (d["TargetHealth"]["State"], d["TargetHealth"].get("Reason"),
                                d["TargetHealth"].get("Description")) for d in described}


def states(elbv2, group_arn):
    return {target_id: found[0] for target_id, found in health(elbv2, group_arn).items()}


def register(elbv2, group_arn, *instance_ids):
    elbv2.register_targets(TargetGroupArn=group_arn, Targets=[{"Id": i} for i in instance_ids])


def deregister(elbv2, group_arn, *instance_ids):
    elbv2.deregister_targets(TargetGroupArn=group_arn, Targets=[{"Id": i} for i in instance_ids])


def set_delay(elbv2, group_arn, seconds):
    elbv2.modify_target_group_attributes(TargetGroupArn=group_arn, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": str(seconds)}])


def test_a_registered_target_is_initial_then_healthy(sim, ec2, elbv2, web):
    sim.configure(elbv2={"healthy_after": 0.5})
    group_arn, _balancer = target_group(ec2, elbv2)
    register(elbv2, group_arn, web[0])

    assert health(elbv2, group_arn) == {web[0]: ("initial", "Elb.RegistrationInProgress", "Target registration is in progress")}
    time.sleep(0.55)
    assert health(elbv2, group_arn) == {web[0]: ("healthy", None, None)}
    register(elbv2, group_arn, web[0])  # registering again changes nothing
    assert states(elbv2, group_arn) == {web[0]: "healthy"}


def test_health_follows_the_sandbox_health_file_written_by_a_command_or_the_control_endpoint(sim, ec2, elbv2, aws, web):
    sim.configure(elbv2={"healthy_after": 0})
    group_arn, _balancer = target_group(ec2, elbv2)
    register(elbv2, group_arn, web[0], web[1])

    sim.set_instance_health([web[0]], healthy=False)
    assert health(elbv2, group_arn)[web[0]] == (
        "unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [503]")
    assert states(elbv2, group_arn)[web[1]] == "healthy"
    sim.set_instance_health([web[0]], healthy=True)
    assert states(elbv2, group_arn)[web[0]] == "healthy"

    ssm = aws("ssm")
    command_id = ssm.send_command(InstanceIds=[web[1]], DocumentName="AWS-RunShellScript",
                                  Parameters={"commands": ["echo unhealthy > health"]})["Command"]["CommandId"]
    deadline = time.monotonic() + 10
    while ssm.list_commands(CommandId=command_id)["Commands"][0]["Status"] != "Success":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert states(elbv2, group_arn)[web[1]] == "unhealthy"


def test_tcp_health_checks_fail_with_failed_health_checks(sim, ec2, elbv2, web):
    sim.configure(elbv2={"healthy_after": 0})
    group_arn, _balancer = target_group(ec2, elbv2, name="tcp", protocol="TCP")
    register(elbv2, group_arn, web[0])
    sim.set_instance_health([web[0]], healthy=False)

    assert health(elbv2, group_arn)[web[0]] == ("unhealthy", "Target.FailedHealthChecks", "Health checks failed")


def test_a_target_is_unhealthy_while_its_instance_reboots(sim, ec2, elbv2, web):
    sim.configure(elbv2={"healthy_after": 0}, root_volumes={"replace_seconds": 0.6})
    group_arn, _balancer = target_group(ec2, elbv2)
    register(elbv2, group_arn, web[0])
    # A root volume replacement reboots the instance while it is in progress.
    task_id = ec2.create_replace_root_volume_task(InstanceId=web[0])["ReplaceRootVolumeTask"]["ReplaceRootVolumeTaskId"]

    def task_state():
        return ec2.describe_replace_root_volume_tasks(ReplaceRootVolumeTaskIds=[task_id])["ReplaceRootVolumeTasks"][0]["TaskState"]

    while task_state() == "pending":
        time.sleep(0.02)
    assert health(elbv2, group_arn)[web[0]] == ("unhealthy", "Target.Timeout", "Request timed out")
    while task_state() == "in-progress":
        time.sleep(0.02)
    assert states(elbv2, group_arn)[web[0]] == "healthy"


def test_a_stopped_instance_is_unused(sim, ec2, elbv2, web):
    sim.configure(elbv2={"healthy_after": 0})
    group_arn, _balancer = target_group(ec2, elbv2)
    register(elbv2, group_arn, web[0])
    ec2.stop_instances(InstanceIds=[web[0]])

    assert health(elbv2, group_arn)[web[0]] == ("unused", "Target.InvalidState", "Target is in the stopped state")
    with pytest.raises(ClientError) as error:
        register(elbv2, group_arn, web[2])
    assert error.value.response["Error"]["Code"] == "InvalidTarget"


def test_targets_of_a_group_no_listener_uses_are_unused_until_one_does(sim, ec2, elbv2, web):
    sim.configure(elbv2={"healthy_after": 0.5})
    group_arn, balancer_arn = target_group(ec2, elbv2, listener=False)
    register(elbv2, group_arn, web[0])
    time.sleep(0.55)

    assert health(elbv2, group_arn)[web[0]] == (
        "unused", "Target.NotInUse", "Target group is not configured to receive traffic from the load balancer")
    listener_arn = add_listener(elbv2, balancer_arn, group_arn)
    assert states(elbv2, group_arn) == {web[0]: "initial"}  # health checks start with the listener
    time.sleep(0.55)
    assert states(elbv2, group_arn) == {web[0]: "healthy"}
    elbv2.delete_listener(ListenerArn=listener_arn)
    assert states(elbv2, group_arn) == {web[0]: "unused"}
    deregister(elbv2, group_arn, web[0])  # nothing to drain without a load balancer
    assert health(elbv2, group_arn) == {}


def test_a_deregistered_target_drains_for_the_deregistration_delay_then_is_gone(sim, ec2, elbv2, web):
    sim.configure(elbv2={"healthy_after": 0})
    group_arn, _balancer = target_group(ec2, elbv2)
    set_delay(elbv2, group_arn, 1)
    register(elbv2, group_arn, web[0], web[1])
    deregister(elbv2, group_arn, web[0])
    deregister(elbv2, group_arn, web[0])  # again while draining: no error, no change

    assert health(elbv2, group_arn) == {
        web[0]: ("draining", "Target.DeregistrationInProgress", "Target deregistration is in progress"),
        web[1]: ("healthy", None, None),
    }
    time.sleep(1.05)
    assert states(elbv2, group_arn) == {web[1]: "healthy"}
    assert health(elbv2, group_arn, Targets=[{"Id": web[0]}]) == {
        web[0]: ("unused", "Target.NotRegistered", "Target is not registered to the target group")}
    deregister(elbv2, group_arn, web[0])  # not registered: AWS answers success


def test_registering_a_draining_target_makes_it_initial_again(sim, ec2, elbv2, web):
    sim.configure(elbv2={"healthy_after": 0.5})
    group_arn, _balancer = target_group(ec2, elbv2)
    register(elbv2, group_arn, web[0])
    time.sleep(0.55)
    deregister(elbv2, group_arn, web[0])
    assert states(elbv2, group_arn) == {web[0]: "draining"}  # the default delay is 300 s

    register(elbv2, group_arn, web[0])
    assert states(elbv2, group_arn) == {web[0]: "initial"}


def test_the_deregistration_delay_cap_shortens_draining_and_termination_drains(sim, ec2, elbv2, web):
    sim.configure(elbv2={"healthy_after": 0, "deregistration_delay_cap": 0.5})
    group_arn, _balancer = target_group(ec2, elbv2)
    register(elbv2, group_arn, web[0], web[1])
    deregister(elbv2, group_arn, web[0])
    ec2.terminate_instances(InstanceIds=[web[1]])

    assert states(elbv2, group_arn) == {web[0]: "draining", web[1]: "draining"}
    time.sleep(0.55)
    assert states(elbv2, group_arn) == {}


def test_forward_weights_outside_0_to_999_are_refused(ec2, elbv2, web):
    group_arn, balancer_arn = target_group(ec2, elbv2, listener=False)
    other_arn = elbv2.create_target_group(Name="other", Protocol="HTTP", Port=80,
                                          VpcId=ec2.describe_vpcs()["Vpcs"][0]["VpcId"])["TargetGroups"][0]["TargetGroupArn"]

    def forward(first, second):
        return [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": group_arn, "Weight": first}, {"TargetGroupArn": other_arn, "Weight": second}]}}]

    def refused(call):
        with pytest.raises(ClientError) as error:
            call()
        return error.value.response["Error"]["Code"], error.value.response["Error"]["Message"]

    assert refused(lambda: elbv2.create_listener(LoadBalancerArn=balancer_arn, Protocol="HTTP", Port=80,
                                                 DefaultActions=forward(1000, 0))) == (
        "ValidationError", "1 validation error detected: Value '1000' at "
        "'defaultActions.1.member.forwardConfig.targetGroups.1.member.weight' failed to satisfy constraint: "
        "Member must have value less than or equal to 999")
    listener_arn = elbv2.create_listener(LoadBalancerArn=balancer_arn, Protocol="HTTP", Port=80,
                                         DefaultActions=forward(999, 0))["Listeners"][0]["ListenerArn"]
    code, message = refused(lambda: elbv2.modify_listener(ListenerArn=listener_arn, DefaultActions=forward(-1, 1000)))
    assert code == "ValidationError" and message.startswith("2 validation errors detected: ")
    assert "greater than or equal to 0" in message and "targetGroups.2.member.weight" in message
    assert refused(lambda: elbv2.create_rule(
        ListenerArn=listener_arn, Priority=1, Actions=forward(5000, 1),
        Conditions=[{"Field": "path-pattern", "Values": ["/x"]}]))[0] == "ValidationError"
    weights = elbv2.describe_listeners(ListenerArns=[listener_arn])["Listeners"][0]["DefaultActions"][0]["ForwardConfig"]
    assert [g["Weight"] for g in weights["TargetGroups"]] == [999, 0]


def test_elbv2_settings_are_shown_checked_and_reset(sim):
    assert sim.config()["elbv2"] == {"healthy_after": 0.5, "deregistration_delay_cap": None}
    assert sim.configure(elbv2={"deregistration_delay_cap": 2})["elbv2"]["deregistration_delay_cap"] == 2.0
    for bad in ({"healthy_after": -1}, {"healthy_after": None}, {"speed": 1}):
        with pytest.raises(SimulatorError):
            sim.configure(elbv2=bad)
    with pytest.raises(SimulatorError):
        sim.set_instance_health([], healthy=False)
    sim.reset()
    assert sim.config()["elbv2"]["deregistration_delay_cap"] is None
