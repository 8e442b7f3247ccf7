"""Run Command as SSM runs it, which moto 5.2.5 does not (it marks every command Success at once).

- SendCommand targets explicit InstanceIds (at most 50, every one a managed node, else
  `InvalidInstanceId` for the whole call) or Targets (`tag:<key>`, `tag-key`, `InstanceIds`),
  which resolve to the managed nodes that match, online or not.
- Invocations start `Pending`, then run `InProgress` with at most MaxConcurrency at a time
  (a number, or a percentage of the targets, at least 1), and end `Success` or `Failed` with
  the script's real exit code. MaxErrors (a number, or a percentage of the targets, rounded
  down) is the number of errors tolerated: once one more invocation has failed or timed out,
  invocations not yet sent end `Terminated` (Status `Cancelled`); running ones finish. The
  first MaxConcurrency invocations are sent at once, whatever their outcome.
- AWS-RunShellScript runs its `commands` with bash in a sandbox directory of the instance
  (the same directory for every command sent to that instance until the simulator is reset),
  honouring `workingDirectory` (inside the sandbox) and `executionTimeout`: past it the
  process group is killed and the invocation ends `TimedOut` / `ExecutionTimedOut`. This is a
  test double, not isolation: the script runs as the simulator's user and could leave the
  sandbox; the tests only send commands that stay in it.
- AWS-RunPatchBaseline runs in patching.py (plugin `PatchLinux`); other documents end Failed.
- A node that is offline when its turn comes stays `Delayed` until the delivery timeout
  (TimeoutSeconds plus the execution timeout, capped by the `ssm.delivery_timeout_cap`
  setting) and ends `DeliveryTimedOut`; a node that is no longer managed (or gone) ends
  `Undeliverable`. Neither counts against MaxErrors; Undeliverable ones do not keep the
  command from `Success`. Targets that match no managed node end the command `Failed`
  (`NoInstancesInTag`).
- Output: GetCommandInvocation keeps the first 24,000 characters of stdout and 8,000 of
  stderr; ListCommandInvocations with Details gives each plugin's `Output`, stdout then
  `----------ERROR-------` and stderr, at most 2,500 characters, each stream cut with its own
  marker (`---Output truncated---`, `---Error truncated----`) as the agent cuts them. With OutputS3BucketName the
  whole text is written to the bucket (in the simulator's S3), keys
  `<prefix>/<command id>/<instance id>/awsrunShellScript/0.awsrunShellScript/stdout|stderr`,
  and the URLs are returned.
"""

import datetime
import itertools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid

from moto.core.exceptions import ServiceException
from moto.ssm.exceptions import InvalidDocument, ValidationException

from simulator import patching, ssm_instances
from simulator.seconds_settings import SecondsSettings

STDOUT_LIMIT = 24000
STDERR_LIMIT = 8000
PLUGIN_OUTPUT_LIMIT = 2500
ERROR_MARKER = "\n----------ERROR-------\n"
TRUNCATED_MARKER = "\n---Output truncated---"
ERROR_TRUNCATED_MARKER = "\n---Error truncated----"
SHELL_DOCUMENT = "AWS-RunShellScript"
KNOWN_DOCUMENTS = (SHELL_DOCUMENT, "AWS-RunPowerShellScript", patching.DOCUMENT)
SHELL_PARAMETERS = ("commands", "workingDirectory", "executionTimeout")
PLUGIN = "aws:runShellScript"
S3_PLUGIN_DIR = "awsrunShellScript/0.awsrunShellScript"
# The plugin that runs a document and where its output goes in S3, for documents other than the shell one.
DOCUMENT_PLUGINS = {patching.DOCUMENT: (patching.PLUGIN, patching.S3_PLUGIN_DIR)}
TERMINAL = ("Success", "Failed", "TimedOut", "Cancelled")
SANDBOX_PREFIX = "simulator-ssm-"
COUNTED_ERRORS = ("Failed", "ExecutionTimedOut")


class InvalidInstanceId(ServiceException):
    def __init__(self, message):
        super().__init__("InvalidInstanceId", message)


class InvalidParameters(ServiceException):
    def __init__(self, message):
        super().__init__("InvalidParameters", message)


