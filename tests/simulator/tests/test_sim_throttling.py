"""EC2 request throttling with token buckets per action, off unless switched on."""

import time

import pytest
from botocore.exceptions import ClientError

from simulator.throttling import Throttle, TokenBucket, bucket_class, default_figures


def describe_until_throttled(ec2, limit, **params):
    for n in range(limit):
        try:
            ec2.describe_instances(**params)
        except ClientError as error:
            return n, error
    return limit, None


def test_throttling_is_off_by_default(sim, ec2):
    assert sim.config()["throttling"]["enabled"] is False
    assert describe_until_throttled(ec2, 120)[1] is None


def test_over_budget_calls_answer_request_limit_exceeded(sim, ec2):
    sim.configure(throttling={"enabled": True, "buckets": {"unfiltered_non_mutating": {"size": 3, "refill_per_second": 0.5}}})

    allowed, error = describe_until_throttled(ec2, 10)

    assert allowed == 3
    assert error.response["Error"] == {"Code": "RequestLimitExceeded", "Message": "Request limit exceeded."}
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert sim.calls(action="DescribeInstances")[-1]["error_code"] == "RequestLimitExceeded"


def test_each_action_and_class_has_its_own_bucket(sim, ec2):
    sim.configure(throttling={"enabled": True, "buckets": {
        "unfiltered_non_mutating": {"size": 1, "refill_per_second": 0.01},
        "non_mutating": {"size": 1, "refill_per_second": 0.01},
    }})
    assert describe_until_throttled(ec2, 5)[0] == 1
    filtered = {"Filters": [{"Name": "instance-state-name", "Values": ["running"]}]}
    assert describe_until_throttled(ec2, 5, **filtered)[0] == 1
    ec2.describe_images(Owners=["self"])


def test_buckets_refill_at_their_rate(sim, ec2):
    sim.configure(throttling={"enabled": True, "buckets": {"DescribeInstances": {"size": 1, "refill_per_second": 10}}})
    ec2.describe_instances()
    with pytest.raises(ClientError):
        ec2.describe_instances()

    time.sleep(0.15)

    ec2.describe_instances()


def test_other_services_are_not_throttled(sim, aws):
    sim.configure(throttling={"enabled": True, "buckets": {"mutating": {"size": 0, "refill_per_second": 0}}})
    sts = aws("sts")
    assert all(sts.get_caller_identity() for attempt in range(5))


def test_reset_switches_throttling_back_off(sim, ec2):
    sim.configure(throttling={"enabled": True, "buckets": {"DescribeInstances": {"size": 0, "refill_per_second": 0}}})
    sim.reset()
    ec2.describe_instances()


@pytest.mark.parametrize("action, params, expected", [
    ("DescribeInstances", {}, "unfiltered_non_mutating"),
    ("DescribeInstances", {"Filter.1.Name": "tag:Role"}, "non_mutating"),
    ("DescribeSnapshots", {"MaxResults": "100"}, "non_mutating"),
    ("DescribeImages", {}, "non_mutating"),
    ("CreateImage", {}, "mutating"),
    ("AuthorizeSecurityGroupIngress", {}, "resource_intensive"),
    ("DeregisterImage", {}, "DeregisterImage"),
    ("CopyImage", {}, "CopyImage"),
])
def test_actions_fall_into_the_documented_categories(action, params, expected):
    assert bucket_class(action, params) == expected


def test_default_figures_are_the_documented_ones():
    assert default_figures("non_mutating") == {"size": 100, "refill_per_second": 20}
    assert default_figures("unfiltered_non_mutating") == {"size": 50, "refill_per_second": 10}
    assert default_figures("mutating") == {"size": 50, "refill_per_second": 5}
    assert default_figures("CopyImage") == {"size": 100, "refill_per_second": 1}


def test_default_mutating_bucket_allows_a_burst_of_fifty():
    throttle = Throttle()
    throttle.configure(enabled=True)
    results = [throttle.allow("us-east-1", "CreateImage", {}) for call in range(51)]
    assert results.count(True) == 50 and results[-1] is False


def test_token_bucket_refills_continuously():
    now = [0.0]
    bucket = TokenBucket(2, 5, clock=lambda: now[0])
    assert bucket.take() and bucket.take() and not bucket.take()
    now[0] = 0.2
    assert bucket.take() and not bucket.take()
