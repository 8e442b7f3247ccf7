#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ssm_run
short_description: Run a command on EC2 instances with SSM Run Command and return every instance's result
version_added: 0.1.0
description:
  - Sends an SSM document (by default C(AWS-RunShellScript)) to instances given by id or selected with SendCommand
    targets such as C(tag:Role), waits for every invocation and returns, per instance, the status, the exit code,
    stdout and stderr, and the timing.
  - Before anything is sent, the selected instances are checked with DescribeInstanceInformation. SendCommand refuses
    a whole call for one instance that SSM does not manage, and an offline agent would hold its invocation until the
    delivery I(timeout); so an instance that is not managed or not online fails the task, naming it, with nothing
    sent, unless I(skip_unmanaged) is set, in which case it is skipped and reported in RV(instances_skipped).
  - Waiting polls ListCommandInvocations for all invocations at once (50 a page), never GetCommandInvocation once
    per instance. GetCommandInvocation is called only for instances whose output was longer than the 2,500 characters
    that listing shows; it gives the first 24,000 characters of stdout and 8,000 of stderr. With I(output_s3_bucket)
    and I(fetch_full_output), the whole text is read from S3.
  - The task fails when invocations end C(Failed), C(TimedOut) (execution timeout), C(Cancelled) or C(Terminated)
    (stopped by I(max_errors)), unless I(allowed_failures) permits that many. Delivery problems (C(Undeliverable),
    C(DeliveryTimedOut)) are reported apart, in RV(undelivered), and fail the task unless I(skip_unmanaged) is set.
  - "C(changed) is true whenever a command was sent, since Run Command cannot tell whether a script changed anything.
    Use C(changed_when) on the registered result to refine it, for example
    C(changed_when: result.invocations | selectattr('stdout', 'search', 'restarted') | list | length > 0)."
  - A selection that matches no managed, online instance is not an error; nothing is sent and the task warns.
  - Supports check mode, which resolves the targets, checks the instances and returns RV(would_run) and RV(instances_skipped);
    nothing is sent.
author:
  - cloudops.aws maintainers (@cloudops)
