"""The simulator's Auto Scaling instance refresh: the AWS state machine, batches that keep the minimum
healthy percentage, checkpoints, SkipMatching, alarms and rollbacks, all through boto3."""

import time

import pytest
from botocore.exceptions import ClientError

from simulator.client import SimulatorError

GROUP = "web"
TERMINAL = ("Successful", "Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed")
# Short waits that still leave every state visible for a few polls.
FAST = {"step_seconds": 0.1, "instance_warmup_cap": 0.2, "checkpoint_delay_cap": 0.5, "bake_time_cap": 0.3,
        "wait_cap": 0.3}


@pytest.fixture
def asg(aws):
    return aws("autoscaling")


@pytest.fixture
def rollout(sim, ec2, asg):
    """A group of 4 instances on launch template version 1 (the base image) and a version 2 with a new AMI,
    made with SourceVersion; returns {"old_image", "new_image"}."""
    sim.configure(autoscaling=FAST)
    seeded = sim.seed({"instances": [{"name": "golden"}], "launch_templates": [{"name": "web-lt"}],
                       "auto_scaling_groups": [{"name": GROUP, "launch_template": "web-lt", "launch_template_version": 1,
                                                "max_size": 8, "desired_capacity": 4}]})
    new_image = ec2.create_image(InstanceId=seeded["instances"]["golden"], Name="golden-2")["ImageId"]
    ec2.create_launch_template_version(LaunchTemplateName="web-lt", SourceVersion="1",
                                       LaunchTemplateData={"ImageId": new_image})
    assert asg.describe_auto_scaling_groups()["AutoScalingGroups"][0]["LaunchTemplate"]["Version"] == "1"
    return {"old_image": seeded["images"]["base-image"], "new_image": new_image}


def to_version(version="2"):
    return {"LaunchTemplate": {"LaunchTemplateName": "web-lt", "Version": version}}


def start(asg, desired=None, **preferences):
    extra = {"DesiredConfiguration": desired} if desired else {}
    return asg.start_instance_refresh(AutoScalingGroupName=GROUP, Preferences=preferences, **extra)["InstanceRefreshId"]


def refresh_of(asg, refresh_id):
    return asg.describe_instance_refreshes(AutoScalingGroupName=GROUP, InstanceRefreshIds=[refresh_id])["InstanceRefreshes"][0]


def instances(asg):
    return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]["Instances"]


def watch(asg, refresh_id, until=TERMINAL, timeout=20):
    """Samples (refresh, group instances) every 20 ms until the refresh's status is in `until`."""
    samples, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        samples.append((refresh_of(asg, refresh_id), instances(asg)))
        if samples[-1][0]["Status"] in until:
            return samples
        time.sleep(0.02)
    raise AssertionError(f"refresh still {samples[-1][0]['Status']} after {timeout} s")


def at_checkpoint(asg, refresh_id, timeout=20):
    """Wait until the refresh pauses at a checkpoint."""
    deadline = time.monotonic() + timeout
    while "Checkpoint" not in (refresh_of(asg, refresh_id).get("StatusReason") or ""):
        assert time.monotonic() < deadline, "no checkpoint reached"
        time.sleep(0.02)


def statuses(samples):
    seen = []
    for refresh, _instances in samples:
        if not seen or seen[-1] != refresh["Status"]:
            seen.append(refresh["Status"])
    return seen


def images_of(ec2, instance_list):
    ids = [i["InstanceId"] for i in instance_list]
    return {i["InstanceId"]: i["ImageId"] for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
            for i in r["Instances"]}


def error_code(call):
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"]


def set_alarm(aws, state):
    cloudwatch = aws("cloudwatch")
    cloudwatch.set_alarm_state(AlarmName="web-5xx", StateValue=state, StateReason="test")


