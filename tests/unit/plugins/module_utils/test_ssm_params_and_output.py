import datetime

import pytest

from ansible_collections.cloudops.aws.plugins.module_utils.ec2_instances import validate_instance_ids
from ansible_collections.cloudops.aws.plugins.module_utils.selection import SelectionError
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_output import count_by_status
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_output import outcome_of
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_output import s3_location
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_output import split_plugin_output
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_output import summarize_invocation
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_params import SsmRunSettings
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_params import allowed_failure_count
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_params import send_requests

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


def settings(**overrides):
    return SsmRunSettings.from_params(params(**overrides))


def test_the_request_carries_commands_and_pass_through_options():
    run = settings(
        execution_timeout=90, timeout=120, max_concurrency="10%", max_errors="0", comment="check",
        output_s3_bucket="out", output_s3_key_prefix="p", cloudwatch_output="/ops/ssm",
        service_role_arn="arn:aws:iam::123456789012:role/ssm-sns",
        notification_config={"notification_arn": "arn:aws:sns:eu-west-1:123456789012:ops", "notification_events": ["Failed"],
                             "notification_type": "Invocation"})
    template = run.request
    assert run.instance_ids == ("i-0123456789abcdef0",) and run.targets is None
    assert template["DocumentName"] == "AWS-RunShellScript"
    assert template["Parameters"] == {"commands": ["echo hi"], "executionTimeout": ["90"]}
    assert (template["TimeoutSeconds"], template["MaxConcurrency"], template["MaxErrors"]) == (120, "10%", "0")
    assert template["CloudWatchOutputConfig"] == {"CloudWatchLogGroupName": "/ops/ssm", "CloudWatchOutputEnabled": True}
    assert template["NotificationConfig"]["NotificationType"] == "Invocation"


def test_powershell_shortcut_and_any_document_with_parameters():
    assert settings(shell="powershell").request["DocumentName"] == "AWS-RunPowerShellScript"
    template = settings(commands=None, document_name="AWS-ConfigureAWSPackage", parameters={"action": "Install", "name": "x"}).request
    assert template["Parameters"] == {"action": ["Install"], "name": ["x"]}


@pytest.mark.parametrize("overrides, message", [
    ({"instance_ids": ["i-0123456789abcdef0", "web-1"]}, "instance_ids: not an instance id: 'web-1'"),
    ({"instance_ids": []}, "instance_ids: the list is empty"),
    ({"instance_ids": None, "targets": []}, "targets: the list is empty"),
    ({"instance_ids": None, "targets": [{"key": "colour", "values": ["red"]}]}, "targets: key 'colour' is not one of"),
    ({"instance_ids": None, "targets": [{"key": "tag:Role", "values": []}]}, "targets: key 'tag:Role' needs at least one value"),
    ({"instance_ids": None, "targets": [{"key": "tag:A", "values": ["1"]}] * 6}, "targets: SendCommand takes at most 5 targets, got 6"),
    ({"document_name": ""}, "document_name: '' is not a document name"),
    ({"document_version": "latest"}, "document_version: 'latest' is not"),
    ({"max_concurrency": "0"}, "max_concurrency: '0' is not"),
    ({"max_errors": "101%"}, "max_errors: '101%' is not"),
    ({"timeout": 29}, "timeout: must be between 30 and 2592000 seconds, got 29"),
    ({"execution_timeout": 172801}, "execution_timeout: must be between 1 and 172800 seconds, got 172801"),
    ({"commands": None}, "commands: AWS-RunShellScript needs the lines"),
    ({"commands": []}, "commands: must hold at least one line"),
    ({"document_name": "AWS-ConfigureAWSPackage"},
     "commands: a shortcut for AWS-RunShellScript (shell: bash); document_name is AWS-ConfigureAWSPackage"),
    ({"parameters": {"commands": ["x"]}}, "commands: give the lines either as commands or as parameters.commands, not both"),
    ({"comment": "c" * 101}, "comment: at most 100 characters, got 101"),
    ({"service_role_arn": "ssm-notify"}, "service_role_arn: 'ssm-notify' is not an IAM role ARN"),
    ({"output_s3_key_prefix": "p"}, "output_s3_key_prefix: needs output_s3_bucket"),
    ({"notification_config": {"notification_arn": "arn:aws:sns:eu-west-1:123456789012:t"}},
     "notification_config: SSM publishes notifications with service_role_arn, which is not set"),
    ({"service_role_arn": "arn:aws:iam::123456789012:role/r", "notification_config": {"notification_arn": "ops"}},
     "notification_config.notification_arn: 'ops' is not an SNS topic ARN"),
    ({"allowed_failures": "many"}, "allowed_failures: 'many' is not"),
    ({"allowed_failures": "-1"}, "allowed_failures: '-1' is not"),
    ({"wait_timeout": 0}, "wait_timeout: must be 1 or more seconds, got 0"),
    ({"fetch_full_output": True}, "fetch_full_output: the full text is read from S3; set output_s3_bucket"),
    ({"fetch_full_output": True, "output_s3_bucket": ""}, "fetch_full_output: the full text is read from S3; set output_s3_bucket"),
])
def test_each_refusal_names_the_option_and_the_value(overrides, message):
    with pytest.raises(ValueError) as caught:
        settings(**overrides)
    assert message in str(caught.value)


def test_the_settings_are_frozen():
    run = settings()

    with pytest.raises(AttributeError):
        run.wait_timeout = 0


def test_ids_are_sent_fifty_a_command_and_duplicates_once():
    ids = ["i-%017x" % n for n in range(120)]
    run = settings(instance_ids=ids + ids[:3])
    requests = send_requests(run.request, instance_ids=run.instance_ids)
    assert [len(r["InstanceIds"]) for r in requests] == [50, 50, 20]
    assert send_requests(run.request, targets=({"Key": "tag:Role", "Values": ["web"]},))[0]["Targets"] == [{"Key": "tag:Role", "Values": ["web"]}]


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


def test_ssm_takes_hybrid_node_ids_where_ec2_selection_does_not():
    assert settings(instance_ids=["mi-0123456789abcdef0"]).instance_ids == ("mi-0123456789abcdef0",)
    with pytest.raises(SelectionError, match=r"^instance_ids: not an instance id: 'mi-0123456789abcdef0'$"):
        validate_instance_ids(["mi-0123456789abcdef0"])
