"""The simulator's SSM: managed instances, Run Command that runs bash, statuses, limits and output as AWS documents them."""

import time

import boto3
import pytest
from botocore.exceptions import ClientError

SHELL = "AWS-RunShellScript"
TERMINAL = ("Success", "Failed", "TimedOut", "Cancelled")


@pytest.fixture
def ssm(aws):
    return aws("ssm")


@pytest.fixture
def fleet(sim):
    """Four running web instances and a stopped one, as {name: id}."""
    return sim.seed({"instances": [
        {"name": "web", "count": 4, "tags": {"Role": "web"}},
        {"name": "web-stopped", "tags": {"Role": "web"}, "state": "stopped"},
    ]})["instances"]


def run(ssm, instance_ids=None, targets=None, lines=("true",), **extra):
    request = {"DocumentName": SHELL, "Parameters": dict({"commands": list(lines)}, **extra.pop("parameters", {}))}
    request.update({"InstanceIds": instance_ids} if instance_ids else {"Targets": targets})
    request.update(extra)
    return ssm.send_command(**request)["Command"]["CommandId"]


def invocations(ssm, command_id, details=True):
    found, token = [], None
    while True:
        page = ssm.list_command_invocations(CommandId=command_id, Details=details, **({"NextToken": token} if token else {}))
        found += page["CommandInvocations"]
        token = page.get("NextToken")
        if not token:
            return found


