# -*- coding: utf-8 -*-
# Copyright: cloudops.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ssm_run's options checked once into SsmRunSettings, and the SendCommand requests they make (no AWS call).

Every check raises ValueError naming the option and the value, so a mistake fails the task
before anything is sent to an instance.
"""

import re
from dataclasses import dataclass
from typing import Mapping
from typing import Optional
from typing import Tuple

from ansible_collections.cloudops.aws.plugins.module_utils.ec2_instances import validate_instance_ids

SHELL_DOCUMENTS = {"bash": "AWS-RunShellScript", "powershell": "AWS-RunPowerShellScript"}
# SendCommand takes at most 50 instance ids and 5 targets.
INSTANCE_IDS_PER_COMMAND = 50
MAX_TARGETS = 5
TIMEOUT_RANGE = (30, 2592000)
EXECUTION_TIMEOUT_RANGE = (1, 172800)
COMMENT_LIMIT = 100
S3_PREFIX_LIMIT = 500

# SSM also runs commands on hybrid nodes, servers outside EC2 registered as mi-<17 hex digits>.
MANAGED_NODE_ID_PATTERN = re.compile(r"^(i-[0-9a-f]{8}([0-9a-f]{9})?|mi-[0-9a-f]{17})$")
DOCUMENT_PATTERN = re.compile(r"^[a-zA-Z0-9_\-.:/]{3,128}$")
DOCUMENT_VERSION_PATTERN = re.compile(r"^(\$LATEST|\$DEFAULT|[1-9][0-9]*)$")
# SSM's own patterns: MaxConcurrency at least 1 (or 1%), MaxErrors may be 0 (or 0%).
CONCURRENCY_PATTERN = re.compile(r"^([1-9][0-9]{0,6}|[1-9][0-9]?%|100%)$")
ERRORS_PATTERN = re.compile(r"^([1-9][0-9]{0,6}|0|[1-9][0-9]?%|[0-9]%|100%)$")
TARGET_KEY_PATTERN = re.compile(r"^(tag:.+|tag-key|InstanceIds|resource-groups:Name|resource-groups:ResourceTypeFilters)$")
ROLE_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
TOPIC_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$")
NOTIFICATION_EVENTS = ("All", "InProgress", "Success", "TimedOut", "Cancelled", "Failed")
NOTIFICATION_TYPES = ("Command", "Invocation")


def _check_range(name, value, bounds, unit="seconds"):
    low, high = bounds
    if value is not None and not low <= value <= high:
        raise ValueError("%s: must be between %d and %d %s, got %d" % (name, low, high, unit, value))


def _check_rate(name, value, pattern, meaning):
    if value is None:
        return None
    text = str(value).strip()
    if not pattern.match(text):
        raise ValueError("%s: %r is not %s" % (name, value, meaning))
    return text


def validate_targets(targets):
    if len(targets) > MAX_TARGETS:
        raise ValueError("targets: SendCommand takes at most %d targets, got %d" % (MAX_TARGETS, len(targets)))
    checked = []
    for target in targets:
        key, values = target.get("key"), target.get("values")
        if not key or not TARGET_KEY_PATTERN.match(key):
            raise ValueError("targets: key %r is not one of tag:<name>, tag-key, InstanceIds, resource-groups:Name, "
                             "resource-groups:ResourceTypeFilters" % (key,))
        if not values:
            raise ValueError("targets: key %r needs at least one value" % key)
        if key == "InstanceIds":
            validate_instance_ids(values, MANAGED_NODE_ID_PATTERN)
        checked.append({"Key": key, "Values": [str(value) for value in values]})
    return checked


def _document_and_parameters(params):
    shell_document = SHELL_DOCUMENTS[params["shell"]]
    # An empty name is a mistake to report, not a request for the default document.
    document = params["document_name"] if params["document_name"] is not None else shell_document
    if not DOCUMENT_PATTERN.match(document):
        raise ValueError("document_name: %r is not a document name or ARN" % document)
    version = params["document_version"]
    if version is not None and not DOCUMENT_VERSION_PATTERN.match(version):
        raise ValueError("document_version: %r is not $LATEST, $DEFAULT or a version number" % version)
    parameters = {}
    for name, value in (params["parameters"] or {}).items():
        values = value if isinstance(value, list) else [value]
        parameters[str(name)] = [str(item) for item in values]
    shell = document in SHELL_DOCUMENTS.values()
    if params["commands"] is not None:
        if document != shell_document:
            raise ValueError("commands: a shortcut for %s (shell: %s); document_name is %s" % (shell_document, params["shell"], document))
        if "commands" in parameters:
            raise ValueError("commands: give the lines either as commands or as parameters.commands, not both")
        if not params["commands"]:
            raise ValueError("commands: must hold at least one line")
        parameters["commands"] = [str(line) for line in params["commands"]]
    if shell and not parameters.get("commands"):
        raise ValueError("commands: %s needs the lines to run (commands, or parameters.commands)" % document)
    if params["execution_timeout"] is not None:
        if not shell:
            raise ValueError("execution_timeout: only %s and %s take it; set the document's own parameter for %s"
                             % (SHELL_DOCUMENTS["bash"], SHELL_DOCUMENTS["powershell"], document))
        _check_range("execution_timeout", params["execution_timeout"], EXECUTION_TIMEOUT_RANGE)
        parameters["executionTimeout"] = [str(params["execution_timeout"])]
    return document, version, parameters


def _notification(params):
    config = params["notification_config"]
    if not config:
        return None
    events = config.get("notification_events") or ["All"]
    unknown = [event for event in events if event not in NOTIFICATION_EVENTS]
    if unknown:
        raise ValueError("notification_config.notification_events: %s not among %s" % (", ".join(unknown), ", ".join(NOTIFICATION_EVENTS)))
    kind = config.get("notification_type") or "Command"
    if kind not in NOTIFICATION_TYPES:
        raise ValueError("notification_config.notification_type: %r is not Command or Invocation" % kind)
    if not config.get("notification_arn"):
        raise ValueError("notification_config.notification_arn: the SNS topic ARN is required")
    if not TOPIC_ARN_PATTERN.match(config["notification_arn"]):
        raise ValueError("notification_config.notification_arn: %r is not an SNS topic ARN" % config["notification_arn"])
    if not params["service_role_arn"]:
        raise ValueError("notification_config: SSM publishes notifications with service_role_arn, which is not set")
    return {"NotificationArn": config["notification_arn"], "NotificationEvents": events, "NotificationType": kind}


def request_template(params):
    """The SendCommand parameters shared by every call of this run (without targets)."""
    document, version, parameters = _document_and_parameters(params)
    _check_range("timeout", params["timeout"], TIMEOUT_RANGE)
    if params["comment"] is not None and len(params["comment"]) > COMMENT_LIMIT:
        raise ValueError("comment: at most %d characters, got %d: %r" % (COMMENT_LIMIT, len(params["comment"]), params["comment"][:40] + "..."))
    if params["service_role_arn"] is not None and not ROLE_ARN_PATTERN.match(params["service_role_arn"]):
        raise ValueError("service_role_arn: %r is not an IAM role ARN" % params["service_role_arn"])
    concurrency = _check_rate("max_concurrency", params["max_concurrency"], CONCURRENCY_PATTERN,
                              "a number of instances (1 or more) or a percentage (1% to 100%)")
    errors = _check_rate("max_errors", params["max_errors"], ERRORS_PATTERN,
                         "a number of errors (0 or more) or a percentage (0% to 100%)")
    if params["output_s3_key_prefix"] is not None:
        if not params["output_s3_bucket"]:
            raise ValueError("output_s3_key_prefix: needs output_s3_bucket")
        if len(params["output_s3_key_prefix"]) > S3_PREFIX_LIMIT:
            raise ValueError("output_s3_key_prefix: at most %d characters" % S3_PREFIX_LIMIT)
    request = {"DocumentName": document, "Parameters": parameters}
    optional = (
        ("DocumentVersion", version), ("Comment", params["comment"]), ("TimeoutSeconds", params["timeout"]),
        ("MaxConcurrency", concurrency), ("MaxErrors", errors), ("OutputS3BucketName", params["output_s3_bucket"]),
        ("OutputS3KeyPrefix", params["output_s3_key_prefix"]), ("ServiceRoleArn", params["service_role_arn"]),
        ("NotificationConfig", _notification(params)),
    )
    request.update((key, value) for key, value in optional if value is not None)
    if params["cloudwatch_output"]:
        request["CloudWatchOutputConfig"] = {"CloudWatchLogGroupName": params["cloudwatch_output"], "CloudWatchOutputEnabled": True}
    return request


def allowed_failure_count(allowed, total):
    """How many failed invocations out of `total` the task tolerates (`allowed_failures`)."""
    text = _check_rate("allowed_failures", allowed, ERRORS_PATTERN,
                       "a number of failures (0 or more) or a percentage (0% to 100%)") or "0"
    if text.endswith("%"):
        # As SSM rounds MaxErrors: 10% of 25 tolerates 2 failures, not 3.
        return int(text[:-1]) * total // 100
    return int(text)


def send_requests(template, instance_ids=None, targets=None):
    """SendCommand requests: one per 50 instance ids, or one for the targets."""
    if targets:
        return [dict(template, Targets=list(targets))]
    return [dict(template, InstanceIds=list(instance_ids[start:start + INSTANCE_IDS_PER_COMMAND]))
            for start in range(0, len(instance_ids), INSTANCE_IDS_PER_COMMAND)]


@dataclass(frozen=True)
class SsmRunSettings:
    """One ssm_run's options, checked when built: ValueError names the option and the value.

    from_params builds it once from the module's params; instance_ids or targets is None when
    the run selects through the other.
    """

    instance_ids: Optional[Tuple[str, ...]]
    # SendCommand Targets ({"Key", "Values"}), checked for SSM's keys and limits.
    targets: Optional[Tuple[Mapping[str, object], ...]]
    # The SendCommand parameters every call of the run shares; each call adds its ids or the targets.
    request: Mapping[str, object]
    allowed_failures: str
    skip_unmanaged: bool
    wait: bool
    wait_timeout: int
    fetch_full_output: bool

    def __post_init__(self):
        if self.instance_ids == ():
            raise ValueError("instance_ids: the list is empty")
        if self.targets == ():
            raise ValueError("targets: the list is empty")
        # Refused now rather than when the run is judged, after the command has run everywhere.
        allowed_failure_count(self.allowed_failures, 0)
        if self.wait_timeout < 1:
            raise ValueError("wait_timeout: must be 1 or more seconds, got %d" % self.wait_timeout)
        if self.fetch_full_output and not self.request.get("OutputS3BucketName"):
            raise ValueError("fetch_full_output: the full text is read from S3; set output_s3_bucket")

    @classmethod
    def from_params(cls, params):
        instance_ids, targets = params["instance_ids"], params["targets"]
        return cls(
            instance_ids=None if instance_ids is None else tuple(validate_instance_ids(instance_ids, MANAGED_NODE_ID_PATTERN)),
            targets=None if targets is None else tuple(validate_targets(targets)),
            request=request_template(params),
            allowed_failures=params["allowed_failures"],
            skip_unmanaged=params["skip_unmanaged"],
            wait=params["wait"],
            wait_timeout=params["wait_timeout"],
            fetch_full_output=params["fetch_full_output"],
        )
