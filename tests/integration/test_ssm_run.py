"""cloudops.aws.ssm_run (run in the test process, conftest's run_task) against the simulator, whose SSM runs the commands with bash.

Every test asserts what the instances did (output, exit codes, files in their sandboxes, S3
objects) and what was asked of AWS (the simulator's call log).
"""

import re
import time

import pytest

from conftest import aws_client

WEB = [{"key": "tag:Role", "values": ["web"]}]


def fleet_of(count, role="web", **extra):
    return {"region": "us-east-1", "instances": [dict({"name": role, "count": count, "tags": {"Role": role}}, **extra)]}


def ssm_run(run_task, check=False, **args):
    return run_task("cloudops.aws.ssm_run", args, check=check)


def actions(sim, name):
    return [call for call in sim.calls() if call["action"] == name]


def by_instance(result):
    return {invocation["instance_id"]: invocation for invocation in result["invocations"]}


@pytest.fixture
def ssm(sim):
    return aws_client(sim, "ssm")


@pytest.fixture
def s3(sim):
    return aws_client(sim, "s3")


def test_120_instances_by_tag_in_one_task(run_task, sim):
    web = sim.seed(fleet_of(120))["instances"]
    others = sim.seed(fleet_of(3, role="db"))["instances"]
    sim.clear_log()

    started = time.monotonic()
    result = ssm_run(run_task, targets=WEB, commands=['echo "hello from $AWS_SSM_INSTANCE_ID"'], max_concurrency="50",
                     comment="fleet-wide echo")
    elapsed = time.monotonic() - started

    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    results = by_instance(result)
    assert set(results) == set(web.values())
    assert not set(results) & set(others.values())
    assert all(r["status"] == "Success" and r["response_code"] == 0 for r in results.values())
    assert all(r["stdout"] == "hello from %s\n" % instance_id for instance_id, r in results.items())
    assert all(r["start"] and r["end"] and r["duration"] is not None for r in results.values())
    assert result["status_counts"] == {"Success": 120}
    assert len(result["command_ids"]) == 1
    # One SendCommand for the whole fleet, invocations read by pages of 50, never one call per instance.
    assert len(actions(sim, "SendCommand")) == 1
    assert not actions(sim, "GetCommandInvocation")
    listings = actions(sim, "ListCommandInvocations")
    assert len(listings) % 3 == 0 and len(listings) <= 3 * 6
    assert len(actions(sim, "DescribeInstanceInformation")) == 3
    assert elapsed < 60


def test_mixed_success_and_failure_fails_the_task_and_names_the_instances(run_task, sim):
    ids = sorted(sim.seed(fleet_of(4))["instances"].values())
    failing = ids[:2]
    script = ['case "$AWS_SSM_INSTANCE_ID" in %s) echo "disk full" >&2; exit 3;; esac' % "|".join(failing), "echo fine"]

    result = ssm_run(run_task, instance_ids=ids, commands=script)

    assert result["failed"] is True
    assert result["changed"] is True
    assert result["status_counts"] == {"Success": 2, "Failed": 2}
    assert sorted(f["instance_id"] for f in result["failures"]) == failing
    assert all(f["response_code"] == 3 for f in result["failures"])
    assert all(instance_id in result["msg"] for instance_id in failing)
    results = by_instance(result)
    assert results[failing[0]]["stderr"].startswith("disk full\n")
    assert results[ids[3]]["stdout"] == "fine\n"

    tolerated = ssm_run(run_task, instance_ids=ids, commands=script, allowed_failures="50%")
    assert not tolerated.get("failed"), tolerated.get("msg")
    assert len(tolerated["failures"]) == 2


def test_execution_timeout_ends_timed_out_and_fails_the_task(run_task, sim):
    instance_id = sim.seed(fleet_of(1))["instances"]["web"]

    started = time.monotonic()
    result = ssm_run(run_task, instance_ids=[instance_id], commands=["echo started", "sleep 30", "echo never"], execution_timeout=2)

    assert time.monotonic() - started < 20
    assert result["failed"] is True
    invocation = result["invocations"][0]
    assert (invocation["status"], invocation["status_details"]) == ("TimedOut", "ExecutionTimedOut")
    assert invocation["stdout"] == "started\n"
    assert result["failures"][0]["status_details"] == "ExecutionTimedOut"
    assert "execution_timeout" in result["msg"]