def make_alarm(aws):
    aws("cloudwatch").put_metric_alarm(AlarmName="web-5xx", MetricName="HTTPCode_Target_5XX_Count",
                                       Namespace="AWS/ApplicationELB", Statistic="Sum", Period=60, EvaluationPeriods=1,
                                       Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold")


def test_refresh_replaces_every_instance_in_batches_that_keep_the_minimum_healthy(sim, ec2, asg, aws, rollout):
    old_ids = {i["InstanceId"] for i in instances(asg)}
    refresh_id = start(asg, to_version(), MinHealthyPercentage=50)

    samples = watch(asg, refresh_id)

    assert statuses(samples) == ["Pending", "InProgress", "Successful"]
    # Two at a time: two old instances terminated, two launched, never more than four.
    assert min(sum(i["LifecycleState"] == "InService" for i in group) for _refresh, group in samples) >= 2
    assert max(len(group) for _refresh, group in samples) == 4
    assert ["1", "1", "2", "2"] in [sorted(i["LaunchTemplate"]["Version"] for i in group) for _refresh, group in samples]
    final = samples[-1][0]
    assert (final["PercentageComplete"], final["InstancesToUpdate"]) == (100, 0)
    assert final["EndTime"] >= final["StartTime"]
    assert final["DesiredConfiguration"] == to_version()
    assert final["Preferences"]["MinHealthyPercentage"] == 50
    group = instances(asg)
    assert len(group) == 4 and not old_ids & {i["InstanceId"] for i in group}
    assert set(images_of(ec2, group).values()) == {rollout["new_image"]}
    assert {i["LaunchTemplate"]["Version"] for i in group} == {"2"}
    described = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]
    assert described["LaunchTemplate"]["Version"] == "2"
    old = ec2.describe_instances(InstanceIds=sorted(old_ids))["Reservations"]
    assert {i["State"]["Name"] for r in old for i in r["Instances"]} == {"terminated"}
    assert {i["InstanceId"] for i in group} <= online(aws)


def online(aws):
    managed = aws("ssm").describe_instance_information()["InstanceInformationList"]
    return {node["InstanceId"] for node in managed if node["PingStatus"] == "Online"}


def test_a_new_instance_is_pending_and_unknown_to_ssm_until_it_has_booted(sim, asg, aws, rollout):
    sim.configure(autoscaling={"step_seconds": 0.5})
    refresh_id = start(asg, to_version(), MinHealthyPercentage=50)
    pending = []
    while not pending:
        pending = [i["InstanceId"] for i in instances(asg) if i["LifecycleState"] == "Pending"]
        time.sleep(0.02)

    assert not set(pending) & online(aws)
    asg.cancel_instance_refresh(AutoScalingGroupName=GROUP)
    watch(asg, refresh_id)
    assert {i["InstanceId"]: i["LifecycleState"] for i in instances(asg) if i["InstanceId"] in pending} == dict.fromkeys(pending, "InService")
    assert set(pending) <= online(aws)


def test_launch_before_terminate_when_max_healthy_is_above_100(sim, ec2, asg, rollout):
    refresh_id = start(asg, to_version(), MinHealthyPercentage=100, MaxHealthyPercentage=150)

    samples = watch(asg, refresh_id)

    assert samples[-1][0]["Status"] == "Successful"
    assert min(sum(i["LifecycleState"] == "InService" for i in group) for _refresh, group in samples) == 4
    assert max(len(group) for _refresh, group in samples) == 6
    assert set(images_of(ec2, instances(asg)).values()) == {rollout["new_image"]}


def test_checkpoints_pause_the_refresh_and_bake_time_comes_before_success(sim, asg, rollout):
    refresh_id = start(asg, to_version(), MinHealthyPercentage=50, CheckpointPercentages=[25, 100],
                       CheckpointDelay=600, BakeTime=300)

    samples = watch(asg, refresh_id)

    assert statuses(samples) == ["Pending", "InProgress", "Baking", "Successful"]
    paused = [refresh for refresh, _group in samples if (refresh.get("StatusReason") or "").startswith("Checkpoint")]
    assert paused and {refresh["PercentageComplete"] for refresh in paused} == {25}
    assert paused[0]["StatusReason"] == "Checkpoint 25% reached: waiting 600 seconds before continuing."
    assert {refresh["InstancesToUpdate"] for refresh in paused} == {3}
    # The checkpoint limits the first batch to one instance, though 50% healthy would allow two.
    first_batch = samples[[refresh for refresh, _group in samples].index(paused[0])][1]
    assert sum(i["LaunchTemplate"]["Version"] == "2" for i in first_batch) == 1
    baking = [refresh for refresh, _group in samples if refresh["Status"] == "Baking"]
    assert baking[0]["PercentageComplete"] == 100