def settle(ssm, command_id, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        listed = invocations(ssm, command_id)
        if listed and all(i["Status"] in TERMINAL for i in listed):
            return {i["InstanceId"]: i for i in listed}
        assert time.monotonic() < deadline, listed
        time.sleep(0.1)


def error_code(call):
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"]


def test_managed_instances_follow_ec2_with_ping_status_and_platform(ssm, fleet, sim):
    nodes = {n["InstanceId"]: n for n in ssm.describe_instance_information()["InstanceInformationList"]}
    assert set(nodes) == set(fleet.values())
    assert nodes[fleet["web-1"]]["PingStatus"] == "Online"
    assert nodes[fleet["web-stopped"]]["PingStatus"] == "ConnectionLost"
    assert nodes[fleet["web-1"]]["PlatformType"] == "Linux"
    assert nodes[fleet["web-1"]]["ResourceType"] == "EC2Instance"

    sim.ssm_mark([fleet["web-1"]], unmanaged=True)
    sim.ssm_mark([fleet["web-2"]], offline=True)
    nodes = {n["InstanceId"]: n for n in ssm.describe_instance_information()["InstanceInformationList"]}
    assert fleet["web-1"] not in nodes
    assert nodes[fleet["web-2"]]["PingStatus"] == "ConnectionLost"
    sim.ssm_mark([fleet["web-2"]], offline=False)
    online = ssm.describe_instance_information(Filters=[{"Key": "PingStatus", "Values": ["Online"]}])["InstanceInformationList"]
    assert {n["InstanceId"] for n in online} == {fleet["web-2"], fleet["web-3"], fleet["web-4"]}


def test_describe_instance_information_filters_by_tag_and_pages(ssm, fleet, sim):
    sim.seed({"instances": [{"name": "db", "count": 2, "tags": {"Role": "db"}}]})
    web = ssm.describe_instance_information(Filters=[{"Key": "tag:Role", "Values": ["web"]}])["InstanceInformationList"]
    assert {n["InstanceId"] for n in web} == set(fleet.values())

    first = ssm.describe_instance_information(MaxResults=5)
    second = ssm.describe_instance_information(MaxResults=5, NextToken=first["NextToken"])
    assert len(first["InstanceInformationList"]) == 5 and len(second["InstanceInformationList"]) == 2
    assert "NextToken" not in second
    assert error_code(lambda: ssm.describe_instance_information(Filters=[{"Key": "Colour", "Values": ["x"]}])) == "InvalidFilterKey"


def test_commands_run_with_bash_in_the_instance_sandbox_with_real_output(ssm, fleet):
    command_id = run(ssm, [fleet["web-1"]], lines=['echo "on $AWS_SSM_INSTANCE_ID"', 'test "$PWD" = "$SIM_INSTANCE_ROOT"',
                                                   "echo oops >&2", "exit 7"])
    invocation = settle(ssm, command_id)[fleet["web-1"]]
    assert (invocation["Status"], invocation["StatusDetails"]) == ("Failed", "Failed")
    plugin = invocation["CommandPlugins"][0]
    assert plugin["ResponseCode"] == 7
    assert plugin["Output"] == "on %s\n\n----------ERROR-------\noops\nfailed to run commands: exit status 7\n" % fleet["web-1"]

    got = ssm.get_command_invocation(CommandId=command_id, InstanceId=fleet["web-1"])
    assert got["StandardOutputContent"] == "on %s\n" % fleet["web-1"]
    assert got["StandardErrorContent"] == "oops\nfailed to run commands: exit status 7\n"
    assert got["ResponseCode"] == 7 and got["ExecutionElapsedTime"].startswith("PT")


def test_a_sandbox_keeps_its_files_and_is_its_own(ssm, fleet):
    settle(ssm, run(ssm, [fleet["web-1"]], lines=["echo v1 > release"]))
    command_id = run(ssm, [fleet["web-1"], fleet["web-2"]], lines=["cat release || echo none"])
    settled = settle(ssm, command_id)
    outputs = {i: ssm.get_command_invocation(CommandId=command_id, InstanceId=i)["StandardOutputContent"] for i in settled}
    assert outputs == {fleet["web-1"]: "v1\n", fleet["web-2"]: "none\n"}


def test_status_goes_pending_in_progress_success(ssm, fleet):
    command_id = run(ssm, [fleet["web-1"]], lines=["sleep 1", "echo done"])
    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = invocations(ssm, command_id)[0]["Status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "Success":
            break
        time.sleep(0.05)
    assert seen[-2:] == ["InProgress", "Success"]
    assert set(seen) <= {"Pending", "InProgress", "Success"}
    assert ssm.list_commands(CommandId=command_id)["Commands"][0]["Status"] == "Success"


def test_targets_select_managed_instances_by_tag(ssm, fleet, sim):
    sim.ssm_mark([fleet["web-4"]], unmanaged=True)
    command_id = run(ssm, targets=[{"Key": "tag:Role", "Values": ["web"]}], lines=["echo hi"],
                     parameters={}, TimeoutSeconds=30)
    listed = {i["InstanceId"]: i for i in invocations(ssm, command_id)}
    # The stopped instance is a managed node (ConnectionLost): it is targeted and waits for delivery.
    assert set(listed) == {fleet["web-1"], fleet["web-2"], fleet["web-3"], fleet["web-stopped"]}


def test_max_concurrency_is_honoured(ssm, fleet, sim):
    ids = [fleet["web-%d" % n] for n in range(1, 5)]
    command_id = run(ssm, ids, lines=["sleep 0.4"], MaxConcurrency="2")
    settle(ssm, command_id)
    peak = next(c for c in sim.ssm_commands()["commands"] if c["command_id"] == command_id)["peak_in_flight"]
    assert peak == 2

    command_id = run(ssm, ids, lines=["sleep 0.4"], MaxConcurrency="25%")
    settle(ssm, command_id)
    assert next(c for c in sim.ssm_commands()["commands"] if c["command_id"] == command_id)["peak_in_flight"] == 1


def test_max_errors_terminates_the_invocations_not_started(ssm, fleet):
    ids = [fleet["web-%d" % n] for n in range(1, 5)]
    command_id = run(ssm, ids, lines=["exit 1"], MaxConcurrency="1", MaxErrors="1")
    settled = settle(ssm, command_id)
    details = [settled[i]["StatusDetails"] for i in ids]
    assert details == ["Failed", "Failed", "Terminated", "Terminated"]
    assert {settled[i]["Status"] for i in ids[2:]} == {"Cancelled"}
    command = ssm.list_commands(CommandId=command_id)["Commands"][0]
    assert (command["Status"], command["ErrorCount"], command["CompletedCount"]) == ("Failed", 2, 4)


def test_the_first_max_concurrency_targets_are_all_sent_the_command(ssm, fleet):
    ids = [fleet["web-%d" % n] for n in range(1, 5)]
    command_id = run(ssm, ids, lines=['[ "$AWS_SSM_INSTANCE_ID" = %s ] && exit 1; sleep 0.2' % ids[0]], MaxConcurrency="3")
    settled = settle(ssm, command_id)
    # MaxErrors defaults to 0: the first wave of three runs, the fourth is never sent.
    assert [settled[i]["StatusDetails"] for i in ids] == ["Failed", "Success", "Success", "Terminated"]


@pytest.mark.parametrize("stdout, stderr", [(300, 4000), (4000, 300), (0, 5000), (3000, 0)])
def test_a_long_stream_gives_way_in_the_listed_output(stdout, stderr):
    from simulator.ssm_commands import plugin_output

    output = plugin_output("o" * stdout, "e" * stderr)
    assert len(output) <= 2500
    if stdout <= 300:
        assert output.startswith("o" * stdout + ("\n----------ERROR-------\n" if stderr else "")) and output.endswith("---Error truncated----")
    else:
        assert "---Output truncated---" in output and (not stderr or output.endswith("e" * stderr))


def test_execution_timeout_kills_the_script_and_ends_timed_out(ssm, fleet):
    started = time.monotonic()
    command_id = run(ssm, [fleet["web-1"]], lines=["echo before", "sleep 30"], parameters={"executionTimeout": ["1"]})
    invocation = settle(ssm, command_id)[fleet["web-1"]]
    assert time.monotonic() - started < 10
    assert (invocation["Status"], invocation["StatusDetails"]) == ("TimedOut", "ExecutionTimedOut")
    assert invocation["CommandPlugins"][0]["Output"].startswith("before\n")


def test_output_is_truncated_as_the_api_does_and_whole_in_s3(ssm, fleet, aws):
    s3 = aws("s3")
    s3.create_bucket(Bucket="out")
    command_id = run(ssm, [fleet["web-1"]], lines=["head -c 25000 /dev/zero | tr '\\0' a", "head -c 8500 /dev/zero | tr '\\0' b >&2"],
                     OutputS3BucketName="out", OutputS3KeyPrefix="pre")
    listed = settle(ssm, command_id)[fleet["web-1"]]
    output = listed["CommandPlugins"][0]["Output"]
    assert len(output) <= 2500
    stdout, stderr = output.split("\n----------ERROR-------\n")
    assert stdout.endswith("a\n---Output truncated---") and stderr.endswith("b\n---Error truncated----")
    got = ssm.get_command_invocation(CommandId=command_id, InstanceId=fleet["web-1"])
    assert got["StandardOutputContent"] == "a" * 24000
    assert got["StandardErrorContent"] == "b" * 8000
    key = "pre/%s/%s/awsrunShellScript/0.awsrunShellScript/" % (command_id, fleet["web-1"])
    assert s3.get_object(Bucket="out", Key=key + "stdout")["Body"].read() == b"a" * 25000
    assert s3.get_object(Bucket="out", Key=key + "stderr")["Body"].read() == b"b" * 8500
    assert got["StandardOutputUrl"].endswith("/out/" + key + "stdout")


def test_offline_instance_is_delayed_then_delivery_timed_out(ssm, fleet, sim):
    sim.configure(ssm={"delivery_timeout_cap": 1})
    sim.ssm_mark([fleet["web-2"]], offline=True)
    command_id = run(ssm, [fleet["web-1"], fleet["web-2"]], lines=["echo hi"], TimeoutSeconds=30)
    time.sleep(0.3)
    assert {i["InstanceId"]: i["Status"] for i in invocations(ssm, command_id)}[fleet["web-2"]] == "Delayed"
    settled = settle(ssm, command_id)
    assert settled[fleet["web-1"]]["Status"] == "Success"
    assert (settled[fleet["web-2"]]["Status"], settled[fleet["web-2"]]["StatusDetails"]) == ("TimedOut", "DeliveryTimedOut")
    command = ssm.list_commands(CommandId=command_id)["Commands"][0]
    assert command["DeliveryTimedOutCount"] == 1 and command["ErrorCount"] == 0


def test_an_instance_no_longer_managed_when_its_turn_comes_is_undeliverable(ssm, fleet, sim):
    first, second = fleet["web-1"], fleet["web-2"]
    command_id = run(ssm, [first, second], lines=["sleep 0.5"], MaxConcurrency="1")
    sim.ssm_mark([second], unmanaged=True)
    settled = settle(ssm, command_id)
    assert settled[first]["Status"] == "Success"
    assert (settled[second]["Status"], settled[second]["StatusDetails"]) == ("Failed", "Undeliverable")
    command = ssm.list_commands(CommandId=command_id)["Commands"][0]
    assert (command["Status"], command["ErrorCount"]) == ("Success", 0)


def test_targets_matching_no_managed_instance_end_the_command(ssm, fleet):
    command_id = run(ssm, targets=[{"Key": "tag:Role", "Values": ["nobody"]}])
    assert invocations(ssm, command_id) == []
    command = ssm.list_commands(CommandId=command_id)["Commands"][0]
    assert (command["Status"], command["StatusDetails"], command["TargetCount"]) == ("Failed", "NoInstancesInTag", 0)


def test_send_command_refuses_what_aws_refuses(ssm, fleet, sim):
    sim.ssm_mark([fleet["web-3"]], unmanaged=True)
    assert error_code(lambda: run(ssm, [fleet["web-1"], fleet["web-3"]])) == "InvalidInstanceId"
    assert error_code(lambda: run(ssm, ["i-0123456789abcdef0"])) == "InvalidInstanceId"
    assert error_code(lambda: run(ssm, [fleet["web-1"]] * 51)) == "ValidationException"
    assert error_code(lambda: run(ssm, [fleet["web-1"]] * 2)) == "DuplicateInstanceId"
    assert error_code(lambda: ssm.send_command(DocumentName=SHELL, InstanceIds=[fleet["web-1"]], Parameters={})) == "InvalidParameters"
    assert error_code(lambda: run(ssm, [fleet["web-1"]], MaxErrors="ten")) == "ValidationException"
    assert error_code(lambda: ssm.send_command(DocumentName="No-Such-Document", InstanceIds=[fleet["web-1"]])) == "InvalidDocument"
    assert not sim.ssm_commands()["commands"]


def test_invocations_page_and_may_lag_behind_send_command(ssm, sim):
    ids = list(sim.seed({"instances": [{"name": "n", "count": 7}]})["instances"].values())
    sim.configure(ssm={"invocations_visible_after": 0.5})
    command_id = run(ssm, ids, lines=["true"])
    assert ssm.list_command_invocations(CommandId=command_id)["CommandInvocations"] == []
    assert error_code(lambda: ssm.get_command_invocation(CommandId=command_id, InstanceId=ids[0])) == "InvocationDoesNotExist"
    time.sleep(0.6)
    first = ssm.list_command_invocations(CommandId=command_id, MaxResults=5)
    rest = ssm.list_command_invocations(CommandId=command_id, MaxResults=5, NextToken=first["NextToken"])
    assert len(first["CommandInvocations"]) == 5 and len(rest["CommandInvocations"]) == 2


def test_calls_are_logged_and_faults_apply(ssm, fleet, sim):
    sim.add_fault(action="SendCommand", code="ThrottlingException", count=1)
    assert error_code(lambda: run(ssm, [fleet["web-1"]])) == "ThrottlingException"
    run(ssm, [fleet["web-1"]])
    logged = [c for c in sim.calls() if c["action"] == "SendCommand"]
    assert [c["error_code"] for c in logged] == ["ThrottlingException", None]
    assert logged[1]["resource_ids"] == [fleet["web-1"]]


def test_commands_belong_to_their_account_and_region(ssm, fleet, sim, aws):
    command_id = run(ssm, [fleet["web-1"]])
    settle(ssm, command_id)
    other_region = aws("ssm", "eu-west-1")
    other_account = aws("sts").assume_role(RoleArn="arn:aws:iam::222222222222:role/ops", RoleSessionName="ops")["Credentials"]
    in_other_account = sim_client(sim, "ssm", other_account)

    for elsewhere in (other_region, in_other_account):
        assert elsewhere.list_commands()["Commands"] == []
        assert elsewhere.list_command_invocations()["CommandInvocations"] == []
        assert error_code(lambda client=elsewhere: client.list_commands(CommandId=command_id)) == "InvalidCommandId"
        assert error_code(lambda client=elsewhere: client.get_command_invocation(CommandId=command_id, InstanceId=fleet["web-1"])) == \
            "InvocationDoesNotExist"
        assert error_code(lambda client=elsewhere: client.cancel_command(CommandId=command_id)) == "InvalidCommandId"
    assert [c["CommandId"] for c in ssm.list_commands()["Commands"]] == [command_id]


def sim_client(sim, service, credentials):
    return boto3.client(service, endpoint_url=sim.endpoint, region_name="us-east-1", aws_access_key_id=credentials["AccessKeyId"],
                        aws_secret_access_key=credentials["SecretAccessKey"], aws_session_token=credentials["SessionToken"])


def test_reset_forgets_commands_and_marks(ssm, fleet, sim):
    run(ssm, [fleet["web-1"]], lines=["sleep 5"])
    sim.ssm_mark([fleet["web-2"]], unmanaged=True)
    sim.reset()
    assert sim.ssm_commands()["commands"] == []
    assert ssm.list_command_invocations()["CommandInvocations"] == []