def test_truncated_output_and_the_whole_text_from_s3(run_task, sim, s3):
    instance_id = sim.seed(fleet_of(1))["instances"]["web"]
    s3.create_bucket(Bucket="ops-output")
    script = ["head -c 30000 /dev/zero | tr '\\0' o", "head -c 9000 /dev/zero | tr '\\0' e >&2"]

    cut = ssm_run(run_task, instance_ids=[instance_id], commands=script, output_s3_bucket="ops-output", output_s3_key_prefix="runs")
    assert not cut.get("failed"), cut.get("msg")
    invocation = cut["invocations"][0]
    assert invocation["output_truncated"] is True
    assert (len(invocation["stdout"]), len(invocation["stderr"])) == (24000, 8000)
    assert invocation["stdout_url"].endswith("/awsrunShellScript/0.awsrunShellScript/stdout")

    sim.clear_log()
    whole = ssm_run(run_task, instance_ids=[instance_id], commands=script, output_s3_bucket="ops-output",
                    output_s3_key_prefix="runs", fetch_full_output=True)
    assert not whole.get("failed"), whole.get("msg")
    invocation = whole["invocations"][0]
    assert invocation["output_truncated"] is False
    assert invocation["stdout"] == "o" * 30000
    assert invocation["stderr"] == "e" * 9000
    key = "runs/%s/%s/awsrunShellScript/0.awsrunShellScript/stdout" % (whole["command_ids"][0], instance_id)
    assert s3.get_object(Bucket="ops-output", Key=key)["Body"].read() == b"o" * 30000
    # The listing showed 2,500 characters: one GetCommandInvocation for this instance, then S3.
    assert len(actions(sim, "GetCommandInvocation")) == 1


def test_unmanaged_and_offline_ids_fail_before_anything_is_sent(run_task, sim):
    ids = sorted(sim.seed(fleet_of(3))["instances"].values())
    ready, unmanaged, offline = ids
    sim.ssm_mark([unmanaged], unmanaged=True)
    sim.ssm_mark([offline], offline=True)
    sim.clear_log()

    result = ssm_run(run_task, instance_ids=ids, commands=["touch deployed"])

    assert result["failed"] is True
    assert result["changed"] is False
    assert unmanaged in result["msg"] and "not managed" in result["msg"]
    assert offline in result["msg"] and "offline" in result["msg"]
    assert ready not in result["msg"]
    assert not actions(sim, "SendCommand")


def test_skip_unmanaged_runs_on_the_others_and_reports_the_skipped(run_task, sim):
    ids = sorted(sim.seed(fleet_of(3))["instances"].values())
    ready, unmanaged, offline = ids
    sim.ssm_mark([unmanaged], unmanaged=True)
    sim.ssm_mark([offline], offline=True)

    result = ssm_run(run_task, instance_ids=ids, commands=["touch deployed", "ls"], skip_unmanaged=True)

    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    assert [i["instance_id"] for i in result["invocations"]] == [ready]
    assert result["invocations"][0]["stdout"] == "deployed\n"
    skipped = {item["instance_id"]: item["reason"] for item in result["instances_skipped"]}
    assert set(skipped) == {unmanaged, offline}
    assert "not managed" in skipped[unmanaged] and "ConnectionLost" in skipped[offline]
    assert [call["resource_ids"] for call in actions(sim, "SendCommand")] == [[ready]]


def test_check_mode_reports_who_would_run_and_sends_nothing(run_task, sim):
    web = sim.seed(fleet_of(4))["instances"]
    stopped = sim.seed({"instances": [{"name": "web-stopped", "tags": {"Role": "web"}, "state": "stopped"}]})["instances"]["web-stopped"]
    unmanaged = web["web-4"]
    sim.ssm_mark([unmanaged], unmanaged=True)
    sim.clear_log()

    result = ssm_run(run_task, check=True, targets=WEB, commands=["systemctl restart app"])

    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    assert result["would_run"] == sorted([web["web-1"], web["web-2"], web["web-3"]])
    skipped = {item["instance_id"]: item["reason"] for item in result["instances_skipped"]}
    assert set(skipped) == {stopped, unmanaged}
    assert "ConnectionLost" in skipped[stopped]
    assert result["invocations"] == [] and result["command_ids"] == []
    assert not actions(sim, "SendCommand")


def test_max_errors_stops_the_rollout(run_task, sim):
    sim.seed(fleet_of(6))

    result = ssm_run(run_task, targets=WEB, commands=["echo trying", "exit 1"], max_concurrency="1", max_errors="1")

    assert result["failed"] is True
    assert result["status_counts"] == {"Failed": 2, "Terminated": 4}
    terminated = [i for i in result["invocations"] if i["status_details"] == "Terminated"]
    assert all(i["stdout"] == "" and i["start"] is None for i in terminated)
    assert "max_errors" in result["msg"]


