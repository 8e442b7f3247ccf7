"""An application load balancer in front of simulated instances, and its target health read while a task runs."""

import threading
import time


def target_group(ec2, elbv2, instance_ids, deregistration_delay=1):
    """A target group behind an application load balancer's listener, with `instance_ids` registered and healthy."""
    vpc_id = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]]
    group_arn = elbv2.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=vpc_id)["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(TargetGroupArn=group_arn, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": str(deregistration_delay)}])
    balancer_arn = elbv2.create_load_balancer(Name="web-lb", Subnets=subnets[:2])["LoadBalancers"][0]["LoadBalancerArn"]
    elbv2.create_listener(LoadBalancerArn=balancer_arn, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": group_arn}])
    elbv2.register_targets(TargetGroupArn=group_arn, Targets=[{"Id": i} for i in instance_ids])
    deadline = time.monotonic() + 10
    while set(target_states(elbv2, group_arn).values()) != {"healthy"}:
        assert time.monotonic() < deadline, "targets not healthy"
        time.sleep(0.1)
    return group_arn


def target_states(elbv2, group_arn):
    return {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in elbv2.describe_target_health(TargetGroupArn=group_arn)["TargetHealthDescriptions"]}


class Sampler(threading.Thread):
    """Reads a target group's health every 0.1 s while a task runs: [(time, {id: state})]."""

    def __init__(self, elbv2, group_arn):
        super().__init__(daemon=True)
        self.elbv2, self.group_arn = elbv2, group_arn
        self.samples = []
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            self.samples.append((time.time(), target_states(self.elbv2, self.group_arn)))
            time.sleep(0.1)
