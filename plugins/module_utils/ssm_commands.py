# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS I/O for Run Command: send, list invocations with their output, read the full text."""

import datetime

try:
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudops.aws.plugins.module_utils.aws_errors import error_code
from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import all_pages
from ansible_collections.cloudops.aws.plugins.module_utils.run_marks import RunMark
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_output import s3_location
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_params import COMMENT_LIMIT

# ListCommandInvocations returns at most 50 invocations a page.
INVOCATIONS_PER_PAGE = 50
# Just after SendCommand, an invocation may not be readable yet (eventual consistency).
NOT_YET_VISIBLE = "InvocationDoesNotExist"


# SendCommand has no idempotency token: a call whose answer is lost (a 5xx) may have been run
# by SSM all the same, and sending it again runs the script twice on every instance. So each
# command carries a run mark (run_marks.RunMark) in its Comment, and after such an answer it is
# looked up by that mark before it is sent again. botocore's own retries would resend blindly:
# the client that sends must be made with SEND_CLIENT_CONFIG, and this module retries instead.
SEND_CLIENT_CONFIG = {"retries": {"total_max_attempts": 1}}
# SSM answers ThrottlingException and InternalServerError; AWSRetry knows the EC2 spellings only.
SSM_RETRY_CODES = ["ThrottlingException", "InternalServerError"]
send_retry = AWSRetry.jittered_backoff(retries=10, catch_extra_error_codes=SSM_RETRY_CODES)
# Commands are looked for among those requested since a little before the first attempt: SSM's clock may run behind ours.
CLOCK_SKEW = datetime.timedelta(minutes=5)


def ssm_client(module):
    """An AnsibleAWSModule's SSM client, with SSM's throttling codes retried."""
    return module.client("ssm", retry_decorator=send_retry)


def sender_client(module):
    """An AnsibleAWSModule's client for SendCommand only, made with SEND_CLIENT_CONFIG (see send_command)."""
    return module.client("ssm", retry_decorator=send_retry, config=SEND_CLIENT_CONFIG)


def ssm_clients(module):
    """(ssm, sender) of an AnsibleAWSModule: ssm_client and sender_client."""
    return ssm_client(module), sender_client(module)


def find_marked_command(ssm, mark, since):
    """The id of the command whose Comment carries the run mark `mark`, requested since `since`, or None."""
    commands = all_pages(ssm.list_commands, "Commands", Filters=[{"key": "InvokedAfter", "value": since.strftime("%Y-%m-%dT%H:%M:%SZ")}])
    return next((c["CommandId"] for c in commands if mark.is_on(c.get("Comment"))), None)


def send_command(ssm, request):
    """The new command's id; the command is sent once, also when an answer is lost (see SEND_CLIENT_CONFIG)."""
    mark = RunMark()
    # The comment is cut, not the mark, so that both fit SSM's Comment limit.
    marked = dict(request, Comment=mark.stamp(request.get("Comment"), limit=COMMENT_LIMIT))
    since = datetime.datetime.now(datetime.timezone.utc) - CLOCK_SKEW
    answers_lost = []

    @send_retry
    def attempt():
        if answers_lost:
            command_id = find_marked_command(ssm, mark, since)
            if command_id:
                return command_id
        try:
            return ssm.send_command(**marked)["Command"]["CommandId"]
        except ClientError as error:
            # A 5xx may come after SSM acted; a throttled (4xx) call ran nothing and is simply sent again.
            if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
                answers_lost.append(error)
            raise

    return attempt()


def list_invocations(ssm, command_id):
    """Every invocation of a command, with plugin details and output, one call per page of 50."""
    return all_pages(ssm.list_command_invocations, "CommandInvocations", CommandId=command_id, Details=True,
                     MaxResults=INVOCATIONS_PER_PAGE)


def cancel_invocations(ssm, command_id, instance_ids):
    """Cancel a command's invocations on these instances, so a skipped instance does not run it later."""
    ssm.cancel_command(aws_retry=True, CommandId=command_id, InstanceIds=list(instance_ids))


def command_settled(ssm, command_id):
    """Whether the command reached a final status (ListCommands), for targets SSM resolves itself."""
    commands = ssm.list_commands(aws_retry=True, CommandId=command_id)["Commands"]
    return bool(commands) and commands[0]["Status"] not in ("Pending", "InProgress", "Cancelling")


@AWSRetry.jittered_backoff(retries=6, delay=1, catch_extra_error_codes=[NOT_YET_VISIBLE])
def _get_invocation(ssm, command_id, instance_id):
    return ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)


def get_invocation_content(ssm, command_id, instance_id):
    """GetCommandInvocation: stdout (first 24,000 characters) and stderr (first 8,000)."""
    return _get_invocation(ssm, command_id, instance_id)


def read_s3_text(s3, url):
    """The whole text of an S3 output URL, or None when there is none to read."""
    location = s3_location(url)
    if location is None:
        return None
    bucket, key = location
    try:
        body = s3.get_object(aws_retry=True, Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error_code(error) in ("NoSuchKey", "404"):
            return None
        raise
    return body.decode("utf-8", "replace")
