# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS I/O for Run Command: send, list invocations with their output, read the full text."""

try:
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cloudops.aws.plugins.module_utils.aws_pages import all_pages
from ansible_collections.cloudops.aws.plugins.module_utils.ssm_output import s3_location

# ListCommandInvocations returns at most 50 invocations a page.
INVOCATIONS_PER_PAGE = 50
# Just after SendCommand, an invocation may not be readable yet (eventual consistency).
NOT_YET_VISIBLE = "InvocationDoesNotExist"


def send_command(ssm, request):
    """The new command's id. Throttling is retried: a throttled call ran nothing."""
    return ssm.send_command(aws_retry=True, **request)["Command"]["CommandId"]


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
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise
    return body.decode("utf-8", "replace")
