"""Seeds an application load balancer on the simulator for the deploy roles' molecule scenarios (prepare.yml).

    python load_balancer.py ENDPOINT '{"groups": {"web": ["i-..."]}, "weights": {"web": 100}}'

Creates each target group (deregistration delay 1 s) with its instances registered, one load balancer whose HTTP
listener forwards to the groups with the given weights, waits until every target is healthy, and prints
{"listener_arn": ..., "target_groups": {name: arn}}.
"""

import json
import sys
import time

import boto3


def main(endpoint, spec):
    def client(service):
        return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                            aws_secret_access_key="testing")
    ec2, elbv2 = client("ec2"), client("elbv2")
    vpc_id = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]]
    arns = {}
    for name, instance_ids in spec["groups"].items():
        arns[name] = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc_id)["TargetGroups"][0]["TargetGroupArn"]
        elbv2.modify_target_group_attributes(TargetGroupArn=arns[name], Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "1"}])
        elbv2.register_targets(TargetGroupArn=arns[name], Targets=[{"Id": i} for i in instance_ids])
    balancer = elbv2.create_load_balancer(Name="molecule", Subnets=subnets[:2])["LoadBalancers"][0]["LoadBalancerArn"]
    forward = {"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": arns[name], "Weight": weight} for name, weight in spec["weights"].items()]}}
    listener_arn = elbv2.create_listener(LoadBalancerArn=balancer, Protocol="HTTP", Port=80, DefaultActions=[forward])["Listeners"][0]["ListenerArn"]
    deadline = time.monotonic() + 30
    for arn in arns.values():
        while {d["TargetHealth"]["State"] for d in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]} != {"healthy"}:
            if time.monotonic() > deadline:
                sys.exit("targets of %s not healthy" % arn)
            time.sleep(0.1)
    print(json.dumps({"listener_arn": listener_arn, "target_groups": arns}))


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]))