def test_files_written_by_one_command_are_read_by_the_next_on_the_same_instance(run_task, sim):
    ids = sorted(sim.seed(fleet_of(2))["instances"].values())

    deploy = ssm_run(run_task, instance_ids=ids[:1], commands=["mkdir -p app", "echo v42 > app/RELEASE"])
    check = ssm_run(run_task, instance_ids=ids, commands=["cat app/RELEASE 2>/dev/null || echo missing"])

    assert not deploy.get("failed") and not check.get("failed"), check.get("msg")
    assert by_instance(check)[ids[0]]["stdout"] == "v42\n"
    assert by_instance(check)[ids[1]]["stdout"] == "missing\n"


@pytest.mark.parametrize("args, named", [
    ({"instance_ids": ["web-1"]}, "'web-1'"),
    ({"max_errors": "ten"}, "'ten'"),
    ({"max_concurrency": "0"}, "'0'"),
    ({"execution_timeout": 0}, "execution_timeout"),
    ({"timeout": 10}, "timeout"),
    ({"comment": "x" * 101}, "comment"),
    ({"fetch_full_output": True}, "output_s3_bucket"),
    ({"document_name": "AWS-ConfigureAWSPackage"}, "AWS-ConfigureAWSPackage"),
    ({"allowed_failures": "-1"}, "'-1'"),
    ({"instance_ids": None, "targets": [{"key": "Role", "values": ["web"]}]}, "'Role'"),
])
def test_bad_values_fail_before_any_aws_call(run_task, sim, args, named):
    instance_id = sim.seed(fleet_of(1))["instances"]["web"]
    sim.clear_log()
    task = {"instance_ids": [instance_id], "commands": ["echo hi"]}
    task.update(args)

    result = ssm_run(run_task, **{key: value for key, value in task.items() if value is not None})

    assert result["failed"] is True
    assert named in result["msg"]
    assert sim.calls() == []


def test_invocations_not_listed_yet_just_after_sending_are_waited_for(run_task, sim):
    ids = sorted(sim.seed(fleet_of(3))["instances"].values())
    sim.configure(ssm={"invocations_visible_after": 2.5})

    result = ssm_run(run_task, instance_ids=ids, commands=["echo ok"])

    assert not result.get("failed"), result.get("msg")
    assert result["status_counts"] == {"Success": 3}


def test_without_wait_the_command_ids_are_returned_at_once(run_task, sim):
    ids = sorted(sim.seed(fleet_of(2))["instances"].values())

    result = ssm_run(run_task, instance_ids=ids, commands=["sleep 1", "echo done > finished"], wait=False)

    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True and len(result["command_ids"]) == 1 and result["invocations"] == []
    assert not actions(sim, "ListCommandInvocations")


def test_skipped_offline_instances_selected_by_tag_are_cancelled_not_left_waiting(run_task, sim, ssm):
    web = sim.seed(fleet_of(3))["instances"]
    offline = web["web-3"]
    sim.ssm_mark([offline], offline=True)

    started = time.monotonic()
    result = ssm_run(run_task, targets=WEB, commands=["echo up"], skip_unmanaged=True, timeout=600)

    assert time.monotonic() - started < 30
    assert not result.get("failed"), result.get("msg")
    assert [item["instance_id"] for item in result["instances_skipped"]] == [offline]
    assert [item["instance_id"] for item in result["undelivered"]] == [offline]
    assert result["status_counts"] == {"Success": 2, "Cancelled": 1}
    listed = ssm.list_command_invocations(CommandId=result["command_ids"][0])["CommandInvocations"]
    assert {i["InstanceId"]: i["Status"] for i in listed}[offline] == "Cancelled"
    assert any("cancelled" in warning for warning in result["warnings"])


