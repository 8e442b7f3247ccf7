"""The client-side copy of EC2's token buckets: held calls, on a fake clock, and the hooks on a real boto3 client."""

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError

from ansible_collections.cloudops.aws.plugins.module_utils.request_pacing import RequestPacer
from ansible_collections.cloudops.aws.plugins.module_utils.request_pacing import bucket_figures

THROTTLED = (None, {"Error": {"Code": "RequestLimitExceeded", "Message": "Request limit exceeded."}})
ANSWERED = (None, {"ImageId": "ami-1"})


class FakeTime:
    def __init__(self):
        self.now = 100.0
        self.slept = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def fake_time():
    return FakeTime()


@pytest.fixture
def pacer(fake_time):
    return RequestPacer(clock=fake_time.clock, sleep=fake_time.sleep)


def send(pacer, action, response=ANSWERED):
    pacer.before_send(event_name="before-send.ec2." + action)
    pacer.after_attempt(event_name="needs-retry.ec2." + action, response=response)


def test_an_action_never_throttled_is_never_held(pacer, fake_time):
    for _call in range(500):
        send(pacer, "CreateImage")
    assert fake_time.slept == [] and pacer.held_seconds == 0


def test_after_a_throttle_the_action_is_spread_at_its_refill_rate_and_others_are_not(pacer, fake_time):
    send(pacer, "CreateImage", THROTTLED)
    for _call in range(4):
        send(pacer, "CreateImage")
    send(pacer, "DeregisterImage")

    # CreateImage is mutating: refilled at 5 tokens a second, so one call every 0.2 s.
    assert fake_time.slept == [0.2, 0.2, 0.2, 0.2]
    assert bucket_figures("CreateImage") == (50, 5) and bucket_figures("DeregisterImage") == (100, 5)
    assert bucket_figures("DescribeImages") == (100, 20)


def test_calls_waiting_together_take_their_tokens_in_turn(pacer, fake_time):
    send(pacer, "DeleteSnapshot", THROTTLED)
    # Ten threads asking at the same moment: each is told its own turn.
    holds = [pacer.hold("DeleteSnapshot") for _call in range(10)]
    assert holds == pytest.approx([0.2 * n for n in range(1, 11)])


def test_the_copy_refills_up_to_the_bucket_size_when_idle(pacer, fake_time):
    send(pacer, "DeregisterImage", THROTTLED)
    fake_time.now += 3600
    holds = [pacer.hold("DeregisterImage") for _call in range(101)]
    # A full bucket of 100 goes at once; the 101st waits for a refill.
    assert holds[:100] == [0.0] * 100 and holds[100] == pytest.approx(0.2)


def test_a_throttle_while_paced_empties_the_copy_again(pacer, fake_time):
    send(pacer, "CreateImage", THROTTLED)
    fake_time.now += 10
    send(pacer, "CreateImage", THROTTLED)
    assert pacer.hold("CreateImage") == pytest.approx(0.2)


class Raw:
    def __init__(self, body):
        self.body = body

    def stream(self, **kwargs):
        yield self.body


def answers(bodies):
    """A before-send handler standing in for EC2: it answers each request with the next (status, XML body)."""
    def answer(request, **kwargs):
        status, body = bodies.pop(0)
        return AWSResponse(request.url, status, {}, Raw(body.encode()))
    return answer


THROTTLED_XML = ("<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors>"
                 "<RequestID>r-1</RequestID></Response>")
IMAGES_XML = '<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-2</requestId><imagesSet/></DescribeImagesResponse>'


def test_installed_on_a_boto3_client_it_holds_the_attempts_after_a_throttled_answer(fake_time):
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url="http://127.0.0.1:9", aws_access_key_id="x", aws_secret_access_key="y",
                       config=Config(retries={"total_max_attempts": 1}))
    pacer = RequestPacer(clock=fake_time.clock, sleep=fake_time.sleep)
    assert pacer.install(ec2) is ec2
    # Registered after the pacer's hook, so the pacer holds the attempt before it is answered.
    ec2.meta.events.register("before-send.ec2", answers([(503, THROTTLED_XML), (200, IMAGES_XML)]))

    with pytest.raises(ClientError, match="RequestLimitExceeded"):
        ec2.describe_images(Owners=["self"])
    assert ec2.describe_images(Owners=["self"])["Images"] == []

    # DescribeImages is non-mutating (20 tokens a second): the second call was held 0.05 s.
    assert fake_time.slept == [0.05] and pacer.held_seconds == pytest.approx(0.05)
