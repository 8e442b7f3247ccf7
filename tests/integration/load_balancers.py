"""An application load balancer in front of simulated instances, and its target health read while a task runs; the
blue/green shop and its listener's weights."""

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


def forward(arns, blue, green):
    """A listener's forward action to the target groups arns["blue"] and arns["green"] with these weights."""
    return {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": arns["blue"], "Weight": blue},
                                                                  {"TargetGroupArn": arns["green"], "Weight": green}]}}


def blue_green_shop(sim, ec2, elbv2):
    """An ALB whose HTTP listener forwards to shop-blue (100) and shop-green (0), two instances in each:
    {"blue": ARN, "green": ARN, "listener": ARN, "blue_ids": [...], "green_ids": [...]}, the ids sorted."""
    ids = sim.seed({"region": "us-east-1", "instances": [{"name": "blue", "count": 2}, {"name": "green", "count": 2}]})["instances"]
    vpc_id = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]]
    arns = {}
    for color in ("blue", "green"):
        arns[color] = elbv2.create_target_group(Name="shop-" + color, Protocol="HTTP", Port=80, VpcId=vpc_id)["TargetGroups"][0]["TargetGroupArn"]
        elbv2.register_targets(TargetGroupArn=arns[color], Targets=[{"Id": ids["%s-%d" % (color, n)]} for n in (1, 2)])
    balancer = elbv2.create_load_balancer(Name="shop", Subnets=subnets[:2])["LoadBalancers"][0]["LoadBalancerArn"]
    listener = elbv2.create_listener(LoadBalancerArn=balancer, Protocol="HTTP", Port=80, DefaultActions=[forward(arns, 100, 0)])
    return dict(arns, listener=listener["Listeners"][0]["ListenerArn"], blue_ids=sorted([ids["blue-1"], ids["blue-2"]]),
                green_ids=sorted([ids["green-1"], ids["green-2"]]))


def forward_weights(elbv2, shop):
    """(blue, green): the weights of the shop's listener's forward, as DescribeListeners answers."""
    groups = elbv2.describe_listeners(ListenerArns=[shop["listener"]])["Listeners"][0]["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
    by_arn = {group["TargetGroupArn"]: group["Weight"] for group in groups}
    return by_arn[shop["blue"]], by_arn[shop["green"]]


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