def test_rollout_and_notification_options_reach_send_command(run_task, sim, ssm, s3):
    instance_id = sim.seed(fleet_of(1))["instances"]["web"]
    s3.create_bucket(Bucket="ops-output")
    topic = "arn:aws:sns:us-east-1:123456789012:ops-commands"
    role = "arn:aws:iam::123456789012:role/ssm-notifications"

    result = ssm_run(run_task, instance_ids=[instance_id], commands=["echo ok"], comment="pass-through", timeout=120,
                     execution_timeout=30, max_concurrency="5", max_errors="2", output_s3_bucket="ops-output",
                     output_s3_key_prefix="p", cloudwatch_output="/ops/ssm", service_role_arn=role,
                     notification_config={"notification_arn": topic, "notification_events": ["Failed", "TimedOut"]})

    assert not result.get("failed"), result.get("msg")
    command = ssm.list_commands(CommandId=result["command_ids"][0])["Commands"][0]
    assert (command["TimeoutSeconds"], command["MaxConcurrency"], command["MaxErrors"]) == (120, "5", "2")
    assert re.fullmatch(r"pass-through \[run [0-9a-f]{12}\]", command["Comment"])
    assert (command["OutputS3BucketName"], command["OutputS3KeyPrefix"], command["ServiceRole"]) == ("ops-output", "p", role)
    assert command["Parameters"] == {"commands": ["echo ok"], "executionTimeout": ["30"]}
    assert command["NotificationConfig"] == {"NotificationArn": topic, "NotificationEvents": ["Failed", "TimedOut"], "NotificationType": "Command"}
    assert command["CloudWatchOutputConfig"] == {"CloudWatchLogGroupName": "/ops/ssm", "CloudWatchOutputEnabled": True}
    assert command["DocumentName"] == "AWS-RunShellScript"


def test_targets_matching_nothing_send_nothing_and_warn(run_task, sim):
    sim.seed(fleet_of(2, role="db"))
    sim.clear_log()

    result = ssm_run(run_task, targets=WEB, commands=["echo hi"])

    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False and result["command_ids"] == []
    assert any("nothing was sent" in warning for warning in result["warnings"])
    assert not actions(sim, "SendCommand")


GONE = "i-0123456789abcdef0"


def test_an_unknown_id_in_an_instance_ids_target_fails_before_anything_is_sent(run_task, sim):
    ids = sorted(sim.seed(fleet_of(2))["instances"].values())
    sim.clear_log()

    result = ssm_run(run_task, targets=[{"key": "InstanceIds", "values": ids + [GONE]}], commands=["touch deployed"])

    assert result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith("targets:") and GONE in result["msg"]
    assert not any(instance_id in result["msg"] for instance_id in ids)
    assert not actions(sim, "SendCommand")


def test_an_unknown_id_in_an_instance_ids_target_is_skipped_and_reported_with_skip_unmanaged(run_task, sim):
    ids = sorted(sim.seed(fleet_of(2))["instances"].values())
    sim.clear_log()

    result = ssm_run(run_task, targets=[{"key": "InstanceIds", "values": ids + [GONE]}], commands=["echo hi"], skip_unmanaged=True)

    assert not result.get("failed"), result.get("msg")
    assert sorted(by_instance(result)) == ids
    assert [item["instance_id"] for item in result["instances_skipped"]] == [GONE]
    assert "not managed" in result["instances_skipped"][0]["reason"]


def test_an_id_left_out_by_another_target_is_not_reported(run_task, sim):
    web = sorted(sim.seed(fleet_of(1))["instances"].values())
    db = sorted(sim.seed(fleet_of(1, role="db"))["instances"].values())

    result = ssm_run(run_task, targets=[{"key": "InstanceIds", "values": web + db}] + WEB, commands=["echo hi"])

    assert not result.get("failed"), result.get("msg")
    assert sorted(by_instance(result)) == web and result["instances_skipped"] == []


def test_a_lost_send_command_answer_is_found_again_not_run_twice(run_task, sim):
    ids = sorted(sim.seed(fleet_of(2))["instances"].values())
    # SSM runs the command, the answer is lost: a second SendCommand would run it again.
    sim.add_fault(action="SendCommand", code="InternalError", after=True, count=1)

    result = ssm_run(run_task, instance_ids=ids, commands=["echo once >> runs.log", "cat runs.log"])

    assert not result.get("failed"), result.get("msg")
    assert [r["stdout"] for r in result["invocations"]] == ["once\n", "once\n"]
    assert len(actions(sim, "SendCommand")) == 1 and actions(sim, "ListCommands")


def test_a_throttled_send_command_is_sent_again_without_a_lookup(run_task, sim):
    ids = sorted(sim.seed(fleet_of(2))["instances"].values())
    sim.add_fault(action="SendCommand", code="ThrottlingException", count=2)

    result = ssm_run(run_task, instance_ids=ids, commands=["echo once >> runs.log", "cat runs.log"])

    assert not result.get("failed"), result.get("msg")
    assert [r["stdout"] for r in result["invocations"]] == ["once\n", "once\n"]
    assert len(actions(sim, "SendCommand")) == 3 and not actions(sim, "ListCommands")