options:
  instance_ids:
    description:
      - The instances to run the command on. Any number; they are sent in SendCommand calls of at most 50 ids, and
        I(max_concurrency) and I(max_errors) apply to each call.
      - Mutually exclusive with I(targets); one of them is required.
    type: list
    elements: str
  targets:
    description:
      - SendCommand targets, resolved by SSM, for example C(key=tag:Role) with C(values=[web]). All targets must match.
        At most 5. I(max_concurrency) and I(max_errors) apply to the whole selection.
      - Keys C(tag:<name>), C(tag-key) and C(InstanceIds) are checked before sending. Resource group keys are passed
        through, but their instances cannot be checked before sending.
      - An id in an C(InstanceIds) target that SSM does not manage (or that does not exist) is treated as with
        I(instance_ids), although SSM itself would pass over it in silence; the task fails naming it, with nothing
        sent, or with I(skip_unmanaged) it is listed in RV(instances_skipped).
    type: list
    elements: dict
    suboptions:
      key:
        description: C(tag:<name>), C(tag-key), C(InstanceIds), C(resource-groups:Name) or C(resource-groups:ResourceTypeFilters).
        type: str
        required: true
      values:
        description: The values to match.
        type: list
        elements: str
        required: true
  document_name:
    description:
      - The SSM document (name or ARN) to run.
      - Defaults to C(AWS-RunShellScript), or C(AWS-RunPowerShellScript) when I(shell=powershell).
    type: str
  document_version:
    description: The document version, C($DEFAULT), C($LATEST) or a number. SSM uses C($DEFAULT) when not set.
    type: str
  parameters:
    description:
      - The document's parameters. A value that is not a list is sent as a list of one string.
    type: dict
  commands:
    description:
      - The lines to run, a shortcut for the C(commands) parameter of C(AWS-RunShellScript) or C(AWS-RunPowerShellScript).
      - The lines run as one script; its exit code is the invocation's. Start with C(set -e) to stop at the first failing line.
    type: list
    elements: str
  shell:
    description: Which shell document I(commands) and I(document_name) default to.
    type: str
    choices: [bash, powershell]
    default: bash
  comment:
    description:
      - A comment shown with the command in the SSM console and API, at most 100 characters.
      - The module appends a run mark (C([run <12 hex digits>])), cutting the comment to 81 characters if need be, so
        that a SendCommand whose answer was lost is found again instead of being sent, and run, twice.
    type: str
  max_concurrency:
    description:
      - SSM's MaxConcurrency, how many instances run the command at the same time, a number (C(10)) or a percentage of
        the targets (C(10%)). SSM's default is 50.
    type: str
  max_errors:
    description:
      - SSM's MaxErrors, how many failed invocations SSM tolerates before it stops sending the command to more instances, a
        number (C(0)) or a percentage (C(10%), rounded down). C(0) stops after the first failure. Instances not reached end
        C(Terminated); invocations already running finish. SSM's default is 0.
    type: str
  allowed_failures:
    description:
      - How many failed invocations the task tolerates, a number or a percentage of the invocations (rounded down).
      - Independent of I(max_errors), which decides when SSM stops the rollout; this decides whether the task fails.
    type: str
    default: "0"
  timeout:
    description:
      - The delivery timeout (SendCommand TimeoutSeconds), 30 to 2592000 seconds. SSM's default is 3600.
      - SSM stops trying to deliver the command to an instance after this plus the execution timeout; an invocation not
        started by then ends C(DeliveryTimedOut).
    type: int
  execution_timeout:
    description:
      - How long the script may run on each instance (the C(executionTimeout) parameter of the shell documents), 1 to 172800
        seconds. SSM's default is 3600. An invocation that runs longer is stopped and ends C(TimedOut) (C(ExecutionTimedOut)).
    type: int
  output_s3_bucket:
    description: An S3 bucket that receives the whole stdout and stderr of every instance.
    type: str
  output_s3_key_prefix:
    description: The key prefix under I(output_s3_bucket).
    type: str
  fetch_full_output:
    description:
      - When the output of an instance was truncated by the API, read the whole text from I(output_s3_bucket).
      - The instances need write access to the bucket; this module needs C(s3:GetObject) on it.
    type: bool
    default: false
  cloudwatch_output:
    description: A CloudWatch Logs log group that receives the output.
    type: str
  service_role_arn:
    description: The IAM role SSM uses to publish I(notification_config) notifications to SNS.
    type: str
  notification_config:
    description: SNS notifications of status changes, passed through to SendCommand.
    type: dict
    suboptions:
      notification_arn:
        description: The SNS topic ARN.
        type: str
        required: true
      notification_events:
        description: C(All), C(InProgress), C(Success), C(TimedOut), C(Cancelled), C(Failed).
        type: list
        elements: str
        default: [All]
      notification_type:
        description: C(Command) (one notification for the command) or C(Invocation) (one per instance).
        type: str
        default: Command
  skip_unmanaged:
    description:
      - Skip selected instances that SSM does not manage or whose agent is offline, reporting them in RV(instances_skipped),
        instead of failing the task before anything is sent.
      - With I(targets), SSM also targets offline instances; their invocations wait for the agent, so once the others are
        done the module cancels them (CancelCommand), and the command does not run there later.
      - Also keeps delivery problems (RV(undelivered)) from failing the task.
    type: bool
    default: false
  wait:
    description: Wait for every invocation to finish. With C(false), the task returns RV(command_ids) once the command is sent.
    type: bool
    default: true
  wait_timeout:
    description: How long to wait, in seconds. Invocations still running then are listed in RV(still_running) and fail the task.
    type: int
    default: 600
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - IAM permissions needed are C(ssm:DescribeInstanceInformation), C(ssm:SendCommand), C(ssm:ListCommandInvocations),
    C(ssm:GetCommandInvocation), C(ssm:ListCommands) (resource group targets, and after a lost SendCommand answer), C(ec2:DescribeInstances) (targets only),
    C(ssm:CancelCommand) (targets with I(skip_unmanaged)), and C(s3:GetObject) on I(output_s3_bucket) with I(fetch_full_output).
"""

EXAMPLES = r"""
- name: Health check of every web server, two at a time
  cloudops.aws.ssm_run:
    targets:
      - key: tag:Role
        values: [web]
    commands:
      - curl -fsS --max-time 5 http://localhost/healthz
    max_concurrency: "2"
    execution_timeout: 60
    comment: health check
  register: health

