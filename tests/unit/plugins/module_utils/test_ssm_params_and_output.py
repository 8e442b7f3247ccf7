import datetime

import pytest

from ansible_collections.cloudops.aws.plugins.module_utils.ssm_output import count_by_status
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_output import outcome_of
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_output import s3_location
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_output import split_plugin_output
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_output import summarize_invocation
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_params import allowed_failure_count
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_params import send_requests
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_params import validate

UTC = datetime.timezone.utc


def params(**overrides):
    base = dict(
        instance_ids=["i-0123456789abcdef0"], targets=None, document_name=None, document_version=None, parameters=None,
        commands=["echo hi"], shell="bash", comment=None, max_concurrency=None, max_errors=None, allowed_failures="0",
        timeout=None, execution_timeout=None, output_s3_bucket=None, output_s3_key_prefix=None, fetch_full_output=False,
        cloudwatch_output=None, service_role_arn=None, notification_config=None, skip_unmanaged=False, wait=True,
        wait_timeout=600,
    )
    base.update(overrides)
    return base


def test_the_request_carries_commands_and_pass_through_options():
    template, instance_ids, targets = validate(params(
        execution_timeout=90, timeout=120, max_concurrency="10%", max_errors="0", comment="check",
        output_s3_bucket="out", output_s3_key_prefix="p", cloudwatch_output="/ops/ssm",
        service_role_arn="arn:aws:iam::123456789012:role/ssm-sns",
        notification_config={"notification_arn": "arn:aws:sns:eu-west-1:123456789012:ops", "notification_events": ["Failed"],
                             "notification_type": "Invocation"}))
    assert instance_ids == ["i-0123456789abcdef0"] and targets is None
    assert template["DocumentName"] == "AWS-RunShellScript"
    assert template["Parameters"] == {"commands": ["echo hi"], "executionTimeout": ["90"]}
    assert (template["TimeoutSeconds"], template["MaxConcurrency"], template["MaxErrors"]) == (120, "10%", "0")
    assert template["CloudWatchOutputConfig"] == {"CloudWatchLogGroupName": "/ops/ssm", "CloudWatchOutputEnabled": True}
    assert template["NotificationConfig"]["NotificationType"] == "Invocation"


def test_powershell_shortcut_and_any_document_with_parameters():
    assert validate(params(shell="powershell"))[0]["DocumentName"] == "AWS-RunPowerShellScript"
    template = validate(params(commands=None, document_name="AWS-ConfigureAWSPackage", parameters={"action": "Install", "name": "x"}))[0]
    assert template["Parameters"] == {"action": ["Install"], "name": ["x"]}


@pytest.mark.parametrize("overrides, message", [
    ({"instance_ids": ["i-0123456789abcdef0", "web-1"]}, "instance_ids: not an instance id: 'web-1'"),
    ({"max_concurrency": "0"}, "max_concurrency: '0'"),
    ({"max_errors": "101%"}, "max_errors: '101%'"),
    ({"execution_timeout": 172801}, "execution_timeout: must be between 1 and 172800"),
    ({"commands": None}, "commands: AWS-RunShellScript needs the lines"),
    ({"document_name": "AWS-ConfigureAWSPackage"}, "commands: a shortcut for AWS-RunShellScript"),
    ({"parameters": {"commands": ["x"]}}, "not both"),
    ({"output_s3_key_prefix": "p"}, "output_s3_key_prefix: needs output_s3_bucket"),
    ({"notification_config": {"notification_arn": "arn:aws:sns:eu-west-1:123456789012:t"}}, "service_role_arn"),
    ({"instance_ids": None, "targets": [{"key": "tag:Role", "values": []}]}, "at least one value"),
    ({"instance_ids": None, "targets": [{"key": "tag:A", "values": ["1"]}] * 6}, "at most 5 targets"),
    ({"allowed_failures": "many"}, "allowed_failures: 'many'"),
])
def test_bad_values_are_named(overrides, message):
    with pytest.raises(ValueError) as caught:
        validate(params(**overrides))
    assert message in str(caught.value)


def test_ids_are_sent_fifty_a_command_and_duplicates_once():
    ids = ["i-%017x" % n for n in range(120)]
    template, instance_ids, _targets = validate(params(instance_ids=ids + ids[:3]))
    requests = send_requests(template, instance_ids=instance_ids)
    assert [len(r["InstanceIds"]) for r in requests] == [50, 50, 20]
    assert send_requests(template, targets=[{"Key": "tag:Role", "Values": ["web"]}])[0]["Targets"][0]["Key"] == "tag:Role"


def test_allowed_failures_round_down_like_max_errors():
    assert allowed_failure_count("10%", 25) == 2
    assert allowed_failure_count("3", 25) == 3
    assert allowed_failure_count(None, 25) == 0


def test_outcomes_come_from_status_details():
    assert outcome_of("Success", "Success") == "success"
    assert outcome_of("InProgress", "InProgress") == "running"
    assert outcome_of("Delayed", "Delayed") == "running"
    assert outcome_of("TimedOut", "DeliveryTimedOut") == "undelivered"
    assert outcome_of("Failed", "Undeliverable") == "undelivered"
    assert outcome_of("TimedOut", "ExecutionTimedOut") == "failed"
    assert outcome_of("Cancelled", "Terminated") == "failed"


def test_plugin_output_splits_and_knows_when_it_was_cut():
    assert split_plugin_output("out\n\n----------ERROR-------\nerr\n") == ("out\n", "err\n", True)
    assert split_plugin_output("x" * 100 + "\n---Output truncated---") == ("x" * 100, "", False)
    cut_both = "o" * 10 + "\n---Output truncated---\n----------ERROR-------\n" + "e" * 10 + "\n---Error truncated----"
    assert split_plugin_output(cut_both) == ("o" * 10, "e" * 10, False)
    assert split_plugin_output("x" * 2450)[2] is False


def test_a_listed_invocation_is_summarized_with_timing():
    start = datetime.datetime(2026, 11, 23, 3, 15, 1, 120000, tzinfo=UTC)
    summary = summarize_invocation({
        "InstanceId": "i-0123456789abcdef0", "CommandId": "c", "Status": "Failed", "StatusDetails": "Failed",
        "CommandPlugins": [{"ResponseCode": 3, "Output": "hi\n", "ResponseStartDateTime": start,
                            "ResponseFinishDateTime": start + datetime.timedelta(seconds=1.5)}]})
    assert (summary["response_code"], summary["stdout"], summary["duration"]) == (3, "hi\n", 1.5)
    assert summary["start"] == "2026-11-23T03:15:01.120Z"
    assert count_by_status([summary, dict(summary, status_details="Success")]) == {"Failed": 1, "Success": 1}


def test_s3_locations_of_output_urls():
    assert s3_location("https://s3.eu-west-1.amazonaws.com/out/p/c/i/awsrunShellScript/0.awsrunShellScript/stdout") == (
        "out", "p/c/i/awsrunShellScript/0.awsrunShellScript/stdout")
    assert s3_location("https://out.s3.amazonaws.com/key") == ("out", "key")
    assert s3_location("") is None