def test_the_last_checkpoint_ends_a_partial_refresh(sim, asg, rollout):
    refresh_id = start(asg, to_version(), MinHealthyPercentage=50, CheckpointPercentages=[50])

    final = watch(asg, refresh_id)[-1][0]

    assert (final["Status"], final["PercentageComplete"], final["InstancesToUpdate"]) == ("Successful", 50, 2)
    assert sorted(i["LaunchTemplate"]["Version"] for i in instances(asg)) == ["1", "1", "2", "2"]


def test_skip_matching_keeps_the_instances_already_on_the_desired_version(sim, asg, rollout):
    asg.update_auto_scaling_group(AutoScalingGroupName=GROUP, LaunchTemplate={"LaunchTemplateName": "web-lt",
                                                                              "Version": "2"})
    asg.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=6)
    on_version_2 = {i["InstanceId"] for i in instances(asg) if i["LaunchTemplate"]["Version"] == "2"}
    assert len(on_version_2) == 2

    final = watch(asg, start(asg, SkipMatching=True, MinHealthyPercentage=50))[-1][0]

    assert final["Status"] == "Successful"
    group = instances(asg)
    assert len(group) == 6 and on_version_2 <= {i["InstanceId"] for i in group}
    assert {i["LaunchTemplate"]["Version"] for i in group} == {"2"}


def test_without_skip_matching_every_instance_is_replaced(sim, asg, rollout):
    before = {i["InstanceId"] for i in instances(asg)}

    assert watch(asg, start(asg, MinHealthyPercentage=50))[-1][0]["Status"] == "Successful"
    assert not before & {i["InstanceId"] for i in instances(asg)}


def test_an_alarm_in_alarm_rolls_the_refresh_back_with_auto_rollback(sim, ec2, asg, aws, rollout):
    make_alarm(aws)
    refresh_id = start(asg, to_version(), MinHealthyPercentage=50, CheckpointPercentages=[50, 100],
                       CheckpointDelay=600, AutoRollback=True, AlarmSpecification={"Alarms": ["web-5xx"]})
    at_checkpoint(asg, refresh_id)
    set_alarm(aws, "ALARM")

    samples = watch(asg, refresh_id)

    assert statuses(samples)[-2:] == ["RollbackInProgress", "RollbackSuccessful"]
    final = samples[-1][0]
    details = final["RollbackDetails"]
    assert details["RollbackReason"] == "CloudWatch alarm web-5xx is in the ALARM state."
    assert (details["PercentageCompleteOnRollback"], details["InstancesToUpdateOnRollback"]) == (50, 2)
    rolling_back = [refresh["PercentageComplete"] for refresh, _group in samples if refresh["Status"] == "RollbackInProgress"]
    assert rolling_back[0] == 50 and final["PercentageComplete"] == 0
    assert min(sum(i["LifecycleState"] == "InService" for i in group) for _refresh, group in samples) >= 2
    group = instances(asg)
    assert len(group) == 4 and {i["LaunchTemplate"]["Version"] for i in group} == {"1"}
    assert set(images_of(ec2, group).values()) == {rollout["old_image"]}
    described = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]
    assert described["LaunchTemplate"]["Version"] == "1"


def test_an_alarm_without_auto_rollback_fails_the_refresh(sim, asg, aws, rollout):
    make_alarm(aws)
    refresh_id = start(asg, to_version(), MinHealthyPercentage=50, CheckpointPercentages=[50, 100],
                       CheckpointDelay=600, AlarmSpecification={"Alarms": ["web-5xx"]})
    at_checkpoint(asg, refresh_id)
    set_alarm(aws, "ALARM")

    final = watch(asg, refresh_id)[-1][0]

    assert (final["Status"], final["StatusReason"]) == ("Failed", "CloudWatch alarm web-5xx is in the ALARM state.")
    assert "RollbackDetails" not in final
    assert sorted(i["LaunchTemplate"]["Version"] for i in instances(asg)) == ["1", "1", "2", "2"]