- name: Online database backup before a snapshot; stop at the first failing server
  cloudops.aws.ssm_run:
    instance_ids: "{{ db_instance_ids }}"
    commands:
      - set -eu
      - pg_dump --format=custom --file=/backup/nightly.dump appdb
      - sync
    max_concurrency: "1"
    max_errors: "0"
    execution_timeout: 3600
    output_s3_bucket: ops-command-output
    output_s3_key_prefix: db-backup

- name: Collect a log file, whole, through S3
  cloudops.aws.ssm_run:
    instance_ids: [i-0123456789abcdef0]
    commands:
      - cat /var/log/app/error.log
    output_s3_bucket: ops-command-output
    fetch_full_output: true
  register: logs

- name: Restart the agent fleet-wide, tolerating 5% failures and skipping instances SSM cannot reach
  cloudops.aws.ssm_run:
    targets:
      - key: tag:Env
        values: [prod]
    commands:
      - systemctl restart my-agent
    max_concurrency: 10%
    max_errors: 10%
    allowed_failures: 5%
    skip_unmanaged: true
  register: restart
  changed_when: restart.status_counts.Success | default(0) > 0

- name: Which instances would run it, and which are offline or unmanaged
  cloudops.aws.ssm_run:
    targets:
      - key: tag:Role
        values: [web]
    commands: [uptime]
  check_mode: true
"""

RETURN = r"""
command_ids:
  description: The ids of the commands sent, one per SendCommand call (one for targets, one per 50 instance ids).
  returned: always
  type: list
  elements: str
  sample: ["4f2c1a9e-8e2b-4c6f-9a51-2d7e3b1c0f42"]
invocations:
  description: Every instance's result, sorted by instance id; empty in check mode and with C(wait=false).
  returned: always
  type: list
  elements: dict
  contains:
    instance_id:
      description: The instance.
      type: str
      sample: i-0123456789abcdef0
    instance_name:
      description: The instance's Name tag, as SSM reports it.
      type: str
      sample: web-1
    command_id:
      description: The command the invocation belongs to.
      type: str
      sample: 4f2c1a9e-8e2b-4c6f-9a51-2d7e3b1c0f42
    status:
      description: SSM's Status, C(Success), C(Failed), C(TimedOut), C(Cancelled), or C(Pending), C(InProgress), C(Delayed) when the wait ended first.
      type: str
      sample: Success
    status_details:
      description: SSM's StatusDetails, which also tells C(ExecutionTimedOut), C(DeliveryTimedOut), C(Undeliverable) and C(Terminated).
      type: str
      sample: Success
    response_code:
      description: The script's exit code; -1 when it did not run.
      type: int
      sample: 0
    stdout:
      description: What the command wrote to stdout (the first 24,000 characters unless the whole text was read from S3).
      type: str
      sample: "ok\n"
    stderr:
      description: What the command wrote to stderr (the first 8,000 characters unless read from S3). SSM adds a line for a non-zero exit.
      type: str
      sample: ""
    output_truncated:
      description: Whether RV(invocations[].stdout) or RV(invocations[].stderr) is shorter than what the command wrote.
      type: bool
      sample: false
    stdout_url:
      description: The S3 URL of the whole stdout, when I(output_s3_bucket) is set.
      type: str
      sample: https://s3.eu-west-1.amazonaws.com/out/4f2c1a9e-8e2b-4c6f-9a51-2d7e3b1c0f42/i-0123456789abcdef0/awsrunShellScript/0.awsrunShellScript/stdout
    stderr_url:
      description: The S3 URL of the whole stderr, when I(output_s3_bucket) is set and the command wrote to stderr.
      type: str
      sample: ""
    start:
      description: When the command started on the instance (UTC, ISO 8601); null when it did not start.
      type: str
      sample: "2026-11-23T03:15:01.120Z"
    end:
      description: When it ended (UTC, ISO 8601); null when it did not start.
      type: str
      sample: "2026-11-23T03:15:02.480Z"
    duration:
      description: Seconds from start to end; null when it did not start.
      type: float
      sample: 1.36
  sample: [{"instance_id": "i-0123456789abcdef0", "instance_name": "web-1", "command_id": "4f2c1a9e-8e2b-4c6f-9a51-2d7e3b1c0f42",
            "status": "Success", "status_details": "Success", "response_code": 0, "stdout": "ok\n", "stderr": "",
            "output_truncated": false, "stdout_url": "", "stderr_url": "", "start": "2026-11-23T03:15:01.120Z",
            "end": "2026-11-23T03:15:02.480Z", "duration": 1.36}]