class DuplicateInstanceId(ServiceException):
    # A class of this module: moto looks a bare ServiceException's error shape up in a service "core" and fails.
    def __init__(self, instance_id):
        super().__init__("DuplicateInstanceId", "Instance Id %s is duplicated" % instance_id)


class InvocationDoesNotExist(ServiceException):
    def __init__(self):
        super().__init__("InvocationDoesNotExist", "")


class InvalidCommandId(ServiceException):
    def __init__(self):
        super().__init__("InvalidCommandId", "")


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (moment.microsecond // 1000) if moment else ""


def _elapsed(start, end):
    if not start or not end:
        return ""
    return "PT%.3fS" % (end - start).total_seconds()


def resolve_rate(value, target_count, percent_rounding):
    """A MaxConcurrency / MaxErrors value as a count of targets."""
    text = str(value)
    if text.endswith("%"):
        return percent_rounding(int(text[:-1]) * target_count / 100.0)
    return int(text)


def concurrency_limit(value, target_count):
    return max(1, resolve_rate(value, target_count, lambda x: int(-(-x // 1))))


def errors_allowed(value, target_count):
    return resolve_rate(value, target_count, int)


def plugin_output(stdout, stderr, capacity=PLUGIN_OUTPUT_LIMIT):
    """A plugin's Output as the agent reports it: stdout, the error title and stderr, each stream
    cut with its own marker when they do not fit together (the longer one gives way first)."""
    title = ERROR_MARKER if stderr else ""
    room = capacity - len(title)
    if len(stdout) + len(stderr) < room:
        return stdout + title + stderr
    half = room // 2
    if len(stdout) > half and len(stderr) > half:
        keep = (room - len(TRUNCATED_MARKER) - len(ERROR_TRUNCATED_MARKER)) // 2
        return stdout[:keep] + TRUNCATED_MARKER + title + stderr[:keep] + ERROR_TRUNCATED_MARKER
    if len(stdout) < half:
        return stdout + title + stderr[:room - len(ERROR_TRUNCATED_MARKER) - len(stdout)] + ERROR_TRUNCATED_MARKER
    return stdout[:room - len(TRUNCATED_MARKER) - len(stderr)] + TRUNCATED_MARKER + title + stderr


class Invocation:
    def __init__(self, command, instance_id, instance_name):
        self.command = command
        self.instance_id = instance_id
        self.instance_name = instance_name
        self.status = "Pending"
        self.details = "Pending"
        self.response_code = -1
        self.started = None
        self.ended = None
        self.stdout = ""
        self.stderr = ""
        self.stdout_url = ""
        self.stderr_url = ""

    def finish(self, status, details, response_code=None):
        self.status, self.details = status, details
        if response_code is not None:
            self.response_code = response_code
        self.ended = self.ended or _now()

    def settle(self):
        """A delayed invocation whose delivery deadline passed ends DeliveryTimedOut (read lazily)."""
        if self.details == "Delayed" and time.monotonic() >= self.command.deliver_by:
            self.finish("TimedOut", "DeliveryTimedOut")

    def plugin_output(self):
        return plugin_output(self.stdout, self.stderr)

    def listing(self, details):
        command = self.command
        item = {
            "CommandId": command.command_id,
            "InstanceId": self.instance_id,
            "InstanceName": self.instance_name,
            "Comment": command.comment,
            "DocumentName": command.document_name,
            "DocumentVersion": command.document_version,
            "RequestedDateTime": command.requested,
            "Status": self.status,
            "StatusDetails": self.details,
            "TraceOutput": "",
            "StandardOutputUrl": self.stdout_url,
            "StandardErrorUrl": self.stderr_url,
            "CommandPlugins": [],
            "ServiceRole": command.service_role,
            "NotificationConfig": command.notification_config,
            "CloudWatchOutputConfig": command.cloudwatch_output_config,
        }
        if details:
            plugin = {
                "Name": command.plugin,
                "Status": self.status if self.details != "Terminated" else "Cancelled",
                "StatusDetails": self.details,
                "ResponseCode": self.response_code,
                "Output": self.plugin_output() if self.status in TERMINAL else "",
                "StandardOutputUrl": self.stdout_url,
                "StandardErrorUrl": self.stderr_url,
                "OutputS3Region": command.region if command.s3_bucket else "",
                "OutputS3BucketName": command.s3_bucket,
                "OutputS3KeyPrefix": command.s3_prefix,
            }
            if self.started:
                plugin["ResponseStartDateTime"] = self.started
            if self.ended:
                plugin["ResponseFinishDateTime"] = self.ended
            item["CommandPlugins"] = [plugin]
        return item

    def get(self):
        done = self.status in TERMINAL
        return {
            "CommandId": self.command.command_id,
            "InstanceId": self.instance_id,
            "Comment": self.command.comment,
            "DocumentName": self.command.document_name,
            "DocumentVersion": self.command.document_version,
            "PluginName": self.command.plugin,
            "ResponseCode": self.response_code,
            "ExecutionStartDateTime": _iso(self.started),
            "ExecutionElapsedTime": _elapsed(self.started, self.ended),
            "ExecutionEndDateTime": _iso(self.ended),
            "Status": self.status,
            "StatusDetails": self.details,
            "StandardOutputContent": self.stdout[:STDOUT_LIMIT] if done else "",
            "StandardOutputUrl": self.stdout_url,
            "StandardErrorContent": self.stderr[:STDERR_LIMIT] if done else "",
            "StandardErrorUrl": self.stderr_url,
            "CloudWatchOutputConfig": self.command.cloudwatch_output_config,
        }


class Command:
    def __init__(self, account_id, region, request, instance_ids, settings):
        self.account_id = account_id
        self.region = region
        self.command_id = str(uuid.uuid4())
        self.document_name = request["DocumentName"]
        self.document_version = request.get("DocumentVersion") or "$DEFAULT"
        self.parameters = request.get("Parameters") or {}
        self.comment = request.get("Comment") or ""
        self.targets = request.get("Targets") or []
        self.explicit_ids = request.get("InstanceIds") or []
        self.max_concurrency = request.get("MaxConcurrency") or "50"
        self.max_errors = request.get("MaxErrors") or "0"
        self.timeout_seconds = int(request.get("TimeoutSeconds") or 3600)
        self.s3_bucket = request.get("OutputS3BucketName") or ""
        self.s3_prefix = request.get("OutputS3KeyPrefix") or ""
        self.service_role = request.get("ServiceRoleArn") or ""
        self.notification_config = request.get("NotificationConfig") or {
            "NotificationArn": "", "NotificationEvents": [], "NotificationType": ""}
        self.cloudwatch_output_config = request.get("CloudWatchOutputConfig") or {
            "CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False}
        self.plugin, self.s3_plugin_dir = DOCUMENT_PLUGINS.get(self.document_name, (PLUGIN, S3_PLUGIN_DIR))
        self.requested = _now()
        # SSM gives up delivering after TimeoutSeconds plus the document's execution timeout.
        execution = (self.parameters.get("executionTimeout") or ["3600"])[0] if self.document_name == SHELL_DOCUMENT else "3600"
        delivery = self.timeout_seconds + int(execution)
        if settings["delivery_timeout_cap"] is not None:
            delivery = min(delivery, float(settings["delivery_timeout_cap"]))
        self.deliver_by = time.monotonic() + delivery
        self.visible_at = time.monotonic() + float(settings["invocations_visible_after"])
        self.execution_cap = float(settings["execution_timeout_cap"])
        self.lock = threading.Lock()
        self.cancelled = False
        self.error_count = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.processes = {}
        self.invocations = {}
        for instance_id in instance_ids:
            name = ssm_instances.tags_of(ssm_instances._ec2(account_id, region), instance_id).get("Name", "")
            self.invocations[instance_id] = Invocation(self, instance_id, name)

    @property
    def target_count(self):
        return len(self.invocations)

    def settled_invocations(self):
        with self.lock:
            for invocation in self.invocations.values():
                invocation.settle()
            return list(self.invocations.values())

    def status(self):
        invocations = self.settled_invocations()
        if any(i.status not in TERMINAL for i in invocations):
            started = any(i.status != "Pending" for i in invocations)
            return ("InProgress", "InProgress") if started else ("Pending", "Pending")
        if self.cancelled:
            return "Cancelled", "Cancelled"
        if not invocations:
            return "Failed", "NoInstancesInTag"
        # Undeliverable invocations neither count as errors nor keep the command from succeeding.
        delivered = [i for i in invocations if i.details != "Undeliverable"]
        if not delivered:
            return "Failed", "Failed"
        if all(i.status == "Success" for i in delivered):
            return "Success", "Success"
        errors = [i for i in invocations if i.details in COUNTED_ERRORS]
        if len(errors) > errors_allowed(self.max_errors, self.target_count):
            timed_out = all(i.details == "ExecutionTimedOut" for i in errors)
            return ("TimedOut", "ExecutionTimedOut") if timed_out else ("Failed", "Failed")
        return "Failed", "Incomplete"

    def describe(self):
        status, details = self.status()
        invocations = list(self.invocations.values())
        return {
            "CommandId": self.command_id,
            "DocumentName": self.document_name,
            "DocumentVersion": self.document_version,
            "Comment": self.comment,
            "ExpiresAfter": self.requested + datetime.timedelta(seconds=self.timeout_seconds),
            "Parameters": self.parameters,
            "InstanceIds": self.explicit_ids,
            "Targets": self.targets,
            "RequestedDateTime": self.requested,
            "Status": status,
            "StatusDetails": details,
            "OutputS3Region": self.region if self.s3_bucket else "",
            "OutputS3BucketName": self.s3_bucket,
            "OutputS3KeyPrefix": self.s3_prefix,
            "MaxConcurrency": self.max_concurrency,
            "MaxErrors": self.max_errors,
            "TargetCount": len(invocations),
            "CompletedCount": sum(1 for i in invocations if i.status in TERMINAL),
            "ErrorCount": sum(1 for i in invocations if i.details in COUNTED_ERRORS),
            "DeliveryTimedOutCount": sum(1 for i in invocations if i.details == "DeliveryTimedOut"),
            "ServiceRole": self.service_role,
            "NotificationConfig": self.notification_config,
            "CloudWatchOutputConfig": self.cloudwatch_output_config,
            "TimeoutSeconds": self.timeout_seconds,
        }


class Engine(SecondsSettings):
    """Every command sent, the sandboxes of the instances, and the settings of the control endpoint."""

    SECTION = "ssm"
    NULLABLE = ("delivery_timeout_cap",)

    def __init__(self):
        self.lock = threading.Lock()
        self.generation = itertools.count()
        _remove_stale_sandboxes()
        self.root = self._new_root()
        self.commands = {}
        self.settings = {}
        self.reset()

    def reset(self):
        with self.lock:
            commands, self.commands = list(self.commands.values()), {}
            self.settings = {"delivery_timeout_cap": None, "execution_timeout_cap": 600.0, "invocations_visible_after": 0.0}
        for command in commands:
            cancel(command)
        # A fresh directory: scripts still being killed keep writing to the old one.
        old, self.root = self.root, self._new_root()
        shutil.rmtree(old, ignore_errors=True)
        ssm_instances.MARKS.reset()

    def _new_root(self):
        path = os.path.join(tempfile.gettempdir(), "%s%d-%d" % (SANDBOX_PREFIX, os.getpid(), next(self.generation)))
        os.makedirs(path, exist_ok=True)
        return path

    def sandbox(self, instance_id):
        path = os.path.join(self.root, "instances", instance_id)
        os.makedirs(path, exist_ok=True)
        return path

    def add(self, command):
        with self.lock:
            self.commands[command.command_id] = command

    def get(self, command_id):
        with self.lock:
            return self.commands.get(command_id)

    def all(self):
        with self.lock:
            return sorted(self.commands.values(), key=lambda c: c.requested)


def _remove_stale_sandboxes():
    """Sandboxes of simulators that are gone: a terminated simulator cannot clean up after itself."""
    parent = tempfile.gettempdir()
    for name in os.listdir(parent):
        match = re.match(r"^%s(\d+)-\d+$" % re.escape(SANDBOX_PREFIX), name)
        if not match or int(match.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
        except PermissionError:
            pass


ENGINE = Engine()


def cancel(command, instance_ids=None):
    with command.lock:
        if instance_ids is None:
            command.cancelled = True
        for invocation in command.invocations.values():
            if instance_ids is not None and invocation.instance_id not in instance_ids:
                continue
            if invocation.status not in TERMINAL:
                invocation.finish("Cancelled", "Cancelled")
            process = command.processes.get(invocation.instance_id)
            if process is not None:
                _kill(process)


def _kill(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# --- SendCommand -----------------------------------------------------------------------------

def _validate(request):
    if not request.get("DocumentName"):
        raise ValidationException("DocumentName is required")
    ids, targets = request.get("InstanceIds") or [], request.get("Targets") or []
    if not ids and not targets:
        raise ValidationException("Either InstanceIds or Targets must be specified")
    if ids and targets:
        raise ValidationException("InstanceIds and Targets cannot both be specified")
    if len(ids) > 50:
        raise ValidationException("1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: "
                                  "Member must have length less than or equal to 50")
    if len(ids) != len(set(ids)):
        raise DuplicateInstanceId(next(i for i in ids if ids.count(i) > 1))
    if len(targets) > 5:
        raise ValidationException("1 validation error detected: Value at 'targets' failed to satisfy constraint: "
                                  "Member must have length less than or equal to 5")
    timeout = request.get("TimeoutSeconds")
    if timeout is not None and not 30 <= int(timeout) <= 2592000:
        raise ValidationException(f"1 validation error detected: Value '{timeout}' at 'timeoutSeconds' failed to satisfy "
                                  "constraint: Member must have value between 30 and 2592000")
    for name, pattern_ok in (("MaxConcurrency", _rate_ok(False)), ("MaxErrors", _rate_ok(True))):
        value = request.get(name)
        if value is not None and not pattern_ok(str(value)):
            raise ValidationException(f"1 validation error detected: Value '{value}' at '{name[0].lower() + name[1:]}' "
                                      "failed to satisfy constraint: Member must satisfy regular expression pattern")


def _rate_ok(zero_allowed):
    def check(text):
        number = text[:-1] if text.endswith("%") else text
        if not number.isdigit() or (number != "0" and number.startswith("0")):
            return False
        value = int(number)
        if text.endswith("%"):
            return (0 if zero_allowed else 1) <= value <= 100
        return value >= (0 if zero_allowed else 1) and len(text) <= 7
    return check


def _validate_shell_parameters(parameters):
    unknown = sorted(set(parameters) - set(SHELL_PARAMETERS))
    if unknown:
        raise InvalidParameters(f"Parameters {unknown} are not defined in document {SHELL_DOCUMENT}")
    if not parameters.get("commands"):
        raise InvalidParameters("Parameter \"commands\" is required")
    timeout = (parameters.get("executionTimeout") or ["3600"])[0]
    if not str(timeout).isdigit() or not 1 <= int(timeout) <= 172800:
        raise InvalidParameters(f"Parameter \"executionTimeout\" \"{timeout}\" fails to match the allowed pattern "
                                "or range (1 to 172800 seconds)")


def _resolve_targets(account_id, region, targets):
    nodes = ssm_instances.managed_nodes(account_id, region)
    selected = []
    for instance_id in sorted(nodes):
        node, tags = nodes[instance_id]
        matches = True
        for target in targets:
            key, values = target.get("Key", ""), target.get("Values") or []
            if key.startswith("tag:"):
                matches = matches and tags.get(key[4:]) in values
            elif key == "tag-key":
                matches = matches and any(value in tags for value in values)
            elif key == "InstanceIds":
                matches = matches and instance_id in values
            else:
                raise ValidationException(f"Target key {key} is not supported by the simulator")
        if matches:
            selected.append(node["InstanceId"])
    return selected


def send_command(account_id, region, request, document_exists):
    _validate(request)
    document = request["DocumentName"]
    if document not in KNOWN_DOCUMENTS and not document_exists(document):
        raise InvalidDocument("Document with name %s does not exist." % document)
    if document == SHELL_DOCUMENT:
        _validate_shell_parameters(request.get("Parameters") or {})
    elif document == patching.DOCUMENT:
        patching.validate_parameters(request.get("Parameters") or {})
    explicit = request.get("InstanceIds") or []
    if explicit:
        invalid = [i for i in explicit if ssm_instances.node_of(account_id, region, i) is None]
        if invalid:
            raise InvalidInstanceId("Instances %s not in a valid state for account %s" % (invalid, account_id))
        instance_ids = list(explicit)
    else:
        instance_ids = _resolve_targets(account_id, region, request["Targets"])
    command = Command(account_id, region, request, instance_ids, ENGINE.describe())
    ENGINE.add(command)
    threading.Thread(target=_roll_out, args=(command,), daemon=True, name="ssm-" + command.command_id[:8]).start()
    return command


def _roll_out(command):
    """Start invocations as MaxConcurrency allows, stop starting them past MaxErrors."""
    try:
        _start_invocations(command)
    finally:
        # A simulator bug must end the invocations, not leave a client polling until its timeout.
        with command.lock:
            for invocation in command.invocations.values():
                if invocation.status == "Pending":
                    invocation.stderr = "simulator: the roll-out stopped unexpectedly"
                    invocation.finish("Failed", "Failed", 1)


def _start_invocations(command):
    limit = concurrency_limit(command.max_concurrency, command.target_count)
    allowed = errors_allowed(command.max_errors, command.target_count)
    slots = threading.Semaphore(limit)
    workers = []
    for index, invocation in enumerate(list(command.invocations.values())):
        slots.acquire()
        with command.lock:
            if invocation.status in TERMINAL:
                slots.release()
                continue
            # The first MaxConcurrency targets are sent the command at once; the error count
            # decides only whether more are sent as slots free up.
            if index >= limit and command.error_count > allowed:
                invocation.finish("Cancelled", "Terminated")
                slots.release()
                continue
        node = ssm_instances.node_of(command.account_id, command.region, invocation.instance_id)
        with command.lock:
            if node is None:
                invocation.finish("Failed", "Undeliverable")
            elif node["PingStatus"] != "Online":
                invocation.status = invocation.details = "Delayed"
            elif time.monotonic() >= command.deliver_by:
                invocation.finish("TimedOut", "DeliveryTimedOut")
            else:
                invocation.status = invocation.details = "InProgress"
                invocation.started = _now()
                command.in_flight += 1
                command.peak_in_flight = max(command.peak_in_flight, command.in_flight)
                worker = threading.Thread(target=_execute_and_release, args=(invocation, slots), daemon=True)
                workers.append(worker)
                worker.start()
                continue
        slots.release()
    for worker in workers:
        worker.join()


def _execute_and_release(invocation, slots):
    command = invocation.command
    try:
        status, details, code, stdout, stderr = _execute(invocation)
    except Exception as error:  # pylint: disable=broad-except
        status, details, code, stdout, stderr = "Failed", "Failed", 1, "", "simulator: %s" % error
    try:
        if not command.cancelled:
            _write_s3(invocation, stdout, stderr)
    finally:
        with command.lock:
            command.in_flight -= 1
            if invocation.status not in TERMINAL:
                invocation.stdout, invocation.stderr = stdout, stderr
                invocation.finish(status, details, code)
                if details in COUNTED_ERRORS:
                    command.error_count += 1
        slots.release()


def _execute(invocation):
    command = invocation.command
    if command.document_name == patching.DOCUMENT:
        return patching.run_patch_baseline(invocation)
    if command.document_name != SHELL_DOCUMENT:
        return "Failed", "Failed", 1, "", "simulator: only %s runs; %s does not" % (SHELL_DOCUMENT, command.document_name)
    parameters = command.parameters
    sandbox = ENGINE.sandbox(invocation.instance_id)
    workdir = sandbox
    if parameters.get("workingDirectory") and parameters["workingDirectory"][0]:
        workdir = os.path.normpath(os.path.join(sandbox, parameters["workingDirectory"][0].lstrip("/")))
        if not workdir.startswith(sandbox) or not os.path.isdir(workdir):
            return "Failed", "Failed", 1, "", "Invalid workingDirectory %s" % parameters["workingDirectory"][0]
    timeout = min(float((parameters.get("executionTimeout") or ["3600"])[0]), command.execution_cap)
    script_dir = os.path.join(ENGINE.root, "scripts")
    os.makedirs(script_dir, exist_ok=True)
    script = os.path.join(script_dir, "%s-%s.sh" % (command.command_id, invocation.instance_id))
    with open(script, "w", encoding="utf-8") as handle:
        handle.write("\n".join(parameters["commands"]) + "\n")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": sandbox,
        "LANG": "C.UTF-8",
        "SIM_INSTANCE_ROOT": sandbox,
        "AWS_SSM_INSTANCE_ID": invocation.instance_id,
        "AWS_SSM_REGION_NAME": command.region,
    }
    process = subprocess.Popen(["bash", script], cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    with command.lock:
        command.processes[invocation.instance_id] = process
    try:
        out, err = process.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill(process)
        out, err = process.communicate()
        timed_out = True
    finally:
        with command.lock:
            command.processes.pop(invocation.instance_id, None)
        os.unlink(script)
    stdout, stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    if timed_out:
        return "TimedOut", "ExecutionTimedOut", -1, stdout, stderr + "execution timed out after %g seconds\n" % timeout
    if process.returncode != 0:
        code = process.returncode if process.returncode > 0 else 128 - process.returncode
        return "Failed", "Failed", code, stdout, stderr + "failed to run commands: exit status %d\n" % code
    return "Success", "Success", 0, stdout, stderr


def _write_s3(invocation, stdout, stderr):
    command = invocation.command
    if not command.s3_bucket:
        return
    from moto.s3.models import s3_backends

    backend = s3_backends[command.account_id]["global"]
    if command.s3_bucket not in backend.buckets:
        return  # as the agent does: the upload fails and the URLs stay empty
    base = "/".join(part for part in (command.s3_prefix.strip("/"), command.command_id, invocation.instance_id, command.s3_plugin_dir) if part)
    for stream, text in (("stdout", stdout), ("stderr", stderr)):
        if stream == "stderr" and not text:
            continue
        key = "%s/%s" % (base, stream)
        backend.put_object(command.s3_bucket, key, text.encode("utf-8"))
        url = "https://s3.%s.amazonaws.com/%s/%s" % (command.region, command.s3_bucket, key)
        if stream == "stdout":
            invocation.stdout_url = url
        else:
            invocation.stderr_url = url


# --- reads -----------------------------------------------------------------------------------

def _page(items, max_results, next_token, default=50, upper=50):
    size = int(max_results or default)
    if not 1 <= size <= upper:
        raise ValidationException(f"1 validation error detected: Value '{size}' at 'maxResults' failed to satisfy "
                                  f"constraint: Member must have value between 1 and {upper}")
    start = int(next_token or 0)
    following = start + size
    return items[start:following], (str(following) if following < len(items) else None)


def _command(place, command_id):
    """The command of that id sent in `place` (account, Region), or None: commands belong to one account and Region."""
    command = ENGINE.get(command_id)
    return command if command is not None and (command.account_id, command.region) == place else None


def _commands_for(place, command_id, instance_id):
    commands = [_command(place, command_id)] if command_id else [c for c in ENGINE.all() if (c.account_id, c.region) == place]
    commands = [c for c in commands if c is not None and time.monotonic() >= c.visible_at]
    if instance_id:
        commands = [c for c in commands if instance_id in c.invocations]
    return commands


def list_commands(place, command_id=None, instance_id=None, max_results=None, next_token=None):
    if command_id and _command(place, command_id) is None:
        raise InvalidCommandId()
    items = [command.describe() for command in _commands_for(place, command_id, instance_id)]
    return _page(items, max_results, next_token)


def list_command_invocations(place, command_id=None, instance_id=None, details=False, max_results=None, next_token=None):
    items = []
    for command in _commands_for(place, command_id, instance_id):
        for invocation in command.settled_invocations():
            if instance_id and invocation.instance_id != instance_id:
                continue
            with command.lock:
                items.append(invocation.listing(details))
    return _page(items, max_results, next_token)


def get_command_invocation(place, command_id, instance_id, plugin_name=None):
    command = _command(place, command_id)
    if command is None or time.monotonic() < command.visible_at or instance_id not in command.invocations:
        raise InvocationDoesNotExist()
    if plugin_name and plugin_name != command.plugin:
        raise InvocationDoesNotExist()
    command.settled_invocations()
    with command.lock:
        return command.invocations[instance_id].get()


def cancel_command(place, command_id, instance_ids=None):
    command = _command(place, command_id)
    if command is None:
        raise InvalidCommandId()
    cancel(command, instance_ids or None)