def test_an_alarm_during_the_bake_time_rolls_back(sim, asg, aws, rollout):
    make_alarm(aws)
    sim.configure(autoscaling={"bake_time_cap": 5})
    refresh_id = start(asg, to_version(), MinHealthyPercentage=50, BakeTime=60, AutoRollback=True,
                       AlarmSpecification={"Alarms": ["web-5xx"]})
    watch(asg, refresh_id, until=("Baking",))
    set_alarm(aws, "ALARM")

    assert watch(asg, refresh_id)[-1][0]["Status"] == "RollbackSuccessful"
    assert {i["LaunchTemplate"]["Version"] for i in instances(asg)} == {"1"}


def test_rollback_instance_refresh_by_request(sim, asg, rollout):
    refresh_id = start(asg, to_version(), MinHealthyPercentage=50, CheckpointPercentages=[50, 100],
                       CheckpointDelay=600)
    at_checkpoint(asg, refresh_id)

    assert asg.rollback_instance_refresh(AutoScalingGroupName=GROUP)["InstanceRefreshId"] == refresh_id
    assert refresh_of(asg, refresh_id)["Status"] == "RollbackInProgress"
    final = watch(asg, refresh_id)[-1][0]

    assert final["Status"] == "RollbackSuccessful"
    assert final["RollbackDetails"]["RollbackReason"] == "Rollback initiated by user request."
    assert {i["LaunchTemplate"]["Version"] for i in instances(asg)} == {"1"}
    assert error_code(lambda: asg.rollback_instance_refresh(AutoScalingGroupName=GROUP)) == "ActiveInstanceRefreshNotFound"


def test_a_refresh_without_desired_configuration_cannot_roll_back(sim, asg, rollout):
    refresh_id = start(asg, MinHealthyPercentage=50, CheckpointPercentages=[50, 100], CheckpointDelay=600)

    assert error_code(lambda: asg.rollback_instance_refresh(AutoScalingGroupName=GROUP)) == "IrreversibleInstanceRefresh"
    assert error_code(lambda: start(asg, AutoRollback=True)) == "ValidationError"
    asg.cancel_instance_refresh(AutoScalingGroupName=GROUP)
    assert watch(asg, refresh_id)[-1][0]["Status"] == "Cancelled"


def test_cancel_stops_replacing_and_rolls_nothing_back(sim, asg, rollout):
    refresh_id = start(asg, to_version(), MinHealthyPercentage=50, CheckpointPercentages=[50, 100],
                       CheckpointDelay=600)
    at_checkpoint(asg, refresh_id)

    assert asg.cancel_instance_refresh(AutoScalingGroupName=GROUP)["InstanceRefreshId"] == refresh_id
    samples = watch(asg, refresh_id)

    assert statuses(samples)[-1] == "Cancelled" and samples[-1][0]["EndTime"]
    assert sorted(i["LaunchTemplate"]["Version"] for i in instances(asg)) == ["1", "1", "2", "2"]
    assert error_code(lambda: asg.cancel_instance_refresh(AutoScalingGroupName=GROUP)) == "ActiveInstanceRefreshNotFound"
    described = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]
    assert described["LaunchTemplate"]["Version"] == "1"


def test_cancel_during_the_batch_under_way_shows_cancelling_until_it_is_in_service(sim, asg, rollout):
    sim.configure(autoscaling={"instance_warmup_cap": 1.0})
    refresh_id = start(asg, to_version(), MinHealthyPercentage=50)
    watch(asg, refresh_id, until=("InProgress",))

    asg.cancel_instance_refresh(AutoScalingGroupName=GROUP)
    samples = watch(asg, refresh_id)

    assert statuses(samples) == ["Cancelling", "Cancelled"]
    assert len(instances(asg)) == 4