status_counts:
  description: How many invocations ended in each status (StatusDetails).
  returned: always
  type: dict
  sample: {"Success": 118, "Failed": 2}
would_run:
  description: The managed, online instances the command runs (or in check mode, would run) on, as checked before sending.
  returned: always
  type: list
  elements: str
  sample: [i-0123456789abcdef0]
instances_skipped:
  description: Selected instances that SSM does not manage or whose agent is offline, not sent the command (I(skip_unmanaged)).
  returned: always
  type: list
  elements: dict
  sample: [{"instance_id": "i-0fedcba9876543210", "reason": "SSM agent offline (PingStatus ConnectionLost)"}]
undelivered:
  description:
    - Invocations SSM could not deliver (C(Undeliverable), C(DeliveryTimedOut)), apart from command failures, and those on
      skipped offline instances that the module cancelled (I(targets) with I(skip_unmanaged)).
  returned: always
  type: list
  elements: dict
  sample: [{"instance_id": "i-0fedcba9876543210", "status": "TimedOut", "status_details": "DeliveryTimedOut"}]
failures:
  description: Invocations that ended C(Failed), C(TimedOut), C(Cancelled) or C(Terminated), with a short reason.
  returned: always
  type: list
  elements: dict
  sample: [{"instance_id": "i-0123456789abcdef1", "status": "Failed", "status_details": "Failed", "response_code": 3,
            "error": "Failed (exit code 3): failed to run commands: exit status 3"}]
still_running:
  description: Instances whose invocation had not finished when I(wait_timeout) ran out.
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudops.aws.plugins.module_utils.module_results import checked_settings
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import ending_on_errors
from ansible_collections.cloudops.aws.plugins.module_utils.module_results import exit_or_fail
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_commands import sender_client
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_instances import select_by_ids
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_instances import select_by_targets
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_params import SsmRunSettings
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_rollout import RunCommand


def argument_spec():
    return dict(
        instance_ids=dict(type="list", elements="str"),
        targets=dict(type="list", elements="dict", options=dict(
            key=dict(type="str", required=True, no_log=False),
            values=dict(type="list", elements="str", required=True),
        )),
        document_name=dict(type="str"),
        document_version=dict(type="str"),
        parameters=dict(type="dict"),
        commands=dict(type="list", elements="str"),
        shell=dict(type="str", choices=["bash", "powershell"], default="bash"),
        comment=dict(type="str"),
        max_concurrency=dict(type="str"),
        max_errors=dict(type="str"),
        allowed_failures=dict(type="str", default="0"),
        timeout=dict(type="int"),
        execution_timeout=dict(type="int"),
        output_s3_bucket=dict(type="str"),
        output_s3_key_prefix=dict(type="str", no_log=False),
        fetch_full_output=dict(type="bool", default=False),
        cloudwatch_output=dict(type="str"),
        service_role_arn=dict(type="str"),
        notification_config=dict(type="dict", options=dict(
            notification_arn=dict(type="str", required=True),
            notification_events=dict(type="list", elements="str", default=["All"]),
            notification_type=dict(type="str", default="Command"),
        )),
        skip_unmanaged=dict(type="bool", default=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
    )


def main():
    module = AnsibleAWSModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("instance_ids", "targets")],
        required_one_of=[("instance_ids", "targets")],
        supports_check_mode=True,
    )
    settings = checked_settings(module, SsmRunSettings.from_params)

    retry = AWSRetry.jittered_backoff(retries=10)
    ssm = module.client("ssm", retry_decorator=retry)
    # SendCommand's own client: botocore's retries would resend it blindly after a lost answer (ssm_commands.send_command).
    sender = sender_client(module)
    ec2 = module.client("ec2", retry_decorator=retry) if settings.targets else None
    s3 = module.client("s3", retry_decorator=retry) if settings.fetch_full_output else None
    run = RunCommand(ssm, sender, ec2, s3, settings)

    with ending_on_errors(module, "ssm_run", run):
        selection = select_by_targets(ssm, ec2, settings.targets) if settings.targets else select_by_ids(ssm, settings.instance_ids)
        result = run.preview(selection) if module.check_mode else run.run(selection)
    exit_or_fail(module, result, None if module.check_mode else run.verdict())


if __name__ == "__main__":
    main()