def test_one_refresh_at_a_time_per_group(sim, asg, rollout):
    assert error_code(lambda: asg.cancel_instance_refresh(AutoScalingGroupName=GROUP)) == "ActiveInstanceRefreshNotFound"
    start(asg, to_version(), MinHealthyPercentage=50)

    with pytest.raises(ClientError) as caught:
        start(asg, to_version())
    error = caught.value.response["Error"]
    assert (error["Code"], error["Message"]) == (
        "InstanceRefreshInProgress", "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.")


def test_a_launch_that_fails_fails_the_refresh_or_rolls_it_back(sim, ec2, asg, rollout):
    ec2.deregister_image(ImageId=rollout["new_image"])

    failed = watch(asg, start(asg, to_version(), MinHealthyPercentage=50))[-1][0]
    rolled_back = watch(asg, start(asg, to_version(), MinHealthyPercentage=50, AutoRollback=True))[-1][0]

    reason = f"Launching a new EC2 instance failed: the image id '[{rollout['new_image']}]' does not exist."
    assert (failed["Status"], failed["StatusReason"]) == ("Failed", reason)
    assert (rolled_back["Status"], rolled_back["RollbackDetails"]["RollbackReason"]) == ("RollbackSuccessful", reason)
    assert {i["LaunchTemplate"]["Version"] for i in instances(asg)} == {"1"} and len(instances(asg)) == 4


def test_protected_instances_are_ignored_refreshed_or_waited_for(sim, asg, rollout):
    protected = instances(asg)[0]["InstanceId"]
    asg.set_instance_protection(AutoScalingGroupName=GROUP, InstanceIds=[protected], ProtectedFromScaleIn=True)

    ignored = watch(asg, start(asg, to_version(), MinHealthyPercentage=50, ScaleInProtectedInstances="Ignore"))[-1][0]
    assert ignored["Status"] == "Successful" and ignored["PercentageComplete"] == 100
    assert [i["LaunchTemplate"]["Version"] for i in instances(asg) if i["InstanceId"] == protected] == ["1"]

    waited = watch(asg, start(asg, to_version(), MinHealthyPercentage=50, SkipMatching=True))[-1][0]
    assert waited["Status"] == "Failed"
    assert waited["StatusReason"] == f"Instances protected from scale in or in Standby were not released in time: {protected}."

    refreshed = watch(asg, start(asg, to_version(), SkipMatching=True, ScaleInProtectedInstances="Refresh"))[-1][0]
    assert refreshed["Status"] == "Successful"
    assert protected not in {i["InstanceId"] for i in instances(asg)}


def test_standby_instances_are_terminated_with_terminate(sim, asg, rollout):
    standby = instances(asg)[0]["InstanceId"]
    asg.enter_standby(AutoScalingGroupName=GROUP, InstanceIds=[standby], ShouldDecrementDesiredCapacity=True)

    final = watch(asg, start(asg, to_version(), MinHealthyPercentage=50, StandbyInstances="Terminate"))[-1][0]

    assert final["Status"] == "Successful"
    group = instances(asg)
    assert standby not in {i["InstanceId"] for i in group} and len(group) == 3


def test_new_instances_join_the_target_groups_and_old_ones_drain(sim, ec2, asg, aws, rollout):
    sim.configure(elbv2={"healthy_after": 0.05, "deregistration_delay_cap": 0.3})
    elbv2 = aws("elbv2")
    vpc_id = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]]
    group_arn = elbv2.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=vpc_id)["TargetGroups"][0]["TargetGroupArn"]
    balancer_arn = elbv2.create_load_balancer(Name="web-lb", Subnets=subnets[:2])["LoadBalancers"][0]["LoadBalancerArn"]
    elbv2.create_listener(LoadBalancerArn=balancer_arn, Protocol="HTTP", Port=80,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": group_arn}])
    asg.attach_load_balancer_target_groups(AutoScalingGroupName=GROUP, TargetGroupARNs=[group_arn])
    old_ids = {i["InstanceId"] for i in instances(asg)}
    refresh_id = start(asg, to_version(), MinHealthyPercentage=50)

    seen = set()
    while refresh_of(asg, refresh_id)["Status"] not in TERMINAL:
        described = elbv2.describe_target_health(TargetGroupArn=group_arn)["TargetHealthDescriptions"]
        seen |= {(d["Target"]["Id"] in old_ids, d["TargetHealth"]["State"]) for d in described}
        time.sleep(0.02)

    assert (True, "draining") in seen and (False, "healthy") in seen
    final = elbv2.describe_target_health(TargetGroupArn=group_arn)["TargetHealthDescriptions"]
    assert {d["Target"]["Id"] for d in final} == {i["InstanceId"] for i in instances(asg)}
    assert not old_ids & {d["Target"]["Id"] for d in final}


def test_describe_pages_newest_first(sim, asg, rollout):
    asg.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=0)
    refresh_ids = [start(asg, to_version())]
    for _number in range(2):
        watch(asg, refresh_ids[-1])
        refresh_ids.append(start(asg))
    watch(asg, refresh_ids[-1])

    first = asg.describe_instance_refreshes(AutoScalingGroupName=GROUP, MaxRecords=2)
    second = asg.describe_instance_refreshes(AutoScalingGroupName=GROUP, MaxRecords=2, NextToken=first["NextToken"])

    assert [r["InstanceRefreshId"] for r in first["InstanceRefreshes"] + second["InstanceRefreshes"]] == refresh_ids[::-1]
    assert "NextToken" not in second
    assert error_code(lambda: asg.describe_instance_refreshes(AutoScalingGroupName=GROUP, NextToken="x")) == "InvalidNextToken"
    assert error_code(lambda: asg.describe_instance_refreshes(AutoScalingGroupName=GROUP, MaxRecords=101)) == "ValidationError"


@pytest.mark.parametrize("preferences, desired", [
    ({"MinHealthyPercentage": 101}, None),
    ({"MaxHealthyPercentage": 150}, None),
    ({"MinHealthyPercentage": 50, "MaxHealthyPercentage": 160}, None),
    ({"CheckpointDelay": 60}, None),
    ({"CheckpointPercentages": [50, 20]}, None),
    ({"AlarmSpecification": {"Alarms": ["no-such-alarm"]}}, None),
    ({"ScaleInProtectedInstances": "Sometimes"}, None),
    ({"AutoRollback": True}, None),
    ({}, {"LaunchTemplate": {"LaunchTemplateName": "no-such-lt"}}),
    ({}, {"LaunchTemplate": {"LaunchTemplateName": "web-lt", "Version": "9"}}),
])
def test_bad_preferences_and_configurations_are_refused(sim, asg, rollout, preferences, desired):
    assert error_code(lambda: start(asg, desired, **preferences)) == "ValidationError"
    assert asg.describe_instance_refreshes(AutoScalingGroupName=GROUP)["InstanceRefreshes"] == []


def test_auto_rollback_needs_a_numbered_group_version(sim, asg, rollout):
    asg.update_auto_scaling_group(AutoScalingGroupName=GROUP, LaunchTemplate={"LaunchTemplateName": "web-lt",
                                                                              "Version": "$Latest"})

    assert error_code(lambda: start(asg, to_version(), AutoRollback=True)) == "ValidationError"
    assert error_code(lambda: asg.start_instance_refresh(AutoScalingGroupName=GROUP, Strategy="ReplaceRootVolume")) == "ValidationError"
    assert error_code(lambda: asg.start_instance_refresh(AutoScalingGroupName="no-such-group")) == "ValidationError"


def test_settings_are_checked_and_shown(sim):
    assert sim.config()["autoscaling"] == {"step_seconds": 0.2, "instance_warmup_cap": None,
                                           "checkpoint_delay_cap": None, "bake_time_cap": None, "wait_cap": None}
    assert sim.configure(autoscaling={"instance_warmup_cap": 1})["autoscaling"]["instance_warmup_cap"] == 1.0
    for bad in ({"step_seconds": 0}, {"bake_time_cap": -1}, {"warmup": 1}):
        with pytest.raises(SimulatorError):
            sim.configure(autoscaling=bad)
